// What every part of the page shares: the signed-in state, the words, GraphQL over HTTP, and a
// small element builder.

import { STRINGS } from "./i18n.js";

export const $ = (id) => document.getElementById(id);

export const state = {
  token: null, demo: null, viewer: null, center: null, locale: localStorage.getItem("nc.locale") || null,
  banner: { maxVisible: 3 }, categories: new Map(), client: null,
};

export function t(key, vars = {}) {
  const table = STRINGS[state.locale] || STRINGS.en;
  return (table[key] ?? STRINGS.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
}

/** A GraphQL error as an Error whose `code` is the error's extensions.code. */
export async function gql(query, variables = {}, token = state.token) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) {
    const error = new Error(body.errors[0].message);
    error.code = body.errors[0].extensions?.code;
    error.errors = body.errors; // every error, for forms that show each next to its field
    throw error;
  }
  return body.data;
}

export function status(text) {
  $("status").textContent = text;
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
