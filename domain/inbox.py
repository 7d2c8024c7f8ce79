"""The inbox actions on the bell: mark unread, archive and unarchive, snooze, and the unread counts
per category.

What the bell shows is its items neither archived nor snoozed (domain.bell.VISIBLE), and the
operator's unread counter (models.notification.BellUnread) counts the unread ones among them:

    action          what changes                              the counter
    mark unread     read_at cleared                           +1 per item shown in the bell
    archive         archived_at set (a snooze is cancelled)   -1 per unread item it took out
    unarchive       archived_at cleared                       +1 per unread item it brought back
    snooze          snoozed_until set, a BellSnooze due row   -1 per unread item it took out
                    (an archived item leaves the archive)
    snooze's end    snoozed_until and read_at cleared         +1 per item (it comes back unread)

Each change is one UPDATE whose WHERE names the state it leaves, so its RETURNING lists exactly
the rows it moved: two requests (or two workers) racing on one item count it once. The rows are
changed first and the counter after, in the caller's transaction — the order marking read and
pruning use, so concurrent writers lock in one order. Every function takes ids the caller
already checked are the viewer's (``domain.bell.owned``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.bell import counted, lock_in_order, take_unread, visible
from domain.errors import BadUserInput
from domain.unread import add_to_counters
from models.bulk import list_param, one_of, upsert
from models.catalog import CATEGORIES
from models.claim import Params
from models.db import db
from models.notification import BellSnooze, Notification, ToastRepeat
from models.operator import Operator

#: The rows' timestamps as the ORM stores them (SQLite keeps text; the format must match).
_TIMESTAMP = Notification._meta.fields_map["read_at"]


def _stored(value: datetime) -> Any:
    return _TIMESTAMP.to_db_value(value, Notification)


async def _update(
    ids: list[int],
    sets: dict[str, datetime | None],
    where: str,
    returning: str,
    where_values: tuple[Any, ...] = (),
) -> list[dict[str, Any]]:
    """``UPDATE nc_notification SET sets WHERE id is one of ids AND where RETURNING returning``
    (``where`` has ``{}`` for each of ``where_values``): one statement whatever the number of ids;
    the rows it changed."""
    await lock_in_order(ids)
    conn = db()
    p = Params(conn)
    assignments = ", ".join(
        f'"{column}" = {"NULL" if value is None else p(_stored(value))}' for column, value in sets.items()
    )
    p.values.append(list_param(conn, ids))
    matches = one_of(conn, "id", "int8", len(p.values))
    condition = where.format(*(p(v) for v in where_values))
    sql = (
        f'UPDATE "{Notification._meta.db_table}" SET {assignments} '
        f"WHERE {matches} AND {condition} RETURNING {returning}"
    )
    return await conn.execute_query_dict(sql, p.values)


async def give_unread(operator_id: int, n: int) -> None:
    """Add ``n`` items to the operator's unread counter (domain.unread)."""
    await add_to_counters({operator_id: n})


def _newest_first(rows: list[dict[str, Any]]) -> list[str]:
    return [str(i) for i in sorted({int(row["id"]) for row in rows}, reverse=True)]


async def mark_unread(operator_id: int, ids: list[int]) -> tuple[list[str], int]:
    """Mark read items unread again: the ids changed (newest first) and the unread count after."""
    rows = await _update(
        ids, {"read_at": None}, '"read_at" IS NOT NULL', '"id", "in_bell", "archived_at", "snoozed_until"'
    )
    await give_unread(operator_id, sum(1 for row in rows if visible(row)))
    return _newest_first(rows), await counted(operator_id)


async def archive(operator_id: int, ids: list[int], at: datetime) -> tuple[list[str], int]:
    """Archive items: they leave the bell (a snoozed one stays archived instead of coming back) and
    their banners stop repeating. The ids changed (newest first) and the unread count after."""
    shown = await _update(
        ids,
        {"archived_at": at},
        '"archived_at" IS NULL AND "snoozed_until" IS NULL',
        '"id", "in_bell", "read_at"',
    )
    snoozed = await _update(ids, {"archived_at": at, "snoozed_until": None}, '"snoozed_until" IS NOT NULL', '"id"')
    await take_unread(operator_id, sum(1 for row in shown if row["in_bell"] and row["read_at"] is None))
    changed = [int(row["id"]) for row in (*shown, *snoozed)]
    if snoozed:
        await BellSnooze.filter(notification_id__in=[int(row["id"]) for row in snoozed]).delete()
    if changed:
        await ToastRepeat.filter(notification_id__in=changed).delete()
    return _newest_first([*shown, *snoozed]), await counted(operator_id)


async def unarchive(operator_id: int, ids: list[int]) -> tuple[list[Notification], int]:
    """Bring archived items back into the bell: the items changed (newest first, as stored now) and
    the unread count after."""
    rows = await _update(ids, {"archived_at": None}, '"archived_at" IS NOT NULL', '"id", "in_bell", "read_at"')
    await give_unread(operator_id, sum(1 for row in rows if row["in_bell"] and row["read_at"] is None))
    back = await Notification.filter(id__in=[int(row["id"]) for row in rows]).order_by("-id") if rows else []
    return list(back), await counted(operator_id)


def check_snooze(until: datetime, at: datetime, most_seconds: int) -> None:
    """BAD_USER_INPUT unless ``until`` has a UTC offset and lies after ``at``, at most
    ``most_seconds`` (NC_LIMIT_SNOOZE_SECONDS) ahead."""
    if until.tzinfo is None or until.utcoffset() is None:
        raise BadUserInput(
            "until has no UTC offset: send it as ISO 8601 with one, e.g. 2026-01-31T09:00:00Z", field="until"
        )
    if until <= at:
        raise BadUserInput(
            f"until must be in the future; it is {until.isoformat()}, now is {at.isoformat()}", field="until"
        )
    if until - at > timedelta(seconds=most_seconds):
        raise BadUserInput(
            f"until may be at most {most_seconds} seconds ({most_seconds / 86_400:g} days) ahead: "
            "choose an earlier time",
            field="until",
        )


async def snooze(operator: Operator, ids: list[int], until: datetime) -> tuple[list[str], int]:
    """Snooze items until ``until`` (checked with ``check_snooze``): they leave the bell (an archived
    one leaves the archive; a snoozed one gets the new time), their banners stop repeating, and a
    due row brings each back then. The ids changed (newest first) and the unread count after."""
    assert operator.id is not None
    # Stored in UTC like every time here: SQLite keeps the text, and due times compare as text.
    until = until.astimezone(UTC)
    shown = await _update(
        ids,
        {"snoozed_until": until},
        '"archived_at" IS NULL AND "snoozed_until" IS NULL',
        '"id", "in_bell", "read_at"',
    )
    hidden = await _update(
        ids,
        {"archived_at": None, "snoozed_until": until},
        '("archived_at" IS NOT NULL OR "snoozed_until" IS NOT NULL)',
        '"id"',
    )
    await take_unread(operator.id, sum(1 for row in shown if row["in_bell"] and row["read_at"] is None))
    changed = sorted({int(row["id"]) for row in (*shown, *hidden)})
    if changed:
        await upsert(
            db(),
            BellSnooze,
            [
                {
                    "instance_id": operator.instance_id,
                    "operator_id": operator.id,
                    "notification_id": notification_id,
                    "due_at": until,
                    "lease_until": None,
                }
                for notification_id in changed
            ],
            conflict=["notification_id"],
            update=["due_at", "lease_until"],
        )
        await ToastRepeat.filter(notification_id__in=changed).delete()
    return [str(i) for i in reversed(changed)], await counted(operator.id)


@dataclass(frozen=True)
class Returned:
    """One operator's snoozed items that came back (newest first) and their unread count after."""

    operator_id: int
    notifications: list[Notification]
    unread_count: int


async def return_snoozed(due: list[dict[str, Any]], at: datetime) -> list[Returned]:
    """End the snoozes of claimed due rows (``id``, ``notification_id``), in the caller's
    transaction: each item still snoozed until ``at`` or before comes back into the bell unread,
    and the rows are deleted unless snoozed again meanwhile (their ``due_at`` moved past ``at``).
    An item snoozed again, archived or deleted meanwhile is left as it is. Per operator, the
    items back (newest first) and the unread count after."""
    if not due:
        return []
    rows = await _update(
        [int(d["notification_id"]) for d in due],
        {"snoozed_until": None, "read_at": None},
        '"snoozed_until" IS NOT NULL AND "snoozed_until" <= {}',
        '"id", "operator_id", "in_bell"',
        (_stored(at),),
    )
    conn = db()
    p = Params(conn)
    p.values.append(list_param(conn, [int(d["id"]) for d in due]))
    matches = one_of(conn, "id", "int8", 1)
    await conn.execute_query(
        f'DELETE FROM "{BellSnooze._meta.db_table}" WHERE {matches} AND "due_at" <= {p(_stored(at))}', p.values
    )
    if not rows:
        return []
    back: dict[int, int] = {}
    for row in rows:
        back[int(row["operator_id"])] = back.get(int(row["operator_id"]), 0) + (1 if row["in_bell"] else 0)
    await add_to_counters(back)
    notifications = await Notification.filter(id__in=[int(row["id"]) for row in rows]).order_by("-id")
    return [
        Returned(
            operator_id,
            [n for n in notifications if n.operator_id == operator_id],
            await counted(operator_id),
        )
        for operator_id in sorted(back)
    ]


async def unread_counts(operator: Operator | None) -> tuple[int, list[tuple[str, int]]]:
    """The unread items the bell shows, in all and per category (catalog order; categories without
    any left out): one statement, whatever the number of items."""
    if operator is None or operator.id is None:
        return 0, []
    conn = db()
    p = Params(conn)
    rows = await conn.execute_query_dict(
        f'SELECT "category_code", COUNT(*) AS "unread" FROM "{Notification._meta.db_table}" '
        f'WHERE "operator_id" = {p(operator.id)} AND "in_bell" AND "read_at" IS NULL '
        'AND "archived_at" IS NULL AND "snoozed_until" IS NULL GROUP BY "category_code"',
        p.values,
    )
    by_code = {str(row["category_code"]): int(row["unread"]) for row in rows}
    order = {category.code: position for position, category in enumerate(CATEGORIES)}
    listed = sorted(by_code.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
    return sum(by_code.values()), listed
