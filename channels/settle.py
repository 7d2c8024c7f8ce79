"""Recording what a try came to: the delivery row's next state, the channel's health, the metrics.

    Sent                        -> SENT
    RetryLater, tries left      -> RETRYING, next_attempt_at = now + the provider's delay (capped at
                                   an hour) or the backoff (base * 2^(attempts-1), +/- 25 %)
    RetryLater on the last try  -> FAILED ("gave up after N attempts: ...")
    GiveUp                      -> FAILED (its reason)

Every write is fenced by ``locked_by``: only the worker holding the lease settles a job, so a try
another worker took over (its lease ran out) changes nothing. The try was counted in ``attempts``
when it was claimed.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from tortoise.timezone import now

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.http import given_up, retry_delay
from core.metrics import DELIVERIES, PUBLISH_TO_DELIVERED
from core.settings import Settings
from models.bulk import upsert
from models.db import db
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery
from models.operator import ChannelSwitch

log = logging.getLogger(__name__)

#: Channels that only reach open panels: nothing to report on the Channels tab.
LIVE_CHANNELS = frozenset({ChannelKind.BELL, ChannelKind.BANNER, ChannelKind.SOUND})


def tries_allowed(job: Job, settings: Settings) -> int:
    """A test send (no notification) gets one try; a notification's delivery ``retry_max_attempts``."""
    return 1 if job.is_test else settings.retry_max_attempts


async def settle(results: list[tuple[Job, Outcome]], owner: str, settings: Settings) -> None:
    """Record each try's outcome, for the jobs ``owner`` still holds."""
    current = now()
    await _record_channel_health(results, current)
    _observe(results, current, settings.retry_max_attempts)
    sent = [job.delivery.id for job, outcome in results if isinstance(outcome, Sent)]
    if sent:
        await Delivery.filter(id__in=sent, locked_by=owner).update(
            status=DeliveryStatus.SENT.value,
            last_error=None,
            lease_until=None,
            locked_by=None,
            updated_at=current,
        )
    for job, outcome in results:
        if isinstance(outcome, Sent):
            continue
        attempts = job.delivery.attempts
        if isinstance(outcome, RetryLater) and not job.last_try(settings.retry_max_attempts):
            # Every channel's delay passes here: capped, and an unusable one is taken as absent.
            after = retry_delay(outcome.after_seconds)
            delay = after if after is not None else backoff(settings.retry_base_seconds, attempts)
            await Delivery.filter(id=job.delivery.id, locked_by=owner).update(
                status=DeliveryStatus.RETRYING.value,
                last_error=outcome.reason[:1000],
                next_attempt_at=current + timedelta(seconds=delay),
                lease_until=None,
                locked_by=None,
                updated_at=current,
            )
        else:
            reason = outcome.reason if isinstance(outcome, GiveUp) else given_up(outcome.reason, attempts)
            await Delivery.filter(id=job.delivery.id, locked_by=owner).update(
                status=DeliveryStatus.FAILED.value,
                last_error=reason[:1000],
                lease_until=None,
                locked_by=None,
                updated_at=current,
            )
    await _settle_members(results, current, settings.retry_max_attempts)


async def _settle_members(results: list[tuple[Job, Outcome]], current: datetime, max_attempts: int) -> None:
    """A digest's members take its outcome once it is final (SENT or FAILED); while it is retried
    they wait with it. Members read meanwhile stay CANCELLED."""
    for job, outcome in results:
        if not job.members:
            continue
        if isinstance(outcome, Sent):
            status, reason = DeliveryStatus.SENT, None
        elif isinstance(outcome, RetryLater) and not job.last_try(max_attempts):
            continue
        else:
            status, reason = DeliveryStatus.FAILED, f"its digest (delivery {job.delivery.id}) failed: {outcome.reason}"
        await Delivery.filter(
            id__in=list(job.members),
            digest_id=job.delivery.id,
            status__in=(DeliveryStatus.QUEUED.value, DeliveryStatus.HELD.value),
        ).update(status=status.value, last_error=reason[:1000] if reason else None, updated_at=current)


async def fail_spent(jobs: list[Job], owner: str, settings: Settings) -> None:
    """Jobs whose last allowed try was cut short (its worker died before settling it): the claim
    counted one try too many, so they fail without another send."""
    current = now()
    for job in jobs:
        allowed = tries_allowed(job, settings)
        DELIVERIES.labels(job.channel.value, "FAILED").inc()
        await Delivery.filter(id=job.delivery.id, locked_by=owner).update(
            status=DeliveryStatus.FAILED.value,
            attempts=allowed,
            last_error=given_up("the last one was cut short before its outcome was known", allowed),
            lease_until=None,
            locked_by=None,
            updated_at=current,
        )
    cut_short = GiveUp("its last try was cut short before its outcome was known")
    await _settle_members([(job, cut_short) for job in jobs], current, settings.retry_max_attempts)


def backoff(base_seconds: float, attempts: int) -> float:
    """Exponential backoff with jitter: base * 2^(attempts-1), +/- 25 %, capped at an hour."""
    delay = min(3600.0, base_seconds * 2.0 ** (attempts - 1))
    return delay * random.uniform(0.75, 1.25)


def unexpected(job: Job, exc: Exception) -> Outcome:
    """A channel raised instead of returning an outcome: logged with its traceback, tried again."""
    log.exception("delivery %s through %s failed unexpectedly", job.delivery.id, job.channel.value, exc_info=exc)
    return RetryLater(f"internal error: {type(exc).__name__}")


async def _record_channel_health(results: list[tuple[Job, Outcome]], current: datetime) -> None:
    """The Channels tab shows ERROR with the last failure until a send through it succeeds."""
    # One row per (operator, channel), the batch's last outcome: PostgreSQL refuses an upsert
    # that would touch the same row twice.
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for job, outcome in results:
        if job.channel in LIVE_CHANNELS or isinstance(outcome, RetryLater) and not job.is_test:
            continue
        latest[(job.operator.id, job.channel.value)] = {
            "operator_id": job.operator.id,
            "channel": job.channel.value,
            "enabled": True,
            "last_error": None if isinstance(outcome, Sent) else getattr(outcome, "reason", "")[:1000],
            "last_test_at": current if job.is_test else None,
        }
    rows = list(latest.values())
    tests = [r for r in rows if r["last_test_at"] is not None]
    others = [r for r in rows if r["last_test_at"] is None]
    if tests:
        await upsert(
            db(), ChannelSwitch, tests, conflict=["operator_id", "channel"], update=["last_error", "last_test_at"]
        )
    if others:
        await upsert(db(), ChannelSwitch, others, conflict=["operator_id", "channel"], update=["last_error"])


def _observe(results: list[tuple[Job, Outcome]], current: datetime, max_attempts: int) -> None:
    for job, outcome in results:
        channel = job.channel.value
        if isinstance(outcome, Sent):
            DELIVERIES.labels(channel, "SENT").inc()
            if job.notification is not None:
                PUBLISH_TO_DELIVERED.labels(channel).observe((current - job.notification.created_at).total_seconds())
        elif isinstance(outcome, RetryLater) and not job.last_try(max_attempts):
            DELIVERIES.labels(channel, "RETRYING").inc()
        else:
            DELIVERIES.labels(channel, "FAILED").inc()
