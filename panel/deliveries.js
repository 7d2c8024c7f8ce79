// The delivery log for supervisors and administrators: every stored delivery of the instance (the
// external channels and test sends) with filters, in cursor pages, the summary counts per channel
// and status for the same filter, FAILED rows selected and queued again (retryDeliveries) with
// their outcome, and the operators whose channels stopped working (channelHealth). Over the
// schema's deliveryLog, deliverySummary, retryDeliveries and channelHealth (SUPERVISOR and
// ADMINISTRATOR only: the API refuses any other role, whatever a page shows).
//
// app.js imports this module the first time the tab is opened and calls mount(container, ctx) with
// ctx = { gql(query, variables), t(key, vars), locale }; gql throws an Error whose `errors` are the
// response's GraphQL errors.

import { boxes, checked, clearErrors, el, field, formError, instant, reason, showErrors, when, words } from "./forms.js";

const PAGE_SIZE = 25;
const STATUSES = ["QUEUED", "SENT", "RETRYING", "FAILED", "SKIPPED", "CANCELLED"];
//: The channels with delivery rows (BELL, BANNER and SOUND are handed to open panels).
const CHANNELS = ["BROWSER", "TELEGRAM", "VIBER", "WHATSAPP", "ECHAT", "EMAIL", "CUSTOM"];
const FINAL = new Set(["SENT", "FAILED", "SKIPPED", "CANCELLED"]);
//: Retried deliveries whose outcome the page follows (each notification one alias of a request).
const FOLLOW_NOTIFICATIONS = 10;
const FOLLOW_SECONDS = 60;

const ENTRY = "id notificationId typeCode userId operatorName channel status attempts lastError createdAt updatedAt";
const LOG = `query($filter: DeliveryLogFilter, $first: Int!, $after: String) {
  deliveryLog(filter: $filter, first: $first, after: $after) {
    edges { node { ${ENTRY} } } pageInfo { hasNextPage endCursor } } }`;
const SUMMARY = `query($filter: DeliveryLogFilter) { deliverySummary(filter: $filter) { channel status count } }`;
const TYPES = `{ notificationCategories { code title types { code title } } }`;
const RETRY = `mutation($ids: [ID!]) { retryDeliveries(ids: $ids) { ids } }`;
const HEALTH = `query($first: Int!, $after: String) { channelHealth(first: $first, after: $after) {
  edges { node { userId operatorName problems { channel status lastError lastTestAt pushSubscriptions } } }
  pageInfo { hasNextPage endCursor } } }`;

let view = null; // { container, ctx, filter, cursor, titles, names, selected, following }

const t = (key, vars) => view.ctx.t(key, vars);

function statusWord(status) {
  return t(`delivery-${status}`);
}

function typeTitle(code) {
  return code ? view.titles.get(code) || code : t("test-send");
}

function operator(entry) {
  return entry.operatorName ? `${entry.operatorName} (${entry.userId})` : entry.userId;
}

// -- the filter ---------------------------------------------------------------------------------------
function filterForm(categories) {
  const type = el("select", { name: "typeCode" }, el("option", { value: "", text: t("all-types") }));
  for (const category of categories) {
    const group = el("optgroup", { label: category.title });
    for (const each of category.types) group.append(el("option", { value: each.code, text: each.title }));
    type.append(group);
  }
  const form = el("form", { class: "staff-form", "data-part": "log-filter", novalidate: true, "aria-labelledby": "log-filter-title" },
    el("h3", { id: "log-filter-title", class: "category-title", text: t("log-filter") }),
    boxes("filter.statuses", t("log-status"), STATUSES, statusWord),
    boxes("filter.channels", t("log-channel"), CHANNELS, (c) => t(c)),
    el("div", { class: "field-row" },
      field("filter.typeCodes", t("log-type"), type),
      field("filter.userIds", t("log-operator"),
        el("input", { type: "text", name: "userIds", autocomplete: "off", spellcheck: "false", list: "log-operators" })),
      el("datalist", { id: "log-operators" })),
    el("div", { class: "field-row" },
      field("filter.since", t("log-since"), el("input", { type: "datetime-local", name: "since" })),
      field("filter.until", t("log-until"), el("input", { type: "datetime-local", name: "until" }))),
    el("button", { type: "submit", text: t("log-show") }),
    formError());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const code = form.elements.namedItem("typeCode").value;
    view.filter = {
      statuses: checked(form, "filter.statuses").length ? checked(form, "filter.statuses") : null,
      channels: checked(form, "filter.channels").length ? checked(form, "filter.channels") : null,
      typeCodes: code ? [code] : null,
      userIds: words(form.elements.namedItem("userIds").value),
      since: instant(form.elements.namedItem("since").value),
      until: instant(form.elements.namedItem("until").value),
    };
    load();
  });
  return form;
}

/** The first page and the summary for the current filter (errors beside the filter's fields). */
async function load() {
  const form = view.container.querySelector('[data-part="log-filter"]');
  clearErrors(form);
  view.selected.clear();
  say("log", t("loading"));
  try {
    const [page, summary] = await Promise.all([
      view.ctx.gql(LOG, { filter: view.filter, first: PAGE_SIZE, after: null }),
      view.ctx.gql(SUMMARY, { filter: view.filter }),
    ]);
    showSummary(summary.deliverySummary);
    view.rows.replaceChildren();
    addPage(page.deliveryLog);
    say("log", "");
  } catch (error) {
    say("log", "");
    showErrors(form, error);
  }
}

async function loadMore() {
  try {
    addPage((await view.ctx.gql(LOG, { filter: view.filter, first: PAGE_SIZE, after: view.cursor })).deliveryLog);
  } catch (error) {
    say("log", reason(error), true);
  }
}

function say(where, text, error = false) {
  const line = view.container.querySelector(`[data-status="${where}"]`);
  line.textContent = text;
  line.classList.toggle("error", error);
}

// -- the summary ----------------------------------------------------------------------------------------
function showSummary(counts) {
  const part = view.container.querySelector('[data-part="summary"]');
  const table = part.querySelector("table");
  const channels = CHANNELS.filter((c) => counts.some((n) => n.channel === c));
  const statuses = STATUSES.filter((s) => counts.some((n) => n.status === s));
  const total = counts.reduce((sum, n) => sum + n.count, 0);
  part.querySelector("[data-total]").textContent = t("summary-total", { count: total });
  part.querySelector("[data-total]").dataset.total = String(total);
  table.hidden = counts.length === 0;
  const head = el("tr", {}, el("th", { scope: "col", text: t("log-channel") }),
    ...statuses.map((s) => el("th", { scope: "col", text: statusWord(s) })), el("th", { scope: "col", text: t("summary-all") }));
  const body = channels.map((channel) => {
    const mine = counts.filter((n) => n.channel === channel);
    return el("tr", { "data-channel": channel }, el("th", { scope: "row", text: t(channel) }),
      ...statuses.map((status) => {
        const n = mine.find((m) => m.status === status)?.count || 0;
        return el("td", { "data-status": status, text: String(n) });
      }),
      el("td", { "data-status": "", text: String(mine.reduce((sum, m) => sum + m.count, 0)) }));
  });
  table.replaceChildren(el("caption", { text: t("summary-caption") }), el("thead", {}, head), el("tbody", {}, ...body));
}

// -- the rows -------------------------------------------------------------------------------------------
function addPage(page) {
  const names = view.container.querySelector("#log-operators");
  for (const { node } of page.edges) {
    view.rows.append(row(node));
    if (!view.names.has(node.userId)) {
      view.names.set(node.userId, node.operatorName);
      names.append(el("option", { value: node.userId, label: node.operatorName || node.userId }));
    }
  }
  view.cursor = page.pageInfo.endCursor;
  view.container.querySelector('[data-action="more"]').hidden = !page.pageInfo.hasNextPage;
  const shown = view.rows.children.length;
  view.container.querySelector('[data-part="log"] table').hidden = shown === 0;
  view.container.querySelector("[data-empty]").hidden = shown > 0;
  view.container.querySelector("[data-shown]").textContent = shown ? t("log-shown", { count: shown }) : "";
  selectionChanged();
}

function row(entry) {
  let pick = el("span", { class: "muted", text: "—" });
  if (entry.status === "FAILED" && entry.notificationId) {
    pick = el("input", { type: "checkbox", name: "retry", value: entry.id,
      "aria-label": t("select-delivery", { id: entry.id, operator: operator(entry), channel: t(entry.channel) }) });
    pick.addEventListener("change", () => {
      if (pick.checked) view.selected.set(entry.id, entry);
      else view.selected.delete(entry.id);
      selectionChanged();
    });
  }
  return el("tr", { "data-id": entry.id, "data-status": entry.status },
    el("td", {}, pick),
    el("td", { text: when(entry.createdAt, view.ctx.locale) }),
    el("td", { text: operator(entry) }),
    el("td", { text: typeTitle(entry.typeCode) }),
    el("td", { text: t(entry.channel) }),
    el("td", { class: `status status-${entry.status}`, text: statusWord(entry.status) }),
    el("td", { text: String(entry.attempts) }),
    el("td", { class: "last-error", text: entry.lastError || "" }));
}

function selectionChanged() {
  view.container.querySelector("[data-selected]").textContent = t("retry-selected-count", { count: view.selected.size });
}

// -- retrying ---------------------------------------------------------------------------------------------
function retryPart() {
  const selectAll = el("button", { type: "button", text: t("retry-select-all") });
  const retry = el("button", { type: "button", "data-action": "retry", text: t("retry") });
  const part = el("div", { class: "retry-bar", "data-part": "retry" },
    el("span", { class: "muted", "data-selected": "" }), " ", selectAll, " ", retry,
    el("div", { class: "retry-result", role: "status", "data-status": "retry" }));
  selectAll.addEventListener("click", () => {
    for (const box of view.rows.querySelectorAll('input[name="retry"]:not(:checked)')) {
      box.checked = true;
      box.dispatchEvent(new Event("change"));
    }
  });
  retry.addEventListener("click", () => retrySelected());
  return part;
}

async function retrySelected() {
  const result = view.container.querySelector('[data-status="retry"]');
  result.classList.remove("error");
  if (!view.selected.size) {
    result.textContent = t("retry-none");
    return;
  }
  const entries = [...view.selected.values()];
  let ids;
  try {
    ids = (await view.ctx.gql(RETRY, { ids: entries.map((e) => e.id) })).retryDeliveries.ids;
  } catch (error) {
    result.textContent = reason(error);
    result.classList.add("error");
    return;
  }
  const queued = entries.filter((e) => ids.includes(e.id));
  const list = el("ul", { class: "retry-outcomes" });
  for (const entry of queued) {
    list.append(el("li", { "data-id": entry.id, "data-status": "QUEUED" },
      `${typeTitle(entry.typeCode)} · ${operator(entry)} · ${t(entry.channel)}: `,
      el("strong", { class: "outcome", text: statusWord("QUEUED") }), el("span", { class: "last-error" })));
  }
  result.replaceChildren(el("p", { text: t("retry-done", { count: ids.length }) }), list);
  await load(); // the log and the summary as they are now (the retried rows are QUEUED)
  follow(queued, list);
}

/** Until each retried delivery ends (or a minute passes), its status in the outcome list. */
async function follow(entries, list) {
  const token = {};
  view.following = token;
  const byNotification = [...new Set(entries.map((e) => e.notificationId))].slice(0, FOLLOW_NOTIFICATIONS);
  if (!byNotification.length) return;
  const query = `query(${byNotification.map((_, i) => `$n${i}: ID!`).join(", ")}) { ${byNotification
    .map((_, i) => `n${i}: deliveries(notificationId: $n${i}) { id status lastError }`).join(" ")} }`;
  const variables = Object.fromEntries(byNotification.map((id, i) => [`n${i}`, id]));
  const deadline = Date.now() + FOLLOW_SECONDS * 1000;
  while (view.following === token && list.isConnected && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let data;
    try {
      data = await view.ctx.gql(query, variables);
    } catch {
      continue;
    }
    let open = 0;
    for (const delivery of Object.values(data).flat()) {
      const item = list.querySelector(`li[data-id="${CSS.escape(delivery.id)}"]`);
      if (!item) continue;
      item.dataset.status = delivery.status;
      item.querySelector(".outcome").textContent = statusWord(delivery.status);
      item.querySelector(".last-error").textContent = delivery.lastError ? ` — ${delivery.lastError}` : "";
      if (!FINAL.has(delivery.status)) open += 1;
    }
    if (!open) break;
  }
}

// -- channel health ----------------------------------------------------------------------------------------
function healthPart() {
  const more = el("button", { type: "button", "data-action": "health-more", hidden: true, text: t("load-more-rows") });
  const refresh = el("button", { type: "button", text: t("refresh") });
  const part = el("section", { class: "staff-part", "data-part": "health", "aria-labelledby": "health-title" },
    el("h3", { id: "health-title", class: "category-title", text: t("health") }),
    el("p", { class: "muted", text: t("health-intro") }), refresh,
    el("table", { class: "staff-table", hidden: true },
      el("caption", { class: "sr", text: t("health") }),
      el("thead", {}, el("tr", {}, ...["operator-column", "log-channel", "health-state", "health-error", "health-push", "health-test"]
        .map((key) => el("th", { scope: "col", text: t(key) })))),
      el("tbody", {})),
    el("p", { class: "muted", "data-health-empty": "", hidden: true, text: t("health-none") }),
    more, el("p", { class: "tab-status", role: "status", "data-status": "health" }));
  more.addEventListener("click", () => loadHealth(false));
  refresh.addEventListener("click", () => loadHealth(true));
  return part;
}

async function loadHealth(first) {
  const part = view.container.querySelector('[data-part="health"]');
  const body = part.querySelector("tbody");
  try {
    const page = (await view.ctx.gql(HEALTH, { first: PAGE_SIZE, after: first ? null : view.healthCursor })).channelHealth;
    if (first) body.replaceChildren();
    for (const { node } of page.edges) {
      for (const problem of node.problems) {
        body.append(el("tr", { "data-user": node.userId, "data-channel": problem.channel, "data-status": problem.status },
          el("td", { text: operator(node) }),
          el("td", { text: t(problem.channel) }),
          el("td", { text: t(problem.status === "NOT_LINKED" ? "health-gone" : "health-failing", { channel: t(problem.channel) }) }),
          el("td", { class: "last-error", text: problem.lastError }),
          el("td", { text: problem.pushSubscriptions === null ? "" : String(problem.pushSubscriptions) }),
          el("td", { text: when(problem.lastTestAt, view.ctx.locale) })));
      }
    }
    view.healthCursor = page.pageInfo.endCursor;
    part.querySelector('[data-action="health-more"]').hidden = !page.pageInfo.hasNextPage;
    part.querySelector("table").hidden = body.children.length === 0;
    part.querySelector("[data-health-empty]").hidden = body.children.length > 0;
    say("health", "");
  } catch (error) {
    say("health", reason(error), true);
  }
}

// -- the view -----------------------------------------------------------------------------------------------
/** Render the delivery log into ``container`` (again after a locale switch). */
export async function mount(container, ctx) {
  view = { container, ctx, filter: null, cursor: null, healthCursor: null, titles: new Map(), names: new Map(),
    selected: new Map(), following: null, rows: null };
  container.setAttribute("aria-labelledby", "log-title");
  container.replaceChildren(
    el("div", { class: "history-head" }, el("h2", { id: "log-title", tabindex: -1, text: t("delivery-log") })),
    el("p", { class: "tab-status", role: "status", "data-status": "log", text: t("loading") }));
  let categories;
  try {
    categories = (await ctx.gql(TYPES, {})).notificationCategories;
  } catch (error) {
    say("log", reason(error), true);
    return;
  }
  for (const category of categories) for (const type of category.types) view.titles.set(type.code, type.title);
  view.rows = el("tbody", {});
  const more = el("button", { type: "button", "data-action": "more", hidden: true, text: t("load-more-rows") });
  more.addEventListener("click", loadMore);
  const headers = ["retry-column", "log-when", "operator-column", "log-type", "log-channel", "log-status", "log-attempts", "log-error"];
  container.append(
    filterForm(categories),
    el("section", { class: "staff-part", "data-part": "summary", "aria-labelledby": "summary-title" },
      el("h3", { id: "summary-title", class: "category-title", text: t("summary") }),
      el("p", { "data-total": "0" }),
      el("table", { class: "staff-table summary", hidden: true })),
    el("section", { class: "staff-part", "data-part": "log", "aria-labelledby": "log-rows-title" },
      el("h3", { id: "log-rows-title", class: "category-title", text: t("log-rows") }),
      el("p", { class: "muted", "data-shown": "" }),
      el("div", { class: "table-scroll", tabindex: 0, role: "group", "aria-label": t("log-rows") },
        el("table", { class: "staff-table", hidden: true },
          el("caption", { class: "sr", text: t("log-rows") }),
          el("thead", {}, el("tr", {}, ...headers.map((key) => el("th", { scope: "col", text: t(key) })))),
          view.rows)),
      el("p", { class: "muted", "data-empty": "", hidden: true, text: t("log-empty") }),
      more,
      retryPart()),
    healthPart());
  await Promise.all([load(), loadHealth(true)]);
}
