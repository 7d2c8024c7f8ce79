"""Claiming due rows of a table as leased jobs, safely under many workers.

One statement: an UPDATE that sets the lease on rows that are due and not leased, returning what
it claimed. On PostgreSQL the candidate rows are picked with ``FOR UPDATE SKIP LOCKED``, so two
workers never claim the same row and never wait on each other; on SQLite the single statement is
the compare-and-set (SQLite runs one writer at a time). A worker that dies leaves a lease that
expires, and the row is claimed again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient

from models.db import read_beside


class Params:
    """Bound parameters in the dialect's style, in the order the SQL text uses them."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.postgres = conn.capabilities.dialect == "postgres"
        self.values: list[Any] = []

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}" if self.postgres else "?"


async def claim(
    conn: BaseDBAsyncClient,
    table: str,
    *,
    due_column: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    where: str = "",
    where_values: tuple[Any, ...] = (),
    owner: str | None = None,
    count_attempt: bool = False,
    returning: str = "id",
) -> list[dict[str, Any]]:
    """Lease up to ``limit`` due rows; ``where`` is extra SQL with ``{}`` for each of ``where_values``.

    With ``count_attempt`` the claim also adds one to the row's ``attempts`` (and RETURNING gives
    the new number): a try counts when it starts, so one cut short by a kill is counted too.

    On SQLite, outside a transaction, a read beside the service's connection first asks whether any
    row is due (``models.db.read_beside``): most polls find none, and then never wait for the
    service's connection, nor make its next transaction wait for them. A row that falls due
    meanwhile is claimed by the next poll.
    """
    if not isinstance(conn, TransactionalDBClient) and not await _any_due(
        conn, table, due_column, now, where, where_values
    ):
        return []
    p = Params(conn)
    sets = f"lease_until = {p(lease_until)}"
    if owner is not None:
        sets += f", locked_by = {p(owner)}"
    if count_attempt:
        sets += ", attempts = attempts + 1"
    # Placeholders are made in the order they appear in the SQL text (SQLite's "?" are positional).
    now_a, now_b = p(now), p(now)
    extra = ""
    if where:
        extra = " AND " + where.format(*(p(v) for v in where_values))
    lock = " FOR UPDATE SKIP LOCKED" if p.postgres else ""
    sql = (
        f'UPDATE "{table}" SET {sets} WHERE id IN ('
        f'SELECT id FROM "{table}" WHERE {due_column} <= {now_a} '
        f"AND (lease_until IS NULL OR lease_until < {now_b}){extra} "
        f"ORDER BY {due_column} LIMIT {p(limit)}{lock}) RETURNING {returning}"
    )
    return await conn.execute_query_dict(sql, p.values)


async def _any_due(
    conn: BaseDBAsyncClient, table: str, due_column: str, now: datetime, where: str, where_values: tuple[Any, ...]
) -> bool:
    """Whether a row of ``table`` is due and not leased, read beside the service's connection
    (True where there is no such read: the claim then finds out itself)."""
    p = Params(conn)
    if p.postgres:
        return True
    extra = " AND " + where.format(*(p(v) for v in where_values)) if where else ""
    values = [now, now, *p.values]
    found = await read_beside(
        f'SELECT 1 FROM "{table}" WHERE {due_column} <= ? AND (lease_until IS NULL OR lease_until < ?){extra} LIMIT 1',
        values,
    )
    return found is None or bool(found)


async def extend(conn: BaseDBAsyncClient, table: str, ids: list[int], *, owner: str, lease_until: datetime) -> set[int]:
    """Move the lease of ``owner``'s rows among ``ids`` to ``lease_until`` in one statement; returns
    the ids it still holds (a row another worker took over is not touched, and not returned)."""
    if not ids:
        return set()
    p = Params(conn)
    sets = f"lease_until = {p(lease_until)}"
    fence = f"locked_by = {p(owner)}"
    listed = ", ".join(p(i) for i in ids)
    sql = f'UPDATE "{table}" SET {sets} WHERE {fence} AND id IN ({listed}) RETURNING id'
    return {row["id"] for row in await conn.execute_query_dict(sql, p.values)}
