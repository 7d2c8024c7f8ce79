"""Multi-row INSERT ... ON CONFLICT for the bulk paths, on SQLite and PostgreSQL alike.

tortoise-orm's ``bulk_create`` sends one statement per row through ``executemany``; the bulk paths
here (the types tab's bulk actions, turning the Notification Center on, upserting operators,
publishing to many recipients) need one statement per chunk of rows instead, and ``ON CONFLICT``.
Values go through each field's ``to_db_value`` (on PostgreSQL JSON's and enums'; datetimes go as
their ``isoformat()``, which it reads as the same instant), so they are stored exactly as the ORM
stores them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

import orjson
from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.log import db_client_logger
from tortoise.models import Model

from core.jsonenc import dumps

#: SQLite (>= 3.32) accepts 32,766 bound parameters per statement.
MAX_PARAMETERS = 32_000
#: PostgreSQL: rows per statement (one JSON parameter), to bound its size.
ROWS_PER_JSON_STATEMENT = 10_000

#: PostgreSQL's type for a column's values, by tortoise field class.
_PG_TYPES: tuple[tuple[type[fields.Field[Any]], str], ...] = (
    (fields.BigIntField, "int8"),
    (fields.SmallIntField, "int2"),
    (fields.IntField, "int4"),
    (fields.BooleanField, "bool"),
    (fields.DatetimeField, "timestamptz"),
    (fields.JSONField, "jsonb"),
    (fields.FloatField, "float8"),
    (fields.DecimalField, "numeric"),
    (fields.CharField, "text"),
    (fields.TextField, "text"),
)


def _pg_type(model: type[Model], column: str) -> str:
    fields_map = model._meta.fields_map
    field = fields_map.get(column)
    if field is None and column.endswith("_id"):
        relation = fields_map.get(column.removesuffix("_id"))
        related = getattr(relation, "related_model", None)
        field = related._meta.pk if related is not None else None
    for field_class, pg_type in _PG_TYPES:
        if isinstance(field, field_class):
            return pg_type
    raise TypeError(f"no PostgreSQL type for {model.__name__}.{column}")


def placeholders(conn: BaseDBAsyncClient, start: int, count: int) -> list[str]:
    if conn.capabilities.dialect == "postgres":
        return [f"${i}" for i in range(start + 1, start + count + 1)]
    return ["?"] * count


def one_of(conn: BaseDBAsyncClient, column: str, pg_type: str, position: int) -> str:
    """A condition: ``column`` is one of a list bound as the single parameter at ``position``
    (1-based; bind ``list_param(conn, values)``). The statement's text is the same for any number
    of values, so it is parsed and planned once and never grows with the list: PostgreSQL
    ``"column" = ANY($n::type[])``, SQLite ``"column" IN (SELECT value FROM json_each(?))``."""
    if conn.capabilities.dialect == "postgres":
        return f'"{column}" = ANY(${position}::{pg_type}[])'
    return f'"{column}" IN (SELECT value FROM json_each(?))'


def list_param(conn: BaseDBAsyncClient, values: Iterable[Any]) -> Any:
    """A list of ints or strings as ``one_of`` binds it: an array (PostgreSQL), JSON text (SQLite)."""
    if conn.capabilities.dialect == "postgres":
        return list(values)
    return json.dumps(list(values))


def param(conn: BaseDBAsyncClient, position: int) -> str:
    """The placeholder of the bound parameter at ``position`` (1-based)."""
    return f"${position}" if conn.capabilities.dialect == "postgres" else "?"


def json_value(value: Any) -> Any:
    """A JSON column read by raw SQL: drivers hand it back as text (SQLite, asyncpg without a codec)."""
    return json.loads(value) if isinstance(value, (str, bytes)) else value


#: Fields whose values go to the database as they are (``to_db_value`` would return them as is).
PASSTHROUGH = (fields.CharField, fields.TextField, fields.IntField, fields.BigIntField)


def _converter(model: type[Model], columns: Sequence[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """SQLite: a row -> database values function for these columns. A value shared by many rows
    (one event's ``data`` for 1,000 recipients, the batch's timestamp, a resolution's channels)
    is converted once: every converted column's conversions are remembered by object identity
    (the object kept with it) for the converter's life (one statement's rows): 1.50 -> 1.29 µs
    per notification row. A bool goes as it is (sqlite3 binds it; ``to_db_value`` would return it
    unchanged). A datetime goes as the text tortoise's sqlite3 adapter makes of it
    (``isoformat(" ")``), made once here rather than by that adapter for every row on SQLite's
    thread (a 1,600-row INSERT: ~2.5 % of the process's GIL time)."""
    fields_map = model._meta.fields_map
    memoized: list[tuple[int, Any]] = []
    booleans: list[tuple[int, Any]] = []
    for index, column in enumerate(columns):
        field = fields_map.get(column) or fields_map.get(column.removesuffix("_id"))
        if not (field is None or column.endswith("_id") or isinstance(field, PASSTHROUGH)):
            (booleans if isinstance(field, fields.BooleanField) else memoized).append((index, field))
    memo: dict[int, tuple[Any, Any]] = {}
    names = tuple(columns)
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))

    def converted(value: Any, field: Any) -> tuple[Any, Any]:
        db_value = field.to_db_value(value, model)
        if isinstance(db_value, datetime):
            db_value = db_value.isoformat(" ")
        known = memo[id(value)] = (value, db_value)  # (the value kept: its id stays its own)
        return known

    def values(row: Mapping[str, Any]) -> list[Any]:
        out = list(pick(row))
        for index, field in memoized:
            value = out[index]
            if value is not None:
                known = memo.get(id(value))
                if known is None or known[0] is not value:
                    known = converted(value, field)
                out[index] = known[1]
        for index, field in booleans:
            value = out[index]
            if value is not None and value.__class__ is not bool:
                out[index] = field.to_db_value(value, model)
        return out

    return values


async def update_sqlite(
    conn: BaseDBAsyncClient,
    model: type[Model],
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str,
    sets: Mapping[str, str],
    where: str = "",
    returning: Sequence[str] = (),
    columns: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """SQLite: update existing rows, each found by ``key``, in one statement whose text does not
    grow with the rows: their values (of ``columns``, ``key`` among them; by default all of
    ``rows[0]``'s, converted as ``upsert`` converts them) are bound as one JSON parameter, read
    back by ``json_each`` as the table ``new``. ``sets`` maps a column to an SQL expression over the
    old row (``t``) and ``new`` (``t."count" + new."count"``); ``where``, a condition over both,
    leaves the rows it does not hold unchanged (and unreturned). Unlike an ``upsert`` on the key,
    only the changed columns are bound and converted (a collapsing call's ~950 items: 7 values
    each instead of 17)."""
    if not rows:
        return []
    columns = list(columns or rows[0].keys())
    convert = _converter(model, columns)
    picked = ", ".join(f'value ->> {i} AS "{c}"' for i, c in enumerate(columns))
    assignments = ", ".join(f'"{c}" = {expr}' for c, expr in sets.items())
    sql = (
        f'UPDATE "{model._meta.db_table}" AS t SET {assignments} FROM (SELECT {picked} FROM json_each(?)) AS new '
        f'WHERE t."{key}" = new."{key}"' + (f" AND {where}" if where else "")
    )
    if returning:
        sql += " RETURNING " + ", ".join(f'"{c}"' for c in returning)  # (the updated table's only)
    _, out = await conn.execute_query(sql, [dumps([convert(row) for row in rows])])
    return [dict(zip(returning, row, strict=True)) for row in out]


async def upsert(
    conn: BaseDBAsyncClient,
    model: type[Model],
    rows: Iterable[Mapping[str, Any]],
    *,
    conflict: Sequence[str],
    update: Mapping[str, str] | Sequence[str] = (),
    update_where: str | None = None,
    returning: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Insert ``rows``; on a ``conflict`` clash update ``update`` columns, or do nothing.

    SQLite: multi-row VALUES, chunked under its bound-parameter limit. PostgreSQL: ``INSERT ...
    SELECT ... FROM json_to_recordset($1::json)``, the rows as one JSON parameter (``_json_rows``).

    ``update`` is a list of columns to take from the new row, or a mapping of column to an SQL
    expression (``excluded.x`` is the new row, the table's name the old one); ``update_where``, an
    SQL condition on the old row, leaves the rows it does not hold for unchanged (and unreturned).
    """
    rows = list(rows)
    if not rows:
        return []
    columns = list(rows[0].keys())
    table = model._meta.db_table
    quoted = ", ".join(f'"{c}"' for c in columns)
    if isinstance(update, Mapping):
        sets = [f'"{c}" = {expr}' for c, expr in update.items()]
    else:
        sets = [f'"{c}" = excluded."{c}"' for c in update]
    conflict_sql = ", ".join(f'"{c}"' for c in conflict)
    action = f"DO UPDATE SET {', '.join(sets)}" if sets else "DO NOTHING"
    if sets and update_where:
        action += f" WHERE {update_where}"
    returning_sql = f" RETURNING {', '.join(returning)}" if returning else ""
    results: list[dict[str, Any]] = []
    if conn.capabilities.dialect == "postgres":
        # The rows as one JSON parameter: the statement's text is the same for any number of rows,
        # so PostgreSQL (and asyncpg's statement cache) prepares it once, not once per batch size.
        record = ", ".join(f'"{c}" {_pg_type(model, c)}' for c in columns)
        sql = (
            f'INSERT INTO "{table}" ({quoted}) SELECT {quoted} FROM json_to_recordset($1::json) AS "nc_rows"({record})'
            f" ON CONFLICT ({conflict_sql}) {action}{returning_sql}"
        )
        as_json = _json_rows(model, columns)
        for start in range(0, len(rows), ROWS_PER_JSON_STATEMENT):
            params = [as_json(rows[start : start + ROWS_PER_JSON_STATEMENT])]
            if returning:
                results.extend(await conn.execute_query_dict(sql, params))
            else:
                await conn.execute_query(sql, params)
        return results
    convert = _converter(model, columns)
    for sql, params in _sqlite_statements(table, columns, convert, rows, f"ON CONFLICT ({conflict_sql}) {action}"):
        if returning:
            # By position: a dict made from each sqlite3.Row looks every column up by name.
            _, written = await conn.execute_query(sql + returning_sql, params)
            results.extend(dict(zip(returning, row, strict=False)) for row in written)
        else:
            await conn.execute_query(sql, params)
    return results


def _json_rows(model: type[Model], columns: Sequence[str]) -> Callable[[Sequence[Mapping[str, Any]]], str]:
    """PostgreSQL: a rows -> JSON text function for ``json_to_recordset`` (an array of objects,
    one per row, keyed by ``columns``; KeyError for a row without one of them). TypeError for a
    value orjson cannot write (a string with a lone surrogate, which input never admits; an
    integer beyond 64 bits, which no integer column takes).

    An array per column (``unnest``, before) cost the event loop more than the rows it carried:
    asyncpg checks every element of every array against three abstract base classes, each check
    a Python call (1,000 rows of 16 columns: ~20 ms of the process's CPU against ~8 ms as JSON,
    and ~35 against ~25 ms until written). A row goes as the dict it is. A JSON column's value is
    converted (``to_db_value``) and goes in verbatim (``orjson.Fragment``); a datetime goes as
    its ``isoformat()`` (a naive one as UTC, as asyncpg and ``to_db_value`` take it; orjson's own
    would drop an offset's seconds and refuse a subclass); each once per object, as
    ``_converter`` does. A field whose ``to_db_value`` changes values (an enum's) goes through
    it; bools go as they are."""
    fields_map = model._meta.fields_map
    keys = set(columns)
    memoized: list[tuple[str, Any]] = []
    converted: list[tuple[str, Any, bool]] = []
    for column in columns:
        field = fields_map.get(column) or fields_map.get(column.removesuffix("_id"))
        if field is None or column.endswith("_id") or isinstance(field, PASSTHROUGH):
            continue
        if isinstance(field, (fields.JSONField, fields.DatetimeField)):
            memoized.append((column, field))
        else:
            converted.append((column, field, isinstance(field, fields.BooleanField)))
    memo: dict[int, tuple[Any, Any]] = {}

    def as_written(value: Any, field: Any) -> Any:
        if isinstance(field, fields.JSONField):
            return orjson.Fragment(str(field.to_db_value(value, model)))
        if isinstance(value, datetime):
            return value.isoformat() if value.utcoffset() is not None else value.isoformat() + "+00:00"
        return value

    def written(rows: Sequence[Mapping[str, Any]]) -> str:
        objects: list[dict[str, Any]] = []
        for row in rows:
            obj = dict(row)
            if obj.keys() != keys:
                obj = {c: row[c] for c in columns}
            for column, field in memoized:
                value = obj[column]
                if value is not None:
                    known = memo.get(id(value))
                    if known is None or known[0] is not value:
                        known = memo[id(value)] = (value, as_written(value, field))
                    obj[column] = known[1]
            for column, field, boolean in converted:
                value = obj[column]
                if value is not None and not (boolean and value.__class__ is bool):
                    obj[column] = field.to_db_value(value, model)
            objects.append(obj)
        return orjson.dumps(objects, option=orjson.OPT_NAIVE_UTC).decode()

    return written


def _sqlite_statements(
    table: str,
    columns: list[str],
    convert: Callable[[Mapping[str, Any]], list[Any]],
    rows: Sequence[Mapping[str, Any]],
    tail: str,
) -> Iterator[tuple[str, list[Any]]]:
    """SQLite's multi-row ``INSERT ... VALUES (...), ... <tail>`` for ``rows``, in chunks under its
    bound-parameter limit: each chunk's statement and parameters."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    group = f"({', '.join(['?'] * len(columns))})"
    per_chunk = rows_per_statement(len(columns))
    for start in range(0, len(rows), per_chunk):
        chunk = rows[start : start + per_chunk]
        params: list[Any] = []
        for row in chunk:
            params.extend(convert(row))
        yield f'INSERT INTO "{table}" ({quoted}) VALUES {", ".join([group] * len(chunk))} {tail}', params


async def next_id(conn: BaseDBAsyncClient, model: type[Model]) -> int:
    """SQLite, in a transaction that holds the write lock (every one here begins IMMEDIATE:
    models/sqlite_engine.py): the first of the ids that rows of ``model`` inserted now may take
    (past the largest ever given, as AUTOINCREMENT keeps it, and past the largest there is). A
    caller that numbers its rows itself needs no ``RETURNING``: fetching each row back cost the
    event loop and SQLite's thread ~2 µs per row, and the rows' work after the insert can run
    while SQLite writes them (``begin_insert``)."""
    table = model._meta.db_table
    _, rows = await conn.execute_query(
        'SELECT max(coalesce((SELECT "seq" FROM sqlite_sequence WHERE "name" = ?), 0),'
        f' coalesce((SELECT max("id") FROM "{table}"), 0))',
        [table],
    )
    return int(rows[0][0]) + 1


def rows_per_statement(columns: int) -> int:
    """How many rows of ``columns`` values one SQLite INSERT holds (its bound-parameter limit)."""
    return max(1, MAX_PARAMETERS // columns)


async def begin_insert(
    conn: BaseDBAsyncClient, model: type[Model], rows: Sequence[Mapping[str, Any]], *, conflict: Sequence[str]
) -> asyncio.Future[int]:
    """SQLite, in a transaction: ``rows`` inserted in one statement (``INSERT ... ON CONFLICT
    (conflict) DO NOTHING``; at most ``rows_per_statement`` of them, else ValueError), handed to
    SQLite's thread before this returns, ahead of any statement made after it: the caller works
    on while SQLite writes them. The future gives the number of rows inserted (those that clashed
    are not); await it before writing anything that refers to them, or that must not be written
    should the INSERT fail (SQLite may then have ended the transaction itself, a disk full say:
    what comes after runs outside it). One statement only, for that reason: a second one queued
    behind a failed first would run, and be kept, on its own."""
    inserted: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    if not rows:
        inserted.set_result(0)
        return inserted
    columns = list(rows[0].keys())
    if len(rows) > rows_per_statement(len(columns)):
        raise ValueError(f"{len(rows)} rows do not fit one statement of {len(columns)} columns")
    conflict_sql = ", ".join(f'"{c}"' for c in conflict)
    convert = _converter(model, columns)
    tail = f"ON CONFLICT ({conflict_sql}) DO NOTHING"
    [(sql, params)] = _sqlite_statements(model._meta.db_table, columns, convert, rows, tail)
    async with conn.acquire_connection() as connection:  # (the transaction's: none of its statements between)
        db_client_logger.debug("%s: %s", sql, params)  # (as tortoise logs its own)
        # aiosqlite queues the statement in the task's first step, which runs before this resumes.
        inserted = asyncio.ensure_future(_rowcount(connection.execute(sql, params)))
        await asyncio.sleep(0)
    # Its fault, should the caller fail first for another, is not left unretrieved.
    inserted.add_done_callback(lambda done: done.cancelled() or done.exception())
    return inserted


async def _rowcount(statement: Awaitable[Any]) -> int:
    return int((await statement).rowcount)
