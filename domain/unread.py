"""The operators' unread counters (``nc_bell_unread``): what every writer of read state changes,
in its own transaction, so ``unreadCount`` is one indexed read.

    add_to_counters({operator id: n}) -> {operator id: count after}   one upsert for any number of operators
    take_from_counters({operator id: n})     one UPDATE per 5,000 operators (never below 0)
    counters(operator ids) -> {operator id: count}   one read (operators without a counter left out)
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.announcing import counters_changed
from models.bulk import list_param, one_of, placeholders, upsert
from models.db import db
from models.notification import BellUnread

#: Operators per taking statement (two bound parameters each).
CHUNK = 5_000


async def add_to_counters(given: dict[int, int]) -> dict[int, int]:
    """Add ``n`` bell items to each operator's counter (creating it: an operator whose items were
    all read when migration 0007 counted them has none); each one's count after."""
    given = {operator_id: n for operator_id, n in given.items() if n > 0}
    if not given:
        return {}
    table = BellUnread._meta.db_table
    rows = await upsert(
        db(),
        BellUnread,
        [{"operator_id": operator_id, "unread": n} for operator_id, n in sorted(given.items())],
        conflict=["operator_id"],
        update={"unread": f'"{table}"."unread" + excluded."unread"'},
        returning=["operator_id", "unread"],
    )
    counters_changed()
    return {row["operator_id"]: row["unread"] for row in rows}


async def take_from_counters(taken: dict[int, int]) -> None:
    """Take ``n`` bell items off each operator's counter, never below 0."""
    everything = sorted((operator_id, n) for operator_id, n in taken.items() if n > 0)
    conn = db()
    table = BellUnread._meta.db_table
    for start in range(0, len(everything), CHUNK):
        pairs = everything[start : start + CHUNK]
        if conn.capabilities.dialect == "postgres":
            source = "unnest($1::int8[], $2::int4[])"
            values: list[object] = [[p[0] for p in pairs], [p[1] for p in pairs]]
        else:
            marks = placeholders(conn, 0, 2)
            source = "(VALUES " + ", ".join(f"({marks[0]}, {marks[1]})" for _ in pairs) + ")"
            values = [v for p in pairs for v in p]
        await conn.execute_query(
            f'WITH "taken"("operator_id", "n") AS (SELECT * FROM {source}) '
            f'UPDATE "{table}" SET "unread" = CASE WHEN "{table}"."unread" > "taken"."n" '
            f'THEN "{table}"."unread" - "taken"."n" ELSE 0 END FROM "taken" '
            f'WHERE "{table}"."operator_id" = "taken"."operator_id"',
            values,
        )
    if everything:
        counters_changed()


async def counters(operator_ids: Iterable[int]) -> dict[int, int]:
    """The counters of these operators (those without one have none: left out). One statement
    whose text and parameters do not grow with the list (models.bulk.one_of): the ORM's ``__in``
    built a bound parameter object per operator, ~4 µs each (1,000 operators: a tenth of a
    collapsing call's transaction)."""
    ids = sorted(set(operator_ids))
    if not ids:
        return {}
    conn = db()
    table = BellUnread._meta.db_table
    _, rows = await conn.execute_query(
        f'SELECT "operator_id", "unread" FROM "{table}" WHERE {one_of(conn, "operator_id", "int8", 1)}',
        [list_param(conn, ids)],
    )
    return {int(row[0]): int(row[1]) for row in rows}


__all__ = ["add_to_counters", "counters", "take_from_counters"]
