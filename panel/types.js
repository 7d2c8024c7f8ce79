// Profile → Notifications → Notification types: the types by category with a checkbox per offered
// channel and a melody when SOUND is chosen; search; bulk actions on the selected rows (one
// bulkUpdateTypes), with the rows it skipped and why; read-only rows with their reason and each
// channel's decision (channelDecisions); a badge beside each external channel that does not simply
// send at once (its routing mode: when away, after n minutes, a digest window, urgent; the decision's
// words in its tooltip); the "temporarily unavailable" notice.

import { $, clearError, el, gql, say, state, t } from "./core.js";
import { ROUTED_CHANNELS } from "./forms.js";
import { melodyList } from "./sound.js";

const TYPE = "code categoryCode title availability mandatory mandatoryChannels selectableChannels channels melody editable";
const TYPES = `query Types($search: String) { notificationTypes(search: $search) { ${TYPE} } }`;
const SET_CHANNELS = `mutation($code: ID!, $channels: [ChannelKind!]!, $melody: ID) {
  setTypeChannels(typeCode: $code, channels: $channels, melody: $melody) { ${TYPE} } }`;
const BULK = `mutation($input: BulkUpdateTypesInput!) {
  bulkUpdateTypes(input: $input) { updated { code } skipped { typeCode reason } } }`;
/** What the rows show of a channel's decision: its words and how it sends (routing). */
const DECISION = "channel enabled explanation routingMode escalateAfterMinutes routingSource digestWindowSeconds alwaysOn";
/** The channels' decisions of several types in one request: an alias per type. */
const decisionsQuery = (codes) =>
  `{ ${codes.map((code, i) => `t${i}: channelDecisions(typeCode: ${JSON.stringify(code)}) { ${DECISION} }`).join(" ")} }`;
/** Bulk actions that take channels. */
const WITH_CHANNELS = new Set(["SET_CHANNELS", "ADD_CHANNELS", "REMOVE_CHANNELS"]);

const titles = new Map();
const selected = new Set();

export async function loadTypes() {
  const search = $("type-search").value.trim() || null;
  try {
    const types = (await gql(TYPES, { search })).notificationTypes;
    const list = $("type-list");
    list.replaceChildren();
    let category = null;
    for (const type of types) {
      titles.set(type.code, type.title);
      if (type.categoryCode !== category) {
        category = type.categoryCode;
        list.append(el("h3", { className: "category-title" }, state.categories.get(category) || category));
      }
      list.append(typeRow(type));
    }
    // A search keeps the rows selected before it, shown or not; the full list drops only gone types.
    if (!search) for (const code of [...selected]) if (!types.some((type) => type.code === code)) selected.delete(code);
    if (types.length === 0) list.append(el("p", { className: "muted no-match" }, t("no-types-match", { search: search || "" })));
    showBulkCount();
    await explain(types);
    clearError("types");
  } catch (error) {
    say("types", error.message, true);
  }
}

function typeRow(type) {
  const row = el("fieldset", { className: "type-row", dataset: { code: type.code, availability: type.availability } });
  const pick = el("input", { type: "checkbox", className: "select", checked: selected.has(type.code),
    "aria-label": t("select-type", { type: type.title }) });
  pick.addEventListener("change", () => {
    if (pick.checked) selected.add(type.code);
    else selected.delete(type.code);
    showBulkCount();
  });
  row.append(el("legend", {}, pick, " ", type.title));
  // A read-only row offers nothing to choose: it shows the channels it goes to, locked. An editable
  // row shows every channel the instance offers: a mandatory one, or one switched off on the
  // Channels tab, locked, with the reason beside it (explain).
  const offered = [...new Set([...type.mandatoryChannels, ...type.selectableChannels, ...type.channels,
    ...(type.editable ? state.center.availableChannels : [])])];
  for (const channel of offered) {
    const box = el("input", {
      type: "checkbox",
      value: channel,
      className: "channel",
      checked: type.channels.includes(channel),
      disabled: locked(type, channel),
    });
    box.addEventListener("change", () => saveChannels(type, row));
    row.append(el("label", { className: locked(type, channel) ? "locked" : "" }, box, ` ${t(channel)}`));
  }
  if (type.channels.includes("SOUND")) row.append(melodyChoice(type, row));
  if (!type.editable) {
    const why = type.availability !== "AVAILABLE" ? t(`why-${type.availability}`) : t("why-mandatory");
    row.append(el("p", { className: "note reason" }, why));
  }
  return row;
}

function melodyChoice(type, row) {
  const select = el("select", { className: "melody", disabled: !type.editable },
    el("option", { value: "" }, t("default-melody-option")),
    ...melodyList().map((m) => el("option", { value: m.id, selected: m.id === type.melody }, m.title)));
  select.addEventListener("change", () => saveChannels(type, row));
  return el("label", { className: "melody-choice" }, `${t("melody")} `, select);
}

// One save at a time per row: the row is disabled while its save is under way, then replaced by
// the server's answer; a failed save puts back the row as the server last said it was.
async function saveChannels(type, row) {
  const channels = [...row.querySelectorAll("input.channel:checked")].map((box) => box.value);
  const melody = row.querySelector("select.melody")?.value || type.melody || null;
  const focused = row.contains(document.activeElement) ? document.activeElement : null;
  row.disabled = true;
  row.setAttribute("aria-busy", "true");
  let shown = type;
  let outcome;
  try {
    shown = (await gql(SET_CHANNELS, { code: type.code, channels, melody })).setTypeChannels;
    outcome = el("span", { className: "row-status", role: "status" }, t("saved"));
  } catch (error) {
    outcome = el("span", { className: "row-status error", role: "alert" }, error.message);
  }
  // The row on screen now (a reload of the list may have drawn it again meanwhile).
  const current = row.isConnected ? row : $("type-list").querySelector(`fieldset[data-code="${CSS.escape(type.code)}"]`);
  const fresh = typeRow(shown);
  fresh.querySelector("legend").after(outcome);  // the outcome beside the row, until its next save
  if (current) current.replaceWith(fresh);
  explain([shown]).catch(() => {});
  // Keep the keyboard where it was: on the same channel's box (or melody) in the new row.
  if (focused) (focused.matches("select.melody") ? fresh.querySelector("select.melody") : fresh.querySelector(`input[value="${CSS.escape(focused.value)}"]`))?.focus();
}

/** A channel the row cannot change: all of a read-only row's, a mandatory one, or one not selectable
 * (switched off on the Channels tab). */
function locked(type, channel) {
  return !type.editable || type.mandatoryChannels.includes(channel) || !type.selectableChannels.includes(channel);
}

// Rows say why they cannot change something, in the service's words (channelDecisions): a read-only
// row each offered channel's decision, an editable row its locked channels' decisions; and how each
// external channel that is on sends (a badge).
async function explain(types) {
  const offered = new Set(state.center.availableChannels);  // the others are all "not offered"
  const wanted = types.map((type) => [type, type.editable
    ? [...new Set([...type.mandatoryChannels, ...type.channels, ...offered])].filter((c) => locked(type, c))
    : [...offered]]).filter(([type, channels]) => channels.length > 0 || type.channels.some((c) => ROUTED_CHANNELS.includes(c)));
  if (wanted.length === 0) return;
  const answers = await gql(decisionsQuery(wanted.map(([type]) => type.code)));
  wanted.forEach(([type, channels], i) => {
    const row = $("type-list").querySelector(`fieldset[data-code="${CSS.escape(type.code)}"]`);
    if (!row) return;
    row.querySelector("ul.why")?.remove();
    for (const badge of row.querySelectorAll(".route-badge")) badge.remove();
    for (const decision of answers[`t${i}`]) {
      const badge = routeBadge(decision);
      const box = row.querySelector(`input.channel[value="${CSS.escape(decision.channel)}"]`);
      if (badge && box) box.closest("label").after(badge);
    }
    if (channels.length === 0) return;
    const list = el("ul", { className: "why" },
      ...answers[`t${i}`].filter((d) => channels.includes(d.channel)).map((d) => el("li", { dataset: { channel: d.channel } }, `${t(d.channel)}: ${d.explanation}`)));
    row.append(list);
  });
}

/** How an external channel that is on sends, when that is not simply at once: "urgent" (an always-on
 * type), "when away", "after 10 min", "digest 60 s". None for the panel's own channels. */
function routeBadge(decision) {
  if (!decision.routingMode) return null;
  const words = [];
  if (decision.alwaysOn) words.push(t("badge-urgent"));
  else {
    if (decision.routingMode === "WHEN_AWAY") words.push(t("badge-WHEN_AWAY"));
    if (decision.routingMode === "ESCALATE_AFTER") words.push(t("badge-ESCALATE_AFTER", { minutes: decision.escalateAfterMinutes }));
    if (decision.digestWindowSeconds > 0) words.push(t("badge-digest", { seconds: decision.digestWindowSeconds }));
  }
  if (words.length === 0) return null;
  return el("span", {
    className: "route-badge",
    title: decision.explanation,
    dataset: { channel: decision.channel, mode: decision.alwaysOn ? "URGENT" : decision.routingMode, source: decision.routingSource || "" },
  }, words.join(" · "));
}

// -- bulk actions ----------------------------------------------------------------------------------
function showBulkCount() {
  $("bulk-count").textContent = t("bulk-selected", { count: selected.size });
}

export function showBulkChannels() {
  const offered = state.center?.availableChannels || [];
  $("bulk-channels").replaceChildren(...offered.map((channel) =>
    el("label", {}, el("input", { type: "checkbox", name: "channel", value: channel }), ` ${t(channel)}`)));
  $("bulk-channels").hidden = !WITH_CHANNELS.has($("bulk-action").value);
}

async function applyBulk() {
  const action = $("bulk-action").value;
  const result = $("bulk-result");
  if (selected.size === 0) {
    result.replaceChildren(t("bulk-none"));
    return;
  }
  const input = { action, typeCodes: [...selected] };
  if (WITH_CHANNELS.has(action)) {
    input.channels = [...$("bulk-channels").querySelectorAll("input:checked")].map((box) => box.value);
    if (input.channels.length === 0 && action !== "SET_CHANNELS") {
      result.replaceChildren(t("bulk-no-channels"));
      return;
    }
    // "Set" with no channel ticked turns every channel of those types off: only when confirmed.
    if (input.channels.length === 0 && !window.confirm(t("bulk-confirm-none", { count: selected.size }))) return;
  }
  try {
    const { updated, skipped } = (await gql(BULK, { input })).bulkUpdateTypes;
    result.replaceChildren(
      el("p", {}, t("bulk-done", { updated: updated.length, skipped: skipped.length })),
      el("ul", { className: "skipped" }, ...skipped.map((s) =>
        el("li", { dataset: { code: s.typeCode, reason: s.reason } },
          t(`skip-${s.reason}`, { type: titles.get(s.typeCode) || s.typeCode })))),
    );
    selected.clear();
    await loadTypes();
  } catch (error) {
    result.replaceChildren(error.message);
  }
}

export function wireTypes() {
  let searching = null;
  $("type-search").addEventListener("input", () => {
    clearTimeout(searching);
    searching = setTimeout(loadTypes, 250);
  });
  $("bulk-action").addEventListener("change", showBulkChannels);
  $("bulk-select-shown").addEventListener("click", () => {
    for (const pick of $("type-list").querySelectorAll("fieldset.type-row input.select")) {
      pick.checked = true;
      selected.add(pick.closest("fieldset").dataset.code);
    }
    showBulkCount();
  });
  $("bulk-select-none").addEventListener("click", () => {
    selected.clear();
    for (const pick of $("type-list").querySelectorAll("input.select")) pick.checked = false;
    showBulkCount();
  });
  document.addEventListener("nc:channels-changed", () => loadTypes());
  $("bulk-form").addEventListener("submit", (e) => {
    e.preventDefault();
    applyBulk();
  });
}
