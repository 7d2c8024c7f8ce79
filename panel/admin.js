// The administrator screen: instance settings, type policies and bot channels, over the schema's
// instanceSettings query and its updateInstanceSettings and setTypePolicy mutations (ADMINISTRATOR
// only: the API refuses any other role, whatever a page shows). app.js imports this module the first
// time an administrator opens the screen and calls mount(container, ctx) with
// ctx = { gql(query, variables), t(key), locale }; gql throws an Error whose `errors` are the
// response's GraphQL errors. Secrets are write-only: the page shows whether one is set, takes a
// new one, and clears the field once sent; the API never returns them. Before saving, each policy
// form's Preview sends the same input to previewInstanceSettings / previewTypePolicy and shows, per
// type and channel, how many operators it turns on and off and a sample of them (nothing written).
// Routing: the instance's default mode per external channel, its digest window and whether mandatory
// channels bypass the modes; per type its own modes, "urgent" (alwaysOn) and its digest window.

import {
  checked, clearErrors, el, formError, ROUTED_CHANNELS, routingErrors, routingKey, routingRow, routingValue,
  showErrors as showFieldErrors,
} from "./forms.js";

const STRINGS = {
  en: {
    title: "Administration", instance: "Instance settings", "nc-enabled": "Notification Center on for this instance",
    "extended-enabled": "Extended types (CSAT, SLA, normative response) editable by users",
    "default-channels": "Default channels (for users who have not chosen)",
    "mandatory-channels": "Mandatory channels (users cannot turn them off)",
    "csat-threshold": "A CSAT score at or below this is negative (1–4, on the 1–5 scale)",
    "bot-scenario": "Bot scenario", save: "Save", saved: "Saved", loading: "Loading…",
    "not-offered": "configure and enable its bot first", "whole-number": "Enter a whole number.",
    policies: "Type policies", availability: "Availability", AVAILABLE: "available",
    VIEW_ONLY: "view only (listed, not editable by users)", UNAVAILABLE: "temporarily unavailable",
    "type-mandatory": "Mandatory type (users cannot turn it off; the bell always stays)",
    "type-mandatory-channels": "Mandatory channels for this type", "type-default-channels": "Default channels for this type",
    "mandatory-short": "mandatory", bots: "Bot channels", "bot-enabled": "On", secret: "Secret",
    "secret-set": "set", "secret-not-set": "not set",
    "secret-new": "New secret (replaces the stored one; leave empty to keep it)", "secret-clear": "Remove the stored secret",
    "hook-secret": "Webhook secret token", "hook-secret-new": "New webhook secret token (leave empty to keep it)",
    "hook-secret-clear": "Remove the webhook secret token", "secret-hint": "Write-only: never shown again once saved.",
    botUsername: "Bot username", apiBaseUrl: "API base URL", botUri: "Bot URI", phoneNumberId: "Phone number ID",
    businessPhone: "Business phone (international format)", host: "SMTP host", port: "Port", starttls: "STARTTLS",
    username: "User name", from: "From address", header: "Header text", footer: "Footer text", url: "URL",
  },
  uk: {
    title: "Адміністрування", instance: "Налаштування екземпляра", "nc-enabled": "Центр сповіщень увімкнено для екземпляра",
    "extended-enabled": "Розширені типи (CSAT, SLA, нормативна відповідь) користувачі можуть змінювати",
    "default-channels": "Канали за замовчуванням (для тих, хто ще не обрав)",
    "mandatory-channels": "Обов'язкові канали (користувачі не можуть їх вимкнути)",
    "csat-threshold": "Оцінка CSAT, не вища за цю, негативна (1–4 за шкалою 1–5)",
    "bot-scenario": "Сценарій бота", save: "Зберегти", saved: "Збережено", loading: "Завантаження…",
    "not-offered": "спершу налаштуйте й увімкніть його бота", "whole-number": "Введіть ціле число.",
    policies: "Політики типів", availability: "Доступність", AVAILABLE: "доступний",
    VIEW_ONLY: "лише перегляд (у списку, користувачі не змінюють)", UNAVAILABLE: "тимчасово недоступний",
    "type-mandatory": "Обов'язковий тип (користувачі не можуть його вимкнути; дзвіночок лишається завжди)",
    "type-mandatory-channels": "Обов'язкові канали цього типу", "type-default-channels": "Канали цього типу за замовчуванням",
    "mandatory-short": "обов'язковий", bots: "Канали ботів", "bot-enabled": "Увімкнено", secret: "Секрет",
    "secret-set": "задано", "secret-not-set": "не задано",
    "secret-new": "Новий секрет (замінює збережений; порожнє — залишити)", "secret-clear": "Видалити збережений секрет",
    "hook-secret": "Секретний токен вебхука", "hook-secret-new": "Новий секретний токен вебхука (порожнє — залишити)",
    "hook-secret-clear": "Видалити секретний токен вебхука", "secret-hint": "Лише для запису: після збереження не показується.",
    botUsername: "Ім'я бота", apiBaseUrl: "Базова адреса API", botUri: "URI бота", phoneNumberId: "ID номера телефону",
    businessPhone: "Телефон компанії (міжнародний формат)", host: "SMTP-сервер", port: "Порт", starttls: "STARTTLS",
    username: "Ім'я користувача", from: "Адреса відправника", header: "Текст угорі листа", footer: "Текст унизу листа",
    url: "URL",
  },
};

const CHANNELS = ["BELL", "BANNER", "SOUND", "BROWSER", "TELEGRAM", "VIBER", "WHATSAPP", "ECHAT", "EMAIL", "CUSTOM"];
const PANEL_CHANNELS = ["BELL", "BANNER", "SOUND", "BROWSER"];
const AVAILABILITY = ["AVAILABLE", "VIEW_ONLY", "UNAVAILABLE"];
//: The settings each bot channel takes (domain/bot_input.py's BOT_SETTINGS, but the write-only
//: webhookSecretToken, which has a secret field of its own). port is a number, starttls a switch.
const BOT_SETTINGS = {
  TELEGRAM: ["botUsername", "apiBaseUrl"],
  VIBER: ["botUri", "apiBaseUrl"],
  WHATSAPP: ["phoneNumberId", "businessPhone", "apiBaseUrl"],
  ECHAT: ["url"],
  EMAIL: ["host", "port", "starttls", "username", "from", "header", "footer"],
  CUSTOM: ["url"],
};

const ROUTING = "routing { channel mode escalateAfterMinutes }";
const POLICY = `typeCode mandatory mandatoryChannels availability defaultChannels ${ROUTING} alwaysOn digestWindowSeconds`;
const SETTINGS = `notificationCenterEnabled extendedTypesEnabled mandatoryChannels defaultChannels botScenario
  negativeCsatThreshold botChannels { channel enabled settings hasSecret hasWebhookSecretToken }
  ${ROUTING} digestWindowSeconds mandatoryChannelsBypassRouting
  typePolicies { ${POLICY} }`;
/** The largest digest window the API takes (seconds: a day). */
const MAX_DIGEST_SECONDS = 86400;
const LOAD = `{ instanceSettings { ${SETTINGS} } notificationCategories { code title types { code title } } }`;
const UPDATE = `mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) { ${SETTINGS} } }`;
const SET_POLICY = `mutation($input: TypePolicyInput!) { setTypePolicy(input: $input) { ${POLICY} } }`;
const PREVIEW_FIELDS = "operators changes { typeCode channel turnedOn turnedOff turnedOnSample turnedOffSample }";
const PREVIEW_INSTANCE = `query($input: InstanceSettingsInput!) { previewInstanceSettings(input: $input) { ${PREVIEW_FIELDS} } }`;
const PREVIEW_POLICY = `query($input: TypePolicyInput!) { previewTypePolicy(input: $input) { ${PREVIEW_FIELDS} } }`;

let view = null; // { container, ctx, settings, categories }
let serial = 0;

/** The screen's own words, else the page's (i18n.js: the preview's, with their {vars}). */
function t(key, vars) {
  const table = STRINGS[view.ctx.locale] || STRINGS.en;
  return table[key] ?? STRINGS.en[key] ?? view.ctx.t(key, vars);
}

/** A control with its label and the place its errors are shown, tied by aria-describedby. */
function field(name, labelText, control, { inline = false } = {}) {
  const id = `admin-${++serial}`;
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  control.id = id;
  control.setAttribute("aria-describedby", error.id);
  const label = el("label", { for: id, text: labelText });
  const parts = inline ? [control, " ", label] : [label, " ", control];
  return el("div", { class: `field${inline ? " inline" : ""}`, "data-field": name }, ...parts, error);
}

/** Checkboxes for a list of channels, as one fieldset (the field's errors under its legend). */
function channelBoxes(name, legendText, chosen, offered) {
  const id = `admin-${++serial}`;
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const set = el("fieldset", { class: "channels", "data-field": name, "aria-describedby": error.id },
    el("legend", { text: legendText }));
  for (const channel of CHANNELS) {
    // Not offered (a bot that is not on): disabled, with why, unless chosen already (so it can be unticked).
    const isOffered = offered.includes(channel);
    const box = el("input", { type: "checkbox", name, value: channel, checked: chosen.includes(channel),
      disabled: !isOffered && !chosen.includes(channel) });
    const label = el("label", {}, box, ` ${view.ctx.t(channel)}`);
    if (!isOffered) label.append(el("span", { class: "note", text: ` (${t("not-offered")})` }));
    set.append(label);
  }
  set.append(error);
  return set;
}

/** Only what differs from what was loaded: a type's default channels stay the instance's until an
 * administrator sets them, and an unchanged bot scenario does not restart the bots. */
function changed(loaded, values) {
  const same = (a, b) => (Array.isArray(a) ? [...a].sort().join() === [...b].sort().join() : a === b);
  return Object.fromEntries(Object.entries(values).filter(([key, value]) => !same(value, loaded[key] ?? "")));
}

// -- routing modes -------------------------------------------------------------------------------------
/** The modes a level offers: the instance's (ALWAYS is its default) or a type's ("" leaves a channel
 * to the instance). */
function modes(instance) {
  return [...(instance ? [] : [["", t("mode-instance")]]), ["ALWAYS", t("mode-ALWAYS")],
    ["WHEN_AWAY", t("mode-admin-WHEN_AWAY")], ["ESCALATE_AFTER", t("mode-ESCALATE_AFTER")]];
}

/** A mode per external channel, as one fieldset (errors that name no channel under its legend). */
function routingBoxes(legendText, routing, instance) {
  const id = `admin-${++serial}`;
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const set = el("fieldset", { class: "routing", "data-field": "routing", "aria-describedby": error.id },
    el("legend", { text: legendText }));
  const stored = new Map(routing.map((r) => [r.channel, { mode: r.mode, minutes: r.escalateAfterMinutes }]));
  for (const channel of ROUTED_CHANNELS) {
    const name = view.ctx.t(channel);
    set.append(routingRow(channel, stored.get(channel),
      { name, label: t("channel-mode", { channel: name }), minutesLabel: t("escalate-minutes"), modes: modes(instance) }));
  }
  set.append(error);
  return set;
}

/** The form's modes when they differ from ``routing`` (the list that replaces it; the instance's
 * ALWAYS and a type's "" left out), else undefined; throws a not-whole minutes error for showErrors. */
function routingChanged(form, routing, instance) {
  const none = instance ? "ALWAYS" : "";
  const keyOf = (mode, minutes) => routingKey(mode === none ? "" : mode, minutes);
  const stored = new Map(routing.map((r) => [r.channel, keyOf(r.mode, r.escalateAfterMinutes)]));
  const given = [...form.querySelectorAll(".routing-row")].map((row) => routingValue(row, t("whole-number")))
    .map((r) => ({ ...r, mode: r.mode === none ? null : r.mode }));
  if (given.every((r) => routingKey(r.mode, r.escalateAfterMinutes) === (stored.get(r.channel) ?? ""))) return undefined;
  return given.filter((r) => r.mode !== null);
}

/** A digest window typed in seconds: a number, null when empty, or NaN (not a whole number). */
function seconds(control) {
  const text = control.value.trim();
  if (!text) return null;
  return /^\d+$/.test(text) ? Number(text) : NaN;
}

function offeredChannels(settings) {
  return [...PANEL_CHANNELS, ...settings.botChannels.filter((b) => b.enabled).map((b) => b.channel)];
}

// -- errors next to their fields -------------------------------------------------------------------
/** The shared placement of each GraphQL error beside its field (forms.js; a routing error under the
 * channel it names), then the status line cleared. */
function showErrors(form, error) {
  showFieldErrors(form, routingErrors(error, ROUTED_CHANNELS));
  status("");
}

function status(text) {
  const line = view.container.querySelector(".admin-status");
  if (line) line.textContent = text;
}

/** Swap a rendered part for its new version, keeping the keyboard's place in it. */
function replace(old, fresh) {
  const active = old.contains(document.activeElement) ? document.activeElement : null;
  old.replaceWith(fresh);
  if (!active) return;
  const same = active.name
    ? fresh.querySelector(`[name="${CSS.escape(active.name)}"]${active.type === "checkbox" ? `[value="${CSS.escape(active.value)}"]` : ""}`)
    : fresh.querySelector(active.tagName === "SUMMARY" ? "summary" : "button[type=submit]");
  (same || fresh.querySelector("button[type=submit]"))?.focus();
}

// -- instance settings --------------------------------------------------------------------------------
function instanceForm(settings) {
  const offered = offeredChannels(settings);
  const form = el("form", { class: "admin-form", "data-part": "instance", novalidate: true, "aria-labelledby": "admin-instance-title" },
    el("h3", { id: "admin-instance-title", class: "category-title", text: t("instance") }),
    field("notificationCenterEnabled", t("nc-enabled"),
      el("input", { type: "checkbox", name: "notificationCenterEnabled", checked: settings.notificationCenterEnabled }), { inline: true }),
    field("extendedTypesEnabled", t("extended-enabled"),
      el("input", { type: "checkbox", name: "extendedTypesEnabled", checked: settings.extendedTypesEnabled }), { inline: true }),
    channelBoxes("defaultChannels", t("default-channels"), settings.defaultChannels, offered),
    channelBoxes("mandatoryChannels", t("mandatory-channels"), settings.mandatoryChannels, offered),
    field("negativeCsatThreshold", t("csat-threshold"),
      el("input", { type: "number", name: "negativeCsatThreshold", min: 1, max: 4, step: 1, class: "short",
        value: settings.negativeCsatThreshold })),
    field("botScenario", t("bot-scenario"),
      el("input", { type: "text", name: "botScenario", maxlength: 200, autocomplete: "off", value: settings.botScenario ?? "" })),
    el("h4", { class: "policy-category", text: t("routing") }),
    el("p", { class: "note", text: t("routing-admin-intro") }),
    routingBoxes(t("instance-routing"), settings.routing, true),
    field("digestWindowSeconds", t("digest-window"),
      el("input", { type: "number", name: "digestWindowSeconds", min: 0, max: MAX_DIGEST_SECONDS, step: 1, class: "short",
        value: settings.digestWindowSeconds })),
    field("mandatoryChannelsBypassRouting", t("bypass-routing"),
      el("input", { type: "checkbox", name: "mandatoryChannelsBypassRouting", checked: settings.mandatoryChannelsBypassRouting }),
      { inline: true }),
    el("button", { type: "submit", text: t("save") }), " ",
    previewButton(),
    formError(),
    previewPart());
  /** What the form holds, as updateInstanceSettings takes it; null (and the error shown) when not whole. */
  const input = () => {
    clearErrors(form);
    const threshold = form.elements.namedItem("negativeCsatThreshold");
    const digestWindow = seconds(form.elements.namedItem("digestWindowSeconds"));
    const notWhole = [!/^\d+$/.test(threshold.value.trim()) && "negativeCsatThreshold", !Number.isInteger(digestWindow) && "digestWindowSeconds"]
      .filter(Boolean).map((name) => ({ message: t("whole-number"), extensions: { field: name } }));
    let routing;
    try {
      routing = routingChanged(form, settings.routing, true);
    } catch (error) {
      notWhole.push(...error.errors);
    }
    if (notWhole.length) {
      showErrors(form, { errors: notWhole });
      return null;
    }
    return {
      ...changed(settings, {
        notificationCenterEnabled: form.elements.namedItem("notificationCenterEnabled").checked,
        extendedTypesEnabled: form.elements.namedItem("extendedTypesEnabled").checked,
        defaultChannels: checked(form, "defaultChannels"),
        mandatoryChannels: checked(form, "mandatoryChannels"),
        negativeCsatThreshold: Number(threshold.value),
        botScenario: form.elements.namedItem("botScenario").value,
        digestWindowSeconds: digestWindow,
        mandatoryChannelsBypassRouting: form.elements.namedItem("mandatoryChannelsBypassRouting").checked,
      }),
      ...(routing ? { routing } : {}),
    };
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const given = input();
    if (given) await save(form, UPDATE, { input: given });
  });
  wirePreview(form, input, PREVIEW_INSTANCE, "previewInstanceSettings");
  return form;
}

// -- the preview: what saving would do, before saving ----------------------------------------------------
function previewButton() {
  return el("button", { type: "button", "data-action": "preview", text: t("preview") });
}

function previewPart() {
  return el("div", { class: "preview", "data-preview": "" }, el("p", { class: "preview-summary", role: "status" }));
}

/** The form's Preview button: the preview query with the input saving would send; its errors beside
 * the fields as saving's are. An edit after a preview takes the preview away (it no longer says what
 * saving would do). */
function wirePreview(form, input, query, name) {
  const part = form.querySelector(":scope > [data-preview]");
  const clear = () => {
    part.querySelector(".preview-summary").textContent = "";
    part.querySelector(":scope > table")?.remove();
    delete part.dataset.operators;
  };
  form.addEventListener("input", clear);
  form.addEventListener("change", clear);
  form.querySelector('[data-action="preview"]').addEventListener("click", async () => {
    const given = input();
    if (!given) return;
    clear();
    part.querySelector(".preview-summary").textContent = t("loading");
    try {
      showPreview(part, (await view.ctx.gql(query, { input: given }))[name]);
    } catch (error) {
      clear();
      showErrors(form, error);
    }
  });
}

function showPreview(part, preview) {
  const titles = new Map(view.categories.flatMap((c) => c.types.map((type) => [type.code, type.title])));
  part.dataset.operators = String(preview.operators);
  const summary = preview.changes.length
    ? t("preview-changes", { changes: preview.changes.length, operators: preview.operators })
    : t("preview-nothing", { operators: preview.operators });
  part.querySelector(".preview-summary").textContent = summary;
  if (!preview.changes.length) return;
  const who = (sample, count) => (count > sample.length ? `${sample.join(", ")} … (+${count - sample.length})` : sample.join(", "));
  const rows = preview.changes.map((c) => el("tr", { "data-type": c.typeCode, "data-channel": c.channel },
    el("th", { scope: "row", text: titles.get(c.typeCode) || c.typeCode }),
    el("td", { text: view.ctx.t(c.channel) }),
    el("td", { "data-turned": "on", text: String(c.turnedOn) }),
    el("td", { "data-turned": "off", text: String(c.turnedOff) }),
    el("td", { class: "sample" },
      c.turnedOn ? el("span", { class: "sample-on", text: `${t("preview-on-who")}: ${who(c.turnedOnSample, c.turnedOn)}` }) : null,
      c.turnedOn && c.turnedOff ? el("br") : null,
      c.turnedOff ? el("span", { class: "sample-off", text: `${t("preview-off-who")}: ${who(c.turnedOffSample, c.turnedOff)}` }) : null)));
  part.append(el("table", { class: "staff-table" },
    el("caption", { text: t("preview-title") }),
    el("thead", {}, el("tr", {}, ...["preview-type", "preview-channel", "preview-on", "preview-off", "preview-sample"]
      .map((key) => el("th", { scope: "col", text: t(key) })))),
    el("tbody", {}, ...rows)));
}

/** Send an instance update; on success show the whole new state (bots change what is offered). */
async function save(form, query, variables) {
  try {
    const settings = (await view.ctx.gql(query, variables)).updateInstanceSettings;
    showSettings(settings, form.dataset.channel);
    status(t("saved"));
    // The Notification Center switched on or off: the page around this screen becomes the other one.
    await view.ctx.checkCenter?.();
  } catch (error) {
    showErrors(form, error);
  }
}

/** The saved state: the instance form and the type policies (the instance's defaults and the bots on
 * change what they show), and the bot form that was saved (other bots' unsaved edits stay). */
function showSettings(settings, channel) {
  view.settings = settings;
  const root = view.container;
  replace(root.querySelector('[data-part="instance"]'), instanceForm(settings));
  const openTypes = new Set([...root.querySelectorAll("details[data-type][open]")].map((d) => d.dataset.type));
  replace(root.querySelector('[data-part="policies"]'), policiesPart(settings, openTypes));
  if (channel) replace(root.querySelector(`form[data-channel="${channel}"]`), botForm(channel, settings));
}

// -- type policies ---------------------------------------------------------------------------------------
function policiesPart(settings, openTypes = new Set()) {
  const titles = new Map();
  const groups = [];
  for (const category of view.categories) {
    groups.push([category.title, category.types.map((type) => type.code)]);
    for (const type of category.types) titles.set(type.code, type.title);
  }
  const byCode = new Map(settings.typePolicies.map((p) => [p.typeCode, p]));
  const other = settings.typePolicies.map((p) => p.typeCode).filter((code) => !titles.has(code));
  if (other.length) groups.push(["—", other]);
  const part = el("section", { class: "admin-part", "data-part": "policies", "aria-labelledby": "admin-policies-title" },
    el("h3", { id: "admin-policies-title", class: "category-title", text: t("policies") }));
  for (const [title, codes] of groups) {
    const rows = codes.filter((code) => byCode.has(code));
    if (!rows.length) continue;
    part.append(el("h4", { class: "policy-category", text: title }));
    for (const code of rows) part.append(policyRow(byCode.get(code), titles.get(code) || code, settings, openTypes.has(code)));
  }
  return part;
}

function policyRow(policy, title, settings, open) {
  const offered = offeredChannels(settings);
  const summary = el("summary", {},
    el("span", { class: "policy-title", text: title }),
    el("span", { class: "note", text: ` · ${t(policy.availability)}${policy.mandatory ? ` · ${t("mandatory-short")}` : ""}${
      policy.alwaysOn ? ` · ${t("urgent-short")}` : ""}` }));
  const select = el("select", { name: "availability" });
  for (const value of AVAILABILITY) select.append(el("option", { value, selected: value === policy.availability, text: t(value) }));
  const form = el("form", { class: "admin-form", novalidate: true },
    field("availability", t("availability"), select),
    field("mandatory", t("type-mandatory"), el("input", { type: "checkbox", name: "mandatory", checked: policy.mandatory }), { inline: true }),
    channelBoxes("mandatoryChannels", t("type-mandatory-channels"), policy.mandatoryChannels, offered),
    channelBoxes("defaultChannels", t("type-default-channels"), policy.defaultChannels, offered),
    field("alwaysOn", t("always-on"), el("input", { type: "checkbox", name: "alwaysOn", checked: policy.alwaysOn }), { inline: true }),
    routingBoxes(t("type-routing"), policy.routing, false),
    field("digestWindowSeconds", t("type-digest-window"),
      el("input", { type: "number", name: "digestWindowSeconds", min: 0, max: MAX_DIGEST_SECONDS, step: 1, class: "short",
        value: policy.digestWindowSeconds ?? "" })),
    el("button", { type: "submit", text: t("save") }), " ",
    previewButton(),
    formError(),
    previewPart());
  const details = el("details", { class: "policy", "data-type": policy.typeCode, open }, summary, form);
  /** What the form holds, as setTypePolicy takes it (only what changed; an emptied digest window is
   * -1, the instance's again); null (and the error shown) when not whole. */
  const given = () => {
    clearErrors(form);
    const digestWindow = seconds(form.elements.namedItem("digestWindowSeconds"));
    let routing;
    try {
      routing = routingChanged(form, policy.routing, false);
      if (Number.isNaN(digestWindow)) throw { errors: [{ message: t("whole-number"), extensions: { field: "digestWindowSeconds" } }] };
    } catch (error) {
      showErrors(form, error);
      return null;
    }
    const digest = digestWindow === (policy.digestWindowSeconds ?? null) ? {} : { digestWindowSeconds: digestWindow ?? -1 };
    return {
      typeCode: policy.typeCode,
      ...changed(policy, {
        availability: select.value,
        mandatory: form.elements.namedItem("mandatory").checked,
        mandatoryChannels: checked(form, "mandatoryChannels"),
        defaultChannels: checked(form, "defaultChannels"),
        alwaysOn: form.elements.namedItem("alwaysOn").checked,
      }),
      ...(routing ? { routing } : {}),
      ...digest,
    };
  };
  wirePreview(form, given, PREVIEW_POLICY, "previewTypePolicy");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = given();
    if (!input) return;
    try {
      const saved = (await view.ctx.gql(SET_POLICY, { input })).setTypePolicy;
      view.settings.typePolicies = view.settings.typePolicies.map((p) => (p.typeCode === saved.typeCode ? saved : p));
      replace(details, policyRow(saved, title, view.settings, true));
      status(t("saved"));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return details;
}

// -- bot channels -----------------------------------------------------------------------------------------
function secretField(name, statusKey, isSet, newKey, clearKey) {
  const state = el("p", { class: "secret-state", "data-secret": name },
    `${t(statusKey)}: `, el("strong", { text: t(isSet ? "secret-set" : "secret-not-set") }));
  const input = el("input", { type: "password", name, autocomplete: "new-password", spellcheck: "false", maxlength: 4096 });
  const wrap = field(name === "secret" ? "botChannels.secret" : "botChannels.settings.webhookSecretToken", t(newKey), input);
  wrap.prepend(state);
  if (isSet) {
    const clear = el("input", { type: "checkbox", name: `${name}-clear` });
    wrap.append(field(`${name}-clear`, t(clearKey), clear, { inline: true }));
  }
  return wrap;
}

function botForm(channel, settings) {
  const stored = settings.botChannels.find((b) => b.channel === channel) || { enabled: false, settings: {}, hasSecret: false };
  const values = stored.settings || {};
  const legendId = `admin-bot-${channel}`;
  const form = el("form", { class: "admin-form bot", "data-channel": channel, novalidate: true, "aria-labelledby": legendId },
    el("h4", { id: legendId, class: "policy-category", text: view.ctx.t(channel) }),
    field("botChannels.enabled", t("bot-enabled"), el("input", { type: "checkbox", name: "enabled", checked: stored.enabled }), { inline: true }));
  for (const key of BOT_SETTINGS[channel]) {
    let control;
    if (key === "starttls") control = el("input", { type: "checkbox", name: key, checked: values[key] === true });
    else if (key === "port") control = el("input", { type: "number", name: key, min: 1, max: 65535, class: "short", value: values[key] ?? "" });
    else control = el("input", { type: key === "apiBaseUrl" || key === "url" ? "url" : "text", name: key, autocomplete: "off", value: values[key] ?? "" });
    form.append(field(`botChannels.settings.${key}`, t(key), control, { inline: key === "starttls" }));
  }
  form.append(secretField("secret", "secret", stored.hasSecret, "secret-new", "secret-clear"));
  if (channel === "TELEGRAM") {
    form.append(secretField("webhookSecretToken", "hook-secret", stored.hasWebhookSecretToken, "hook-secret-new", "hook-secret-clear"));
  }
  form.append(el("p", { class: "note", text: t("secret-hint") }), el("button", { type: "submit", text: t("save") }), formError());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const given = {};
    for (const key of BOT_SETTINGS[channel]) {
      const control = form.elements.namedItem(key);
      if (key === "starttls") given[key] = control.checked;
      else if (key === "port") {
        if (control.value.trim() === "") continue;
        if (!/^\d+$/.test(control.value.trim())) {
          return showErrors(form, { errors: [{ message: t("whole-number"), extensions: { field: "botChannels.settings.port" } }] });
        }
        given[key] = Number(control.value);
      } else if (control.value.trim() !== "") given[key] = control.value.trim();
    }
    const secret = form.elements.namedItem("secret");
    const bot = { channel, enabled: form.elements.namedItem("enabled").checked, settings: given };
    if (secret.value) bot.secret = secret.value;
    else if (form.elements.namedItem("secret-clear")?.checked) bot.secret = "";
    if (channel === "TELEGRAM") {
      const hook = form.elements.namedItem("webhookSecretToken");
      if (hook.value) given.webhookSecretToken = hook.value;
      else if (form.elements.namedItem("webhookSecretToken-clear")?.checked) given.webhookSecretToken = null;
    }
    // Out of the page at once, whether or not the server takes it: a secret is typed, never shown.
    for (const input of form.querySelectorAll('input[type="password"]')) input.value = "";
    await save(form, UPDATE, { input: { botChannels: [bot] } });
  });
  return form;
}

// -- the screen ---------------------------------------------------------------------------------------------
/** Render the administrator screen into ``container`` (again after a locale switch). */
export async function mount(container, ctx) {
  view = { container, ctx, settings: null, categories: [] };
  if (!document.querySelector('link[href="admin.css"]')) document.head.append(el("link", { rel: "stylesheet", href: "admin.css" }));
  container.setAttribute("aria-labelledby", "admin-title");
  container.replaceChildren(
    el("div", { class: "history-head" }, el("h2", { id: "admin-title", tabindex: -1, text: t("title") })),
    el("p", { class: "muted admin-status", role: "status", text: t("loading") }));
  let data;
  try {
    data = await ctx.gql(LOAD, {});
  } catch (error) {
    const e = error.errors?.[0];
    status(e?.extensions?.code ? `${e.message} (${e.extensions.code})` : error.message);
    return;
  }
  view.settings = data.instanceSettings;
  view.categories = data.notificationCategories;
  const bots = el("section", { class: "admin-part", "data-part": "bots", "aria-labelledby": "admin-bots-title" },
    el("h3", { id: "admin-bots-title", class: "category-title", text: t("bots") }));
  for (const channel of Object.keys(BOT_SETTINGS)) bots.append(botForm(channel, view.settings));
  container.append(instanceForm(view.settings), policiesPart(view.settings), bots);
  status("");
}
