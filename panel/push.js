// The Channels tab's browser block: the notification permission, this browser's Web Push
// subscription (the service worker sw.js, PushManager.subscribe with webPushPublicKey, then
// registerPushSubscription), unsubscribing, and the count of the viewer's subscribed browsers.

import { el, gql, t } from "./core.js";

const REGISTER = `mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }`;
const UNREGISTER = `mutation($endpoint: String!) { unregisterPushSubscription(endpoint: $endpoint) }`;
const KEY = `{ webPushPublicKey }`;

const supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
let registration = null;

/** Register the service worker once (scope: the page's folder, /panel/). */
export async function serviceWorker() {
  if (!supported) return null;
  registration ??= await navigator.serviceWorker.register("sw.js");
  return registration;
}

function applicationServerKey(base64url) {
  const base64 = (base64url + "=".repeat((4 - (base64url.length % 4)) % 4)).replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

async function subscribe() {
  if ((await Notification.requestPermission()) !== "granted") throw new Error(t("permission-denied"));
  const key = (await gql(KEY)).webPushPublicKey;
  const reg = await serviceWorker();
  const subscription = await reg.pushManager.subscribe({
    userVisibleOnly: true,
    applicationServerKey: applicationServerKey(key),
  });
  const json = subscription.toJSON();
  await gql(REGISTER, {
    input: { endpoint: json.endpoint, p256dh: json.keys.p256dh, auth: json.keys.auth, userAgent: navigator.userAgent },
  });
}

async function unsubscribe() {
  const subscription = await (await serviceWorker()).pushManager.getSubscription();
  if (!subscription) return;
  await gql(UNREGISTER, { endpoint: subscription.endpoint });
  await subscription.unsubscribe();
}

/** The block's content for the channels tab's settings; `reload` refreshes the whole tab. */
export async function browserBlock(settings, reload) {
  const box = el("div", { className: "browser-block", id: "browser-block" });
  const heading = el("h3", { className: "category-title" }, t("browser-block"));
  box.append(heading);
  if (!supported) {
    box.append(el("p", { className: "muted" }, t("push-unsupported")));
    return box;
  }
  const permission = el("p", { id: "push-permission", dataset: { permission: Notification.permission } },
    t(`permission-${Notification.permission}`));
  const reg = await serviceWorker().catch(() => null);
  const mine = reg ? await reg.pushManager.getSubscription().catch(() => null) : null;
  const here = el("p", { id: "push-here" }, t(mine ? "push-subscribed" : "push-not-subscribed"));
  const count = el("p", { id: "push-count", className: "muted" },
    t("push-subscriptions", { count: settings.pushSubscriptions.length }));
  const result = el("p", { id: "push-result", role: "status", className: "muted" });
  const button = el("button", { type: "button", id: mine ? "push-unsubscribe" : "push-subscribe" },
    t(mine ? "unsubscribe" : "subscribe"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (mine) await unsubscribe();
      else await subscribe();
      await reload();
    } catch (error) {
      result.textContent = t("push-failed", { message: error.message });
      permission.textContent = t(`permission-${Notification.permission}`);
      permission.dataset.permission = Notification.permission;
      button.disabled = false;
    }
  });
  box.append(permission, here, count, subscriptionList(settings.pushSubscriptions, mine, reload, result), button, result);
  return box;
}

// The viewer's subscribed browsers (by their user agent: an endpoint is the subscription's secret),
// each with a button that removes it, for a browser that is lost or no longer used.
function subscriptionList(subscriptions, mine, reload, result) {
  return el("ul", { className: "push-list" }, ...subscriptions.map((subscription) => {
    const here = mine?.endpoint === subscription.endpoint;
    const name = `${subscription.userAgent || "?"}${here ? ` (${t("this-browser")})` : ""}`;
    const since = new Date(subscription.createdAt).toLocaleString(document.documentElement.lang);
    const remove = el("button", { type: "button", "aria-label": t("remove-browser", { browser: name }) }, t("remove"));
    remove.addEventListener("click", async () => {
      try {
        if (here) await mine.unsubscribe();
        await gql(UNREGISTER, { endpoint: subscription.endpoint });
        await reload();
      } catch (error) {
        result.textContent = error.message;
      }
    });
    return el("li", { dataset: { id: subscription.id } }, `${name} · ${since} `, remove);
  }));
}
