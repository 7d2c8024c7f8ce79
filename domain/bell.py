"""The bell: a recipient's notification history, unread counts, marking read, delivery logs.

What the bell shows (and ``unreadCount`` counts) is the recipient's bell items that are neither
archived nor snoozed (``VISIBLE``); archived and snoozed ones have views of their own
(``BellFilter.archived`` / ``snoozed``). The inbox actions that move items in and out of it are in
domain/inbox.py."""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, cast

from tortoise.queryset import ValuesQuery
from tortoise.timezone import now

from domain.errors import BadUserInput, NotFound
from domain.input_text import shown
from domain.panel import PanelDelivery, panel_deliveries
from domain.retract import take_back
from domain.unread import take_from_counters
from models.bulk import placeholders
from models.catalog import CATEGORIES_BY_CODE, TYPES_BY_CODE
from models.db import db
from models.notification import BellUnread, Delivery, Notification, PushTarget, ToastRepeat
from models.operator import Operator

#: The ORM filter of what the bell shows: bell items not archived and not snoozed.
VISIBLE: dict[str, object] = {"in_bell": True, "archived_at__isnull": True, "snoozed_until__isnull": True}


def visible(row: dict[str, object]) -> bool:
    """Whether a row (as a RETURNING gives it: ``in_bell``, ``archived_at``, ``snoozed_until``)
    is in the bell, so its unread state counts."""
    return bool(row["in_bell"]) and row["archived_at"] is None and row["snoozed_until"] is None


@dataclass(frozen=True)
class BellFilter:
    unread_only: bool = False
    category_codes: list[str] | None = None
    type_codes: list[str] | None = None
    #: The archived items instead of the bell.
    archived: bool = False
    #: The snoozed items (until they come back) instead of the bell.
    snoozed: bool = False

    def validate(self) -> None:
        if self.archived and self.snoozed:
            raise BadUserInput(
                "filter.archived and filter.snoozed are both true, but a snoozed item is never archived: "
                "ask for one of them",
                field="filter",
            )
        for code in self.category_codes or ():
            if code not in CATEGORIES_BY_CODE:
                raise BadUserInput(f"Unknown category code {shown(code)} in filter.categoryCodes")
        for code in self.type_codes or ():
            if code not in TYPES_BY_CODE:
                raise BadUserInput(f"Unknown type code {shown(code)} in filter.typeCodes")


@dataclass(frozen=True)
class Page:
    items: list[Notification]
    has_next_page: bool
    unread_count: int


#: Ids per marking statement (well under either database's bound parameters).
MARK_CHUNK = 5_000

#: Row ids are PostgreSQL BIGINTs (SQLite INTEGERs): anything past this names no row.
MAX_ROW_ID = 2**63 - 1


def row_id(text: str) -> int | None:
    """``text`` as a row id: 1-19 ASCII digits, at most MAX_ROW_ID; None for anything else
    (so a client's "99999999999999999999" or "²" never reaches the database as a number)."""
    if not (isinstance(text, str) and 0 < len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ROW_ID else None


def encode_cursor(notification_id: int) -> str:
    return base64.urlsafe_b64encode(f"n:{notification_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        number = row_id(value)
        if prefix != "n" or number is None:
            raise ValueError(prefix)
        return number
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadUserInput(
            "after is not a cursor from this connection: pass pageInfo.endCursor unchanged",
            field="after",
        ) from None


def _bell(operator: Operator, flt: BellFilter):
    if flt.archived:
        qs = Notification.filter(operator_id=operator.id, in_bell=True, archived_at__isnull=False)
    elif flt.snoozed:
        qs = Notification.filter(operator_id=operator.id, in_bell=True, snoozed_until__isnull=False)
    else:
        qs = Notification.filter(operator_id=operator.id, **VISIBLE)
    if flt.category_codes is not None:
        qs = qs.filter(category_code__in=flt.category_codes)
    if flt.type_codes is not None:
        qs = qs.filter(type_code__in=flt.type_codes)
    return qs


async def page(operator: Operator | None, *, first: int, after: str | None, flt: BellFilter, max_first: int) -> Page:
    if not 1 <= first <= max_first:
        raise BadUserInput(f"first must be between 1 and {max_first}, got {first}", field="first")
    flt.validate()
    after_id = decode_cursor(after) if after else None
    if operator is None or operator.id is None:
        return Page([], False, 0)
    qs = _bell(operator, flt)
    filtered = flt.category_codes is not None or flt.type_codes is not None or flt.archived or flt.snoozed
    unread = await qs.filter(read_at__isnull=True).count() if filtered else await unread_count(operator)
    if flt.unread_only:
        qs = qs.filter(read_at__isnull=True)
    if after_id is not None:
        qs = qs.filter(id__lt=after_id)
    rows = list(await qs.order_by("-id").limit(first + 1))
    return Page(rows[:first], len(rows) > first, unread)


async def unread_count(operator: Operator | None, *, up_to_id: int | None = None) -> int:
    """Unread bell items (the operator's counter); with ``up_to_id``, as of that item (what a live
    NotificationAdded says: counted)."""
    if operator is None or operator.id is None:
        return 0
    if up_to_id is None:
        return await counted(operator.id)
    qs = Notification.filter(operator_id=operator.id, read_at__isnull=True, **VISIBLE)
    if up_to_id is not None:
        qs = qs.filter(id__lte=up_to_id)
    return await qs.count()


def cursor_or_id(value: str) -> int:
    """A resume point: a connection cursor, or a notification id as the bell showed it."""
    number = row_id(value)
    if number is not None:
        return number
    if len(value) > 64:
        raise BadUserInput("after is not a cursor or a notification id: pass one the bell gave you", field="after")
    return decode_cursor(value)


#: Missed items read per query when a subscription replays (missed_all reads them all, page by page).
REPLAY_LIMIT = 200


async def missed(instance_id: str, user_id: str, after_id: int) -> list[tuple[Notification, int]]:
    """Bell items after ``after_id`` (oldest first), each with the unread count as of it; archived
    and snoozed ones are not in the bell, so not replayed."""
    operator = await Operator.get_or_none(instance_id=instance_id, user_id=user_id)
    if operator is None:
        return []
    rows = list(
        await Notification.filter(operator_id=operator.id, id__gt=after_id, **VISIBLE)
        .order_by("id")
        .limit(REPLAY_LIMIT)
    )
    if not rows:
        return []
    base = await unread_count(operator, up_to_id=after_id)
    out = []
    for row in rows:
        if row.read_at is None:
            base += 1
        out.append((row, base))
    return out


async def missed_all(instance_id: str, user_id: str, after_id: int) -> AsyncIterator[tuple[Notification, int]]:
    """Every bell item after ``after_id``, oldest first, read ``REPLAY_LIMIT`` at a time."""
    while True:
        page = await missed(instance_id, user_id, after_id)
        for row, unread in page:
            yield row, unread
        if len(page) < REPLAY_LIMIT:
            return
        after_id = page[-1][0].id


async def newest_id(instance_id: str, user_id: str) -> int:
    """The id of the user's newest bell item (0 when none): where a fresh subscription starts.

    By the operator's id, one seek down ``(operator_id, in_bell, id)``: filtered through a join
    on the operator instead, SQLite walked the whole table from its newest row for an operator
    with no recent item (3.5 s on 400,000 rows, publishing waiting behind it)."""
    operator_ids = await Operator.filter(instance_id=instance_id, user_id=user_id).values_list("id", flat=True)
    if not operator_ids:
        return 0
    rows = await newest_of(cast(int, operator_ids[0]))
    return int(rows[0]["id"]) if rows else 0


def newest_of(operator_id: int) -> ValuesQuery[Literal[False]]:
    """``newest_id``'s statement for one operator: at most one row, its ``id``."""
    return Notification.filter(operator_id=operator_id, in_bell=True).order_by("-id").limit(1).values("id")


def parse_ids(ids: list[str]) -> list[int]:
    out = []
    for raw in ids:
        number = row_id(raw)
        if number is None:
            raise NotFound(f"No notification {shown(raw)} in your bell", id=raw[:64])
        out.append(number)
    return out


async def mark_read(operator: Operator | None, ids: list[str]) -> tuple[list[str], int]:
    """Mark the viewer's notifications read; an id that is not theirs is NOT_FOUND, nothing changes."""
    if not ids:
        raise BadUserInput("ids is empty: send the ids to mark read, or use markAllNotificationsRead")
    if len(ids) > 1000:
        raise BadUserInput("At most 1000 ids per call")
    operator_id, wanted = await owned(operator, ids)
    return await _set_read(operator_id, wanted)


async def owned(operator: Operator | None, ids: list[str], *, bell_only: bool = False) -> tuple[int, list[int]]:
    """The viewer's operator id and ``ids`` as row ids (each once): NOT_FOUND for an id that is not
    one of the viewer's notifications (another user's or instance's included; with ``bell_only``,
    one that never joined the bell too), before any write."""
    wanted = list(dict.fromkeys(parse_ids(ids)))
    if operator is None or operator.id is None:
        raise NotFound(f"No notification {wanted[0]} in your bell", id=str(wanted[0]))
    found: set[int] = set()
    for start in range(0, len(wanted), MARK_CHUNK):
        chunk = wanted[start : start + MARK_CHUNK]
        qs = Notification.filter(operator_id=operator.id, id__in=chunk)
        rows = await (qs.filter(in_bell=True) if bell_only else qs).values_list("id", flat=True)
        found.update(cast(list[int], rows))
    missing = [i for i in wanted if i not in found]
    if missing:
        raise NotFound(f"No notification {missing[0]} in your bell", id=str(missing[0]))
    return operator.id, wanted


async def lock_in_order(ids: list[int]) -> None:
    """PostgreSQL: lock these notifications in id order before changing them, so writers of
    overlapping sets (two tabs, a producer resolving an entity) queue instead of waiting on each
    other in a cycle (a deadlock). SQLite writers take turns already."""
    conn = db()
    if ids and conn.capabilities.dialect == "postgres":
        await conn.execute_query(
            f'SELECT 1 FROM "{Notification._meta.db_table}" WHERE "id" = ANY($1::int8[]) ORDER BY "id" FOR UPDATE',
            [sorted(ids)],
        )


async def _set_read(operator_id: int, ids: list[int]) -> tuple[list[str], int]:
    """Mark those of ``ids`` still unread read, stop their banner repeats, cancel their unsent
    external deliveries (domain.retract), and take the items among them the bell shows off the
    operator's counter: the ids changed (newest first) and the count after.
    The statement reports the rows it changed, so two requests marking the same item count it once."""
    changed: list[int] = []
    in_bell = 0
    conn = db()
    table = Notification._meta.db_table
    await lock_in_order(ids)
    for start in range(0, len(ids), MARK_CHUNK):
        chunk = ids[start : start + MARK_CHUNK]
        marks = placeholders(conn, 1, len(chunk))
        rows = await conn.execute_query_dict(
            f'UPDATE "{table}" SET "read_at" = {placeholders(conn, 0, 1)[0]} '
            f'WHERE "id" IN ({", ".join(marks)}) AND "read_at" IS NULL '
            'RETURNING "id", "in_bell", "archived_at", "snoozed_until"',
            [Notification._meta.fields_map["read_at"].to_db_value(now(), Notification), *chunk],
        )
        changed += [row["id"] for row in rows]
        in_bell += sum(1 for row in rows if visible(row))
    if changed:
        await ToastRepeat.filter(notification_id__in=changed).delete()
        # Read before a worker sent them: its external deliveries never go (domain.retract).
        await take_back(changed, now())
    await take_unread(operator_id, in_bell)
    return [str(i) for i in sorted(changed, reverse=True)], await counted(operator_id)


async def take_unread(operator_id: int, n: int) -> None:
    """Take ``n`` bell items off the operator's unread counter (never below 0)."""
    await take_from_counters({operator_id: n})


async def counted(operator_id: int) -> int:
    """The operator's unread counter (0 for an operator who never had a bell item)."""
    values = await BellUnread.filter(operator_id=operator_id).values("unread")
    return int(values[0]["unread"]) if values else 0


async def mark_all_read(operator: Operator | None, category_code: str | None) -> tuple[list[str], int]:
    if category_code is not None and category_code not in CATEGORIES_BY_CODE:
        raise BadUserInput(f"Unknown categoryCode {shown(category_code)}", field="categoryCode")
    if operator is None or operator.id is None:
        return [], 0
    qs = Notification.filter(operator_id=operator.id, read_at__isnull=True)
    if category_code is not None:
        qs = qs.filter(category_code=category_code)
    return await _set_read(operator.id, cast(list[int], list(await qs.values_list("id", flat=True))))


async def deliveries(
    instance_id: str, operator: Operator | None, notification_id: str, *, whole_instance: bool
) -> list[Delivery | PanelDelivery]:
    """The delivery log of one notification: the viewer's own, or any of the instance's. The panel
    channels first (entries from the notification, domain.panel.panel_deliveries), then the rows
    of the external channels in the order they were written."""
    nid = row_id(notification_id)
    if nid is None:
        raise NotFound(f"No notification {shown(notification_id)}", id=notification_id[:64])
    qs = Notification.filter(id=nid, instance_id=instance_id)
    if not whole_instance:
        if operator is None or operator.id is None:
            raise NotFound(f"No notification {shown(notification_id)}", id=notification_id)
        qs = qs.filter(operator_id=operator.id)
    notification = await qs.first()
    if notification is None:
        raise NotFound(f"No notification {shown(notification_id)}", id=notification_id)
    rows: list[Delivery | PanelDelivery] = list(await Delivery.filter(notification_id=nid).order_by("id"))
    # A digest member is due when its digest is (shown, not stored: the member has no due time).
    members = {r.digest_id: r for r in rows if isinstance(r, Delivery) and r.digest_id and r.next_attempt_at is None}
    if members:
        for digest_id, due in await Delivery.filter(id__in=list(members)).values_list("id", "next_attempt_at"):
            members[digest_id].next_attempt_at = due
    stored = {row.channel for row in rows}
    # The panel channels have no rows (publishing hands them to the broker itself), except in
    # notifications written before the hand-off row: those are listed as they are.
    panel: list[Delivery | PanelDelivery] = [
        d for d in await panel_deliveries(notification) if d.channel.value not in stored
    ]
    return panel + rows


async def push_targets(delivery_ids: list[int]) -> list[list[PushTarget]]:
    """Each BROWSER delivery's push targets (in subscription order), for many deliveries at once."""
    by_delivery: dict[int, list[PushTarget]] = {i: [] for i in delivery_ids}
    for target in await PushTarget.filter(delivery_id__in=set(delivery_ids)).order_by("subscription_id"):
        by_delivery[target.delivery_id].append(target)
    return [by_delivery[i] for i in delivery_ids]
