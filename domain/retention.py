"""Pruning history older than the retention period, in bulk (SPEC section 4)."""

from __future__ import annotations

from datetime import timedelta

from tortoise.timezone import now

from domain import audit
from domain.bell import visible
from domain.unread import take_from_counters
from models.bulk import placeholders
from models.db import db, transaction
from models.enums import DeliveryStatus
from models.notification import Delivery, Notification, ProcessedEvent

FINAL = (
    DeliveryStatus.SENT.value,
    DeliveryStatus.FAILED.value,
    DeliveryStatus.SKIPPED.value,
    DeliveryStatus.CANCELLED.value,
)
#: Rows deleted per statement, so a large backlog never holds one long write lock.
CHUNK = 5_000


async def prune(retention_days: int) -> int:
    """Delete notifications (their deliveries, repeats and snoozes cascade; unread items the bell
    shows come off the operators' counters in the same transaction), event ids and audit entries
    past retention. Archived and snoozed items follow the same retention as the rest of the history."""
    cutoff = now() - timedelta(days=retention_days)
    removed = 0
    while True:
        ids = [r["id"] for r in await Notification.filter(created_at__lt=cutoff).limit(CHUNK).values("id")]
        if not ids:
            break
        async with transaction():
            # Deleted first (locking the rows, as marking read does, then the counters: one lock
            # order), and the unread bell items among what was deleted leave their counters.
            removed += await _delete_counted(ids)
        if len(ids) < CHUNK:
            break
    while True:
        ids = list(await ProcessedEvent.filter(created_at__lt=cutoff).limit(CHUNK).values_list("id", flat=True))
        if not ids:
            break
        await ProcessedEvent.filter(id__in=ids).delete()
        if len(ids) < CHUNK:
            break
    # Deliveries without a notification (test sends, digests) are history of their own.
    while True:
        ids = list(
            await Delivery.filter(notification_id__isnull=True, created_at__lt=cutoff, status__in=FINAL)
            .limit(CHUNK)
            .values_list("id", flat=True)
        )
        if not ids:
            break
        await Delivery.filter(id__in=ids).delete()
        if len(ids) < CHUNK:
            break
    await audit.prune(cutoff, CHUNK)
    return removed


async def _delete_counted(ids: list[int]) -> int:
    """Delete these notifications; take the unread bell items among the rows actually deleted
    off their operators' counters. Returns how many were deleted."""
    conn = db()
    table = Notification._meta.db_table
    marks = ", ".join(placeholders(conn, 0, len(ids)))
    deleted = await conn.execute_query_dict(
        f'DELETE FROM "{table}" WHERE "id" IN ({marks}) '
        'RETURNING "operator_id", "in_bell", "read_at", "archived_at", "snoozed_until"',
        ids,
    )
    unread: dict[int, int] = {}
    for row in deleted:
        if visible(row) and row["read_at"] is None:
            unread[row["operator_id"]] = unread.get(row["operator_id"], 0) + 1
    await take_from_counters(unread)
    return len(deleted)
