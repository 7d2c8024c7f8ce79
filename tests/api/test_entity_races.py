"""Collapse and reading under concurrency, and what a read takes back from a snooze (issue 14, from a
fresh reviewer's attack): concurrent events about one chat make one item on either database; a
message never grows an item read meanwhile; overlapping reads and inbox actions never fail; a
snoozed item that is read or resolved does not come back unread."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Caller, Tenant

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
PAGE = "{ notifications(first: 50) { edges { node { id count body readAt updatedAt snoozedUntil } } } unreadCount }"
MARK_ENTITY = "mutation($e: EntityRefInput!) { markEntityRead(entity: $e) { ids unreadCount } }"
SNOOZE = "mutation($ids: [ID!]!, $until: DateTime!) { snoozeNotifications(ids: $ids, until: $until) { ids } }"
ARCHIVE = "mutation($ids: [ID!]!) { archiveNotifications(ids: $ids) { ids } }"
UNARCHIVE = "mutation($ids: [ID!]!) { unarchiveNotifications(ids: $ids) { ids } }"
UNREAD = "mutation($ids: [ID!]!) { markNotificationsUnread(ids: $ids) { ids } }"
READ = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids } }"
READ_ALL = "mutation { markAllNotificationsRead { ids } }"


def message(event_id: str, chat: str, text: str, recipient: str = "alice") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "chat_message",
        "recipients": [recipient],
        "data": {"chatId": chat, "clientName": "Iryna", "text": text},
    }


async def publish(tenant: Tenant, event: dict[str, Any]) -> None:
    result = await tenant.service().gql(PUBLISH, {"input": event})
    assert "errors" not in result.body, result.body


async def items(operator: Caller) -> list[dict[str, Any]]:
    return [e["node"] for e in (await operator.gql(PAGE)).data["notifications"]["edges"]]


async def test_concurrent_messages_in_one_chat_make_one_item(tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    # when six messages of each of eight chats arrive at once (separate requests)
    await asyncio.gather(
        *(publish(tenant, message(f"c{chat}-{n}", f"race-{chat}", f"m{n}")) for chat in range(8) for n in range(6))
    )
    # then each chat is one item counting six, and one unread item per chat
    counts = sorted(item["count"] for item in await items(alice))
    assert counts == [6] * 8
    assert (await alice.gql(PAGE)).data["unreadCount"] == 8


async def test_a_message_never_grows_an_item_read_meanwhile(tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    for round_ in range(12):
        chat = f"read-race-{round_}"
        await publish(tenant, message(f"{chat}-a", chat, "first"))
        # when the chat is read while its next message is published
        await asyncio.gather(
            alice.gql(MARK_ENTITY, {"e": {"kind": "CHAT", "id": chat}}),
            publish(tenant, message(f"{chat}-b", chat, "second")),
        )
    # then no read item was updated after it was read: either the second message collapsed before
    # the read (one read item of 2), or it started a new unread item
    for item in await items(alice):
        if item["readAt"] is not None:
            assert item["updatedAt"] <= item["readAt"], item
    total = sum(item["count"] for item in await items(alice))
    assert total == 24


async def test_overlapping_reads_and_inbox_actions_of_one_user_never_fail(tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    for n in range(12):
        ticket = {"id": f"t{n}", "type": "ticket_reassign", "recipients": ["alice"], "data": {"ticketNumber": n % 3}}
        await publish(tenant, ticket)
    ids = [item["id"] for item in await items(alice)]
    until = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    for round_ in range(6):
        shuffled = ids[round_:] + ids[:round_]
        results = await asyncio.gather(
            alice.gql(READ, {"ids": shuffled[:8]}),
            alice.gql(UNREAD, {"ids": list(reversed(shuffled[:8]))}),
            alice.gql(ARCHIVE, {"ids": shuffled[4:9]}),
            alice.gql(UNARCHIVE, {"ids": shuffled[4:9]}),
            alice.gql(SNOOZE, {"ids": shuffled[9:11], "until": until}),
            alice.gql(MARK_ENTITY, {"e": {"kind": "TICKET", "id": str(round_ % 3)}}),
            alice.gql(READ_ALL),
        )
        for result in results:
            assert "errors" not in result.body, result.body


async def test_a_snoozed_item_that_is_resolved_does_not_come_back_unread(tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await publish(
        tenant, {"id": "s1", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 4242}}
    )
    [item] = await items(alice)
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    assert "errors" not in (await alice.gql(SNOOZE, {"ids": [item["id"]], "until": until})).body
    # when the producer says ticket 4242 was handled while it is snoozed
    resolved = {"id": "s2", "type": "entity_resolved", "recipients": [], "entity": {"kind": "TICKET", "id": "4242"}}
    await publish(tenant, resolved)
    # then past the snooze's time it is read, back in the bell, and not counted
    await asyncio.sleep(1.8)
    [after] = await items(alice)
    assert (after["id"], after["snoozedUntil"]) == (item["id"], None) and after["readAt"] is not None
    assert (await alice.gql(PAGE)).data["unreadCount"] == 0
