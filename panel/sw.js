// The panel's service worker (scope /panel/): shows the service's Web Push messages as browser
// notifications and opens a notification's link when it is clicked.
//
// The push payload is the JSON the BROWSER channel sends: {"id", "type", "title", "body", "link",
// "tag"} (id is null for a test from the Channels tab; tag names the ticket or chat, or is null).

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = { body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: message.body || "",
    data: { id: message.id ?? null, type: message.type ?? null, link: message.link || null },
  };
  // One notification per ticket or chat (per bell item without one): a newer push replaces it
  // instead of stacking, and alerts again.
  if (message.tag) {
    options.tag = `entity-${message.tag}`;
    options.renotify = true;
  } else if (message.id) options.tag = `notification-${message.id}`;
  event.waitUntil(self.registration.showNotification(message.title || "Notification Center", options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const link = new URL(event.notification.data?.link || "./", self.registration.scope).href;
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const open = windows.find((client) => client.url === link);
      if (open) return open.focus();
      return self.clients.openWindow(link);
    })(),
  );
});
