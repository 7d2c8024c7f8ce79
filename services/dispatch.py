"""The one dispatch seam: what a request hands to the delivery workers, and nothing else does.

Each function validates, writes in one transaction (the notifications and their delivery rows,
which are the durable job queue) and, only after the commit, tells the broker's ``workers`` topic
to look now. The broker only wakes: a lost wake-up costs at most a poll interval, never a job.
Resolvers never deliver and never wake the workers themselves.

    publish_events(...)  -> [Published]  SPEC §4: events in, notifications and deliveries out
    send_test(...)       -> Delivery     the Channels tab's Test: one delivery now, returned final

Errors: domain.errors.BadUserInput (a wrong event or channel: nothing written).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tortoise.timezone import now

from core.broker import WORKERS, Broker
from core.settings import Settings
from domain.errors import BadUserInput
from domain.events import Event, Published, publish
from domain.policy import InstancePolicy
from models.db import transaction
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery
from models.operator import Operator

#: A test delivery is reported once it reaches one of these.
FINAL = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value})


async def publish_events(
    broker: Broker, settings: Settings, instance_id: str, events: list[Event], policy: InstancePolicy
) -> list[Published]:
    """Publish a producer's events (all or none written), then wake the workers if any job was queued."""
    async with transaction():
        results = await publish(
            instance_id,
            events,
            settings.limits,
            policy=policy,
            reminder_minute_seconds=settings.reminder_minute_seconds,
        )
    if any(r.deliveries_queued for r in results):
        # After the commit: the rows are the jobs, this only says "look now".
        await broker.publish(WORKERS, {})
    return results


async def send_test(
    broker: Broker,
    settings: Settings,
    policy: InstancePolicy,
    channel: ChannelKind,
    recipient: Callable[[], Awaitable[Operator]],
) -> Delivery:
    """Queue one test delivery to ``recipient()`` (the viewer's row, saved in the same transaction;
    no notification: never retried), wake the workers, and return the row once a worker settled it,
    or as it stands after ``settings.test_send_timeout_seconds``. A channel that cannot be tested
    raises BadUserInput before anything is written."""
    if channel not in policy.offered:
        raise BadUserInput(f"{channel.value} is not offered on this instance: nothing to test", field="channel")
    if channel is ChannelKind.BELL:
        raise BadUserInput("The bell needs no test: it shows in every open panel", field="channel")
    async with transaction():
        operator = await recipient()
        queued = await Delivery.create(
            instance_id=operator.instance_id,
            operator_id=operator.id,
            notification_id=None,
            channel=channel.value,
            status=DeliveryStatus.QUEUED.value,
            attempts=0,
            next_attempt_at=now(),
        )
    await broker.publish(WORKERS, {})
    return await _final(queued.id, settings.test_send_timeout_seconds)


async def _final(delivery_id: int, timeout_seconds: float, poll_seconds: float = 0.05) -> Delivery:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while True:
        row = await Delivery.get(id=delivery_id)
        if row.status in FINAL or loop.time() >= deadline:
            return row
        await asyncio.sleep(poll_seconds)
