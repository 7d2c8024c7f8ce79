// Profile → Notifications → Channels: working hours. A time zone (this browser's when none is set)
// and weekly spans, each a weekday with a start and an end (workingHours, setWorkingHours). Outside
// them the service holds external channels and sends them when the hours start; urgent types go
// through. No span: any time. The end "24:00" (the day's end) is shown and typed as 00:00.

import { $, clearError, el, gql, say, t } from "./core.js";
import { clearErrors, showErrors } from "./forms.js";

const FIELDS = "timezone days { day from to }";
const HOURS = `{ workingHours { ${FIELDS} } }`;
const SET = `mutation($input: WorkingHoursInput!) { setWorkingHours(input: $input) { ${FIELDS} } }`;
const DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"];
/** The time zones the box suggests (any IANA name can be typed). */
const ZONES = [
  "Europe/Kyiv", "Europe/Warsaw", "Europe/Berlin", "Europe/Paris", "Europe/London", "Europe/Lisbon",
  "Europe/Bucharest", "Europe/Chisinau", "Europe/Istanbul", "Asia/Tbilisi", "Asia/Dubai", "Asia/Almaty",
  "Asia/Tashkent", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney", "America/New_York",
  "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "UTC",
];
/** A new span: the day after the last one, at the same hours (a working week is a few clicks). */
const FIRST_SPAN = { day: "MONDAY", from: "09:00", to: "18:00" };

/** Zones renamed in the IANA database that browsers may still report by their old names. */
const RENAMED = { "Europe/Kiev": "Europe/Kyiv", "Asia/Calcutta": "Asia/Kolkata", "Asia/Saigon": "Asia/Ho_Chi_Minh",
  "Asia/Katmandu": "Asia/Kathmandu", "Asia/Rangoon": "Asia/Yangon" };

function browserZone() {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  return RENAMED[zone] || zone;
}

export async function loadHours() {
  try {
    showHours((await gql(HOURS)).workingHours);
    clearError("hours");
  } catch (error) {
    say("hours", error.message, true);
  }
}

function showHours(hours) {
  const zone = browserZone();
  $("hours-zones").replaceChildren(...[...new Set([zone, ...ZONES])].map((name) => el("option", { value: name })));
  // None set: the API says UTC and no spans; this browser's zone is the likelier one.
  $("hours-timezone").value = hours.days.length === 0 && hours.timezone === "UTC" ? zone : hours.timezone;
  $("hours-list").replaceChildren(...hours.days.map((span) => spanRow(span)));
  clearErrors($("hours-form"));
  renumber();
}

function spanRow(span) {
  const day = el("select", { name: "day" }, ...DAYS.map((d) => el("option", { value: d, selected: d === span.day }, t(`day-${d}`))));
  day.value = span.day;
  const from = el("input", { type: "time", name: "from", value: span.from, required: true });
  const to = el("input", { type: "time", name: "to", value: span.to === "24:00" ? "00:00" : span.to, required: true });
  const remove = el("button", { type: "button", className: "hours-remove" }, t("remove"));
  const row = el("fieldset", { className: "span-row" }, el("legend", { className: "sr" }),
    el("label", {}, `${t("hours-day")} `, day), " ",
    el("label", {}, `${t("hours-from")} `, from), " ",
    el("label", {}, `${t("hours-to")} `, to), " ",
    remove, el("p", { className: "field-error", hidden: true }));
  remove.addEventListener("click", () => {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    renumber();
    (next?.querySelector(".hours-remove") || $("hours-add")).focus();
  });
  return row;
}

/** Each row's place in what is sent (the API's errors name "days[i]"), its legend and its remove
 * button's name; "Any time" when there is none. */
function renumber() {
  const rows = [...$("hours-list").children];
  rows.forEach((row, i) => {
    row.dataset.field = `days[${i}]`;
    row.querySelector("legend").textContent = t("hours-span", { n: i + 1 });
    row.querySelector(".hours-remove").setAttribute("aria-label", t("hours-remove", { n: i + 1 }));
    const error = row.querySelector(".field-error");
    error.id = `hours-span-${i}-error`;
    for (const control of row.querySelectorAll("select, input")) control.setAttribute("aria-describedby", error.id);
  });
  $("hours-any").hidden = rows.length > 0;
}

function addSpan() {
  const last = $("hours-list").lastElementChild;
  const span = last
    ? { day: DAYS[(DAYS.indexOf(last.querySelector("select").value) + 1) % DAYS.length],
      from: last.querySelector('[name="from"]').value || FIRST_SPAN.from,
      to: last.querySelector('[name="to"]').value || FIRST_SPAN.to }
    : FIRST_SPAN;
  const row = spanRow(span);
  $("hours-list").append(row);
  renumber();
  row.querySelector("select").focus();
}

/** The API names the whole list ("days") for a span's order or overlap and the span in its words
 * ("days[2]: …"): such an error stands under that span's row. */
function spanErrors(error) {
  const errors = error.errors?.length ? error.errors : [{ message: error.message, extensions: { code: error.code } }];
  return {
    errors: errors.map((e) => {
      const span = e.extensions?.field === "days" && /^days\[(\d+)\]/.exec(e.message);
      return span ? { ...e, extensions: { ...e.extensions, field: `days[${span[1]}]` } } : e;
    }),
  };
}

async function saveHours() {
  const form = $("hours-form");
  clearErrors(form);
  say("hours", "");
  const days = [...$("hours-list").children].map((row) => {
    const to = row.querySelector('[name="to"]').value;
    return { day: row.querySelector("select").value, from: row.querySelector('[name="from"]').value, to: to === "00:00" ? "24:00" : to };
  });
  try {
    showHours((await gql(SET, { input: { timezone: $("hours-timezone").value.trim(), days } })).setWorkingHours);
    say("hours", t("saved"));
  } catch (error) {
    showErrors(form, spanErrors(error));
  }
}

export function wireHours() {
  $("hours-add").addEventListener("click", addSpan);
  $("hours-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveHours();
  });
}
