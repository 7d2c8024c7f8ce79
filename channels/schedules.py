"""Schedulers of stored due times: one shape for every "claim due rows, load, act, settle" loop.

A schedule names its table, its due column and what it needs of each claimed row; ``run_due``
claims due rows with a lease (``models.claim``: two workers never take the same row, a dead
worker's rows are taken again when the lease ends), loads the operators the rows name in one
query, and hands each row to the schedule's ``fire``, which publishes and says how to settle it.
A restart loses no due row; what a schedule publishes is a live message (a repeat after a crash
shows a banner or a reminder twice, never loses one).

    TOAST_REPEATS   nc_toast_repeat.due_at              a still-unread banner shown again
    PANEL_HAND_OFFS nc_panel_hand_off.due_at            panel messages a publisher did not send
    SNOOZE_RETURNS  nc_bell_snooze.due_at               a snoozed bell item back, unread, with a banner
    REMINDERS       nc_operator_presence.next_reminder_at   the not-ready reminder (SPEC §6)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.models import Model
from tortoise.timezone import now

from channels.panel import melody_for, schedule_repeat
from core.broker import Broker, user_topic
from domain import inbox, live, panel
from domain.announcing import announce_in_order, in_turn
from domain.presence import REMINDER_TEXT
from models.catalog import text
from models.claim import claim
from models.db import db, transaction
from models.enums import ChannelKind
from models.notification import BellSnooze, Notification, OperatorPresence, PanelHandOff, ToastRepeat
from models.operator import Operator


@dataclass(frozen=True)
class Due:
    """One claimed row with what it names: its operator (None when deleted meanwhile)."""

    row: dict[str, Any]
    operator: Operator | None
    at: datetime


@dataclass(frozen=True)
class Schedule:
    """What a scheduler claims; ``fire`` acts on the claimed rows and settles them."""

    name: str
    model: type[Model]
    due_column: str
    returning: str
    fire: Callable[[Broker, list[Due]], Awaitable[None]]
    where: str = ""


async def run_due(schedule: Schedule, broker: Broker, *, lease_seconds: float, limit: int) -> int:
    """Claim up to ``limit`` due rows of ``schedule`` and fire them; returns how many were claimed."""
    current = now()
    lease_until = current + timedelta(seconds=lease_seconds)
    claimed = await claim(
        db(),
        schedule.model._meta.db_table,
        due_column=schedule.due_column,
        now=current,
        lease_until=lease_until,
        limit=limit,
        where=schedule.where,
        returning=schedule.returning,
    )
    if not claimed:
        return 0
    try:
        named = {row["operator_id"] for row in claimed if "operator_id" in row}
        operators = {o.id: o for o in await Operator.filter(id__in=named)} if named else {}
        await schedule.fire(broker, [Due(row, operators.get(row.get("operator_id", 0)), current) for row in claimed])
    except Exception:
        # The rows it did not get to (a broker that failed: Redis down for a moment) are taken
        # again at the next poll, not when their lease ends (a fallback ~60 s late); each fire
        # settles the rows it handled as it goes (gone, or due at the time it gave them).
        await schedule.model.filter(id__in=[row["id"] for row in claimed], lease_until=lease_until).update(
            lease_until=None
        )
        raise
    return len(claimed)


# -- banner repeats ---------------------------------------------------------------------------
async def _fire_toast_repeats(broker: Broker, due: list[Due]) -> None:
    """Show again the banners that are due; reading a notification removed its row already."""
    notifications = {n.id: n for n in await Notification.filter(id__in={d.row["notification_id"] for d in due})}
    done: list[int] = []
    try:
        for d in due:
            notification, operator, repeat = notifications.get(d.row["notification_id"]), d.operator, d.row["repeat"]
            if notification is None or operator is None or notification.read_at is not None:
                done.append(d.row["id"])
                continue
            sound = (
                await melody_for(operator, notification) if ChannelKind.SOUND.value in notification.channels else None
            )
            await broker.publish(
                user_topic(operator.instance_id, operator.user_id, live.TOASTS),
                live.toast(
                    live.notification_payload(notification),
                    duration_seconds=operator.banner_duration_seconds,
                    sound=sound,
                    repeat=repeat,
                ),
            )
            if repeat < operator.banner_repeat_count:
                await schedule_repeat(operator, notification, repeat=repeat + 1, at=d.at)
            else:
                done.append(d.row["id"])
    finally:
        # (also when the broker failed part-way: the banners shown are not shown again at the next poll)
        if done:
            await ToastRepeat.filter(id__in=done).delete()


TOAST_REPEATS = Schedule(
    name="toast repeats",
    model=ToastRepeat,
    due_column="due_at",
    returning="id, notification_id, operator_id, repeat",
    fire=_fire_toast_repeats,
)


# -- panel hand-offs ----------------------------------------------------------------------------
async def _fire_panel_hand_offs(broker: Broker, due: list[Due]) -> None:
    """Send the panel messages of publishing calls whose publisher did not (it died, or its broker
    failed), rebuilt from the stored notifications, then drop the rows. A publisher that was only
    slow may have sent them too: a bell subscription skips an item it already sent, a toast shows twice.

    Each row takes its place in its instance's chain (domain/announcing.py) and reads the unread
    counts only when the messages of the calls this process committed before have gone out (at
    most ``ANNOUNCE_WAIT_SECONDS`` later): counts read first and sent after a newer call's went
    out stepped the badge back (found after a crash under load, for every operator of the call)."""
    for d in due:
        async with in_turn(d.row["instance_id"], ANNOUNCE_WAIT_SECONDS):
            items = await panel.stored_items(panel.listed(d.row["notification_ids"]))
            if items:
                await broker.publish_many(panel.messages(items, broker.listens))
        await panel.handed_off(d.row["id"])


PANEL_HAND_OFFS = Schedule(
    name="panel hand-offs",
    model=PanelHandOff,
    due_column="due_at",
    returning="id, instance_id, notification_ids",
    fire=_fire_panel_hand_offs,
)


# -- snooze returns -----------------------------------------------------------------------------
#: How long a snooze's return waits at most for the panel messages committed before it (as a bell
#: change does: NC_LIVE_FALLBACK_SECONDS' default, after which a worker sends those anyway).
ANNOUNCE_WAIT_SECONDS = 5.0


async def _fire_snooze_returns(broker: Broker, due: list[Due]) -> None:
    """Bring back the snoozed items that are due: unread in the bell again (the counter raised and
    the due rows deleted in one transaction, so a second worker or a retry finds nothing to do),
    then every open tab hears it (NotificationsReturned) and a banner shows each one, repeated
    while unread as the operator saved. A crash between the commit and the messages loses only
    the messages: the item is back, and the next page read shows it."""
    operators = {d.operator.id: d.operator for d in due if d.operator is not None}
    async with transaction():
        returned = await inbox.return_snoozed([d.row for d in due], due[0].at)
    # By instance, each after the publishing calls' messages committed before (domain/announcing.py)
    by_instance: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for back in returned:
        operator = operators.get(back.operator_id)
        if operator is None:
            continue
        payloads = [live.notification_payload(n) for n in back.notifications]
        messages = [
            (
                user_topic(operator.instance_id, operator.user_id, live.BELL),
                live.bell_restored("NotificationsReturned", payloads, back.unread_count),
            )
        ]
        for notification, payload in zip(back.notifications, payloads, strict=True):
            sound = (
                await melody_for(operator, notification) if ChannelKind.SOUND.value in notification.channels else None
            )
            toast = live.toast(payload, duration_seconds=operator.banner_duration_seconds, sound=sound, repeat=0)
            messages.append((user_topic(operator.instance_id, operator.user_id, live.TOASTS), toast))
            if operator.banner_repeat_count > 0:
                await schedule_repeat(operator, notification, repeat=1, at=due[0].at)
        by_instance.setdefault(operator.instance_id, []).extend(messages)
    for instance_id, messages in by_instance.items():
        await announce_in_order(broker, instance_id, messages, ANNOUNCE_WAIT_SECONDS)


SNOOZE_RETURNS = Schedule(
    name="snooze returns",
    model=BellSnooze,
    due_column="due_at",
    returning="id, notification_id, operator_id",
    fire=_fire_snooze_returns,
)


# -- not-ready reminders ------------------------------------------------------------------------
def reminders(minute_seconds: float) -> Schedule:
    """The not-ready reminder, with ``minute_seconds`` seconds to a minute (shorter in tests)."""

    async def fire(broker: Broker, due: list[Due]) -> None:
        for d in due:
            operator, row = d.operator, d.row
            next_at = None
            sent = row["reminders_sent"]
            if operator is not None and operator.reminder_not_ready_enabled:
                since = _as_datetime(row["not_ready_since"]) or d.at
                minutes = max(1, round((d.at - since).total_seconds() / minute_seconds))
                message = text(REMINDER_TEXT, operator.locale).format(minutes=minutes)
                await broker.publish(
                    user_topic(operator.instance_id, operator.user_id, live.REMINDERS),
                    live.reminder("not_ready", message, d.at),
                )
                sent += 1
                if operator.reminder_not_ready_repeat_minutes > 0:
                    next_at = d.at + timedelta(seconds=operator.reminder_not_ready_repeat_minutes * minute_seconds)
            # Settle only if no status change rewrote the row meanwhile (it clears the lease).
            await OperatorPresence.filter(id=row["id"], lease_until__isnull=False).update(
                next_reminder_at=next_at, reminders_sent=sent, lease_until=None
            )

    return Schedule(
        name="reminders",
        model=OperatorPresence,
        due_column="next_reminder_at",
        where="next_reminder_at IS NOT NULL",
        returning="id, operator_id, not_ready_since, reminders_sent, next_reminder_at",
        fire=fire,
    )


def _as_datetime(value: Any) -> datetime | None:
    """A claimed timestamp: SQLite's RETURNING gives text, PostgreSQL's a datetime."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
