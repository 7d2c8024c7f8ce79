"""Notifications that know their ticket or chat (issue 14): collapse, acknowledge by entity, retract.

Through the served app with real WebSocket clients; the test settings make the collapse window 1 s.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import Caller, Tenant
from tests.wsclient import GraphQLWS

NODE = "id typeCode title body count updatedAt createdAt readAt entity { kind id }"
BELL = f"""subscription {{ bell {{ __typename
  ... on NotificationAdded {{ unreadCount notification {{ {NODE} }} }}
  ... on NotificationCollapsed {{ unreadCount notification {{ {NODE} }} }}
  ... on NotificationsRead {{ ids unreadCount }} }} }}"""
TOASTS = "subscription { toasts { durationSeconds repeat dismissed notification { id title count } } }"
PUBLISH = "mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { notificationCount duplicate } }"
PAGE = f"{{ notifications(first: 50) {{ unreadCount edges {{ node {{ {NODE} }} }} }} unreadCount }}"
MARK_ENTITY = "mutation($e: EntityRefInput!) { markEntityRead(entity: $e) { ids unreadCount } }"


def chat_message(event_id: str, recipients: list[str], text: str, chat: str = "12") -> dict[str, Any]:
    """A new message in a chat, as the platform sends it: the chat is named only in data."""
    return {
        "id": event_id,
        "type": "chat_message",
        "recipients": recipients,
        "data": {"chatId": chat, "clientName": "Iryna", "text": text},
    }


async def publish(tenant: Tenant, *events: dict[str, Any]) -> list[dict[str, Any]]:
    result = await tenant.service().gql(PUBLISH, {"inputs": list(events)})
    assert "errors" not in result.body, result.body
    return result.data["publishEvents"]


async def page(operator: Caller) -> dict[str, Any]:
    return (await operator.gql(PAGE)).data


async def bell_until(tab: GraphQLWS, typename: str, count: int | None = None) -> dict[str, Any]:
    while True:
        event = (await tab.next())["bell"]
        if event["__typename"] == typename and (count is None or event["notification"]["count"] == count):
            return event


async def test_twenty_messages_in_one_chat_are_one_bell_item_that_counts(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    async with (
        GraphQLWS(live_server, alice.token) as tab1,
        GraphQLWS(live_server, alice.token) as tab2,
        GraphQLWS(live_server, alice.token) as toasts,
    ):
        for tab in (tab1, tab2):
            await tab.subscribe(BELL)
        await toasts.subscribe(TOASTS)
        await asyncio.sleep(0.1)
        # when the chat's first message arrives, then 19 more (in two calls) within the window
        await publish(tenant, chat_message("m1", ["alice"], "Hello"))
        await publish(tenant, *(chat_message(f"m{i}", ["alice"], f"Message {i}") for i in range(2, 11)))
        await publish(tenant, *(chat_message(f"m{i}", ["alice"], f"Message {i}") for i in range(11, 21)))
        # then both tabs see one item that counts them, with the latest message's text
        for tab in (tab1, tab2):
            added = await bell_until(tab, "NotificationAdded")
            assert (added["notification"]["count"], added["unreadCount"]) == (1, 1)
            assert added["notification"]["entity"] == {"kind": "CHAT", "id": "12"}  # derived from data.chatId
            collapsed = await bell_until(tab, "NotificationCollapsed", 20)
            assert collapsed["notification"]["id"] == added["notification"]["id"]
            assert (collapsed["notification"]["body"], collapsed["unreadCount"]) == ("Message 20", 1)
            assert collapsed["notification"]["updatedAt"] > collapsed["notification"]["createdAt"]
        data = await page(alice)
        [item] = [e["node"] for e in data["notifications"]["edges"]]
        assert (item["count"], item["body"], data["unreadCount"]) == (20, "Message 20", 1)
        # and one banner for the window, not twenty
        first = (await toasts.next())["toasts"]
        assert (first["notification"]["id"], first["dismissed"]) == (item["id"], False)
        await toasts.nothing_for(0.5)
        # when another message comes once the window (1 s here) has passed: one banner again
        await asyncio.sleep(1.0)
        await publish(tenant, chat_message("m21", ["alice"], "Still there?"))
        again = (await toasts.next())["toasts"]
        assert (again["notification"]["id"], again["notification"]["count"]) == (item["id"], 21)


async def test_a_read_item_ends_the_collapse_and_other_chats_and_types_stay_apart(tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await publish(tenant, chat_message("a1", ["alice"], "one"), chat_message("a2", ["alice"], "two"))
    await publish(tenant, chat_message("b1", ["alice"], "other chat", chat="13"))
    ticket = {"id": "t1", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 12}}
    await publish(tenant, ticket)
    counts = {
        (n["node"]["typeCode"], n["node"]["entity"]["id"]): n["node"]["count"]
        for n in (await page(alice))["notifications"]["edges"]
    }
    assert counts == {("chat_message", "12"): 2, ("chat_message", "13"): 1, ("ticket_created", "12"): 1}
    await alice.gql(MARK_ENTITY, {"e": {"kind": "chat", "id": "12"}})  # known kinds in any case
    await publish(tenant, chat_message("a3", ["alice"], "three"))
    chat12 = [n["node"] for n in (await page(alice))["notifications"]["edges"] if n["node"]["entity"]["id"] == "12"]
    assert [(n["typeCode"], n["count"], n["readAt"] is None) for n in chat12] == [
        ("chat_message", 1, True),  # a new item: the read one does not grow
        ("ticket_created", 1, True),  # a ticket numbered 12 is another entity
        ("chat_message", 2, False),
    ]


async def test_an_item_collapsed_into_keeps_the_latest_events_texts_and_data_exactly(tenant: Tenant) -> None:
    alice, bob = tenant.operator("alice"), tenant.operator("bob")
    await publish(tenant, chat_message("d1", ["alice"], "first"))
    data = {
        "chatId": "12",
        "clientName": 'Ірина "Іра" O\'Neil 🌻',
        "text": "line one\nline two \\ end",
        "orderId": 123456789012345678901234567890,  # past 64 bits: kept whole
        "nested": {"list": [1, None, True, 2.5], "empty": {}},
    }
    # alice's item takes the event (a collapse); bob gets it as a new item of his own
    await publish(tenant, {"id": "d2", "type": "chat_message", "recipients": ["alice", "bob"], "data": data})
    query = "{ notifications(first: 5) { edges { node { count title body data } } } }"
    [collapsed] = [e["node"] for e in (await alice.gql(query)).data["notifications"]["edges"]]
    [new] = [e["node"] for e in (await bob.gql(query)).data["notifications"]["edges"]]
    assert (collapsed["count"], new["count"]) == (2, 1)
    assert collapsed["data"] == new["data"] == data
    assert (collapsed["title"], collapsed["body"]) == (new["title"], new["body"])
    assert collapsed["title"] == 'New message from Ірина "Іра" O\'Neil 🌻'


async def test_a_call_that_collapses_and_adds_for_one_operator_counts_both_in_its_messages(
    live_server: str, tenant: Tenant
) -> None:
    alice = tenant.operator("alice")
    await publish(tenant, chat_message("c1", ["alice"], "first"), chat_message("o1", ["alice"], "other", chat="13"))
    async with GraphQLWS(live_server, alice.token) as tab:
        await tab.subscribe(BELL)
        await asyncio.sleep(0.1)
        # one call: a message in chat 12 (collapses), one in chat 14 (a new item), one in 13 (collapses)
        await publish(
            tenant,
            chat_message("c2", ["alice"], "second"),
            chat_message("n1", ["alice"], "new chat", chat="14"),
            chat_message("o2", ["alice"], "other again", chat="13"),
        )
        seen = {}
        while len(seen) < 3:
            event = (await tab.next())["bell"]
            seen[event["notification"]["entity"]["id"]] = (event["__typename"], event["unreadCount"])
    # every message of the call says the count after it: the new item counted, the collapses not
    assert seen == {
        "12": ("NotificationCollapsed", 3),
        "13": ("NotificationCollapsed", 3),
        "14": ("NotificationAdded", 3),
    }
    assert (await page(alice))["unreadCount"] == 3


async def test_an_instance_can_turn_collapse_off_for_a_type(tenant: Tenant) -> None:
    alice, admin = tenant.operator("alice"), tenant.admin()
    result = await admin.gql(
        'mutation { setTypePolicy(input: {typeCode: "chat_message", collapse: false}) { typeCode collapse } }'
    )
    assert result.data["setTypePolicy"] == {"typeCode": "chat_message", "collapse": False}
    refused = await admin.gql(
        'mutation { setTypePolicy(input: {typeCode: "chat_message", mandatory: true}) { typeCode } }'
    )
    assert refused.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "takes collapse alone" in refused.errors[0]["message"]
    await publish(tenant, chat_message("c1", ["alice"], "one"), chat_message("c2", ["alice"], "two"))
    data = await page(alice)
    assert [n["node"]["count"] for n in data["notifications"]["edges"]] == [1, 1] and data["unreadCount"] == 2


async def test_mark_entity_read_reads_the_items_and_takes_back_banners_in_every_tab(
    live_server: str, tenant: Tenant
) -> None:
    alice = tenant.operator("alice")
    ticket = {"type": "ticket_reassign", "recipients": ["alice"], "entity": {"kind": "TICKET", "id": "77"}}
    async with GraphQLWS(live_server, alice.token) as tab1, GraphQLWS(live_server, alice.token) as tab2:
        for tab in (tab1, tab2):
            await tab.subscribe(TOASTS)
        await asyncio.sleep(0.1)
        await publish(tenant, {**ticket, "id": "r1"}, {**ticket, "id": "r2"}, chat_message("x1", ["alice"], "hi"))
        shown = {tab: {(await tab.next())["toasts"]["notification"]["id"] for _ in range(3)} for tab in (tab1, tab2)}
        # when she marks the ticket read
        result = (await alice.gql(MARK_ENTITY, {"e": {"kind": "TICKET", "id": "77"}})).data["markEntityRead"]
        # then its two items are read, the chat's stays unread
        assert len(result["ids"]) == 2 and result["unreadCount"] == 1
        # and both tabs take back exactly the ticket's banners
        for tab in (tab1, tab2):
            dismissed = {(await tab.next())["toasts"]["notification"]["id"] for _ in range(2)}
            assert dismissed == set(result["ids"]) and dismissed < shown[tab]
            await tab.nothing_for(0.3)
    # a wrong entity says what to change
    wrong = await alice.gql(MARK_ENTITY, {"e": {"kind": "TICKET", "id": "no spaces"}})
    assert wrong.errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and "entity.id" in wrong.errors[0]["message"]


async def test_a_producer_resolving_an_entity_reads_the_items_of_every_recipient(
    live_server: str, tenant: Tenant
) -> None:
    alice, bob, carol = tenant.operator("alice"), tenant.operator("bob"), tenant.operator("carol")
    about = {"kind": "CHAT", "id": "900"}
    await publish(
        tenant,
        {"id": "q1", "type": "chat_created", "recipients": ["alice", "bob", "carol"], "entity": about},
        {"id": "q2", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 5}},
    )
    async with GraphQLWS(live_server, bob.token) as bob_tab:
        await bob_tab.subscribe(BELL)
        await asyncio.sleep(0.1)
        # when the platform says the chat was handled for bob only
        await publish(tenant, {"id": "done-1", "type": "entity_resolved", "recipients": ["bob"], "entity": about})
        read = await bell_until(bob_tab, "NotificationsRead")
        assert read["unreadCount"] == 0
    assert [(await page(o))["unreadCount"] for o in (alice, bob, carol)] == [2, 0, 1]
    # when it says so for everyone (no recipients)
    await publish(tenant, {"id": "done-2", "type": "entity_resolved", "recipients": [], "entity": about})
    assert [(await page(o))["unreadCount"] for o in (alice, bob, carol)] == [1, 0, 0]
    # and the same event id again changes nothing more (idempotent like every event)
    [again] = await publish(tenant, {"id": "done-2", "type": "entity_resolved", "recipients": [], "entity": about})
    assert again["duplicate"] is True
    # an entity_resolved without an entity says what to send
    refused = await tenant.service().gql(
        PUBLISH, {"inputs": [{"id": "done-3", "type": "entity_resolved", "recipients": []}]}
    )
    assert refused.errors[0]["extensions"]["code"] == "BAD_USER_INPUT" and "entity" in refused.errors[0]["message"]


async def test_closing_a_ticket_reads_its_notifications_when_the_instance_says_so(tenant: Tenant) -> None:
    alice, bob, admin = tenant.operator("alice"), tenant.operator("bob"), tenant.admin()
    message = {"type": "ticket_message", "data": {"ticketNumber": 31, "clientName": "Iryna", "text": "?"}}
    closed = {"type": "ticket_closed", "data": {"ticketNumber": 31}}
    await publish(tenant, {**message, "id": "k1", "recipients": ["alice", "bob"]})
    await publish(tenant, {**closed, "id": "k2", "recipients": ["alice"]})
    assert [(await page(o))["unreadCount"] for o in (alice, bob)] == [2, 1]  # off by default: nothing read
    on = await admin.gql("mutation { updateInstanceSettings(input: {readOnEntityClose: true}) { readOnEntityClose } }")
    assert on.data["updateInstanceSettings"]["readOnEntityClose"] is True
    await publish(tenant, {**closed, "id": "k3", "recipients": ["alice"]})
    # every operator's items about ticket 31 are read; the closing notification itself is new and unread
    assert [(await page(o))["unreadCount"] for o in (alice, bob)] == [1, 0]


async def test_collapse_costs_the_same_statements_for_many_items(tenant: Tenant, sql: Any) -> None:
    users = [f"op{i}" for i in range(40)]
    await publish(tenant, {"id": "hello", "type": "ticket_created", "recipients": users})  # their rows
    # (and the instance's: the policy is read as stored, and cached, by the next call)
    await publish(tenant, {"id": "hello-2", "type": "ticket_created", "recipients": users[:1]})

    async def statements(call: str, recipients: list[str], chats: list[str]) -> int:
        events = [chat_message(f"{call}-{chat}", recipients, "x", chat=chat) for chat in chats]
        await sql.settled(tenant.id)
        sql.statements.clear()
        await publish(tenant, *events)
        return len(await sql.settled(tenant.id))

    few, many = ["s1", "s2"], [f"l{c}" for c in range(20)]
    # new items, then other events collapsing into them: 2 recipients x 2 chats, then 40 x 20
    small = (await statements("new", users[:2], few), await statements("again", users[:2], few))
    large = (await statements("new", users, many), await statements("again", users, many))
    assert small == large, sql.statements
    counts = {n["node"]["count"] for n in (await page(tenant.operator("op39")))["notifications"]["edges"]}
    assert counts == {1, 2}  # the ticket, and each chat's two messages
