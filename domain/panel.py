"""The panel's live messages of a publishing batch, handed to the broker by the publisher itself.

Publishing writes the notifications and their BELL, BANNER and SOUND delivery rows in one
transaction; right after the commit the publisher sends the live messages (``messages``) and
confirms the rows SENT (``confirm``) in one statement. What the panel shows needs nothing that
was not already in hand: the notification as written, the unread count as of it (``as_of``, from
the operators' counters, models.notification.BellUnread, raised in one statement), the melody and
the banner settings resolution used.

The rows are written due ``NC_LIVE_FALLBACK_SECONDS`` after the commit, not at once: should the
process die (or the broker fail) between the commit and the confirmation, a worker claims them
then and sends them as any other job (``channels/panel.py``) — nothing is lost, and the normal
path never waits on a worker.

    PanelItem   one recipient's notification: what its bell, toast and sound messages carry
    panel_items(instance, rows, operators, ts) -> [PanelItem]   in the publishing transaction
    messages(items)                -> [(topic, message)]    bell first, then the toast
    as_of(rows, totals)            -> {notification id: unread count as of it}
    add_unread(bell rows)          -> {operator id: unread bell items now}   one statement
    confirm(notification_ids)      -> rows confirmed SENT                    one statement per chunk
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.timezone import now

from core.broker import user_topic
from domain import live
from domain.recipients import Recipient
from models.bulk import upsert
from models.db import db
from models.enums import ChannelKind, DeliveryStatus
from models.notification import BellUnread, Delivery, ToastRepeat

#: The channels the publisher hands to the broker itself.
PANEL_CHANNELS = frozenset({ChannelKind.BELL, ChannelKind.BANNER, ChannelKind.SOUND})
PANEL_VALUES = tuple(sorted(c.value for c in PANEL_CHANNELS))
#: Ids per confirming statement (well under either database's bound parameters).
CONFIRM_CHUNK = 5_000


@dataclass(frozen=True, slots=True)
class PanelItem:
    """One recipient's new notification, as its open panels show it."""

    instance_id: str
    user_id: str
    notification: dict[str, Any]
    #: Unread bell items as of this one (None when it is not in the bell).
    unread_count: int | None
    #: A toast for BANNER: shown this many seconds; 0 when only SOUND plays.
    duration_seconds: int
    banner: bool
    #: The melody to play (SOUND on), else None.
    sound: str | None


def messages(items: Iterable[PanelItem]) -> list[tuple[str, dict[str, Any]]]:
    """The broker messages of the items: a bell NotificationAdded for bell items, and one toast
    carrying the sound when BANNER or SOUND is on (SOUND alone is a toast of 0 s)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for item in items:
        if item.unread_count is not None:
            out.append(
                (
                    user_topic(item.instance_id, item.user_id, live.BELL),
                    live.bell_added(item.notification, item.unread_count),
                )
            )
        if item.banner or item.sound is not None:
            toast = live.toast(
                item.notification,
                duration_seconds=item.duration_seconds if item.banner else 0,
                sound=item.sound,
                repeat=0,
            )
            out.append((user_topic(item.instance_id, item.user_id, live.TOASTS), toast))
    return out


async def add_unread(bell_rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Count new bell items ``(id, operator id)`` into their operators' unread counters (one
    statement, in the caller's transaction) and return each operator's count after them."""
    added: dict[int, int] = {}
    for _, operator_id in bell_rows:
        added[operator_id] = added.get(operator_id, 0) + 1
    if not added:
        return {}
    table = BellUnread._meta.db_table
    rows = await upsert(
        db(),
        BellUnread,
        [{"operator_id": operator_id, "unread": n} for operator_id, n in sorted(added.items())],
        conflict=["operator_id"],
        update={"unread": f'"{table}"."unread" + excluded."unread"'},
        returning=["operator_id", "unread"],
    )
    return {row["operator_id"]: row["unread"] for row in rows}


def as_of(bell_rows: Iterable[tuple[int, int]], totals: dict[int, int]) -> dict[int, int]:
    """For each new bell notification ``(id, operator id)``, its operator's unread count as of it:
    the total now, less the operator's new ones that come after it."""
    by_operator: dict[int, list[int]] = {}
    for notification_id, operator_id in bell_rows:
        by_operator.setdefault(operator_id, []).append(notification_id)
    out: dict[int, int] = {}
    for operator_id, ids in by_operator.items():
        ids.sort()
        total = totals.get(operator_id, len(ids))
        for position, notification_id in enumerate(ids):
            out[notification_id] = max(0, total - (len(ids) - 1 - position))
    return out


async def panel_items(
    instance_id: str,
    created: list[tuple[int, dict[str, Any], list[tuple[ChannelKind, bool]]]],
    operators: dict[int, Recipient],
    ts: datetime,
) -> list[PanelItem]:
    """The panel messages of new notifications — ``(id, row as written, channels on)``, in id
    order — from what was just written: one grouped count for the unread counts; and the next
    showing of each banner that repeats, written as a durable due row (one statement)."""
    bell = [(nid, row["operator_id"]) for nid, row, _ in created if row["in_bell"]]
    unread = as_of(bell, await add_unread(bell)) if bell else {}
    created_at = ts.isoformat()
    items: list[PanelItem] = []
    repeats: list[dict[str, Any]] = []
    for nid, row, channels in created:
        on = {channel for channel, _ in channels if channel in PANEL_CHANNELS}
        if not on:
            continue
        operator = operators[row["operator_id"]]
        banner = ChannelKind.BANNER in on
        items.append(
            PanelItem(
                instance_id=instance_id,
                user_id=operator.user_id,
                notification=live.payload(nid, row, created_at),
                unread_count=unread.get(nid),
                duration_seconds=operator.banner_duration_seconds,
                banner=banner,
                sound=row["melody"] if ChannelKind.SOUND in on else None,
            )
        )
        if banner and operator.banner_repeat_count > 0:
            repeats.append(
                {
                    "instance_id": instance_id,
                    "operator_id": operator.id,
                    "notification_id": nid,
                    "repeat": 1,
                    "due_at": ts + timedelta(seconds=operator.banner_repeat_interval_seconds),
                    "lease_until": None,
                }
            )
    await upsert(db(), ToastRepeat, repeats, conflict=["notification_id"])
    return items


async def confirm(notification_ids: list[int]) -> int:
    """Mark the panel rows of these notifications SENT, unless a worker took them meanwhile."""
    changed = 0
    current = now()
    for start in range(0, len(notification_ids), CONFIRM_CHUNK):
        changed += await Delivery.filter(
            notification_id__in=notification_ids[start : start + CONFIRM_CHUNK],
            channel__in=PANEL_VALUES,
            status=DeliveryStatus.QUEUED.value,
            locked_by__isnull=True,
        ).update(status=DeliveryStatus.SENT.value, attempts=1, next_attempt_at=None, updated_at=current)
    return changed
