// The operator panel's reference page: the header bell, its history and the banners, over the
// service's GraphQL API (HTTP for queries and mutations, graphql-transport-ws for live events).
// No build step: a plain ES module, the graphql-ws client loaded beside it (window.graphqlWs).

const STRINGS = {
  en: {
    brand: "Notification Center", language: "Language", notifications: "Notifications", signin: "Sign in",
    "demo-pick": "Demo mode: choose who you are.", "token-label": "Access token (as your host panel passes it)",
    "use-token": "Open", category: "Category", "all-categories": "All categories", "mark-all-read": "Mark all read",
    "mark-category-read": "Mark category read", empty: "No notifications yet.", loading: "Loading…",
    publisher: "Send a sample event (demo)", "publish-sample": "New ticket for me", live: "Live",
    reconnecting: "Reconnecting…", "bad-token": "The token was refused: {message}", unread: "unread",
    operator: "operator", supervisor: "supervisor", administrator: "administrator", service: "service",
    channels: "Channels", "banner-settings": "Banners", duration: "Shown for (seconds)",
    "max-visible": "At most on screen", repeats: "Repeats while unread", interval: "Repeat every (seconds)",
    save: "Save", saved: "Saved", READY: "ready", NOT_LINKED: "not linked", PENDING: "linking…", ERROR: "error",
    mandatory: "required by your administrator", unavailable: "not available on this instance",
    reminders: "Reminders", "not-ready-enabled": "Remind me when I stay not ready",
    "not-ready-after": "After (minutes)", "not-ready-repeat": "Then every (minutes, 0: once)", dismiss: "OK",
    types: "Notification types", search: "Search", "read-only": "set by your administrator",
    BELL: "Bell", BANNER: "Banner", SOUND: "Sound", BROWSER: "Browser", TELEGRAM: "Telegram", VIBER: "Viber",
    WHATSAPP: "WhatsApp", ECHAT: "E-chat", EMAIL: "Email", CUSTOM: "Webhook",
  },
  uk: {
    brand: "Центр сповіщень", language: "Мова", notifications: "Сповіщення", signin: "Вхід",
    "demo-pick": "Демо-режим: оберіть, хто ви.", "token-label": "Токен доступу (як його передає ваша панель)",
    "use-token": "Відкрити", category: "Категорія", "all-categories": "Усі категорії",
    "mark-all-read": "Позначити всі прочитаними", "mark-category-read": "Позначити категорію прочитаною",
    empty: "Сповіщень ще немає.", loading: "Завантаження…", publisher: "Надіслати тестову подію (демо)",
    "publish-sample": "Нове звернення для мене", live: "Наживо", reconnecting: "Повторне з'єднання…",
    "bad-token": "Токен відхилено: {message}", unread: "непрочитане",
    operator: "оператор", supervisor: "супервізор", administrator: "адміністратор", service: "сервіс",
    channels: "Канали", "banner-settings": "Банери", duration: "Показувати (секунд)",
    "max-visible": "Не більше на екрані", repeats: "Повтори, доки не прочитано", interval: "Повторювати кожні (секунд)",
    save: "Зберегти", saved: "Збережено", READY: "готово", NOT_LINKED: "не підключено", PENDING: "підключення…",
    ERROR: "помилка", mandatory: "обов'язковий за рішенням адміністратора", unavailable: "недоступний у цьому екземплярі",
    reminders: "Нагадування", "not-ready-enabled": "Нагадувати, коли я довго не готовий",
    "not-ready-after": "Через (хвилин)", "not-ready-repeat": "Потім кожні (хвилин, 0: один раз)", dismiss: "Гаразд",
    types: "Типи сповіщень", search: "Пошук", "read-only": "встановлює адміністратор",
    BELL: "Дзвіночок", BANNER: "Банер", SOUND: "Звук", BROWSER: "Браузер", TELEGRAM: "Telegram", VIBER: "Viber",
    WHATSAPP: "WhatsApp", ECHAT: "Е-чат", EMAIL: "Пошта", CUSTOM: "Вебхук",
  },
};

const PAGE_SIZE = 20;
const NODE = "id typeCode categoryCode title body createdAt readAt";
const PAGE = `query Page($after: String, $filter: NotificationFilter) {
  notifications(first: ${PAGE_SIZE}, after: $after, filter: $filter) {
    edges { cursor node { ${NODE} } } pageInfo { hasNextPage endCursor } unreadCount } }`;
const START = `{ viewer { id role displayName locale } notificationCategories { code title } }`;
const BELL = `subscription Bell($after: String) { bell(after: $after) { __typename
  ... on NotificationAdded { unreadCount notification { ${NODE} } }
  ... on NotificationsRead { ids unreadCount } } }`;
const TOASTS = `subscription { toasts { durationSeconds sound repeat notification { ${NODE} } } }`;
const MARK = `mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids unreadCount } }`;
const MARK_ALL = `mutation($category: ID) { markAllNotificationsRead(categoryCode: $category) { ids unreadCount } }`;
const TYPE = "code categoryCode title mandatory mandatoryChannels selectableChannels channels editable";
const TYPES = `query Types($search: String) { notificationTypes(search: $search) { ${TYPE} } }`;
const SET_CHANNELS = `mutation($code: ID!, $channels: [ChannelKind!]!) {
  setTypeChannels(typeCode: $code, channels: $channels) { ${TYPE} } }`;
const CHANNEL_SETTINGS = `channels { kind enabled mandatory available status }
  banner { durationSeconds maxVisible repeatCount repeatIntervalSeconds }`;
const CHANNELS = `{ channelSettings { ${CHANNEL_SETTINGS} } }`;
const UPDATE_CHANNELS = `mutation($input: ChannelSettingsInput!) {
  updateChannelSettings(input: $input) { ${CHANNEL_SETTINGS} } }`;
const REMINDER_FIELDS = "notReadyEnabled notReadyAfterMinutes notReadyRepeatMinutes";
const REMINDER_SETTINGS = `{ reminderSettings { ${REMINDER_FIELDS} } }`;
const UPDATE_REMINDERS = `mutation($input: ReminderSettingsInput!) {
  updateReminderSettings(input: $input) { ${REMINDER_FIELDS} } }`;
const REMINDERS = `subscription { reminders { kind message createdAt } }`;
const PUBLISH = `mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }`;

const $ = (id) => document.getElementById(id);
const state = {
  token: null, demo: null, viewer: null, locale: localStorage.getItem("nc.locale") || null,
  banner: { maxVisible: 3 }, categories: new Map(), items: new Map(), endCursor: null, hasNext: false, loading: false, category: "", newestId: null, client: null,
};

function t(key, vars = {}) {
  const table = STRINGS[state.locale] || STRINGS.en;
  return (table[key] ?? STRINGS.en[key] ?? key).replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
}

function translate() {
  document.documentElement.lang = state.locale || "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  $("locale").value = state.locale || "en";
}

async function gql(query, variables = {}, token = state.token) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors?.length) throw Object.assign(new Error(body.errors[0].message), { errors: body.errors });
  return body.data;
}

// -- signing in --------------------------------------------------------------------------------
async function signIn() {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("nc.token", fromHash);
    // Out of the address bar, so it stays out of history, bookmarks and shared screens.
    history.replaceState(null, "", location.pathname + location.search);
  }
  const token = fromHash || sessionStorage.getItem("nc.token");
  const demo = await fetch("demo-users").then((r) => (r.ok ? r.json() : null)).catch(() => null);
  state.demo = demo;
  buildSignIn(demo);
  if (token) return open(token);
  $("signin").hidden = false;
}

// The demo picker (serve --demo) or the token form: shown at first, and again after a refused token.
function buildSignIn(demo) {
  if (demo) {
    $("demo-users").hidden = false;
    for (const user of demo.users) {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.user = user.user;
      button.textContent = `${user.name} (${t(user.role.toLowerCase())})`;
      button.addEventListener("click", () => open(user.token));
      li.append(button);
      $("demo-list").append(li);
    }
  } else {
    $("token-form").hidden = false;
    $("token-form").addEventListener("submit", (e) => {
      e.preventDefault();
      open($("token-input").value.trim());
    });
  }
}

async function open(token) {
  state.token = token;
  let start;
  try {
    start = await gql(START);
  } catch (error) {
    sessionStorage.removeItem("nc.token");
    $("signin").hidden = false;
    status(t("bad-token", { message: error.message }));
    return;
  }
  sessionStorage.setItem("nc.token", token);
  state.viewer = start.viewer;
  if (!localStorage.getItem("nc.locale")) state.locale = start.viewer.locale.startsWith("uk") ? "uk" : "en";
  translate();
  $("signin").hidden = true;
  $("history").hidden = false;
  $("bell").hidden = false;
  $("who").textContent = `${start.viewer.displayName || start.viewer.id} · ${t(start.viewer.role.toLowerCase())}`;
  for (const c of start.notificationCategories) {
    state.categories.set(c.code, c.title);
    const option = document.createElement("option");
    option.value = c.code;
    option.textContent = c.title;
    $("category").append(option);
  }
  if (state.demo) $("publisher").hidden = false;
  $("admin-open").hidden = start.viewer.role !== "ADMINISTRATOR";
  $("types").hidden = false;
  $("channels").hidden = false;
  $("reminders").hidden = false;
  await Promise.all([loadPage(true), loadTypes(), loadChannels(), loadReminders()]);
  goLive();
}

// -- the history -------------------------------------------------------------------------------
async function loadPage(first = false) {
  if (state.loading || (!first && !state.hasNext)) return;
  state.loading = true;
  $("more").hidden = false;
  try {
    const filter = state.category ? { categoryCodes: [state.category] } : null;
    const data = await gql(PAGE, { after: first ? null : state.endCursor, filter });
    const page = data.notifications;
    if (first) {
      state.items.clear();
      $("items").replaceChildren();
    }
    for (const edge of page.edges) addItem(edge.node, false);
    state.endCursor = page.pageInfo.endCursor;
    state.hasNext = page.pageInfo.hasNextPage;
    setBadge(page.unreadCount);
    $("empty").hidden = state.items.size > 0;
  } catch (error) {
    status(error.message);
  } finally {
    state.loading = false;
    $("more").hidden = true;
  }
}

function addItem(node, atTop) {
  if (state.items.has(node.id)) return;
  if (state.newestId === null || Number(node.id) > Number(state.newestId)) state.newestId = node.id;
  if (state.category && node.categoryCode !== state.category) return;
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "item" + (node.readAt ? "" : " unread");
  button.dataset.id = node.id;
  const title = document.createElement("span");
  title.textContent = node.title;
  const body = document.createElement("small");
  body.textContent = `${node.body} · ${new Date(node.createdAt).toLocaleString(state.locale || "en")}`;
  button.append(title, body);
  button.setAttribute("aria-label", `${node.title}${node.readAt ? "" : ` (${t("unread")})`}`);
  button.addEventListener("click", () => markRead([node.id]));
  li.append(button);
  state.items.set(node.id, { node, button });
  if (atTop) $("items").prepend(li);
  else $("items").append(li);
  $("empty").hidden = true;
}

function showRead(ids) {
  for (const id of ids) {
    const item = state.items.get(String(id));
    if (!item) continue;
    item.node.readAt = item.node.readAt || new Date().toISOString();
    item.button.classList.remove("unread");
    item.button.setAttribute("aria-label", item.node.title);
  }
}

function setBadge(count) {
  $("badge").textContent = String(count);
  $("badge").dataset.count = String(count);
}

async function markRead(ids) {
  try {
    const result = (await gql(MARK, { ids })).markNotificationsRead;
    showRead(result.ids);
    setBadge(result.unreadCount);
  } catch (error) {
    status(error.message);
  }
}

async function markAllRead() {
  try {
    const result = (await gql(MARK_ALL, { category: state.category || null })).markAllNotificationsRead;
    showRead(result.ids);
    setBadge(result.unreadCount);
  } catch (error) {
    status(error.message);
  }
}

// -- live: the bell and the banners ------------------------------------------------------------
function goLive() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const client = window.graphqlWs.createClient({
    url,
    connectionParams: () => ({ authorization: `Bearer ${state.token}` }),
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    on: {
      connected: () => status(t("live")),
      closed: () => status(t("reconnecting")),
    },
  });
  state.client = client;
  // The resume cursor: after a reconnect the subscription is sent again with the newest id seen,
  // and the server replays what was missed before going live.
  const bell = { query: BELL, variables: { after: state.newestId } };
  client.subscribe(bell, {
    next: ({ data, errors }) => {
      if (errors?.length) return status(errors[0].message);
      const event = data.bell;
      if (event.__typename === "NotificationAdded") {
        addItem(event.notification, true);
        bell.variables.after = state.newestId;
      } else {
        showRead(event.ids);
      }
      setBadge(event.unreadCount);
    },
    error: (error) => status(String(error?.message || error?.reason || error)),
    complete: () => {},
  });
  client.subscribe({ query: REMINDERS }, {
    next: ({ data }) => data && showReminder(data.reminders),
    error: () => {},
    complete: () => {},
  });
  client.subscribe({ query: TOASTS }, {
    next: ({ data }) => data && showToast(data.toasts),
    error: () => {},
    complete: () => {},
  });
}

function showToast(toast) {
  const box = $("toasts");
  while (box.children.length >= Math.max(1, state.banner.maxVisible)) box.firstElementChild.remove();
  const div = document.createElement("div");
  div.className = "toast";
  div.setAttribute("role", "alert");
  div.dataset.id = toast.notification.id;
  const title = document.createElement("strong");
  title.textContent = toast.notification.title;
  const body = document.createElement("span");
  body.textContent = toast.notification.body;
  div.append(title, body);
  div.addEventListener("click", () => {
    markRead([toast.notification.id]);
    div.remove();
  });
  box.append(div);
  setTimeout(() => div.remove(), Math.max(1, toast.durationSeconds) * 1000);
}

// -- Profile → Notifications: the channels tab ---------------------------------------------------
async function loadChannels() {
  try {
    showChannels((await gql(CHANNELS)).channelSettings);
  } catch (error) {
    status(error.message);
  }
}

function showChannels(settings) {
  state.banner = settings.banner;
  const list = $("channel-list");
  list.replaceChildren();
  for (const channel of settings.channels) {
    const label = document.createElement("label");
    label.dataset.kind = channel.kind;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = channel.enabled;
    box.disabled = channel.mandatory || !channel.available;
    box.addEventListener("change", () => updateChannels({ channels: [{ kind: channel.kind, enabled: box.checked }] }));
    const why = channel.mandatory ? t("mandatory") : channel.available ? t(channel.status) : t("unavailable");
    label.append(box, ` ${t(channel.kind)} (${why})`);
    list.append(label);
  }
  for (const [name, value] of Object.entries(settings.banner)) {
    const input = $("banner-form").elements.namedItem(name);
    if (input) input.value = String(value);
  }
}

async function updateChannels(input) {
  try {
    showChannels((await gql(UPDATE_CHANNELS, { input })).updateChannelSettings);
    status(t("saved"));
  } catch (error) {
    status(error.message);
    loadChannels();
    loadReminders();
  }
}

// -- Profile → Notifications: the reminders tab, and the live prompt -----------------------------
async function loadReminders() {
  try {
    showReminders((await gql(REMINDER_SETTINGS)).reminderSettings);
  } catch (error) {
    status(error.message);
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
    status(t("saved"));
  } catch (error) {
    status(error.message);
  }
}

function showReminder(reminder) {
  $("reminder-text").textContent = reminder.message;
  $("reminder-prompt").hidden = false;
  $("reminder-dismiss").focus();
}

// -- Profile → Notifications: the types tab ------------------------------------------------------
async function loadTypes() {
  const search = $("type-search").value.trim() || null;
  try {
    const types = (await gql(TYPES, { search })).notificationTypes;
    const list = $("type-list");
    list.replaceChildren();
    let category = null;
    for (const type of types) {
      if (type.categoryCode !== category) {
        category = type.categoryCode;
        const h = document.createElement("h3");
        h.className = "category-title";
        h.textContent = state.categories.get(category) || category;
        list.append(h);
      }
      list.append(typeRow(type));
    }
  } catch (error) {
    status(error.message);
  }
}

function typeRow(type) {
  const row = document.createElement("fieldset");
  row.className = "type-row";
  row.dataset.code = type.code;
  const legend = document.createElement("legend");
  legend.textContent = type.title;
  row.append(legend);
  const offered = [...new Set([...type.mandatoryChannels, ...type.selectableChannels])];
  for (const channel of offered) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.value = channel;
    box.checked = type.channels.includes(channel);
    box.disabled = !type.editable || type.mandatoryChannels.includes(channel);
    box.addEventListener("change", () => saveChannels(type.code, row));
    label.append(box, ` ${t(channel)}`);
    row.append(label);
  }
  if (!type.editable) {
    const note = document.createElement("span");
    note.className = "note";
    note.textContent = t("read-only");
    row.append(note);
  }
  return row;
}

async function saveChannels(code, row) {
  const channels = [...row.querySelectorAll("input:checked")].map((box) => box.value);
  try {
    const saved = (await gql(SET_CHANNELS, { code, channels })).setTypeChannels;
    row.replaceWith(typeRow(saved));
  } catch (error) {
    status(error.message);
    loadTypes();
  }
}

// -- demo publisher ----------------------------------------------------------------------------
let sampleNumber = Math.floor(Date.now() / 1000) % 100000;
async function publishSample() {
  sampleNumber += 1;
  const input = {
    id: `panel-sample-${state.viewer.id}-${Date.now()}-${sampleNumber}`,
    type: "ticket_created",
    recipients: [state.viewer.id],
    data: { ticketNumber: sampleNumber, subject: "Sample from the panel" },
  };
  try {
    await gql(PUBLISH, { input }, state.demo.service);
  } catch (error) {
    status(error.message);
  }
}

function status(text) {
  $("status").textContent = text;
}

// -- wiring --------------------------------------------------------------------------------------
$("locale").addEventListener("change", () => {
  state.locale = $("locale").value;
  localStorage.setItem("nc.locale", state.locale);
  translate();
  if (state.token) {
    loadTypes();
    loadChannels();
    loadReminders();
  }
});
$("read-all").addEventListener("click", markAllRead);
$("category").addEventListener("change", () => {
  state.category = $("category").value;
  $("read-all").textContent = t(state.category ? "mark-category-read" : "mark-all-read");
  loadPage(true);
});
$("items").addEventListener("scroll", () => {
  const list = $("items");
  if (list.scrollTop + list.clientHeight >= list.scrollHeight - 40) loadPage();
});
$("bell").addEventListener("click", () => {
  const expanded = $("bell").getAttribute("aria-expanded") === "true";
  $("bell").setAttribute("aria-expanded", String(!expanded));
  $("history").scrollIntoView({ behavior: "smooth" });
});
$("publish-sample").addEventListener("click", publishSample);
$("reminder-form").addEventListener("submit", (e) => {
  e.preventDefault();
  saveReminders();
});
$("reminder-dismiss").addEventListener("click", () => {
  $("reminder-prompt").hidden = true;
});
$("banner-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const banner = {};
  for (const input of $("banner-form").querySelectorAll("input")) banner[input.name] = Number(input.value);
  updateChannels({ banner });
});
let searching = null;
$("type-search").addEventListener("input", () => {
  clearTimeout(searching);
  searching = setTimeout(loadTypes, 250);
});
// -- the administrator screen: panel/admin.js, imported when an administrator first opens it ----
const ADMIN_ENTRY = { en: "Administration", uk: "Адміністрування" };
let admin = null;
async function showAdmin() {
  admin = admin || (await import("./admin.js"));
  await admin.mount($("admin"), { gql, t, locale: state.locale || "en" });
}
$("admin-open").addEventListener("click", async () => {
  const opening = $("admin").hidden;
  $("admin").hidden = !opening;
  $("admin-open").setAttribute("aria-expanded", String(opening));
  if (!opening) return;
  await showAdmin();
  $("admin-title")?.focus();
});
const adminEntry = () => ($("admin-open").textContent = ADMIN_ENTRY[state.locale] || ADMIN_ENTRY.en);
$("locale").addEventListener("change", () => {
  adminEntry();
  if (admin && !$("admin").hidden) showAdmin();
});

translate();
adminEntry();
signIn();
