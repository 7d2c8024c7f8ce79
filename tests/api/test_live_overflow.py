"""The live bell keeps every item of a large batch: a listener that falls behind resyncs from the database."""

from __future__ import annotations

import asyncio

from tests.conftest import Tenant
from tests.wsclient import GraphQLWS

BELL = """subscription { bell { __typename
  ... on NotificationAdded { unreadCount notification { id } } ... on NotificationsRead { ids unreadCount } } }"""
MANY = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount } }"


async def test_one_call_of_300_events_reaches_an_open_bell_whole(live_server: str, tenant: Tenant) -> None:
    # given alice's bell open over the WebSocket
    alice = tenant.operator("alice")
    async with GraphQLWS(live_server, alice.token) as ws:
        await ws.subscribe(BELL)
        await asyncio.sleep(0.2)
        # when a producer sends 300 events for her in one publishEvents call (the limit is 500)
        events = [
            {"id": f"e{i}", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": i}}
            for i in range(300)
        ]
        result = await tenant.service().gql(MANY, {"inputs": events})
        assert "errors" not in result.body, result.body
        received = []
        try:
            while True:
                received.append((await ws.next(timeout=3.0))["bell"])
        except TimeoutError:
            pass
    ids = {m["notification"]["id"] for m in received if m["__typename"] == "NotificationAdded"}
    counts = [m["unreadCount"] for m in received]
    # then her bell got every item (the bell query says 300 unread)
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 300}
    assert len(ids) == 300, f"live bell got {len(ids)} of 300 items; unreadCount from {counts[:1]} to {counts[-1:]}"
