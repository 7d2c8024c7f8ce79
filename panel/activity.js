// The page's activity signal, for attention routing (WHEN_AWAY, escalations): reportPanelActivity
// with active: true on the viewer's input (pointer, keys, scrolling: at most once a minute), false at
// once when the page goes hidden, and true again when it comes back. A service without the field
// (its GraphQL validation refuses it) is not asked again: the page works the same without it.
// Presence is per tab: TAB, made once per page load, goes with every report and in the WebSocket's
// connectionParams (app.js), so a hidden tab does not make the viewer away while another is in use,
// and a WebSocket that reconnects does not make a hidden tab active.

import { gql } from "./core.js";

// Any selection does: what the mutation answers is of no use to the page.
const REPORT = `mutation($active: Boolean!, $tab: String) { reportPanelActivity(active: $active, tab: $tab) { __typename } }`;

/** This page load's id (a reload is a new tab); randomUUID needs a secure context, hence the fallback. */
export const TAB = typeof crypto.randomUUID === "function"
  ? crypto.randomUUID()
  : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
/** At most one report of input this often (the service counts a panel idle after minutes). */
const THROTTLE_MS = 60_000;
const INPUT = ["pointerdown", "keydown", "scroll"];

let lastReport = -Infinity;
let stopped = false;

async function report(active) {
  if (stopped) return;
  if (active) lastReport = performance.now();
  try {
    await gql(REPORT, { active, tab: TAB });
  } catch (error) {
    // A service without presence: stop quietly. Anything else (a lost connection): the next input tries again.
    if (error.code === "GRAPHQL_VALIDATION_FAILED" && /reportPanelActivity/.test(error.message)) stop();
  }
}

function onInput() {
  if (document.visibilityState === "visible" && performance.now() - lastReport >= THROTTLE_MS) report(true);
}

function onVisibility() {
  if (document.visibilityState === "hidden") {
    lastReport = -Infinity;  // the first input after coming back counts at once
    report(false);
  } else report(true);
}

function stop() {
  stopped = true;
  for (const name of INPUT) document.removeEventListener(name, onInput, { capture: true });
  document.removeEventListener("visibilitychange", onVisibility);
}

/** Starts the signal once the viewer is signed in: a first report now, active when the page is
 * in view, hidden when it was opened in the background. */
export function startActivity() {
  for (const name of INPUT) document.addEventListener(name, onInput, { capture: true, passive: true });
  document.addEventListener("visibilitychange", onVisibility);
  report(document.visibilityState === "visible");
}
