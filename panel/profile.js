// Profile → Notifications: the Reminders tab (and the live not-ready prompt), the System messages
// in chat tab, and the simplified screen shown when the Notification Center is off on the instance
// (the classic browser and sound toggles).

import { $, clearError, el, gql, say, t } from "./core.js";

const REMINDER_FIELDS = "notReadyEnabled notReadyAfterMinutes notReadyRepeatMinutes";
const REMINDER_SETTINGS = `{ reminderSettings { ${REMINDER_FIELDS} } }`;
const UPDATE_REMINDERS = `mutation($input: ReminderSettingsInput!) {
  updateReminderSettings(input: $input) { ${REMINDER_FIELDS} } }`;
const SYSTEM = `{ systemMessageSettings { code title enabled } }`;
const UPDATE_SYSTEM = `mutation($input: [SystemMessageSettingInput!]!) {
  updateSystemMessageSettings(input: $input) { code title enabled } }`;
const CLASSIC = `{ classicSettings { browserEnabled soundEnabled } }`;
const UPDATE_CLASSIC = `mutation($input: ClassicSettingsInput!) {
  updateClassicSettings(input: $input) { browserEnabled soundEnabled } }`;

// -- reminders -------------------------------------------------------------------------------------
export async function loadReminders() {
  try {
    showReminders((await gql(REMINDER_SETTINGS)).reminderSettings);
    clearError("reminders");
  } catch (error) {
    say("reminders", error.message, true);
  }
}

function showReminders(settings) {
  const form = $("reminder-form").elements;
  form.namedItem("notReadyEnabled").checked = settings.notReadyEnabled;
  form.namedItem("notReadyAfterMinutes").value = String(settings.notReadyAfterMinutes);
  form.namedItem("notReadyRepeatMinutes").value = String(settings.notReadyRepeatMinutes);
}

async function saveReminders() {
  const form = $("reminder-form").elements;
  const input = {
    notReadyEnabled: form.namedItem("notReadyEnabled").checked,
    notReadyAfterMinutes: Number(form.namedItem("notReadyAfterMinutes").value),
    notReadyRepeatMinutes: Number(form.namedItem("notReadyRepeatMinutes").value),
  };
  try {
    showReminders((await gql(UPDATE_REMINDERS, { input })).updateReminderSettings);
    say("reminders", t("saved"));
  } catch (error) {
    say("reminders", error.message, true);
  }
}

export function showReminder(reminder) {
  $("reminder-text").textContent = reminder.message;
  $("reminder-prompt").hidden = false;
  $("reminder-dismiss").focus();
}

// -- system messages in chat -----------------------------------------------------------------------
export async function loadSystemMessages() {
  try {
    showSystemMessages((await gql(SYSTEM)).systemMessageSettings);
    clearError("system");
  } catch (error) {
    say("system", error.message, true);
  }
}

function showSystemMessages(rows) {
  $("system-list").replaceChildren(
    ...rows.map((row) => {
      const box = el("input", { type: "checkbox", checked: row.enabled, dataset: { code: row.code } });
      box.addEventListener("change", () => saveSystemMessage(row.code, box.checked));
      return el("label", { className: "switch-row", dataset: { code: row.code } }, box, ` ${row.title}`);
    }),
  );
}

async function saveSystemMessage(code, enabled) {
  try {
    showSystemMessages((await gql(UPDATE_SYSTEM, { input: [{ code, enabled }] })).updateSystemMessageSettings);
    say("system", t("saved"));
  } catch (error) {
    say("system", error.message, true);
    loadSystemMessages();
  }
}

// -- the simplified screen -------------------------------------------------------------------------
export async function loadClassic() {
  try {
    showClassic((await gql(CLASSIC)).classicSettings);
    clearError("classic");
  } catch (error) {
    say("classic", error.message, true);
  }
}

function showClassic(settings) {
  const form = $("classic-form").elements;
  form.namedItem("browserEnabled").checked = settings.browserEnabled;
  form.namedItem("soundEnabled").checked = settings.soundEnabled;
}

async function saveClassic(name, value) {
  try {
    showClassic((await gql(UPDATE_CLASSIC, { input: { [name]: value } })).updateClassicSettings);
    say("classic", t("saved"));
  } catch (error) {
    say("classic", error.message, true);
    loadClassic();
  }
}

export function wireProfile() {
  $("reminder-form").addEventListener("submit", (e) => {
    e.preventDefault();
    saveReminders();
  });
  $("reminder-dismiss").addEventListener("click", () => {
    $("reminder-prompt").hidden = true;
  });
  $("reminder-prompt").addEventListener("keydown", (e) => {
    if (e.key === "Escape") $("reminder-prompt").hidden = true;
  });
  for (const box of $("classic-form").querySelectorAll("input[type=checkbox]")) {
    box.addEventListener("change", () => saveClassic(box.name, box.checked));
  }
}
