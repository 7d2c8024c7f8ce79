"""Snooze returns are durable due rows claimed with a lease: two workers never return an item twice,
a dead worker's claim is taken again, and a snooze moved meanwhile is not ended early."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.timezone import now

from channels.schedules import SNOOZE_RETURNS, Due, run_due
from core.broker import user_topic
from domain import live
from domain.retention import prune
from models.claim import claim
from models.db import db
from models.notification import BellSnooze, Notification
from models.operator import Operator
from tests.channels.test_schedules import Stopped
from tests.conftest import Caller, Tenant
from tests.polling import until

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
SNOOZE = """mutation($ids: [ID!]!, $until: DateTime!) {
  snoozeNotifications(ids: $ids, until: $until) { unreadCount } }"""


async def snoozed_item(tenant: Tenant, seconds: float) -> tuple[Caller, str]:
    alice = tenant.operator("alice")
    await tenant.service().gql(
        PUBLISH, {"input": {"id": "n1", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 1}}}
    )
    [edge] = (await alice.gql("{ notifications { edges { node { id } } } }")).data["notifications"]["edges"]
    item = edge["node"]["id"]
    at = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    assert (await alice.gql(SNOOZE, {"ids": [item], "until": at})).data["snoozeNotifications"]["unreadCount"] == 0
    return alice, item


def returned(messages: list[dict[str, Any]]) -> list[str]:
    return [n["id"] for m in messages if m["type"] == "NotificationsReturned" for n in m["notifications"]]


async def drain(queue: asyncio.Queue[dict[str, Any]]) -> list[dict[str, Any]]:
    await asyncio.sleep(0.2)
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def test_two_workers_claiming_at_once_return_the_item_once(app, tenant: Tenant) -> None:
    broker = app.state.services.broker
    async with broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell:
        async with Stopped(app):
            alice, item = await snoozed_item(tenant, 0.2)
            await asyncio.sleep(0.3)
            # when two workers look for due returns at the same moment
            claimed = await asyncio.gather(
                *(run_due(SNOOZE_RETURNS, broker, lease_seconds=30, limit=100) for _ in range(2))
            )
            messages = await drain(bell.queue)
        # then one of them took it, and the item came back once
        assert sorted(claimed) == [0, 1]
    assert returned(messages) == [item]
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 1}
    assert await BellSnooze.filter(instance_id=tenant.id).count() == 0


async def test_a_dead_workers_claim_is_taken_again_once_its_lease_ends(app, tenant: Tenant) -> None:
    broker = app.state.services.broker
    async with broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell:
        async with Stopped(app):
            alice, item = await snoozed_item(tenant, 0.1)
            await asyncio.sleep(0.2)
            # a worker claims the due row and dies before ending the snooze
            current = now()
            taken = await claim(
                db(),
                BellSnooze._meta.db_table,
                due_column="due_at",
                now=current,
                lease_until=current + timedelta(seconds=0.5),
                limit=100,
                where="instance_id = {}",
                where_values=(tenant.id,),
            )
            assert len(taken) == 1
        # then the running workers take it over when the lease ends
        event = await asyncio.wait_for(bell.queue.get(), 5)
        while event["type"] != "NotificationsReturned":  # the publishing's and the snooze's own
            event = await asyncio.wait_for(bell.queue.get(), 5)
    assert returned([event]) == [item] and event["unreadCount"] == 1
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 1}


async def test_a_snooze_moved_after_the_claim_is_not_ended_early(app, tenant: Tenant) -> None:
    broker = app.state.services.broker
    async with Stopped(app):
        alice, item = await snoozed_item(tenant, 0.1)
        await asyncio.sleep(0.2)
        current = now()
        rows = await claim(
            db(),
            BellSnooze._meta.db_table,
            due_column="due_at",
            now=current,
            lease_until=current + timedelta(seconds=30),
            limit=100,
            where="instance_id = {}",
            where_values=(tenant.id,),
            returning=SNOOZE_RETURNS.returning,
        )
        # when alice snoozes it again before the worker acts on its claim
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        await alice.gql(SNOOZE, {"ids": [item], "until": later})
        operator = await Operator.get(instance_id=tenant.id, user_id="alice")
        await SNOOZE_RETURNS.fire(broker, [Due(row, operator, now()) for row in rows])
        # then it stays snoozed until the new time, its due row moved with it
        row = await Notification.get(id=int(item))
        assert row.snoozed_until == datetime.fromisoformat(later)
        due = await BellSnooze.get(notification_id=int(item))
        assert due.due_at == datetime.fromisoformat(later) and due.lease_until is None
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 0}


async def test_archived_and_snoozed_items_are_pruned_with_the_history_and_counted_right(tenant: Tenant) -> None:
    alice, snoozed = await snoozed_item(tenant, 3600)
    for i in range(3):
        await tenant.service().gql(
            PUBLISH,
            {"input": {"id": f"p{i}", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": i}}},
        )
    edges = (await alice.gql("{ notifications { edges { node { id } } } }")).data["notifications"]["edges"]
    archived, kept, old = (e["node"]["id"] for e in edges)
    await alice.gql("mutation($ids: [ID!]!) { archiveNotifications(ids: $ids) { ids } }", {"ids": [archived]})
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 2}
    # when the snoozed, the archived and one shown item are past retention
    past = now() - timedelta(days=100)
    await Notification.filter(id__in=[int(snoozed), int(archived), int(old)]).update(created_at=past)
    await prune(90)
    # then they are gone (the snooze's due row too) and only the shown one left the count

    async def pruned() -> bool:
        return await Notification.filter(instance_id=tenant.id).count() == 1

    await until(pruned)
    assert await BellSnooze.filter(instance_id=tenant.id).count() == 0
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 1}
    [edge] = (await alice.gql("{ notifications { edges { node { id } } } }")).data["notifications"]["edges"]
    assert edge["node"]["id"] == kept
