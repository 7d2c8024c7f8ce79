// The audit log for administrators: every settings change of the instance (instance settings, type
// policies, bot channels with secrets only as "changed", the operators' own settings and bulk
// actions, retries of deliveries), newest first, with who, when, from which client, what and
// before / after; filters and cursor pages. Over the schema's auditLog (ADMINISTRATOR only: the API
// refuses any other role, whatever a page shows).
//
// app.js imports this module the first time the tab is opened and calls mount(container, ctx) with
// ctx = { gql(query, variables), t(key, vars), locale }.

import { clearErrors, el, field, formError, instant, reason, showErrors, when, words } from "./forms.js";

const PAGE_SIZE = 25;
//: The audited mutations (AuditLogEntry.action).
const ACTIONS = ["updateInstanceSettings", "setTypePolicy", "setTypeChannels", "bulkUpdateTypes", "updateChannelSettings",
  "updateSystemMessageSettings", "updateReminderSettings", "updateClassicSettings", "retryDeliveries"];
const ENTRY = "id action subject actorUserId actorRole client before after createdAt";
const LOG = `query($filter: AuditLogFilter, $first: Int!, $after: String) { auditLog(filter: $filter, first: $first, after: $after) {
  edges { node { ${ENTRY} } } pageInfo { hasNextPage endCursor } } }`;

let view = null; // { container, ctx, filter, cursor, rows }

const t = (key, vars) => view.ctx.t(key, vars);

/** An object's leaves as "a.b.c" -> value, in its keys' order (before / after of one change). */
function leaves(value, prefix = "", out = []) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length) {
    for (const [key, inner] of Object.entries(value)) leaves(inner, prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out.push([prefix, value]);
  }
  return out;
}

function changes(value) {
  const list = leaves(value);
  if (!list.length) return el("span", { class: "muted", text: "—" });
  return el("ul", { class: "plain changes" },
    ...list.map(([key, inner]) => el("li", {}, el("code", { text: key }), `: ${JSON.stringify(inner)}`)));
}

function filterForm() {
  const action = el("select", { name: "action" }, el("option", { value: "", text: t("audit-all-actions") }),
    ...ACTIONS.map((name) => el("option", { value: name, text: name })));
  const form = el("form", { class: "staff-form", "data-part": "audit-filter", novalidate: true, "aria-labelledby": "audit-filter-title" },
    el("h3", { id: "audit-filter-title", class: "category-title", text: t("log-filter") }),
    el("div", { class: "field-row" },
      field("filter.actions", t("audit-action"), action),
      field("filter.actorUserIds", t("audit-actor"),
        el("input", { type: "text", name: "actors", autocomplete: "off", spellcheck: "false" })),
      field("filter.subjects", t("audit-subject"),
        el("input", { type: "text", name: "subjects", autocomplete: "off", spellcheck: "false", placeholder: "type:sla_expired" }))),
    el("div", { class: "field-row" },
      field("filter.since", t("log-since"), el("input", { type: "datetime-local", name: "since" })),
      field("filter.until", t("log-until"), el("input", { type: "datetime-local", name: "until" }))),
    el("button", { type: "submit", text: t("log-show") }),
    formError());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = form.elements.namedItem("action").value;
    view.filter = {
      actions: chosen ? [chosen] : null,
      actorUserIds: words(form.elements.namedItem("actors").value),
      subjects: words(form.elements.namedItem("subjects").value),
      since: instant(form.elements.namedItem("since").value),
      until: instant(form.elements.namedItem("until").value),
    };
    load(true);
  });
  return form;
}

function say(text, error = false) {
  const line = view.container.querySelector('[data-status="audit"]');
  line.textContent = text;
  line.classList.toggle("error", error);
}

async function load(first) {
  const form = view.container.querySelector('[data-part="audit-filter"]');
  if (first) clearErrors(form);
  try {
    const page = (await view.ctx.gql(LOG, { filter: view.filter, first: PAGE_SIZE, after: first ? null : view.cursor })).auditLog;
    if (first) view.rows.replaceChildren();
    for (const { node } of page.edges) view.rows.append(row(node));
    view.cursor = page.pageInfo.endCursor;
    const shown = view.rows.children.length;
    view.container.querySelector('[data-action="audit-more"]').hidden = !page.pageInfo.hasNextPage;
    view.container.querySelector('[data-part="audit"] table').hidden = shown === 0;
    view.container.querySelector("[data-empty]").hidden = shown > 0;
    say("");
  } catch (error) {
    if (first) showErrors(form, error);
    else say(reason(error), true);
  }
}

function row(entry) {
  return el("tr", { "data-id": entry.id, "data-action": entry.action, "data-subject": entry.subject },
    el("td", { text: when(entry.createdAt, view.ctx.locale) }),
    el("td", {}, `${entry.actorUserId} · ${t(entry.actorRole.toLowerCase())}`,
      el("small", { class: "client", text: entry.client || "—" })),
    el("td", {}, el("code", { class: "action", text: entry.action }), el("small", {}, el("code", { text: entry.subject }))),
    el("td", { class: "before" }, changes(entry.before)),
    el("td", { class: "after" }, changes(entry.after)));
}

/** Render the audit log into ``container`` (again after a locale switch). */
export async function mount(container, ctx) {
  view = { container, ctx, filter: null, cursor: null, rows: el("tbody", {}) };
  container.setAttribute("aria-labelledby", "audit-title");
  const more = el("button", { type: "button", "data-action": "audit-more", hidden: true, text: t("load-more-rows") });
  more.addEventListener("click", () => load(false));
  const headers = ["audit-when", "audit-who-client", "audit-action-subject", "audit-before", "audit-after"];
  container.replaceChildren(
    el("div", { class: "history-head" }, el("h2", { id: "audit-title", tabindex: -1, text: t("audit-log") })),
    el("p", { class: "muted", text: t("audit-intro") }),
    filterForm(),
    el("section", { class: "staff-part", "data-part": "audit", "aria-labelledby": "audit-rows-title" },
      el("h3", { id: "audit-rows-title", class: "category-title", text: t("audit-rows") }),
      el("div", { class: "table-scroll", tabindex: 0, role: "group", "aria-label": t("audit-rows") },
        el("table", { class: "staff-table audit-table", hidden: true },
          el("caption", { class: "sr", text: t("audit-rows") }),
          el("thead", {}, el("tr", {}, ...headers.map((key) => el("th", { scope: "col", text: t(key) })))),
          view.rows)),
      el("p", { class: "muted", "data-empty": "", hidden: true, text: t("audit-empty") }),
      more,
      el("p", { class: "tab-status", role: "status", "data-status": "audit" })));
  await load(true);
}
