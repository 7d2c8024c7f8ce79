"""Retention racing a mark-read on the same operator (PostgreSQL: concurrent transactions): the unread
counter stays equal to the rows, and neither deadlocks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from tortoise.timezone import now

import domain.retention
from domain.retention import prune
from models.notification import Notification
from tests.conftest import Tenant

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
pytestmark = pytest.mark.postgres_only  # concurrent transactions: run in the PostgreSQL pass


async def test_marking_read_while_retention_prunes_the_same_item_counts_it_once(
    app, tenant: Tenant, monkeypatch
) -> None:
    # given alice with two unread bell items, one past retention
    alice = tenant.operator("alice")
    for i in (1, 2):
        await tenant.service().gql(
            PUBLISH, {"input": {"id": f"t{i}", "type": "ticket_created", "recipients": ["alice"], "data": {}}}
        )
    old, new = await Notification.filter(instance_id=tenant.id).order_by("id").values_list("id", flat=True)
    await Notification.filter(id=old).update(created_at=now() - timedelta(days=400))
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 2}

    # when retention has deleted the old item (not yet committed), and alice marks it read just then
    counted, go = asyncio.Event(), asyncio.Event()
    original = domain.retention.take_from_counters

    async def take_from_counters(taken: dict[int, int]) -> None:
        counted.set()
        await go.wait()
        await original(taken)

    monkeypatch.setattr(domain.retention, "take_from_counters", take_from_counters)
    pruning = asyncio.create_task(prune(retention_days=90))
    await asyncio.wait_for(counted.wait(), 10)
    marking = asyncio.create_task(
        alice.gql("mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { unreadCount } }", {"ids": [str(old)]})
    )
    await asyncio.sleep(0.3)  # the mark waits for the deleted row's lock
    go.set()
    await pruning
    marked = await marking
    assert not marked.errors, marked.errors

    # then her count is the one unread item she still has
    rows = await Notification.filter(instance_id=tenant.id, read_at__isnull=True, in_bell=True).count()
    shown = (await alice.gql("{ unreadCount }")).data["unreadCount"]
    assert (shown, rows) == (1, 1), f"unreadCount {shown}, unread rows {rows}"


async def test_marking_all_read_while_retention_prunes_does_not_deadlock(app, tenant: Tenant, monkeypatch) -> None:
    # given alice with an unread bell item past retention
    alice = tenant.operator("alice")
    await tenant.service().gql(
        PUBLISH, {"input": {"id": "t1", "type": "ticket_created", "recipients": ["alice"], "data": {}}}
    )
    await Notification.filter(instance_id=tenant.id).update(created_at=now() - timedelta(days=400))

    # when retention has deleted it and taken it off her counter (locks: the row, then
    # nc_bell_unread) and, before it commits, alice marks all read (the same locks, in the same order)
    taken, go = asyncio.Event(), asyncio.Event()
    original = domain.retention.take_from_counters

    async def take_from_counters(counters: dict[int, int]) -> None:
        await original(counters)
        taken.set()
        await go.wait()

    monkeypatch.setattr(domain.retention, "take_from_counters", take_from_counters)
    pruning = asyncio.create_task(prune(retention_days=90))
    await asyncio.wait_for(taken.wait(), 10)
    marking = asyncio.create_task(alice.gql("mutation { markAllNotificationsRead { ids unreadCount } }"))
    await asyncio.sleep(0.5)  # the mark waits for retention
    go.set()
    outcomes = await asyncio.gather(pruning, marking, return_exceptions=True)

    # then both finish: the mark answers, retention prunes
    pruned, marked = outcomes
    assert not isinstance(pruned, BaseException), f"prune failed: {pruned!r}"
    assert not marked.errors, f"markAllNotificationsRead failed: {marked.errors}"
