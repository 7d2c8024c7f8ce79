"""The panel's live messages of a publishing batch, handed to the broker by the publisher itself.

Publishing writes the notifications — the bell item *is* the stored notification — and, for the
whole call, one hand-off row (models.notification.PanelHandOff) listing the notifications whose
bell, banner or sound messages are still to be sent: no delivery row per recipient and panel
channel. Right after the commit the publisher sends the live messages (``messages``) and deletes
the hand-off row (``handed_off``). What the panel shows needs nothing that was not already in hand:
the notification as written, the unread count as of it (``as_of``, from the operators' counters,
models.notification.BellUnread, raised in one statement), the melody and the banner settings
resolution used.

The hand-off row is due ``NC_LIVE_FALLBACK_SECONDS`` after the commit: should the process die (or
the broker fail) between the commit and the hand-off, a worker claims it then and sends the same
messages, rebuilt from the stored notifications (``stored_items``; channels/schedules.py), with the
unread counts as they stand then — nothing is lost, no badge goes back, and the normal path never
waits on a worker. The delivery log shows the panel channels of
a notification from its stored channels (``panel_deliveries``): QUEUED while a hand-off row lists
it, SENT after.

    PanelItem   one recipient's notification: what its bell, toast and sound messages carry
    panel_items(instance, rows, operators, ts, due) -> (Showings, hand-off id)   in the transaction
    Showings.messages(listens)     -> ([(topic, message)], Tally)   after the commit
    messages(items, listens)       -> [(topic, message)]    bell first, then the toast (the fallback's)
    as_of(rows, totals)            -> {notification id: unread count as of it}
    add_unread(bell rows)          -> {operator id: unread bell items now}   one statement
    handed_off(hand-off id)        -> the row deleted: the publisher sent its messages
    stored_items(notification ids) -> [PanelItem]   the worker's fallback, from the stored rows
    unread_now(operator ids)       -> {operator id: unread bell items now}   a late message's count
    panel_deliveries(notification) -> [PanelDelivery]   the log's panel entries
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from core.broker import user_topic, user_topic_prefix
from core.keys import key_part
from domain import live
from domain.collapse import Collapsed
from domain.recipients import Recipient
from domain.unread import add_to_counters, counters
from models.bulk import param, upsert
from models.db import db
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Notification, PanelHandOff, ToastRepeat
from models.operator import Operator

#: The channels the publisher hands to the broker itself.
PANEL_CHANNELS = frozenset({ChannelKind.BELL, ChannelKind.BANNER, ChannelKind.SOUND})
PANEL_VALUES = tuple(sorted(c.value for c in PANEL_CHANNELS))
#: An enum member read from its class costs ~0.15 µs in Python 3.11: the per-message loops take
#: them from here.
_BANNER, _SOUND = ChannelKind.BANNER, ChannelKind.SOUND


@dataclass(slots=True)
class PanelItem:
    """One recipient's notification, as its open panels show it: what a worker's fallback sends
    (``stored_items``; the publisher makes its messages without these, ``Showings.messages``)."""

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
    #: An existing item that events collapsed into (domain.collapse): NotificationCollapsed.
    collapsed: bool = False


def messages(
    items: Iterable[PanelItem], listens: Callable[[str], bool] = lambda _: True
) -> list[tuple[str, dict[str, Any]]]:
    """The broker messages of the items: a bell NotificationAdded for bell items, and one toast
    carrying the sound when BANNER or SOUND is on (SOUND alone is a toast of 0 s). Only those
    of topics the broker ``listens`` to are made (Broker.listens: an operator without an open
    panel, or without the toasts subscription, costs no message)."""
    out: list[tuple[str, dict[str, Any]]] = []
    append, bell_added, bell_collapsed, toast = out.append, live.bell_added, live.bell_collapsed, live.toast
    for item in items:
        if item.unread_count is not None:
            topic = user_topic(item.instance_id, item.user_id, live.BELL)
            if listens(topic):
                bell_message = bell_collapsed if item.collapsed else bell_added
                append((topic, bell_message(item.notification, item.unread_count)))
        if item.banner or item.sound is not None:
            topic = user_topic(item.instance_id, item.user_id, live.TOASTS)
            if listens(topic):
                duration = item.duration_seconds if item.banner else 0
                append((topic, toast(item.notification, duration_seconds=duration, sound=item.sound, repeat=0)))
    return out


async def add_unread(bell_rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Count new bell items ``(id, operator id)`` into their operators' unread counters (one
    statement, in the caller's transaction) and return each operator's count after them."""
    added: dict[int, int] = {}
    for _, operator_id in bell_rows:
        added[operator_id] = added.get(operator_id, 0) + 1
    return await add_to_counters(added)


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


class Tally(NamedTuple):
    """A hand-off's panel messages by channel: bell items, banners, sounds."""

    bell: int
    banner: int
    sound: int


@dataclass(frozen=True, slots=True)
class Showings:
    """A publishing call's panel messages as its transaction decided them; ``messages()`` makes
    them after the commit (500 payloads built inside the transaction held SQLite's one
    connection from the next call: ~3 ms of each call's ~45)."""

    instance_id: str
    #: (notification id, row as written, channels on, alert, unread count, since, operator)
    shown: list[tuple[int, dict[str, Any], frozenset[ChannelKind], bool, int | None, str, Recipient]]
    created_at: str

    def __len__(self) -> int:
        return len(self.shown)

    def messages(
        self, listens: Callable[[str], bool] = lambda _: True
    ) -> tuple[list[tuple[str, dict[str, Any]]], Tally]:
        """The broker messages of the showings, as ``messages`` makes them of PanelItems, without
        making any (~0.8 µs of the event loop per message; a test keeps the publisher's messages
        and the fallback's, ``messages(stored_items(...))``, equal); and how many bell items,
        banners and sounds they hold, whoever listens (what the hand-off counts as delivered)."""
        out: list[tuple[str, dict[str, Any]]] = []
        append, payload, toast = out.append, live.payload, live.toast
        created_at = self.created_at
        bell_prefix = user_topic_prefix(self.instance_id, live.BELL)
        toasts_prefix = user_topic_prefix(self.instance_id, live.TOASTS)
        bells = banners = sounds = 0
        for nid, row, on, alert, unread_count, since, operator in self.shown:
            notification = None
            user = key_part(operator.user_id)
            if unread_count is not None:
                bells += 1
                topic = bell_prefix + user
                if listens(topic):
                    notification = payload(nid, row, since, created_at)
                    added = since == created_at
                    append((topic, (live.bell_added if added else live.bell_collapsed)(notification, unread_count)))
            banner = alert and _BANNER in on
            sound = row["melody"] if alert and _SOUND in on else None
            if banner or sound is not None:
                banners += banner
                sounds += sound is not None
                topic = toasts_prefix + user
                if listens(topic):
                    if notification is None:
                        notification = payload(nid, row, since, created_at)
                    duration = operator.banner_duration_seconds if banner else 0
                    append((topic, toast(notification, duration_seconds=duration, sound=sound, repeat=0)))
        return out, Tally(bells, banners, sounds)


async def panel_items(
    instance_id: str,
    created: list[tuple[int, dict[str, Any], list[tuple[ChannelKind, bool]]]],
    operators: dict[int, Recipient],
    ts: datetime,
    *,
    due: datetime,
    collapsed: Iterable[Collapsed] = (),
    totals: dict[int, int] | None = None,
    written: Callable[[], Awaitable[None]] | None = None,
) -> tuple[Showings, int | None]:
    """The panel messages of new notifications — ``(id, row as written, channels on)``, in id
    order — and of the items events collapsed into, from what was just written: one grouped count
    for the unread counts (an item collapsed into carries its operator's, as collapsing read it:
    domain.collapse.Collapsed.unread_count); the next
    showing of each banner that repeats, written as a durable due row (one statement); and the
    hand-off row, due at ``due`` (one statement; its id, or None when no panel message is to be
    sent). The messages themselves are made after the commit (``Showings.items``). ``totals``:
    the counters' values after the caller raised them for these bell items itself (``add_unread``);
    ``written``: awaited before a row that refers to the notifications is written (the caller's
    INSERT may still be under way)."""
    bell = [(nid, row["operator_id"]) for nid, row, _ in created if row["in_bell"]]
    if totals is None:
        totals = await add_unread(bell) if bell else {}
    unread = as_of(bell, totals) if bell else {}
    collapsed = list(collapsed)
    created_at = ts.isoformat()
    shown: list[tuple[int, dict[str, Any], frozenset[ChannelKind], bool, int | None, str, Recipient]] = []
    repeats: list[dict[str, Any]] = []
    showings = [(nid, row, channels, True, unread.get(nid), created_at) for nid, row, channels in created] + [
        (
            c.notification_id,
            c.row,
            c.channels,
            c.alert,
            # (raised by this call's new items, or as collapsing read it)
            totals.get(c.operator_id, c.unread_count),
            c.row["created_at"].isoformat(),
        )
        for c in collapsed
    ]
    # Recipients whose settings resolved alike share one list of channels (domain.events).
    panel_of: dict[int, frozenset[ChannelKind]] = {}
    for nid, row, channels, alert, unread_count, since in showings:
        on = panel_of.get(id(channels))
        if on is None:
            on = panel_of[id(channels)] = frozenset(channel for channel, _ in channels if channel in PANEL_CHANNELS)
        if not on:
            continue
        operator = operators[row["operator_id"]]
        shown.append((nid, row, on, alert, unread_count, since, operator))
        if alert and operator.banner_repeat_count > 0 and _BANNER in on:
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
    if written is not None:
        await written()
    # A collapsed item's banner that fires again starts its repeats over.
    await upsert(db(), ToastRepeat, repeats, conflict=["notification_id"], update=["repeat", "due_at", "lease_until"])
    showing = Showings(instance_id, shown, created_at)
    if not shown:
        return showing, None
    [row] = await upsert(
        db(),
        PanelHandOff,
        [
            {
                "instance_id": instance_id,
                "notification_ids": ",".join(str(s[0]) for s in shown),
                "due_at": due,
                "lease_until": None,
                "created_at": ts,
            }
        ],
        conflict=["id"],
        returning=["id"],
    )
    return showing, int(row["id"])


async def handed_off(hand_off_id: int) -> None:
    """The publisher (or a worker) sent the row's messages: nothing is left to send for it. One
    statement, not the ORM's query builder: ~95 instead of ~175 µs of the process's CPU per row
    deleted on SQLite."""
    conn = db()
    await conn.execute_query(
        f'DELETE FROM "{PanelHandOff._meta.db_table}" WHERE "id" = {param(conn, 1)}', [hand_off_id]
    )


def listed(notification_ids: str) -> list[int]:
    """A hand-off row's ids as numbers."""
    return [int(i) for i in notification_ids.split(",") if i]


async def stored_items(notification_ids: list[int]) -> list[PanelItem]:
    """The panel messages of stored notifications, as publishing would have sent them but for the
    unread counts, which are the operators' counts now (sent late, a count as of the item could
    undo a larger one sent since: the badge went back); read ones are still sent with their
    ``readAt``, without a banner or a sound; archived and snoozed ones are not sent (out of the
    bell: a panel opened since would show them again, with a banner): the fallback of a hand-off
    that did not happen. Three queries."""
    rows = await Notification.filter(
        id__in=notification_ids, archived_at__isnull=True, snoozed_until__isnull=True
    ).order_by("id")
    if not rows:
        return []
    operators = {o.id: o for o in await Operator.filter(id__in={r.operator_id for r in rows})}
    unread = await unread_now(r.operator_id for r in rows if r.in_bell)
    items = []
    for row in rows:
        operator = operators.get(row.operator_id)
        on = set(row.channels) & set(PANEL_VALUES)
        if operator is None or not on:
            continue
        # Its banner and sound fired with its last change: its creation, or a collapse that alerted
        # (an item is alerted first when created: domain.collapse reads ``alerted_at or created_at``).
        fired = row.updated_at is None or (row.alerted_at or row.created_at) == row.updated_at
        alert = fired and row.read_at is None  # (read since: no banner, no sound)
        items.append(
            PanelItem(
                instance_id=row.instance_id,
                user_id=operator.user_id,
                notification=live.notification_payload(row),
                unread_count=unread.get(row.operator_id, 0) if row.in_bell else None,
                duration_seconds=operator.banner_duration_seconds,
                # A collapsed item's banner fired with its last update only when alerted then.
                banner=ChannelKind.BANNER.value in on and alert,
                sound=(row.melody or operator.default_melody) if ChannelKind.SOUND.value in on and alert else None,
                collapsed=row.count > 1,
            )
        )
    return items


async def unread_now(operator_ids: Iterable[int]) -> dict[int, int]:
    """Each operator's unread bell items now (their counters; 0 without one): what a message sent
    late says, so that it never shows a smaller count than the messages sent since."""
    ids = sorted(set(operator_ids))
    if not ids:
        return {}
    now = await counters(ids)
    return {i: now.get(i, 0) for i in ids}


@dataclass(frozen=True, slots=True)
class PanelDelivery:
    """A panel channel's entry in a notification's delivery log (no row of its own)."""

    id: str
    notification_id: int
    channel: ChannelKind
    status: DeliveryStatus
    attempts: int
    updated_at: datetime


async def panel_deliveries(notification: Notification) -> list[PanelDelivery]:
    """The notification's panel channels as delivery log entries: QUEUED while a hand-off row of
    its instance still lists it, else SENT (the publisher or a worker handed it to the broker).
    Rows of older releases (panel delivery rows) are listed by the caller as they are."""
    on = [c for c in notification.channels if c in PANEL_VALUES]
    if not on:
        return []
    wanted = str(notification.id)
    # A hand-off row is written with its notifications' created_at: only that call's row can list it.
    lists = await PanelHandOff.filter(
        instance_id=notification.instance_id, created_at=notification.created_at
    ).values_list("notification_ids", flat=True)
    pending = any(wanted in str(ids).split(",") for ids in lists)
    status = DeliveryStatus.QUEUED if pending else DeliveryStatus.SENT
    return [
        PanelDelivery(
            id=f"{notification.id}-{channel}",
            notification_id=notification.id,
            channel=ChannelKind(channel),
            status=status,
            attempts=0 if pending else 1,
            updated_at=notification.created_at,
        )
        for channel in on
    ]
