"""Operator status from operator_status_changed events, and the not-ready reminder (SPEC 6).

The next reminder of each not-ready operator is a stored time (OperatorPresence.next_reminder_at);
``channels.schedules.reminders`` fires it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from tortoise.timezone import now

from models.bulk import upsert
from models.db import db
from models.notification import OperatorPresence

#: Statuses that mean "not ready to receive new chats". "offline" ends reminders: the operator
#: is not in the panel to see them. Any other status counts as ready.
NOT_READY = frozenset({"not_ready", "away", "break", "pause", "busy", "dnd", "lunch", "meeting"})
OFFLINE = frozenset({"offline", "logged_out"})

REMINDER_TEXT = {
    "en": "You have been not ready for {minutes} min. Change your status to receive new chats.",
    "uk": "Ви в статусі «не готовий» уже {minutes} хв. Змініть статус, щоб отримувати нові чати.",
}


class Reminded(Protocol):
    """What the reminder rule reads of an operator (an Operator row or a publishing Recipient)."""

    @property
    def id(self) -> int: ...
    @property
    def reminder_not_ready_enabled(self) -> bool: ...
    @property
    def reminder_not_ready_after_minutes(self) -> int: ...


def status_of(data: dict[str, Any]) -> str:
    raw = data.get("status") if isinstance(data.get("status"), str) else data.get("toStatus")
    return str(raw or "").strip().lower().replace(" ", "_").replace("-", "_")


async def record_status(
    instance_id: str, operators: Sequence[Reminded], data: dict[str, Any], at: datetime, minute_seconds: float
) -> None:
    """Two statements for any number of operators: read their presence, write it back."""
    status = status_of(data) or "unknown"
    at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    existing = {p.operator_id: p for p in await OperatorPresence.filter(operator_id__in=[o.id for o in operators])}
    rows = []
    for operator in operators:
        before = existing.get(operator.id)
        since: datetime | None = None
        next_at: datetime | None = None
        sent = 0
        if status in NOT_READY:
            if before is not None and before.not_ready_since is not None:
                # Still not ready (another not-ready status): the clock and schedule go on.
                since, next_at, sent = before.not_ready_since, before.next_reminder_at, before.reminders_sent
            else:
                since = at
                if operator.reminder_not_ready_enabled:
                    next_at = at + timedelta(seconds=operator.reminder_not_ready_after_minutes * minute_seconds)
        rows.append(
            {
                "instance_id": instance_id,
                "operator_id": operator.id,
                "status": status[:32],
                "not_ready_since": since,
                "next_reminder_at": next_at,
                "reminders_sent": sent,
                "lease_until": None,
                "updated_at": now(),
            }
        )
    await upsert(
        db(),
        OperatorPresence,
        rows,
        conflict=["operator_id"],
        update=["status", "not_ready_since", "next_reminder_at", "reminders_sent", "lease_until", "updated_at"],
    )
