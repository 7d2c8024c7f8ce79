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


async def test_a_resync_replays_an_item_that_committed_after_a_newer_one(app, live_server: str, tenant: Tenant) -> None:
    from core.broker import RESYNC, user_topic
    from domain import live
    from models.notification import Notification

    # given alice's bell open, and two of her items sent live with a gap between their ids (bob's)
    alice = tenant.operator("alice")
    publish = "mutation($i: EventInput!) { publishEvent(input: $i) { notificationCount } }"

    def ticket(event_id: str, user: str) -> dict:
        return {"id": event_id, "type": "ticket_created", "recipients": [user], "data": {"ticketNumber": 1}}

    async with GraphQLWS(live_server, alice.token) as ws:
        await ws.subscribe(BELL)
        await asyncio.sleep(0.2)
        for event_id, user in (("first", "alice"), ("gap", "bob"), ("third", "alice")):
            await tenant.service().gql(publish, {"i": ticket(event_id, user)})
        sent = [(await ws.next(timeout=3.0))["bell"]["notification"]["id"] for _ in range(2)]
        # when an item of hers with the gap's id commits late (another publisher's transaction),
        # and its live message is lost with others (the broker tells her listener to resync)
        gap = await Notification.get(instance_id=tenant.id, event_id="gap")
        late = await Notification.get(instance_id=tenant.id, event_id="third")
        await gap.delete()
        await Notification.create(
            id=gap.id,
            instance_id=tenant.id,
            operator_id=late.operator_id,
            event_id="late",
            type_code=late.type_code,
            category_code=late.category_code,
            title="The late one",
            body=late.body,
            channels=late.channels,
            in_bell=True,
        )
        await app.state.services.broker.publish(user_topic(tenant.id, "alice", live.BELL), RESYNC)
        # then her bell gets the late item once, and nothing it had already sent
        replayed = [(await ws.next(timeout=3.0))["bell"]]
        try:
            while True:
                replayed.append((await ws.next(timeout=1.0))["bell"])
        except TimeoutError:
            pass
    assert [m["notification"]["id"] for m in replayed] == [str(gap.id)]
    assert int(sent[0]) < gap.id < int(sent[1])
