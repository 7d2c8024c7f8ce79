"""Durable jobs and schedules: leases taken over, banner repeats and reminders across a restart,
retention pruning."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from tortoise.timezone import now

from channels.panel import PanelChannels
from channels.runtime import Runtime
from channels.schedules import reminders, run_due
from core.broker import user_topic
from domain import live
from domain.retention import prune
from models.claim import claim
from models.db import db
from models.notification import Delivery, Notification, OperatorPresence, PanelHandOff, ToastRepeat
from tests.conftest import Tenant
from tests.polling import until

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


def ticket(event_id: str, recipients: list[str]) -> dict:
    return {"id": event_id, "type": "ticket_created", "recipients": recipients, "data": {"ticketNumber": 1}}


async def wait_for(predicate, seconds: float = 5.0) -> None:
    await until(predicate, seconds=seconds)


async def claim_hand_offs(tenant: Tenant, *, lease_seconds: float) -> list[dict[str, Any]]:
    """What a worker's poll of the tenant's due hand-off rows claims now (leased for ``lease_seconds``)."""
    current = now()
    return await claim(
        db(),
        PanelHandOff._meta.db_table,
        due_column="due_at",
        now=current,
        lease_until=current + timedelta(seconds=lease_seconds),
        limit=100,
        where="instance_id = {}",
        where_values=(tenant.id,),
    )


class Stopped:
    """Stops the app's workers for a test (as if the process were down) and restarts them after."""

    def __init__(self, app) -> None:
        self.runtime = app.state.runtime

    async def __aenter__(self) -> None:
        await self.runtime.stop()

    async def __aexit__(self, *exc: object) -> None:
        await self.runtime.start()


async def test_a_dead_workers_hand_off_is_taken_again_and_makes_no_second_bell_item(app, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    broker = app.state.services.broker
    async with broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell:
        async with Stopped(app):
            await tenant.service().gql(PUBLISH, {"input": ticket("lease", ["alice"])})
            first = await asyncio.wait_for(bell.queue.get(), 5)
            # as if the publisher had died between its commit and its hand-off: the row is due ...
            await PanelHandOff.create(instance_id=tenant.id, notification_ids=first["notification"]["id"], due_at=now())
            # ... and a worker claims it and dies before sending: its lease runs out
            assert len(await claim_hand_offs(tenant, lease_seconds=0.3)) == 1
        # the running workers take it over once the lease expired, and send the same bell item
        again = await asyncio.wait_for(bell.queue.get(), 5)
    assert again["notification"] == first["notification"] and again["unreadCount"] == 1

    async def settled() -> bool:
        return await PanelHandOff.filter(instance_id=tenant.id).count() == 0

    await wait_for(settled)
    assert await Notification.filter(instance_id=tenant.id).count() == 1
    assert (await alice.gql("{ unreadCount }")).data == {"unreadCount": 1}


async def test_banner_repeats_survive_a_restart(app, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await alice.gql(
        "mutation { updateChannelSettings(input: {banner: {repeatCount: 1, repeatIntervalSeconds: 1}}) { banner { repeatCount } } }"
    )
    services = app.state.services
    async with Stopped(app), services.broker.subscribe(user_topic(tenant.id, "alice", live.TOASTS)) as toasts:
        await tenant.service().gql(PUBLISH, {"input": ticket("restart", ["alice"])})
        first_life = Runtime(services.settings, services.broker, [PanelChannels(services.broker)])
        await first_life.start()
        first = await asyncio.wait_for(toasts.queue.get(), 5)
        await first_life.stop()  # the process goes down before the repeat is due
        assert first["repeat"] == 0
        assert await ToastRepeat.filter(instance_id=tenant.id).count() == 1
        second_life = Runtime(services.settings, services.broker, [PanelChannels(services.broker)])
        await second_life.start()
        try:
            repeat = await asyncio.wait_for(toasts.queue.get(), 5)
        finally:
            await second_life.stop()
    assert repeat["repeat"] == 1 and repeat["notification"]["id"] == first["notification"]["id"]
    assert await ToastRepeat.filter(instance_id=tenant.id).count() == 0


async def test_a_due_reminder_survives_a_restart(app, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await alice.gql(
        "mutation { updateReminderSettings(input: {notReadyAfterMinutes: 1, notReadyRepeatMinutes: 0}) { notReadyAfterMinutes } }"
    )
    services = app.state.services
    async with Stopped(app), services.broker.subscribe(user_topic(tenant.id, "alice", live.REMINDERS)) as reminders:
        await tenant.service().gql(
            PUBLISH,
            {
                "input": {
                    "id": "nr",
                    "type": "operator_status_changed",
                    "recipients": ["alice"],
                    "data": {"status": "break"},
                }
            },
        )
        presence = await OperatorPresence.get(instance_id=tenant.id)
        assert presence.next_reminder_at is not None and presence.status == "break"
        await asyncio.sleep(0.3)  # due while no process runs
        restarted = Runtime(services.settings, services.broker, [PanelChannels(services.broker)])
        await restarted.start()
        try:
            reminder = await asyncio.wait_for(reminders.queue.get(), 5)
            await asyncio.sleep(0.5)
            assert reminders.queue.empty()  # notReadyRepeatMinutes 0: once
        finally:
            await restarted.stop()
    assert reminder["kind"] == "not_ready"


async def test_retention_prunes_old_history_in_bulk(tenant: Tenant) -> None:
    await tenant.service().gql(PUBLISH, {"input": ticket("old-1", ["alice"])})
    await tenant.service().gql(PUBLISH, {"input": ticket("old-2", ["alice"])})
    await tenant.service().gql(PUBLISH, {"input": ticket("new", ["alice"])})
    old = now() - timedelta(days=91)
    await Notification.filter(instance_id=tenant.id, event_id__in=["old-1", "old-2"]).update(created_at=old)
    for n in await Notification.filter(instance_id=tenant.id):  # an external job of each
        await Delivery.create(
            instance_id=tenant.id, operator_id=n.operator_id, notification_id=n.id, channel="CUSTOM", status="SENT"
        )
    # when
    await prune(90)
    # then
    left = await Notification.filter(instance_id=tenant.id).values_list("event_id", flat=True)
    assert list(left) == ["new"]
    assert await Delivery.filter(instance_id=tenant.id).count() == 1  # the old ones' rows went with them


async def test_two_workers_never_fire_the_same_reminder_twice(app, tenant: Tenant) -> None:
    # given ten not-ready operators whose first reminder is due, and two runtimes racing for them
    services = app.state.services
    users = [f"op{i}" for i in range(10)]
    for user in users:
        await tenant.operator(user).gql(
            "mutation { updateReminderSettings(input: {notReadyAfterMinutes: 1, notReadyRepeatMinutes: 0}) { notReadyAfterMinutes } }"
        )
    received: list[str] = []
    async with Stopped(app):
        await tenant.service().gql(
            PUBLISH,
            {
                "input": {
                    "id": "all-away",
                    "type": "operator_status_changed",
                    "recipients": users,
                    "data": {"status": "away"},
                }
            },
        )
        await asyncio.sleep(0.3)
        schedule = reminders(services.settings.reminder_minute_seconds)
        listeners = [services.broker.subscribe(user_topic(tenant.id, u, live.REMINDERS)) for u in users]
        subscriptions = [await listener.__aenter__() for listener in listeners]
        try:
            # when both fire due reminders at the same moment
            await asyncio.gather(
                *(
                    run_due(schedule, services.broker, lease_seconds=60, limit=100)  # two schedulers at once
                    for _ in range(2)
                )
            )
            await asyncio.sleep(0.2)
        finally:
            for user, sub, listener in zip(users, subscriptions, listeners, strict=True):
                while not sub.queue.empty():
                    received.append(user)
                    sub.queue.get_nowait()
                await listener.__aexit__(None, None, None)
    # then each operator got exactly one reminder
    assert sorted(received) == sorted(users)


async def test_a_poll_that_finds_nothing_due_does_not_wait_for_a_transaction(app, tenant: Tenant) -> None:
    # On SQLite the service's connection runs one transaction at a time: a worker's poll used to
    # queue behind a publishing transaction, and then hold up the next one. Now a read beside it
    # finds nothing due and the poll returns at once; a due row is still claimed (after it).
    from models.db import is_postgres, transaction

    def poll() -> Any:
        return claim_hand_offs(tenant, lease_seconds=30)

    await PanelHandOff.create(instance_id=tenant.id, notification_ids="1", due_at=now() + timedelta(hours=1))
    entered, leave = asyncio.Event(), asyncio.Event()

    async def long_transaction() -> None:
        async with transaction():
            await PanelHandOff.filter(instance_id=tenant.id).update(lease_until=None)
            entered.set()
            await leave.wait()

    holder = asyncio.create_task(long_transaction())
    try:
        await asyncio.wait_for(entered.wait(), 5)
        if is_postgres():
            assert await asyncio.wait_for(poll(), 5) == []  # a connection of the pool of its own
        else:
            assert await asyncio.wait_for(poll(), 2) == []  # before: waited for the transaction
    finally:
        leave.set()
        await holder
    await PanelHandOff.filter(instance_id=tenant.id).update(due_at=now() - timedelta(seconds=1))
    assert len(await poll()) == 1  # due now: claimed, once
    assert await poll() == []
    await PanelHandOff.filter(instance_id=tenant.id).delete()


class BrokerDown:
    """A broker whose publishing fails, as Redis's does while it is down or frozen."""

    def listens(self, topic: str) -> bool:
        return True

    async def publish_many(self, messages: list[Any]) -> None:
        raise ConnectionError("Redis is down")


async def test_hand_offs_a_failed_broker_did_not_send_are_due_again_at_the_next_poll(app, tenant: Tenant) -> None:
    from channels.schedules import PANEL_HAND_OFFS

    broker = app.state.services.broker
    async with broker.subscribe(user_topic(tenant.id, "alice", live.BELL)) as bell:
        async with Stopped(app):
            await tenant.service().gql(PUBLISH, {"input": ticket("down-1", ["alice"])})
            await tenant.service().gql(PUBLISH, {"input": ticket("down-2", ["alice"])})
            sent = [(await asyncio.wait_for(bell.queue.get(), 5))["notification"]["id"] for _ in range(2)]
            # given two publishers that died before their hand-offs: their rows are due
            for notification_id in sent:
                await PanelHandOff.create(instance_id=tenant.id, notification_ids=notification_id, due_at=now())
            # when a worker claims them (for a 60 s lease) and its broker fails
            try:
                await run_due(PANEL_HAND_OFFS, BrokerDown(), lease_seconds=60, limit=100)  # type: ignore[arg-type]
            except ConnectionError:
                pass
            else:
                raise AssertionError("the broker's failure was not raised to the worker's loop")
            # then the rows are due again now, not when the lease ends: the next poll sends both
            assert await run_due(PANEL_HAND_OFFS, broker, lease_seconds=60, limit=100) == 2
            again = [(await asyncio.wait_for(bell.queue.get(), 5))["notification"]["id"] for _ in range(2)]
    assert again == sent
    assert await PanelHandOff.filter(instance_id=tenant.id).count() == 0


class FailsOnSecond:
    """The real broker for one publish, then failing (Redis going down part-way through a batch)."""

    def __init__(self, broker: Any) -> None:
        self.broker, self.published = broker, 0

    async def publish(self, topic: str, message: dict[str, Any]) -> None:
        self.published += 1
        if self.published > 1:
            raise ConnectionError("Redis is down")
        await self.broker.publish(topic, message)


async def test_banner_repeats_shown_before_a_broker_failed_are_not_shown_again(app, tenant: Tenant) -> None:
    from channels.schedules import TOAST_REPEATS

    await tenant.operator("alice").gql(
        "mutation { updateChannelSettings(input: {banner: {repeatCount: 1, repeatIntervalSeconds: 1}}) { banner { repeatCount } } }"
    )
    broker = app.state.services.broker
    async with Stopped(app), broker.subscribe(user_topic(tenant.id, "alice", live.TOASTS)) as toasts:
        await tenant.service().gql(PUBLISH, {"input": ticket("repeat-1", ["alice"])})
        await tenant.service().gql(PUBLISH, {"input": ticket("repeat-2", ["alice"])})
        for _ in range(2):
            await asyncio.wait_for(toasts.queue.get(), 5)  # (the first showings)
        # given both banners' last repeat due, when the broker fails after showing the first one
        await ToastRepeat.filter(instance_id=tenant.id).update(due_at=now())
        try:
            await run_due(TOAST_REPEATS, FailsOnSecond(broker), lease_seconds=60, limit=100)  # type: ignore[arg-type]
        except ConnectionError:
            pass
        # then the next poll shows the second one only: each banner's last repeat is shown once
        await run_due(TOAST_REPEATS, broker, lease_seconds=60, limit=100)
        shown = []
        while not toasts.queue.empty():
            toast = toasts.queue.get_nowait()
            shown.append((toast["notification"]["id"], toast["repeat"]))
    assert len(shown) == 2 and len(set(shown)) == 2, shown
    assert await ToastRepeat.filter(instance_id=tenant.id).count() == 0
