"""Pruning history older than the retention period, in bulk (SPEC section 4)."""

from __future__ import annotations

from datetime import timedelta

from tortoise.functions import Count
from tortoise.timezone import now

from domain.bell import take_unread
from models.db import transaction
from models.notification import Notification, ProcessedEvent

#: Rows deleted per statement, so a large backlog never holds one long write lock.
CHUNK = 5_000


async def prune(retention_days: int) -> int:
    """Delete notifications (their deliveries and repeats cascade; unread bell items come off the
    operators' counters in the same transaction) and event ids past retention."""
    cutoff = now() - timedelta(days=retention_days)
    removed = 0
    while True:
        ids = list(await Notification.filter(created_at__lt=cutoff).limit(CHUNK).values_list("id", flat=True))
        if not ids:
            break
        async with transaction():
            # Unread bell items leave their operators' counters with them.
            unread = (
                await Notification.filter(id__in=ids, in_bell=True, read_at__isnull=True)
                .group_by("operator_id")
                .annotate(n=Count("id"))
                .values_list("operator_id", "n")
            )
            for operator_id, n in unread:
                await take_unread(operator_id, n)
            removed += await Notification.filter(id__in=ids).delete()
        if len(ids) < CHUNK:
            break
    while True:
        ids = list(await ProcessedEvent.filter(created_at__lt=cutoff).limit(CHUNK).values_list("id", flat=True))
        if not ids:
            break
        await ProcessedEvent.filter(id__in=ids).delete()
        if len(ids) < CHUNK:
            break
    return removed
