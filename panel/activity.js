// The page's activity signal, for attention routing (WHEN_AWAY, escalations): reportPanelActivity
// with active: true on the viewer's input (pointer, keys, scrolling: at most once a minute), false at
// once when the page goes hidden, and true again when it comes back. A service without the field
// (its GraphQL validation refuses it) is not asked again: the page works the same without it.

import { gql } from "./core.js";

// Any selection does: what the mutation answers is of no use to the page.
const REPORT = `mutation($active: Boolean!) { reportPanelActivity(active: $active) { __typename } }`;
/** At most one report of input this often (the service counts a panel idle after minutes). */
const THROTTLE_MS = 60_000;
const INPUT = ["pointerdown", "keydown", "scroll"];

let lastReport = -Infinity;
let stopped = false;

async function report(active) {
  if (stopped) return;
  if (active) lastReport = performance.now();
  try {
    await gql(REPORT, { active });
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

/** Starts the signal once the viewer is signed in: a first report now when the page is in view. */
export function startActivity() {
  for (const name of INPUT) document.addEventListener(name, onInput, { capture: true, passive: true });
  document.addEventListener("visibilitychange", onVisibility);
  if (document.visibilityState === "visible") report(true);
}
