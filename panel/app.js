// The operator panel's reference page: the header bell, its history and the banners, and
// Profile → Notifications with its tabs, over the service's GraphQL API (HTTP for queries and
// mutations, graphql-transport-ws for live events). No build step: plain ES modules, the graphql-ws
// client loaded beside them (window.graphqlWs).
//
//   core.js      state, words, GraphQL over HTTP        channels.js  the Channels tab (when to send)
//   i18n.js      English and Ukrainian                  push.js      its browser block (sw.js)
//   sound.js     melodies with the Web Audio API        hours.js     its working hours
//   activity.js  the activity signal for routing         types.js     the Notification types tab
//   profile.js   System messages, Reminders, the simplified screen
//   admin.js     the administrator screen, when that file is present (loaded for administrators only)
//   deliveries.js  the delivery log and channel health (supervisors and administrators)
//   audit.js     the audit log (administrators)           forms.js  fields and their errors, routing rows

import { $, el, gql, reloaders, signOut, state, status, t } from "./core.js";
import { startActivity, TAB } from "./activity.js";
import { loadChannels, wireChannels } from "./channels.js";
import { loadHours, wireHours } from "./hours.js";
import { browserBlock } from "./push.js";
import { loadClassic, loadReminders, loadSystemMessages, showReminder, wireProfile } from "./profile.js";
import { play, setMelodies } from "./sound.js";
import { loadTypes, showBulkChannels, wireTypes } from "./types.js";

const PAGE_SIZE = 20;
const NODE = "id typeCode categoryCode title body createdAt readAt count updatedAt snoozedUntil";
const PAGE = `query Page($after: String, $filter: NotificationFilter) {
  notifications(first: ${PAGE_SIZE}, after: $after, filter: $filter) {
    edges { cursor node { ${NODE} } } pageInfo { hasNextPage endCursor } }
  unreadCount }`;
const CATEGORIES = `{ notificationCategories { code title } }`;
const VIEWER = `{ viewer { id instanceId role displayName locale } }`;
const CENTER = `{ notificationCenter { unavailableTypesNotice } }`;
const START = `{ viewer { id instanceId role displayName locale }
  notificationCenter { enabled extendedTypesEnabled availableChannels unavailableTypesNotice }
  notificationCategories { code title }
  melodies { id title waveform notes { frequencyHz startMs durationMs } } }`;
const BELL = `subscription Bell($after: String) { bell(after: $after) { __typename
  ... on NotificationAdded { unreadCount notification { ${NODE} } }
  ... on NotificationsRead { ids unreadCount }
  ... on NotificationCollapsed { unreadCount notification { ${NODE} } }
  ... on NotificationsUnread { ids unreadCount }
  ... on NotificationsArchived { ids unreadCount }
  ... on NotificationsSnoozed { ids unreadCount }
  ... on NotificationsUnarchived { unreadCount notifications { ${NODE} } }
  ... on NotificationsReturned { unreadCount notifications { ${NODE} } } } }`;
const TOASTS = `subscription { toasts { durationSeconds sound repeat dismissed notification { ${NODE} } } }`;
const MARK = `mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids unreadCount } }`;
const MARK_ALL = `mutation($category: ID) { markAllNotificationsRead(categoryCode: $category) { ids unreadCount } }`;
// The inbox actions of one item (the bell's live events bring their outcome to every tab, this one included).
const INBOX = {
  unread: `mutation($ids: [ID!]!) { r: markNotificationsUnread(ids: $ids) { ids unreadCount } }`,
  archive: `mutation($ids: [ID!]!) { r: archiveNotifications(ids: $ids) { ids unreadCount } }`,
  unarchive: `mutation($ids: [ID!]!) { r: unarchiveNotifications(ids: $ids) { ids unreadCount } }`,
  snooze: `mutation($ids: [ID!]!, $until: DateTime!) { r: snoozeNotifications(ids: $ids, until: $until) { ids unreadCount } }`,
};
const SNOOZE_MINUTES = 60;
const REMINDERS = `subscription { reminders { kind message createdAt } }`;
const PUBLISH = `mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }`;
const PUSH_SUBSCRIPTIONS = `{ channelSettings { pushSubscriptions { id endpoint userAgent createdAt } } }`;

// view: "" the bell, "archived" or "snoozed" (their own lists, with their own actions).
const bell = { items: new Map(), endCursor: null, hasNext: false, loading: false, category: "", newestId: null, view: "" };

function translate() {
  document.documentElement.lang = state.locale || "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  $("locale").value = state.locale || "en";
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
  // 404 (or 403): not a demo — the token form. Anything else failing: say so, and offer the form.
  const demo = await fetch("demo-users")
    .then((r) => (r.ok ? r.json() : r.status === 404 || r.status === 403 ? null : Promise.reject(r.status)))
    .catch(() => undefined);
  state.demo = demo || null;
  buildSignIn(demo || null);
  const message = sessionStorage.getItem("nc.signin-message") || (demo === undefined ? t("demo-failed") : null);
  sessionStorage.removeItem("nc.signin-message");
  if (token) return open(token);
  showSignIn(message);
}

// The sign-in screen, with why the last token was refused (an alert beside the form, not hidden).
function showSignIn(message) {
  $("signin").hidden = false;
  $("signin-error").textContent = message || "";
  $("signin-error").hidden = !message;
}

// The demo picker (serve --demo) or the token form: shown at first, and again after a refused token.
function buildSignIn(demo) {
  if (demo) {
    $("demo-users").hidden = false;
    for (const user of demo.users) {
      const button = el("button", { type: "button", dataset: { user: user.user } }, `${user.name} (${t(user.role.toLowerCase())})`);
      button.addEventListener("click", () => open(user.token));
      $("demo-list").append(el("li", {}, button));
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
  // The sign-in screen's language is this browser's last choice; a signed-in viewer's is their own
  // (their choice on this browser, else their locale): the first request goes without one.
  state.locale = null;
  try {
    start = await gql(START);
  } catch (error) {
    sessionStorage.removeItem("nc.token");
    state.locale = localStorage.getItem("nc.locale") || null;
    showSignIn(t("bad-token", { message: error.message }));
    return;
  }
  sessionStorage.setItem("nc.token", token);
  state.viewer = start.viewer;
  state.center = start.notificationCenter;
  setMelodies(start.melodies);
  const own = start.viewer.locale.startsWith("uk") ? "uk" : "en";
  const chosen = localStorage.getItem(viewerLocaleKey());
  state.locale = chosen || own;
  if (chosen && chosen !== own) start = await gql(START); // the viewer's texts in the language they chose
  translate();
  $("signin").hidden = true;
  $("signin-error").hidden = true;
  $("history").hidden = false;
  $("bell").hidden = false;
  showViewer(start.viewer);
  showCategories(start.notificationCategories);
  if (state.demo) $("publisher").hidden = false;
  const tab = sessionStorage.getItem("nc.tab") || "channels";
  if (state.center.enabled) {
    $("profile").hidden = false;
    showUnavailableNotice();
    showBulkChannels();
    selectTab(tab);
    reloaders.push(loadTypes, loadChannels, loadHours, loadReminders, loadSystemMessages);
  } else {
    // The simplified screen (SPEC §3): the classic toggles, and the browser block they rely on.
    $("classic").hidden = false;
    for (const name of ["channels", "types", "system", "reminders"]) $(`tab-${name}`).hidden = true;
    reloaders.push(loadClassic, showClassicBrowser);
  }
  // The Administration tab (and the logs) in both modes: an administrator who switched the Center off
  // must be able to switch it on again.
  staffHook(tab);
  reloaders.push(reloadViewer, reloadCenter);

  $("history-title").focus();  // the keyboard starts at the page's main heading, not <body>
  await Promise.all([loadPage(true), ...reloaders.map((load) => load().catch((error) => status(error.message)))]);
  goLive();
  startActivity();
}

function showViewer(viewer) {
  state.viewer = viewer;
  $("who").textContent = `${viewer.displayName || viewer.id} · ${t(viewer.role.toLowerCase())}`;
}

// The bell's category filter, in the page's language (the choice is kept).
function showCategories(categories) {
  state.categories.clear();
  const select = $("category");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", dataset: { i18n: "all-categories" } }, t("all-categories")));
  for (const c of categories) {
    state.categories.set(c.code, c.title);
    select.append(el("option", { value: c.code }, c.title));
  }
  select.value = chosen;
}

async function reloadViewer() {
  showViewer((await gql(VIEWER)).viewer);
}

// The instance's state in the page's language (its "temporarily unavailable" notice).
async function reloadCenter() {
  state.center = { ...state.center, ...(await gql(CENTER)).notificationCenter };
  if (state.center.enabled) showUnavailableNotice();
}

async function reloadCategories() {
  showCategories((await gql(CATEGORIES)).notificationCategories);
}

function showUnavailableNotice() {
  const notice = state.center.unavailableTypesNotice;
  $("unavailable-notice").textContent = notice || "";
  $("unavailable-notice").hidden = !notice;
}

async function showClassicBrowser() {
  const settings = (await gql(PUSH_SUBSCRIPTIONS)).channelSettings;
  $("classic-browser-slot").replaceChildren(await browserBlock(settings, showClassicBrowser));
}

// -- the tabs ----------------------------------------------------------------------------------
const TABS = ["channels", "types", "system", "reminders", "deliveries", "admin", "audit"];
//: The tabs a module of their own draws, loaded the first time they are opened, and who is offered them
//: (the API refuses everybody else anyway).
const SCREENS = {
  deliveries: { file: "./deliveries.js", roles: ["SUPERVISOR", "ADMINISTRATOR"] },
  admin: { file: "./admin.js", roles: ["ADMINISTRATOR"] },
  audit: { file: "./audit.js", roles: ["ADMINISTRATOR"] },
};
const mounted = new Set();

function selectTab(name, focus = false) {
  let tab = document.querySelector(`[role=tab][data-tab="${name}"]`);
  if (!tab || tab.hidden) tab = document.querySelector("[role=tab]:not([hidden])");
  if (!tab) return;
  name = tab.dataset.tab;
  for (const other of TABS) {
    const button = $(`tab-${other}`);
    const selected = other === name;
    button.setAttribute("aria-selected", String(selected));
    button.tabIndex = selected ? 0 : -1;
    $(other).hidden = !selected;
  }
  sessionStorage.setItem("nc.tab", name);
  if (focus) tab.focus();
  if (SCREENS[name] && !mounted.has(name)) {
    mounted.add(name);
    mountScreen(name);
  }
}

const modules = new Map();
// (Re)draws a supervisor's or administrator's screen, in the page's language.
async function mountScreen(name) {
  try {
    if (!modules.has(name)) modules.set(name, await import(SCREENS[name].file));
    const ctx = { gql, t, el, state, status, reloaders, checkCenter, locale: state.locale || "en" };
    await modules.get(name).mount($(name), ctx);
  } catch (error) {
    status(error.message);
  }
}

// The supervisors' and administrators' screens live in modules of their own (admin.js was written
// separately): each is offered to its roles when its file is there, and loaded the first time its
// tab is opened. With the Center switched off they are all the profile shows (an administrator must
// be able to switch it on again): the administrator screen first.
async function staffHook(wanted) {
  const offered = Object.keys(SCREENS).filter((name) => SCREENS[name].roles.includes(state.viewer.role));
  if (!offered.length) return;
  const present = await Promise.all(offered.map((name) =>
    fetch(SCREENS[name].file, { method: "HEAD" }).then((r) => r.ok).catch(() => false)));
  const shown = offered.filter((_, i) => present[i]);
  for (const name of shown) $(`tab-${name}`).hidden = false;
  if (!shown.length) return;
  $("profile").hidden = false;
  if (shown.includes(wanted)) selectTab(wanted);
  else if (!state.center.enabled) selectTab(shown.includes("admin") ? "admin" : shown[0]);
}

$("tabs").addEventListener("click", (e) => {
  const tab = e.target.closest("[role=tab]");
  if (tab) selectTab(tab.dataset.tab);
});
$("tabs").addEventListener("keydown", (e) => {
  const shown = [...$("tabs").querySelectorAll("[role=tab]:not([hidden])")];
  const at = shown.indexOf(document.activeElement);
  const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: shown.length - 1 }[e.key];
  if (at < 0 || next === undefined) return;
  e.preventDefault();
  selectTab(shown[(next + shown.length) % shown.length].dataset.tab, true);
});

// -- the history -------------------------------------------------------------------------------
/** Where this browser keeps a viewer's language choice (each user of a shared browser their own). */
function viewerLocaleKey() {
  return `nc.locale.${state.viewer.instanceId}.${state.viewer.id}`;
}

async function loadPage(first = false, again = false) {
  if ((bell.loading && !again) || (!first && !bell.hasNext)) return;
  bell.loading = true;
  $("more").hidden = false;
  try {
    const filter = { ...(bell.category ? { categoryCodes: [bell.category] } : {}), ...(bell.view ? { [bell.view]: true } : {}) };
    const data = await gql(PAGE, { after: first ? null : bell.endCursor, filter });
    const page = data.notifications;
    if (first) {
      bell.items.clear();
      $("items").replaceChildren();
    }
    for (const edge of page.edges) addItem(edge.node, false);
    bell.endCursor = page.pageInfo.endCursor;
    bell.hasNext = page.pageInfo.hasNextPage;
    setBadge(data.unreadCount); // every unread item, whatever the filter shows
    $("empty").hidden = bell.items.size > 0;
  } catch (error) {
    status(error.message);
  } finally {
    bell.loading = false;
    $("more").hidden = true;
    $("load-more").hidden = !bell.hasNext;
  }
  // A tall window shows the whole page without a scrollbar: nothing to scroll means load on.
  const list = $("items");
  if (bell.hasNext && list.scrollHeight <= list.clientHeight + 40 && !$("history").hidden) await loadPage();
}

function addItem(node, atTop) {
  if (bell.items.has(node.id)) return;
  if (!bell.view && (bell.newestId === null || Number(node.id) > Number(bell.newestId))) bell.newestId = node.id;
  if (bell.category && node.categoryCode !== bell.category) return;
  const when = new Date(node.updatedAt || node.createdAt).toLocaleString(state.locale || "en");
  // Events about one ticket or chat collapse into one item that counts them.
  const count = node.count > 1 ? ` ×${node.count}` : "";
  const button = el("button", {
    type: "button",
    className: "item" + (node.readAt ? "" : " unread"),
    dataset: { id: node.id, count: String(node.count || 1) },
    "aria-label": `${node.title}${count}${node.readAt ? "" : ` (${t("unread")})`}`,
  }, el("span", {}, node.title + count), el("small", {}, `${node.body} · ${when}`));
  button.addEventListener("click", () => markRead([node.id]));
  const li = el("li", { dataset: { id: node.id } }, button, itemActions(node));
  bell.items.set(node.id, { node, button, li });
  if (atTop === "ordered") {
    // Back in the bell (unarchived, or a snooze ended): in its place among the newer and older ones.
    const older = [...$("items").children].find((other) => Number(other.dataset.id) < Number(node.id));
    $("items").insertBefore(li, older || null);
  } else if (atTop) $("items").prepend(li);
  else $("items").append(li);
  $("empty").hidden = true;
  showActions(node.id);
}

// Under each item: mark unread (once read), archive and snooze in the bell; unarchive in the archive.
function itemActions(node) {
  const action = (key, run) => {
    const button = el("button", { type: "button", dataset: { action: key },
      "aria-label": t(`${key}-item`, { title: node.title }) }, t(key));
    button.addEventListener("click", run);
    return button;
  };
  const ids = [node.id];
  if (bell.view === "archived") return el("div", { className: "item-actions" }, action("unarchive", () => inbox("unarchive", { ids })));
  const until = () => new Date(Date.now() + SNOOZE_MINUTES * 60_000).toISOString();
  const buttons = [
    action("mark-unread", () => inbox("unread", { ids })),
    action("archive", () => inbox("archive", { ids })),
    action("snooze", () => inbox("snooze", { ids, until: until() })),
  ];
  const row = el("div", { className: "item-actions" }, ...buttons);
  if (node.snoozedUntil) {
    row.prepend(el("small", { className: "muted" }, t("snoozed-until", { when: new Date(node.snoozedUntil).toLocaleString(state.locale || "en") })));
  }
  return row;
}

// "Mark unread" only on read items.
function showActions(id) {
  const item = bell.items.get(String(id));
  const unread = item?.li.querySelector('[data-action="mark-unread"]');
  if (unread) unread.hidden = !item.node.readAt;
}

async function inbox(action, variables) {
  try {
    const result = (await gql(INBOX[action], variables)).r;
    setBadge(result.unreadCount);
  } catch (error) {
    status(error.message);
  }
}

// Items that left what this list shows (archived, snoozed; or, in the archive, unarchived).
function dropItems(ids) {
  for (const id of ids) {
    const item = bell.items.get(String(id));
    if (!item) continue;
    item.li.remove();
    bell.items.delete(String(id));
  }
  $("empty").hidden = bell.items.size > 0;
}

function showUnread(ids) {
  for (const id of ids) {
    const item = bell.items.get(String(id));
    if (!item) continue;
    item.node.readAt = null;
    item.button.classList.add("unread");
    item.button.setAttribute("aria-label", `${item.node.title} (${t("unread")})`);
    showActions(id);
  }
}

// Another event collapsed into an item: it shows its new count and texts at the top.
function collapsedItem(node) {
  bell.items.get(node.id)?.button.closest("li")?.remove();
  bell.items.delete(node.id);
  addItem(node, true);
}

// Browser notifications of items read anywhere are closed too (the service worker shows them).
async function closeBrowserNotifications(ids) {
  const registration = await navigator.serviceWorker?.getRegistration("/panel/").catch(() => null);
  if (!registration) return;
  const read = new Set(ids.map(String));
  for (const shown of await registration.getNotifications()) {
    if (read.has(String(shown.data?.id))) shown.close();
  }
}

function showRead(ids) {
  closeBrowserNotifications(ids).catch(() => {});
  for (const id of ids) {
    $("toasts").querySelector(`.toast[data-id="${CSS.escape(String(id))}"]`)?.remove();  // read: its banner goes
    const item = bell.items.get(String(id));
    if (!item) continue;
    item.node.readAt = item.node.readAt || new Date().toISOString();
    item.button.classList.remove("unread");
    item.button.setAttribute("aria-label", item.node.title);
    showActions(id);
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
    const result = (await gql(MARK_ALL, { category: bell.category || null })).markAllNotificationsRead;
    showRead(result.ids);
    setBadge(result.unreadCount);
  } catch (error) {
    status(error.message);
  }
}

// -- live: the bell, the banners and the reminders ---------------------------------------------------
// The Notification Center switched on or off on the instance meanwhile: the page becomes the other
// screen (a fresh page). Checked after a reconnect and when the tab comes back into view.
async function checkCenter() {
  const enabled = await gql(`{ notificationCenter { enabled } }`).then((d) => d.notificationCenter.enabled).catch(() => null);
  if (enabled !== null && state.center && enabled !== state.center.enabled) location.reload();
}
document.addEventListener("nc-center-changed", () => checkCenter());
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.viewer) checkCenter();
});

let connections = 0;
function goLive() {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
  const client = window.graphqlWs.createClient({
    url,
    connectionParams: () => ({ authorization: `Bearer ${state.token}`, tab: TAB }),
    lazy: false,
    retryAttempts: Infinity,
    shouldRetry: () => true,
    // Back off up to 5 s (graphql-ws's default grows without a cap): a restarted server is found soon.
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, Math.min(5000, 500 * 2 ** retries) * (0.5 + Math.random() / 2))),
    on: {
      connected: () => {
        state.connection = "live";
        status(t("live"));
        // The bell replays only the items added meanwhile, never what was read: after a
        // reconnect the first page and the unread count are read again.
        if (connections++ > 0) {
          loadPage(true, true);
          checkCenter();
        }
      },
      closed: (event) => {
        // 4401: the token expired (or was refused): back to signing in, with the server's words.
        if (event?.code === 4401) return signOut(event.reason || "");
        state.connection = "reconnecting";
        status(t("reconnecting"));
      },
    },
  });
  state.client = client;
  // The resume cursor: after a reconnect the subscription is sent again with the newest id seen,
  // and the server replays what was missed before going live.
  const subscription = { query: BELL, variables: { after: bell.newestId } };
  client.subscribe(subscription, {
    next: ({ data, errors }) => {
      if (errors?.length) return status(errors[0].message);
      const event = data.bell;
      const kind = event.__typename;
      if (kind === "NotificationAdded") {
        if (!firstAdded(event.notification.id)) return;  // sent again: its unreadCount is as of then
        if (!bell.view) addItem(event.notification, true);
        $("announce").textContent = event.notification.title;
        if (bell.newestId === null || Number(event.notification.id) > Number(bell.newestId)) bell.newestId = event.notification.id;
        subscription.variables.after = bell.newestId;
      } else if (kind === "NotificationCollapsed") {
        if (!bell.view) collapsedItem(event.notification);
      } else if (kind === "NotificationsRead") {
        showRead(event.ids);
      } else if (kind === "NotificationsUnread") {
        showUnread(event.ids);
      } else if (kind === "NotificationsArchived" || kind === "NotificationsSnoozed") {
        if (bell.view) loadPage(true, true);  // the archive or the snoozed list gains it
        else dropItems(event.ids);
        if (kind === "NotificationsSnoozed") {
          for (const id of event.ids) $("toasts").querySelector(`.toast[data-id="${CSS.escape(String(id))}"]`)?.remove();
          forgetShowings(event.ids);  // its return shows its banner again, as it was
        }
      } else if (kind === "NotificationsUnarchived" || kind === "NotificationsReturned") {
        if (kind === "NotificationsReturned") forgetShowings(event.notifications.map((node) => node.id));
        if (bell.view) loadPage(true, true);
        else for (const node of event.notifications) addItem(node, "ordered");
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

// The items this page heard added, to skip one sent again (at least once: after a crash a worker
// sends the last publishing call's messages again, domain/panel.py): its unreadCount is as of when
// it was read and would step the badge back, and an item archived meanwhile would come back. The
// last ADDED_KEPT ids, in the order heard.
const ADDED_KEPT = 500;
const added = new Map();

/** Whether the bell hears this item added for the first time on this page. */
function firstAdded(id) {
  return firstTime(added, id, id, ADDED_KEPT);
}

/** Whether `key` is new to `seen` (then kept, with `value`, among the last `kept` keys). */
function firstTime(seen, key, value, kept) {
  if (seen.has(key)) return false;
  seen.set(key, value);
  if (seen.size > kept) seen.delete(seen.keys().next().value);
  return true;
}

// The showings of banners and sounds this page has had, to skip the same toast sent again: after a
// crash a worker sends the last publishing call's live messages again (at least once:
// domain/panel.py). A showing is a notification's id, its repeat, and its count and updatedAt (a
// collapse that alerts again changes them); the last SHOWINGS_KEPT, by key (insertion order),
// each with its notification's id.
const SHOWINGS_KEPT = 500;
const showings = new Map();

/** Whether this toast is a showing this page has not had yet (a channel's test always is). */
function firstShowing(toast) {
  const node = toast.notification;
  if (node.id === "test") return true;
  return firstTime(showings, JSON.stringify([node.id, toast.repeat, node.count, node.updatedAt]), node.id, SHOWINGS_KEPT);
}

/** Items snoozed or back from a snooze: their banners show again as they were, at the snooze's end. */
function forgetShowings(ids) {
  const gone = new Set(ids.map(String));
  for (const [key, id] of showings) if (gone.has(id)) showings.delete(key);
}

// A banner for `durationSeconds` (none for 0: a sound-only test), and its melody when SOUND is on;
// nothing for a showing this page has had already.
function showToast(toast) {
  if (toast.dismissed) {  // read in some tab, or its ticket or chat was handled: the banner goes
    $("toasts").querySelector(`.toast[data-id="${CSS.escape(toast.notification.id)}"]`)?.remove();
    return;
  }
  if (!firstShowing(toast)) return;
  if (toast.sound) play(toast.sound);
  if (toast.durationSeconds <= 0) return;
  const box = $("toasts");
  box.querySelector(`.toast[data-id="${CSS.escape(toast.notification.id)}"]`)?.remove();
  while (box.children.length >= Math.max(1, state.banner.maxVisible)) box.firstElementChild.remove();
  // A close button per banner, so the keyboard can dismiss it too (a click elsewhere on it reads it).
  const close = el("button", { type: "button", className: "toast-close", "aria-label": t("dismiss-banner", { title: toast.notification.title }) }, "×");
  const div = el("div", { className: "toast", role: "alert", dataset: { id: toast.notification.id } },
    close, el("strong", {}, toast.notification.title), el("span", {}, toast.notification.body));
  close.addEventListener("click", (e) => {
    e.stopPropagation();
    div.remove();
  });
  div.addEventListener("click", () => {
    if (toast.notification.id !== "test") markRead([toast.notification.id]);  // a channel test has no bell item
    div.remove();
  });
  box.append(div);
  setTimeout(() => div.remove(), toast.durationSeconds * 1000);
}

// -- demo publisher ----------------------------------------------------------------------------
let sampleNumber = Math.floor(Date.now() / 1000) % 100000;
/** The samples the demo publisher sends: a type and its data. */
const SAMPLES = {
  ticket: (n) => ["ticket_created", { ticketNumber: n, subject: "Sample from the panel" }],
  csat: () => ["csat_received", { score: 2, clientName: "Sample client" }],
  sla: (n) => ["sla_expired", { ticketNumber: n, subject: "Sample from the panel" }],
};
async function publishSample(kind) {
  sampleNumber += 1;
  const [type, data] = SAMPLES[kind](sampleNumber);
  const input = {
    id: `panel-sample-${state.viewer.id}-${Date.now()}-${sampleNumber}`,
    type,
    recipients: [state.viewer.id],
    data,
  };
  try {
    await gql(PUBLISH, { input }, state.demo.service);
  } catch (error) {
    status(error.message);
  }
}

// -- wiring --------------------------------------------------------------------------------------
$("locale").addEventListener("change", async () => {
  // The connection's state ("Live") follows the language, unless an error replaced it meanwhile.
  const showsConnection = Boolean(state.connection) && $("status").textContent === t(state.connection);
  state.locale = $("locale").value;
  localStorage.setItem("nc.locale", state.locale);
  if (state.viewer) localStorage.setItem(viewerLocaleKey(), state.locale);
  translate();
  if (showsConnection) status(t(state.connection));
  if (!state.token) return;
  if (state.center?.enabled) showBulkChannels();
  // What the API renders, again in the new language (the categories first: the types tab's headings).
  await reloadCategories().catch(() => {});
  for (const load of reloaders) load().catch((error) => status(error.message));
  for (const name of mounted) mountScreen(name);
});
$("read-all").addEventListener("click", markAllRead);
$("view").addEventListener("change", () => {
  bell.view = $("view").value;
  $("read-all").hidden = Boolean(bell.view);
  loadPage(true);
});
$("category").addEventListener("change", () => {
  bell.category = $("category").value;
  $("read-all").textContent = t(bell.category ? "mark-category-read" : "mark-all-read");
  loadPage(true);
});
$("load-more").addEventListener("click", () => loadPage());
$("items").addEventListener("scroll", () => {
  const list = $("items");
  if (list.scrollTop + list.clientHeight >= list.scrollHeight - 40) loadPage();
});
$("bell").addEventListener("click", () => {
  $("history").scrollIntoView({ behavior: "smooth" });
  $("history-title").focus({ preventScroll: true });
});
for (const button of document.querySelectorAll("[data-sample]")) {
  button.addEventListener("click", () => publishSample(button.dataset.sample));
}
wireChannels();
wireHours();
wireTypes();
wireProfile();
translate();
signIn();
