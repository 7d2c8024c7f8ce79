"""Live subscriptions through real WebSocket clients against the served app (SPEC 4 and 6)."""

from __future__ import annotations

import asyncio
import json

from tests.conftest import Tenant
from tests.wsclient import GraphQLWS

BELL = """subscription { bell { __typename
  ... on NotificationAdded { unreadCount notification { id typeCode title } }
  ... on NotificationsRead { ids unreadCount } } }"""
TOASTS = "subscription { toasts { durationSeconds sound repeat notification { id title } } }"
REMINDERS = "subscription { reminders { kind message createdAt } }"
PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


def ticket(event_id: str, recipients: list[str]) -> dict:
    return {
        "id": event_id,
        "type": "ticket_created",
        "recipients": recipients,
        "data": {"ticketNumber": 7, "subject": "Refund"},
    }


async def test_bell_items_reach_only_their_recipient(live_server: str, new_tenant) -> None:
    a, b = new_tenant(), new_tenant()
    alice, bob, alice_elsewhere = a.operator("alice"), a.operator("bob"), b.operator("alice")
    async with (
        GraphQLWS(live_server, alice.token) as c1,
        GraphQLWS(live_server, bob.token) as c2,
        GraphQLWS(live_server, alice_elsewhere.token) as c3,
    ):
        for c in (c1, c2, c3):
            await c.subscribe(BELL)
        await asyncio.sleep(0.1)
        # when
        await a.service().gql(PUBLISH, {"input": ticket("t1", ["alice"])})
        # then
        event = (await c1.next())["bell"]
        assert event["__typename"] == "NotificationAdded" and event["unreadCount"] == 1
        assert event["notification"]["title"] == "New ticket #7"
        await c2.nothing_for(0.5)
        await c3.nothing_for(0.1)


async def test_reading_in_one_tab_reaches_the_others(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await tenant.service().gql(PUBLISH, {"input": ticket("r1", ["alice"])})
    await tenant.service().gql(PUBLISH, {"input": ticket("r2", ["alice"])})
    async with GraphQLWS(live_server, alice.token) as tab1, GraphQLWS(live_server, alice.token) as tab2:
        await tab1.subscribe(BELL)
        await tab2.subscribe(BELL)
        await asyncio.sleep(0.3)  # let the workers' bell items for r1 and r2 go by
        page = (await alice.gql("{ notifications { edges { node { id } } } }")).data["notifications"]["edges"]
        newest = page[0]["node"]["id"]
        await alice.gql(
            "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { unreadCount } }", {"ids": [newest]}
        )
        for tab in (tab1, tab2):
            event = (await _next_of(tab, "NotificationsRead"))["bell"]
            assert event == {"__typename": "NotificationsRead", "ids": [newest], "unreadCount": 1}


async def _next_of(client: GraphQLWS, typename: str) -> dict:
    while True:
        data = await client.next()
        if data["bell"]["__typename"] == typename:
            return data


async def test_toasts_carry_duration_and_melody(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await alice.gql(
        'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, BANNER, SOUND], melody: "chime") { code } }'
    )
    await alice.gql(
        "mutation { updateChannelSettings(input: {banner: {durationSeconds: 12}}) { banner { durationSeconds } } }"
    )
    async with GraphQLWS(live_server, alice.token) as client:
        await client.subscribe(TOASTS)
        await asyncio.sleep(0.1)
        await tenant.service().gql(PUBLISH, {"input": ticket("s1", ["alice"])})
        toast = (await client.next())["toasts"]
        assert (toast["durationSeconds"], toast["sound"], toast["repeat"]) == (12, "chime", 0)
        assert toast["notification"]["title"] == "New ticket #7"
        await client.nothing_for(0.4)  # one toast, not one per channel


async def test_banner_repeats_arrive_and_stop_when_read(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await alice.gql(
        "mutation { updateChannelSettings(input: {banner: {repeatCount: 3, repeatIntervalSeconds: 1}}) { banner { repeatCount } } }"
    )
    async with GraphQLWS(live_server, alice.token) as client:
        await client.subscribe(TOASTS)
        await asyncio.sleep(0.1)
        await tenant.service().gql(PUBLISH, {"input": ticket("rep", ["alice"])})
        first = (await client.next())["toasts"]
        assert first["repeat"] == 0
        again = (await client.next(timeout=3))["toasts"]
        assert again["repeat"] == 1 and again["notification"]["id"] == first["notification"]["id"]
        await alice.gql("mutation { markAllNotificationsRead { unreadCount } }")
        # Read: the banner shown is taken back (dismissed), and no repeat follows.
        taken_back = (await client.next(timeout=3))["toasts"]
        assert taken_back["notification"]["id"] == first["notification"]["id"] and taken_back["durationSeconds"] == 0
        await client.nothing_for(2.5)


async def test_a_not_ready_operator_is_reminded_until_ready(live_server: str, tenant: Tenant) -> None:
    alice, service = tenant.operator("alice", locale="uk"), tenant.service()
    await alice.gql(
        "mutation { updateReminderSettings(input: {notReadyAfterMinutes: 1, notReadyRepeatMinutes: 2}) { notReadyAfterMinutes } }"
    )
    async with GraphQLWS(live_server, alice.token) as client:
        await client.subscribe(REMINDERS)
        await asyncio.sleep(0.1)
        status = {"type": "operator_status_changed", "recipients": ["alice"]}
        await service.gql(PUBLISH, {"input": {**status, "id": "st1", "data": {"status": "not_ready"}}})
        reminder = (await client.next(timeout=3))["reminders"]
        assert reminder["kind"] == "not_ready" and "Змініть статус" in reminder["message"]
        again = (await client.next(timeout=3))["reminders"]  # every 2 "minutes" while it lasts
        assert again["kind"] == "not_ready"
        await service.gql(PUBLISH, {"input": {**status, "id": "st2", "data": {"status": "ready"}}})
        await asyncio.sleep(0.1)
        await client.nothing_for(1.0)


async def test_a_disconnect_frees_what_the_connection_held(live_server: str, app, tenant: Tenant) -> None:
    broker = app.state.services.broker
    before = broker.subscriber_count()
    async with GraphQLWS(live_server, tenant.operator().token) as client:
        for query in (BELL, TOASTS, REMINDERS):
            await client.subscribe(query)
        await asyncio.sleep(0.2)
        assert broker.subscriber_count() == before + 3
    for _ in range(50):
        if broker.subscriber_count() == before:
            break
        await asyncio.sleep(0.05)
    assert broker.subscriber_count() == before
    lingering = [t for t in asyncio.all_tasks() if "bell" in repr(t.get_coro()) and not t.done()]
    assert lingering == []


async def test_legacy_graphql_ws_protocol_gets_bell_items(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    async with GraphQLWS(live_server, alice.token, protocol="graphql-ws") as client:
        await client.subscribe(BELL)
        await asyncio.sleep(0.1)
        await tenant.service().gql(PUBLISH, {"input": ticket("legacy", ["alice"])})
        assert (await client.next())["bell"]["unreadCount"] == 1


async def test_the_gql_client_receives_bell_items(live_server: str, tenant: Tenant) -> None:
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    alice = tenant.operator("alice")
    transport = WebsocketsTransport(
        url=f"ws://{live_server}/graphql", init_payload={"authorization": f"Bearer {alice.token}"}
    )
    async with Client(transport=transport) as session:

        async def first_item() -> dict:
            async for result in session.subscribe(gql(BELL)):
                return result
            raise AssertionError("the subscription ended")

        waiter = asyncio.create_task(first_item())
        await asyncio.sleep(0.3)
        await tenant.service().gql(PUBLISH, {"input": ticket("gql", ["alice"])})
        result = await asyncio.wait_for(waiter, 5)
    assert result["bell"]["notification"]["typeCode"] == "ticket_created"


async def test_the_bell_replays_what_a_client_missed_from_its_cursor(live_server: str, tenant: Tenant) -> None:
    # given three items, of which the client saw the first before it went offline
    alice, service = tenant.operator("alice"), tenant.service()
    for i in range(3):
        await service.gql(PUBLISH, {"input": ticket(f"m{i}", ["alice"])})
    page = (await alice.gql("{ notifications { edges { cursor node { id } } } }")).data["notifications"]["edges"]
    oldest = page[-1]
    # when it subscribes again with that item's cursor
    async with GraphQLWS(live_server, alice.token) as client:
        cursor = oldest["cursor"]
        await client.subscribe(
            f'subscription {{ bell(after: "{cursor}") {{ ... on NotificationAdded {{ unreadCount notification {{ id }} }} }} }}'
        )
        replayed = [(await client.next())["bell"] for _ in range(2)]
        # then the two it missed come first, oldest first, then live items
        assert [r["notification"]["id"] for r in replayed] == [page[1]["node"]["id"], page[0]["node"]["id"]]
        assert [r["unreadCount"] for r in replayed] == [2, 3]
        await service.gql(PUBLISH, {"input": ticket("m3", ["alice"])})
        live_item = (await client.next())["bell"]
        assert live_item["unreadCount"] == 4
        await client.nothing_for(0.3)


async def test_a_query_over_a_long_lived_socket_reads_current_settings(live_server: str, tenant: Tenant) -> None:
    # given an operator whose socket has already answered a query
    alice = tenant.operator("alice")
    types = '{ notificationTypes(search: "chat_created") { code channels } }'
    async with GraphQLWS(live_server, alice.token) as ws:
        await ws.subscribe(types)
        before = (await ws.next())["notificationTypes"][0]["channels"]
        assert json.loads(await ws.ws.recv())["type"] == "complete"
        # when her channels change through another tab (HTTP)
        await alice.gql('mutation { setTypeChannels(typeCode: "chat_created", channels: [BELL, SOUND]) { code } }')
        # then the same socket's next query reads them, not what it loaded before
        await ws.subscribe(types)
        after = (await ws.next())["notificationTypes"][0]["channels"]
    assert before != ["BELL", "SOUND"] and after == ["BELL", "SOUND"]


async def test_items_committed_out_of_id_order_all_arrive_once(live_server: str, app, tenant: Tenant) -> None:
    # At scale two publishers' transactions commit in either order: an item with a smaller id can
    # reach the broker after a larger one. Neither may be dropped, and a repeat is not sent twice.
    from core.broker import user_topic
    from domain import live

    def added(item_id: int, unread: int) -> dict:
        row = {
            "type_code": "ticket_created",
            "category_code": "creation_and_messages",
            "title": f"Ticket {item_id}",
            "body": "",
            "entity_kind": None,
            "entity_id": None,
            "data": {},
        }
        notification = live.payload(item_id, row, "2026-11-30T00:00:00+00:00")
        return {"type": "NotificationAdded", "notification": notification, "unreadCount": unread}

    alice = tenant.operator("alice")
    broker = app.state.services.broker
    topic = user_topic(tenant.id, "alice", live.BELL)
    async with GraphQLWS(live_server, alice.token) as client:
        await client.subscribe(BELL)
        await asyncio.sleep(0.1)
        # when the item committed second (id 9001) arrives before the one committed first (9000)
        for message in (added(9001, 1), added(9000, 2), added(9001, 2)):
            await broker.publish(topic, message)
        # then both arrive, in the order they came, and the repeat of 9001 does not
        ids = [(await client.next())["bell"]["notification"]["id"] for _ in range(2)]
        assert ids == ["9001", "9000"]
        await client.nothing_for(0.3)


async def test_an_item_already_read_is_not_shown_again_when_its_hand_off_comes_late(
    live_server: str, app, tenant: Tenant
) -> None:
    # At scale a publisher's hand-off can reach the broker after another tab marked the item read.
    from core.broker import user_topic
    from domain import live

    row = {
        "type_code": "ticket_created",
        "category_code": "creation_and_messages",
        "title": "Late",
        "body": "",
        "entity_kind": None,
        "entity_id": None,
        "data": {},
    }
    alice = tenant.operator("alice")
    topic = user_topic(tenant.id, "alice", live.BELL)
    async with GraphQLWS(live_server, alice.token) as client:
        await client.subscribe(BELL)
        await asyncio.sleep(0.1)
        await app.state.services.broker.publish(topic, live.bell_read(["9100"], 0))
        late = live.bell_added(live.payload(9100, row, "2026-11-30T00:00:00+00:00"), 1)
        await app.state.services.broker.publish(topic, late)
        assert (await client.next())["bell"]["__typename"] == "NotificationsRead"
        await client.nothing_for(0.3)
