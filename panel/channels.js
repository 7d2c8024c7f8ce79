// Profile → Notifications → Channels: a switch and a "Test" per channel, "When to send" per external
// channel (the viewer's routing mode: as the policy says, at once, only when away from the panel, or
// if still unread after some minutes), the default melody, the banner settings, the browser block
// (push.js) and the bot channels with their linking (the deep link from startChannelLink and a QR
// code of it, drawn by the vendored qrcode-generator). Working hours are hours.js's.

import { $, clearError, el, gql, say, state, t } from "./core.js";
import { clearErrors, ROUTED_CHANNELS, routingErrors, routingKey, routingRow, routingValue, showErrors } from "./forms.js";
import { browserBlock } from "./push.js";
import { melodyList, play } from "./sound.js";
import qrcode from "./vendor/qrcode.mjs";

const FIELDS = `channels { kind enabled mandatory available status target lastTestAt lastError routingMode escalateAfterMinutes }
  banner { durationSeconds maxVisible repeatCount repeatIntervalSeconds }
  sound { defaultMelody } pushSubscriptions { id endpoint userAgent createdAt }`;
const CHANNELS = `{ channelSettings { ${FIELDS} } }`;
const UPDATE = `mutation($input: ChannelSettingsInput!) { updateChannelSettings(input: $input) { ${FIELDS} } }`;
const TEST = `mutation($channel: ChannelKind!) { testChannel(channel: $channel) { status lastError } }`;
const START_LINK = `mutation($channel: ChannelKind!) { startChannelLink(channel: $channel) { channel url expiresAt } }`;
const UNLINK = `mutation($channel: ChannelKind!) { unlinkChannel(channel: $channel) { kind status } }`;

/** Bot channels an operator links by opening a deep link (domain/links.py). */
const LINKED = ["TELEGRAM", "VIBER", "WHATSAPP"];
const BOTS = [...LINKED, "ECHAT", "EMAIL", "CUSTOM"];
/** The links started in this page, by channel, shown until they are used or replaced. */
const links = new Map();
/** The routing modes as last loaded, by channel, and what the form was drawn from (it is drawn again
 * only when that changes: another part's save leaves unsaved choices in place). */
let routingLoaded = new Map();
let routingDrawn = null;

export async function loadChannels() {
  try {
    await showChannels((await gql(CHANNELS)).channelSettings);
    clearError("channels");
  } catch (error) {
    say("channels", error.message, true);
  }
}

// `where`: the part whose message line tells the outcome (channels, sound or banner).
async function update(input, where = "channels") {
  try {
    await showChannels((await gql(UPDATE, { input })).updateChannelSettings);
    say(where, t("saved"));
    // A channel switched on or off changes what the types can choose: the Types tab redraws.
    if (input.channels) document.dispatchEvent(new CustomEvent("nc:channels-changed"));
  } catch (error) {
    say(where, error.message, true);
    loadChannels();
  }
}

async function showChannels(settings) {
  state.banner = settings.banner;
  $("channel-list").replaceChildren(...settings.channels.map(channelRow));
  showRouting(settings.channels);
  showMelody(settings.sound.defaultMelody);
  for (const [name, value] of Object.entries(settings.banner)) {
    const input = $("banner-form").elements.namedItem(name);
    if (input) input.value = String(value);
  }
  $("browser-slot").replaceChildren(await browserBlock(settings, loadChannels));
  const bots = settings.channels.filter((c) => BOTS.includes(c.kind) && c.available);
  $("bot-list").replaceChildren(...(bots.length ? bots.map(botRow) : [el("p", { className: "muted" }, t("no-bots"))]));
}

function channelRow(channel) {
  const row = el("div", { className: "channel-row", dataset: { kind: channel.kind } });
  // A channel the instance does not offer is shown off ("not available"), never ticked.
  const box = el("input", { type: "checkbox", checked: channel.enabled && channel.available, disabled: channel.mandatory || !channel.available });
  box.addEventListener("change", () => update({ channels: [{ kind: channel.kind, enabled: box.checked }] }));
  const why = channel.mandatory ? t("mandatory") : channel.available ? t(channel.status) : t("unavailable");
  row.append(el("label", {}, box, ` ${t(channel.kind)} (${why})`));
  if (channel.available && channel.kind !== "BELL") {
    const result = el("span", { className: "note test-result", role: "status" });
    const test = el("button", { type: "button", className: "test", "aria-label": t("test-channel", { channel: t(channel.kind) }) },
      t("test"));
    test.addEventListener("click", () => testChannel(channel.kind, test, result));
    row.append(" ", test, result);
  }
  return row;
}

async function testChannel(kind, button, result) {
  button.disabled = true;
  const channel = t(kind);
  try {
    const delivery = (await gql(TEST, { channel: kind })).testChannel;
    result.dataset.status = delivery.status;
    result.textContent =
      delivery.status === "SENT" ? t("test-sent", { channel })
        : delivery.status === "FAILED" ? t("test-failed", { channel, reason: delivery.lastError || "" })
          : t("test-pending", { channel });
  } catch (error) {
    result.dataset.status = "ERROR";
    result.textContent = t("test-failed", { channel, reason: error.message });
  } finally {
    button.disabled = false;
  }
}

// -- when to send: the viewer's routing modes ------------------------------------------------------
function showRouting(channels) {
  const shown = channels.filter((c) => ROUTED_CHANNELS.includes(c.kind) && c.available);
  const drawn = JSON.stringify([state.locale, shown.map((c) => [c.kind, c.routingMode, c.escalateAfterMinutes])]);
  if (drawn === routingDrawn) return;
  routingDrawn = drawn;
  routingLoaded = new Map(shown.map((c) => [c.kind, routingKey(c.routingMode, c.escalateAfterMinutes)]));
  const modes = [["", t("mode-policy")], ...["ALWAYS", "WHEN_AWAY", "ESCALATE_AFTER"].map((m) => [m, t(`mode-${m}`)])];
  $("routing-list").replaceChildren(...shown.map((c) => routingRow(c.kind,
    { mode: c.routingMode, minutes: c.escalateAfterMinutes },
    { name: t(c.kind), label: t("when-to-send", { channel: t(c.kind) }), minutesLabel: t("escalate-minutes"), modes })));
  clearErrors($("routing-form"));
  $("routing-form").hidden = shown.length === 0;
}

// Only the channels whose choice changed are sent; a refused one keeps what was chosen, the
// service's message and code under it.
async function saveRouting() {
  const form = $("routing-form");
  clearErrors(form);
  say("routing", "");
  let routing;
  try {
    routing = [...form.querySelectorAll(".routing-row")].map((row) => routingValue(row, t("whole-number")))
      .filter((r) => routingKey(r.mode, r.escalateAfterMinutes) !== routingLoaded.get(r.channel));
  } catch (error) {
    showErrors(form, error);
    return;
  }
  if (routing.length === 0) {
    say("routing", t("nothing-changed"));
    return;
  }
  try {
    const settings = (await gql(UPDATE, { input: { routing } })).updateChannelSettings;
    routingDrawn = null;
    await showChannels(settings);
    say("routing", t("saved"));
    document.dispatchEvent(new CustomEvent("nc:channels-changed"));  // the types' badges follow
  } catch (error) {
    showErrors(form, routingErrors(error, routing.map((r) => r.channel)));
  }
}

// -- sound -----------------------------------------------------------------------------------------
function showMelody(chosen) {
  const select = $("default-melody");
  select.replaceChildren(...melodyList().map((m) => el("option", { value: m.id, selected: m.id === chosen }, m.title)));
  select.value = chosen;
}

export function wireChannels() {
  $("routing-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveRouting();
  });
  $("default-melody").addEventListener("change", () => {
    play($("default-melody").value);
    update({ defaultMelody: $("default-melody").value }, "sound");
  });
  $("play-melody").addEventListener("click", () => play($("default-melody").value));
  $("banner-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const banner = {};
    for (const input of $("banner-form").querySelectorAll("input")) banner[input.name] = Number(input.value);
    update({ banner }, "banner");
  });
}

// -- bot channels ----------------------------------------------------------------------------------
function botRow(channel) {
  const row = el("div", { className: "bot-row", dataset: { kind: channel.kind, status: channel.status } });
  const name = t(channel.kind);
  const shown = channel.status === "READY" && channel.target
    ? (LINKED.includes(channel.kind) ? t("linked-to", { target: channel.target }) : t("delivers-to", { target: channel.target }))
    : t(channel.status);
  row.append(el("strong", {}, name), ` — ${shown}`);
  if (channel.lastError) row.append(el("span", { className: "note" }, channel.lastError));
  if (!LINKED.includes(channel.kind)) return row;
  const actions = el("div", { className: "actions" });
  const start = el("button", { type: "button", className: "link", "aria-label": `${t(channel.status === "READY" ? "relink" : "link")}: ${name}` },
    t(channel.status === "READY" ? "relink" : "link"));
  start.addEventListener("click", () => startLink(channel.kind));
  actions.append(start);
  if (channel.status === "READY" || channel.status === "PENDING" || channel.status === "ERROR") {
    const unlink = el("button", { type: "button", className: "unlink", "aria-label": `${t("unlink")}: ${name}` }, t("unlink"));
    unlink.addEventListener("click", () => unlinkChannel(channel.kind));
    actions.append(" ", unlink);
  }
  row.append(actions);
  const started = links.get(channel.kind);
  if (started && new Date(started.expiresAt) > new Date()) row.append(linkBox(started));
  return row;
}

function linkBox(started) {
  const name = t(started.channel);
  const qr = qrcode(0, "M");
  qr.addData(started.url);
  qr.make();
  const img = el("img", { className: "qr", src: qr.createDataURL(4, 8), alt: t("link-qr", { channel: name }) });
  const anchor = el("a", { href: started.url, target: "_blank", rel: "noopener" }, started.url);
  const until = new Date(started.expiresAt).toLocaleTimeString(state.locale || "en");
  return el("div", { className: "link-box" },
    el("p", {}, t("link-open")), el("p", {}, anchor), img, el("p", { className: "muted" }, t("link-expires", { time: until })));
}

async function startLink(kind) {
  try {
    links.set(kind, (await gql(START_LINK, { channel: kind })).startChannelLink);
    await loadChannels();
    say("bots", "");
  } catch (error) {
    say("bots", error.message, true);
  }
}

async function unlinkChannel(kind) {
  try {
    await gql(UNLINK, { channel: kind });
    links.delete(kind);
    await loadChannels();
    say("bots", t("unlinked", { channel: t(kind) }));
  } catch (error) {
    say("bots", error.message, true);
  }
}
