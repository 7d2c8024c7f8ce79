"""The one dispatch seam: what a request hands to the delivery workers, and nothing else does.

Each function validates, writes in one transaction (the notifications, the external channels'
delivery rows, which are the durable job queue, and the call's one panel hand-off row) and, only
after the commit, hands off: the panel's live messages (bell, toast, sound) go to the broker from
here, in one hop, and the hand-off row is deleted in one statement; for external jobs the broker's
``workers`` topic is told to look now. A lost wake-up costs at most a poll interval, a lost
hand-off (the process died, the broker failed) at most ``NC_LIVE_FALLBACK_SECONDS``: then a worker
sends those messages (domain/panel.py). Resolvers never deliver and never wake the workers themselves.

    publish_events(...)  -> [Published]  SPEC §4: events in, notifications and deliveries out
    send_test(...)       -> Delivery     the Channels tab's Test: one delivery now, returned final
    retry_deliveries(...) -> [ids]       the delivery log's dead letters queued again

Errors: domain.errors.BadUserInput (a wrong event or channel: nothing written).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from tortoise.timezone import now

from core.broker import WORKERS, Broker
from core.metrics import DATABASE_ERRORS, DELIVERIES, PUBLISH_TO_DELIVERED, PUBLISHING, observe_times
from core.settings import Settings
from domain import delivery_log, panel
from domain.acknowledge import ReadMark
from domain.errors import BadUserInput
from domain.events import Event, Published, publish, validate
from domain.panel import PanelItem
from domain.policy import InstancePolicy
from domain.retract import read_messages
from domain.routing import PresenceSource
from domain.viewers import ViewerCache
from models.db import transaction
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery
from models.operator import Operator

log = logging.getLogger(__name__)

#: A test delivery is reported once it reaches one of these.
FINAL = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value})


async def publish_events(
    broker: Broker,
    settings: Settings,
    instance_id: str,
    events: list[Event],
    policy: InstancePolicy,
    viewers: ViewerCache | None = None,
    presence: PresenceSource | None = None,
    *,
    validated: bool = False,
) -> list[Published]:
    """Publish a producer's events (all or none written); after the commit, send the panel's
    messages, tell ``viewers`` about operators it created, and wake the workers if an external
    job was queued. Each phase's time goes to ``nc_publishing_seconds``. The events are validated
    before the transaction (``validated``: the caller did, domain.events.validate)."""
    if not validated:
        validate(events, settings.limits)
    started = time.perf_counter()
    async with transaction():
        began = time.perf_counter()
        batch = await publish(
            instance_id,
            events,
            settings.limits,
            policy=policy,
            reminder_minute_seconds=settings.reminder_minute_seconds,
            panel_fallback_seconds=settings.live_fallback_seconds,
            collapse_window_seconds=settings.collapse_window_seconds,
            presence=presence,
            routing_minute_seconds=settings.routing_minute_seconds,
            away_check_seconds=settings.away_recheck_seconds,
            validated=True,
        )
    committed = time.perf_counter()
    if batch.new_users and viewers is not None:
        # Their panels may have asked before they existed: "no such operator" is no longer true.
        await viewers.changed(broker, instance_id, batch.new_users)
    if batch.read:
        await announce_read(broker, instance_id, batch.read)
    if batch.panel and batch.hand_off_id is not None:
        await hand_off(broker, batch.panel.items(), batch.hand_off_id, batch.written_at)
    if batch.external_queued:
        # After the commit: the rows are the jobs, this only says "look now".
        await broker.publish(WORKERS, {})
    PUBLISHING.labels("waiting").observe(began - started)
    PUBLISHING.labels("writing").observe(committed - began)
    PUBLISHING.labels("handing_off").observe(time.perf_counter() - committed)
    return batch.results


async def hand_off(
    broker: Broker, items: list[PanelItem], hand_off_id: int, written_at: datetime | None = None
) -> None:
    """Send the panel's messages of committed notifications and delete their hand-off row. On a
    broker or database failure the row stays due for a worker (``NC_LIVE_FALLBACK_SECONDS``)."""
    try:
        await broker.publish_many(panel.messages(items))
    except Exception:
        log.exception("the panel messages of %d notifications go through the workers instead", len(items))
        return
    try:
        await panel.handed_off(hand_off_id)
    except Exception:
        DATABASE_ERRORS.inc()
        log.exception("the hand-off row of %d notifications could not be deleted (they may show twice)", len(items))
        return
    _observe(items, written_at)


async def announce_read(broker: Broker, instance_id: str, marks: list[ReadMark]) -> None:
    """After the commit: every tab of each user whose items were read hears it (the bell's
    NotificationsRead, the toasts' ToastsDismissed). At most once: a tab that missed it reads the
    bell again when it reconnects."""
    try:
        await broker.publish_many(
            [m for mark in marks for m in read_messages(instance_id, mark.user_id, mark.ids, mark.unread_count)]
        )
    except Exception:
        log.exception("the read marks of %d users were not announced", len(marks))


def _observe(items: list[PanelItem], written_at: datetime | None) -> None:
    """The deliveries counter and the publish-to-delivered histogram, as the workers record them."""
    bell = sum(item.unread_count is not None for item in items)
    banner = sum(item.banner for item in items)
    sound = sum(item.sound is not None for item in items)
    seconds = (now() - written_at).total_seconds() if written_at is not None else None
    for channel, n in ((ChannelKind.BELL, bell), (ChannelKind.BANNER, banner), (ChannelKind.SOUND, sound)):
        if n:
            DELIVERIES.labels(channel.value, "SENT").inc(n)
            if seconds is not None:
                observe_times(PUBLISH_TO_DELIVERED.labels(channel.value), seconds, n)


async def retry_deliveries(
    broker: Broker,
    settings: Settings,
    instance_id: str,
    *,
    ids: list[str] | None,
    flt: delivery_log.LogFilter | None,
    audit: Callable[[list[int]], Awaitable[None]] | None = None,
) -> list[int]:
    """Queue the instance's FAILED deliveries (by ids or by filter, at most
    ``settings.limits.deliveries_per_retry``) again with a fresh attempt count, in one transaction
    (``audit`` writes its record in it), then wake the workers. BadUserInput: nothing written."""
    async with transaction():
        queued = await delivery_log.retry(instance_id, ids=ids, flt=flt, most=settings.limits.deliveries_per_retry)
        if audit is not None:
            await audit(queued)
    if queued:
        # After the commit: the rows are the jobs, this only says "look now".
        await broker.publish(WORKERS, {})
    return queued


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
