"""Collapse: one bell item per recipient, type and entity while it is unread.

A busy chat is one item that counts, not a hundred (items the recipient archived or snoozed are
left alone: a new event about them is a new item). For a type that collapses (the catalog's
``TypeDef.collapse``: comment_created, ticket_message, chat_message; an instance's type policy can
turn it on or off for any type) an event about an entity (domain.entities) that finds the
recipient's unread bell item of the same type and entity does not add an item: the item's
``count`` grows, it takes the event's title, body and data, and its ``updatedAt`` moves. Every tab
hears ``NotificationCollapsed`` on ``bell`` (the unread count does not change).

Its banner and its external channels fire again only once ``NC_COLLAPSE_WINDOW_SECONDS`` have passed
since they last fired for the item (``alerted_at``): one banner and one message per channel per
window, however many events arrive in it. Events of one call about one entity collapse together
too (the first makes the item with the call's count). Reading the item ends the collapse: the next
event starts a new item.

    collapse(policy, rows, plans, ts, window) -> Collapsing   in the publishing transaction:
        removes the events that collapse from ``rows``/``plans``, writes the collapsed items (one
        read, with their operators' unread counters, and one multi-row write per call, whatever
        the number of items)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.policy import InstancePolicy
from models.bulk import update_sqlite, upsert
from models.catalog import TYPES_BY_CODE
from models.db import db
from models.enums import ChannelKind
from models.notification import BellUnread, Notification

#: (operator id, dedupe key) of a notification row publishing is about to write.
RowKey = tuple[int, str]
#: (the event's id, the channels resolution turned on: (channel, deliverable)).
Plan = tuple[str, list[tuple[ChannelKind, bool]]]


@dataclass(slots=True)
class Collapsed:
    """An existing unread item that events of this call collapsed into."""

    notification_id: int
    operator_id: int
    #: The item as it is now: the latest event's texts and data, its own created_at and count.
    row: dict[str, Any]
    #: The latest event's channels.
    channels: list[tuple[ChannelKind, bool]]
    #: Its banner and external channels fire (the window since they last did has passed).
    alert: bool
    #: The events that collapsed into it, in order.
    event_ids: list[str]
    #: The operator's unread bell items, read with the item (collapsing does not change them; the
    #: call's new items for the operator are counted by the publisher, domain.panel.panel_items).
    unread_count: int = 0


@dataclass(slots=True)
class Collapsing:
    into_existing: list[Collapsed] = field(default_factory=list)
    #: A new row's key -> the events of this call that collapsed into it after the first.
    into_new: dict[RowKey, list[str]] = field(default_factory=dict)


_UPDATE = {
    "count": '"nc_notification"."count" + excluded."count"',
    "title": 'excluded."title"',
    "body": 'excluded."body"',
    "data": 'excluded."data"',
    "updated_at": 'excluded."updated_at"',
    "alerted_at": 'excluded."alerted_at"',
}


async def collapse(
    policy: InstancePolicy,
    rows: dict[RowKey, dict[str, Any]],
    plans: dict[RowKey, Plan],
    ts: datetime,
    window_seconds: float,
) -> Collapsing:
    """Collapse the call's events into unread items about the same entity (see the module)."""
    out = Collapsing()
    collapsing_types = {
        code for code in {r["type_code"] for r in rows.values()} if policy.collapses(TYPES_BY_CODE[code])
    }
    if not collapsing_types:
        return out
    groups: dict[tuple[int, str, str, str], list[RowKey]] = {}
    for key, row in rows.items():
        if row["type_code"] in collapsing_types and row["entity_id"] is not None and row["in_bell"]:
            groups.setdefault((row["operator_id"], row["type_code"], row["entity_kind"], row["entity_id"]), []).append(
                key
            )
    if not groups:
        return out
    await _serialize(policy.instance_id, {(g[2], g[3]) for g in groups})
    existing: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for found in await _unread_items(sorted({(g[3], g[0], g[1]) for g in groups})):
        group = (found["operator_id"], found["type_code"], found["entity_kind"], found["entity_id"])
        if group in groups and found["in_bell"]:
            existing[group] = found  # the newest unread one, should there be several
    window = timedelta(seconds=window_seconds)
    writes: list[dict[str, Any]] = []
    #: Each collapse with its group's keys and the first event's row, should the item turn out to
    #: have been read (archived, snoozed) by a transaction that committed meanwhile.
    pending: list[tuple[Collapsed, list[RowKey], dict[str, Any]]] = []
    for group, keys in groups.items():
        item = existing.get(group)
        latest = rows[keys[-1]]
        if item is None:
            if len(keys) > 1:
                first = rows[keys[0]]
                first.update(count=len(keys), title=latest["title"], body=latest["body"], data=latest["data"])
                out.into_new[keys[0]] = [plans[k][0] for k in keys[1:]]
                for key in keys[1:]:
                    del rows[key]
            continue
        alerted = item["alerted_at"] or item["created_at"]
        alert = ts - alerted >= window
        merged = {
            **latest,
            "id": item["id"],
            "event_id": item["event_id"],
            "created_at": item["created_at"],
            "count": len(keys),  # added to the stored count by the upsert
            "updated_at": ts,
            "alerted_at": ts if alert else item["alerted_at"],
        }
        writes.append(merged)
        collapsed = Collapsed(
            notification_id=item["id"],
            operator_id=item["operator_id"],
            row=merged,
            channels=plans[keys[-1]][1],
            alert=alert,
            event_ids=[plans[k][0] for k in keys],
            unread_count=item["unread"],
        )
        pending.append((collapsed, keys, rows[keys[0]]))
        for key in keys:
            del rows[key]
    if writes:
        writes.sort(key=lambda w: w["id"])  # rows locked in id order, as every writer takes them
        # Only into an item still unread and in the bell when the row is written (a concurrent
        # read, archive or snooze holds the row until it commits; then the item is left alone).
        counted = {r["id"]: r["count"] for r in await _collapse_into(writes)}
        for collapsed, keys, first in pending:
            if collapsed.notification_id in counted:
                collapsed.row["count"] = counted[collapsed.notification_id]
                out.into_existing.append(collapsed)
                continue
            latest = collapsed.row
            rows[keys[0]] = {
                **first,
                "count": len(keys),
                "title": latest["title"],
                "body": latest["body"],
                "data": latest["data"],
            }
            if len(keys) > 1:
                out.into_new[keys[0]] = collapsed.event_ids[1:]
    return out


async def _collapse_into(writes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The collapsed items written (their ``id`` and ``count`` after), those still unread and in
    the bell. SQLite (one writer at a time): one UPDATE of the changed columns only. PostgreSQL: an
    upsert on the id, which takes the rows' locks in id order, as every writer takes them."""
    conn = db()
    if conn.capabilities.dialect == "postgres":
        return await upsert(
            conn,
            Notification,
            writes,
            conflict=["id"],
            update=_UPDATE,
            update_where=_still_unread('"nc_notification"'),
            returning=["id", "count"],
        )
    return await update_sqlite(
        conn,
        Notification,
        writes,
        key="id",
        columns=["id", *_UPDATE],
        sets={c: 't."count" + new."count"' if c == "count" else f'new."{c}"' for c in _UPDATE},
        where=_still_unread("t"),
        returning=["id", "count"],
    )


def _still_unread(row: str) -> str:
    """The condition on an item's stored ``row`` (the table's name or alias) that it is still
    unread and in the bell."""
    return f'{row}."read_at" IS NULL AND {row}."archived_at" IS NULL AND {row}."snoozed_until" IS NULL'


#: Lock buckets per instance: concurrent publishing calls about entities of one bucket take turns.
LOCK_BUCKETS = 256


async def _serialize(instance_id: str, entities: set[tuple[str, str]]) -> None:
    """PostgreSQL: one transaction-scoped advisory lock per bucket of the call's entities, taken in
    one order, so concurrent calls about one entity take turns (each then sees the other's new item
    and collapses into it instead of making a second one). SQLite writers already take turns."""
    conn = db()
    if conn.capabilities.dialect != "postgres":
        return
    buckets = sorted({_bucket(instance_id, kind, entity_id) for kind, entity_id in entities})
    await conn.execute_query("SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::int8[]) AS k", [buckets])


def _bucket(instance_id: str, kind: str, entity_id: str) -> int:
    """A stable lock key (the same in every process) for an entity's bucket."""
    digest = hashlib.blake2b(f"{instance_id}\n{kind}\n{entity_id}".encode(), digest_size=8).digest()
    return 0x4E43_0000_0000_0000 + int.from_bytes(digest, "big") % LOCK_BUCKETS


_COLUMNS = (
    "id",
    "operator_id",
    "type_code",
    "entity_kind",
    "entity_id",
    "event_id",
    "created_at",
    "alerted_at",
    "in_bell",
)


async def _unread_items(wanted: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    """The unread items of each ``(entity id, operator id, type code)``, oldest first, each with its
    operator's unread counter (``unread``): one statement whose text does not depend on the number
    of pairs, one index seek per pair (index ``entity_id, operator_id, read_at``) and one per item
    into the counters (a read of its own cost a collapsing call ~1.2 ms of SQLite's thread)."""
    conn = db()
    table = Notification._meta.db_table
    counters = f'LEFT JOIN "{BellUnread._meta.db_table}" AS u ON u."operator_id" = n."operator_id"'
    columns = ", ".join(f'n."{c}"' for c in _COLUMNS) + ', coalesce(u."unread", 0) AS "unread"'
    if conn.capabilities.dialect == "postgres":
        sql = (
            f'SELECT {columns} FROM unnest($1::text[], $2::int8[], $3::text[]) AS p("entity_id", "operator_id", '
            f'"type_code") JOIN "{table}" AS n ON n."entity_id" = p."entity_id" AND n."operator_id" = p."operator_id" '
            f'AND n."type_code" = p."type_code" {counters} WHERE n."read_at" IS NULL AND n."archived_at" IS NULL '
            'AND n."snoozed_until" IS NULL ORDER BY n."id"'
        )
        params: list[Any] = [[w[0] for w in wanted], [w[1] for w in wanted], [w[2] for w in wanted]]
    else:
        # CROSS JOIN: SQLite loops over the pairs and seeks each one.
        sql = (
            f'SELECT {columns} FROM json_each(?) AS p CROSS JOIN "{table}" AS n {counters} '
            'WHERE n."entity_id" = p.value ->> 0 '
            f'AND n."operator_id" = p.value ->> 1 AND n."read_at" IS NULL AND n."type_code" = p.value ->> 2 '
            'AND n."archived_at" IS NULL AND n."snoozed_until" IS NULL ORDER BY n."id"'
        )
        params = [json.dumps(wanted)]
    rows = await conn.execute_query_dict(sql, params)
    for row in rows:
        row["created_at"] = _aware(row["created_at"])
        row["alerted_at"] = _aware(row["alerted_at"]) if row["alerted_at"] is not None else None
    return rows


def _aware(value: datetime | str) -> datetime:
    """A timestamp as the driver returns it (asyncpg: a datetime; SQLite: tortoise's ISO text) as
    an aware datetime (naive ones are UTC, as tortoise stores them)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


__all__ = ["Collapsed", "Collapsing", "collapse"]
