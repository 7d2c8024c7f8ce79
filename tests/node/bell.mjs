// Subscribes to the bell with the npm graphql-ws client and prints each result as a JSON line.
// Usage: node bell.mjs ws://host/graphql <token> <count>
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, count] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: { connected: () => console.log(JSON.stringify({ connected: true })) },
});
let seen = 0;
client.subscribe(
  { query: "subscription { bell { __typename ... on NotificationAdded { unreadCount notification { title } } } }" },
  {
    next: (result) => {
      console.log(JSON.stringify(result));
      if (++seen >= Number(count)) { client.dispose(); process.exit(0); }
    },
    error: (error) => { console.error(JSON.stringify(error)); process.exit(2); },
    complete: () => process.exit(seen >= Number(count) ? 0 : 3),
  },
);
setTimeout(() => { console.error("timed out"); process.exit(4); }, 15000);
