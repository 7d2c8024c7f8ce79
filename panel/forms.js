// What the supervisors' and administrators' views share (deliveries.js, audit.js): an element
// builder by attribute, labelled fields whose errors stand beside them, filters sent as the API's
// input, and a time in the page's language. The administrator screen (admin.js) shares the element
// builder and the errors' placement; its fields take an inline option of their own (same markup:
// data-field, .field-error). A routing mode's row (a channel's mode and minutes) is shared by the
// administrator screen and the Channels tab, which, like working hours (hours.js), place their
// errors the same way.

let serial = 0;

/** el("p", { class: "x", text: "words", hidden: true }, child): attributes by name; false/null left out. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A control with its label and the place its errors are shown, tied by aria-describedby.
 * ``name`` is the API's extensions.field for it ("filter.until"). */
export function field(name, labelText, control) {
  const id = `staff-${++serial}`;
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  control.id = id;
  control.setAttribute("aria-describedby", error.id);
  return el("div", { class: "field", "data-field": name }, el("label", { for: id, text: labelText }), " ", control, error);
}

/** Checkboxes, one per value, as one fieldset (its errors under its legend). */
export function boxes(name, legendText, values, label, chosen = []) {
  const id = `staff-${++serial}`;
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const set = el("fieldset", { class: "choices", "data-field": name, "aria-describedby": error.id },
    el("legend", { text: legendText }));
  for (const value of values) {
    set.append(el("label", {}, el("input", { type: "checkbox", name, value, checked: chosen.includes(value) }), ` ${label(value)}`));
  }
  set.append(error);
  return set;
}

/** The form's own error line, for errors that name no field of it. */
export function formError() {
  return el("div", { "data-field": "" }, el("p", { class: "field-error", role: "alert", hidden: true }));
}

export function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) {
    p.hidden = true;
    p.textContent = "";
  }
  for (const bad of form.querySelectorAll("[aria-invalid]")) bad.removeAttribute("aria-invalid");
}

/** Each GraphQL error under the field its extensions.field names (the nearest one the form has,
 * else the form's own line), with its extensions.code; the first such field gets the focus. */
export function showErrors(form, error) {
  const errors = error.errors?.length ? error.errors : [{ message: error.message, extensions: { code: error.code } }];
  let first = null;
  for (const e of errors) {
    // "deliveryLog(filter.statuses)" (a bounded list) names the field inside the parentheses.
    let name = (e.extensions?.field || "").replace(/^\w+\((.*)\)$/, "$1");
    let place = null;
    while (name && !(place = form.querySelector(`[data-field="${CSS.escape(name)}"]`))) {
      name = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : "";
    }
    place = place || form.querySelector('[data-field=""]');
    const p = place.querySelector(":scope > .field-error");
    p.textContent = e.extensions?.code ? `${e.message} (${e.extensions.code})` : e.message;
    p.hidden = false;
    if (!place.matches("fieldset")) place.querySelector(":scope > input, :scope > select")?.setAttribute("aria-invalid", "true");
    first = first || place.querySelector("input:not([disabled]), select") || null;
  }
  first?.focus();
}

/** A datetime-local value (the browser's local time) as ISO 8601 in UTC; "" -> null. */
export function instant(value) {
  return value ? new Date(value).toISOString() : null;
}

/** Words, ids or user ids typed into one box, separated by commas or spaces; none -> null. */
export function words(value) {
  const list = value.split(/[\s,]+/).filter(Boolean);
  return list.length ? list : null;
}

export function when(iso, locale) {
  return iso ? new Date(iso).toLocaleString(locale) : "";
}

/** The message of a failed call, with its extensions.code. */
export function reason(error) {
  const e = error.errors?.[0];
  const code = e?.extensions?.code || error.code;
  return code ? `${e?.message || error.message} (${code})` : error.message;
}

// -- routing modes (the Channels tab and the administrator screen) ---------------------------------
/** The channels routing modes apply to: those sent outside the panel. */
export const ROUTED_CHANNELS = ["BROWSER", "TELEGRAM", "VIBER", "WHATSAPP", "ECHAT", "EMAIL", "CUSTOM"];
export const MAX_ESCALATE_MINUTES = 10080;

/** One external channel's routing mode: a select of ``modes`` (value → words; "" for "the next
 * level decides") and, with ESCALATE_AFTER, the minutes to wait (its label read with ``name``, the
 * channel's, first). Its errors stand under it (data-field "routing.<CHANNEL>", see routingErrors). */
export function routingRow(channel, setting, { name, label, minutesLabel, modes }) {
  const id = `staff-${++serial}`;
  const error = el("p", { class: "field-error", id: `${id}-error`, hidden: true });
  const mode = setting?.mode ?? "";
  const select = el("select", { id, name: `mode-${channel}`, "aria-describedby": error.id });
  for (const [value, words] of modes) select.append(el("option", { value, selected: value === mode, text: words }));
  select.value = modes.some(([value]) => value === mode) ? mode : modes[0][0];
  const minutes = el("input", { type: "number", id: `${id}-minutes`, name: `minutes-${channel}`, min: 1,
    max: MAX_ESCALATE_MINUTES, step: 1, class: "short", inputmode: "numeric", "aria-describedby": error.id,
    value: setting?.minutes ?? "" });
  const wait = el("span", { class: "escalate", hidden: select.value !== "ESCALATE_AFTER" },
    el("label", { for: minutes.id }, el("span", { class: "sr", text: `${name}: ` }), minutesLabel), " ", minutes);
  select.addEventListener("change", () => {
    wait.hidden = select.value !== "ESCALATE_AFTER";
    if (!wait.hidden && !minutes.value) minutes.focus();
  });
  return el("div", { class: "field routing-row", "data-field": `routing.${channel}`, "data-channel": channel },
    el("label", { for: id, text: label }), " ", select, " ", wait, error);
}

/** What a routing row holds, as ChannelRoutingInput: {channel, mode (null: ""), escalateAfterMinutes
 * (ESCALATE_AFTER's only; null when empty, for the API to refuse)}; minutes that are not a whole
 * number throw an error for showErrors, with ``notWhole`` as its words. */
export function routingValue(row, notWhole) {
  const channel = row.dataset.channel;
  const mode = row.querySelector("select").value || null;
  const text = row.querySelector('input[type="number"]').value.trim();
  if (mode === "ESCALATE_AFTER" && text && !/^\d+$/.test(text)) {
    throw { errors: [{ message: notWhole, extensions: { field: `routing.${channel}` } }] };
  }
  return { channel, mode, escalateAfterMinutes: mode === "ESCALATE_AFTER" && text ? Number(text) : null };
}

/** A routing setting's key, to tell whether it changed: "MODE:minutes" ("" for none). */
export function routingKey(mode, minutes) {
  return mode ? `${mode}:${mode === "ESCALATE_AFTER" ? minutes ?? "" : ""}` : "";
}

/** The API names the whole list ("routing") in its errors and the channel in their words: each such
 * error is shown under the row of the channel it names among ``sent`` (or the only one sent). */
export function routingErrors(error, sent) {
  const errors = error.errors?.length ? error.errors : [{ message: error.message, extensions: { code: error.code } }];
  return {
    errors: errors.map((e) => {
      if ((e.extensions?.field || "").replace(/^\w+\((.*)\)$/, "$1") !== "routing") return e;
      const named = sent.filter((channel) => new RegExp(`\\b${channel}\\b`).test(e.message));
      const channel = named.length === 1 ? named[0] : sent.length === 1 ? sent[0] : null;
      return channel ? { ...e, extensions: { ...e.extensions, field: `routing.${channel}` } } : e;
    }),
  };
}
