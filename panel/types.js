// Profile → Notifications → Notification types: the types by category with a checkbox per offered
// channel, search.

import { $, el, gql, state, status, t } from "./core.js";

const TYPE = "code categoryCode title availability mandatory mandatoryChannels selectableChannels channels melody editable";
const TYPES = `query Types($search: String) { notificationTypes(search: $search) { ${TYPE} } }`;
const SET_CHANNELS = `mutation($code: ID!, $channels: [ChannelKind!]!, $melody: ID) {
  setTypeChannels(typeCode: $code, channels: $channels, melody: $melody) { ${TYPE} } }`;

export async function loadTypes() {
  const search = $("type-search").value.trim() || null;
  try {
    const types = (await gql(TYPES, { search })).notificationTypes;
    const list = $("type-list");
    list.replaceChildren();
    let category = null;
    for (const type of types) {
      if (type.categoryCode !== category) {
        category = type.categoryCode;
        list.append(el("h3", { className: "category-title" }, state.categories.get(category) || category));
      }
      list.append(typeRow(type));
    }
  } catch (error) {
    status(error.message);
  }
}

function typeRow(type) {
  const row = el("fieldset", { className: "type-row", dataset: { code: type.code } });
  row.append(el("legend", {}, type.title));
  const offered = [...new Set([...type.mandatoryChannels, ...type.selectableChannels])];
  for (const channel of offered) {
    const box = el("input", {
      type: "checkbox",
      value: channel,
      checked: type.channels.includes(channel),
      disabled: !type.editable || type.mandatoryChannels.includes(channel),
    });
    box.addEventListener("change", () => saveChannels(type.code, row));
    row.append(el("label", {}, box, ` ${t(channel)}`));
  }
  if (!type.editable) row.append(el("span", { className: "note" }, t("read-only")));
  return row;
}

async function saveChannels(code, row) {
  const channels = [...row.querySelectorAll("input[value]:checked")].map((box) => box.value);
  try {
    const saved = (await gql(SET_CHANNELS, { code, channels })).setTypeChannels;
    row.replaceWith(typeRow(saved));
  } catch (error) {
    status(error.message);
    loadTypes();
  }
}

export function wireTypes() {
  let searching = null;
  $("type-search").addEventListener("input", () => {
    clearTimeout(searching);
    searching = setTimeout(loadTypes, 250);
  });
}
