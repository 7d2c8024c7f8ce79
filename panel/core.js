// What every part of the page shares: the signed-in state, the words, GraphQL over HTTP, and a
// small element builder.

import { STRINGS } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

/** The page's name in the audit log's "client" (the X-NC-Client header). */
export const CLIENT = "notification-center-panel";

export const state = {
  token: null, demo: null, viewer: null, center: null, locale: localStorage.getItem("nc.locale") || null,
  banner: { maxVisible: 3 }, categories: new Map(), client: null,
  // The live connection's state as a text key ("live", "reconnecting"): the status line follows the language.
  connection: null,
};

export function t(key, vars = {}) {
  const table = STRINGS[state.locale] || STRINGS.en;
  return (table[key] ?? STRINGS.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
}

/** A GraphQL error as an Error whose `code` is the error's extensions.code. */
export async function gql(query, variables = {}, token = state.token) {
  let body;
  try {
    const response = await fetch("/graphql", {
      method: "POST",
      // The page's language, once it has one, picks the language of what the API renders (titles,
      // reasons); before that the token's locale decides, and the page follows it.
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        // Who made a change, in the audit log: this page (else the API records the browser's User-Agent).
        "x-nc-client": CLIENT,
        ...(state.locale ? { "x-nc-locale": state.locale } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    body = await response.json();
  } catch {
    // The browser's own words ("Failed to fetch") are neither the page's language nor helpful.
    const error = new Error(t("unreachable"));
    error.code = "UNREACHABLE";
    throw error;
  }
  if (body.errors?.length) {
    const error = new Error(body.errors[0].message);
    error.code = body.errors[0].extensions?.code;
    error.errors = body.errors; // every error, for forms that show each next to its field
    // The signed-in token expired or was revoked: back to signing in, with the reason.
    if (error.code === "UNAUTHENTICATED" && state.viewer && token === state.token) signOut(error.message);
    // The Notification Center was switched off meanwhile: the page becomes the simplified screen.
    if (body.errors.some((e) => e.extensions?.reason === "NOTIFICATION_CENTER_DISABLED")) {
      document.dispatchEvent(new CustomEvent("nc-center-changed"));
    }
    throw error;
  }
  return body.data;
}

/** Back to the sign-in screen (a fresh page), saying why. */
export function signOut(message) {
  sessionStorage.removeItem("nc.token");
  sessionStorage.setItem("nc.signin-message", t("bad-token", { message }));
  state.client?.dispose();
  location.reload();
}

/** The connection's state and the history's errors, in the history's status line. */
export function status(text) {
  $("status").textContent = text;
}

/** A message beside the part of the page it is about: `#${where}-status` (an error in red). The
 * next message there replaces it; a load that succeeds clears an error left there. */
export function say(where, text, error = false) {
  const line = $(`${where}-status`);
  if (!line) return;
  line.textContent = text;
  line.classList.toggle("error", error);
}

/** Clears an error left in `#${where}-status` (not a "Saved"). */
export function clearError(where) {
  const line = $(`${where}-status`);
  if (line?.classList.contains("error")) say(where, "");
}

/** el("button", { type: "button", dataset: { kind } }, "text", child): attributes by property name. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("aria-") || name === "role" || name === "for") node.setAttribute(name, value);
    else node[name] = value;
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** Loaders to run again when the locale changes (the API answers in the viewer's locale). */
export const reloaders = [];
