"""Acknowledge by entity: everything about a ticket or chat is read at once.

Three ways in, one rule:

- ``markEntityRead(entity)``: the viewer's own unread items about it;
- a producer's ``entity_resolved`` event: its recipients' items (every operator's of the instance
  when ``recipients`` is empty);
- with the instance's ``readOnEntityClose``, a ``ticket_closed`` / ``chat_closed`` event reads every
  operator's items about the ticket or chat it closes (before its own notification is written).

Reading takes back what the items still had coming (domain.retract): their unsent external
deliveries are CANCELLED, their banner repeats stop, and every open tab hears NotificationsRead on
``bell`` and ToastsDismissed on ``toasts``.

    EntityRead(kind, id, users)        users: user ids, or None for every operator of the instance
    read_about(instance, [EntityRead], at) -> [ReadMark]   in the caller's transaction; one UPDATE
        per entity, then five statements for all of them (banner repeats, deliveries, counters,
        counters read, users)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.bell import MARK_CHUNK, visible
from domain.retract import take_back
from domain.unread import counters, take_from_counters
from models.bulk import list_param, one_of, param
from models.db import db
from models.notification import Notification, ToastRepeat
from models.operator import Operator


@dataclass(frozen=True, slots=True)
class EntityRead:
    kind: str
    id: str
    #: Whose items: these users' (ids as the platform knows them), or every operator's (None).
    users: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ReadMark:
    """One user's items read by a call: their ids (newest first) and the unread count after."""

    user_id: str
    ids: list[str]
    unread_count: int


async def read_about(instance_id: str, entities: list[EntityRead], at: datetime) -> list[ReadMark]:
    """Read the unread items about each entity (see the module); one ReadMark per user whose
    items changed, in user id order."""
    conn = db()
    table = Notification._meta.db_table
    operators = Operator._meta.db_table
    read_at = Notification._meta.fields_map["read_at"].to_db_value(at, Notification)
    changed: dict[int, list[int]] = {}
    in_bell: dict[int, int] = {}
    for entity in entities:
        if entity.users is not None and not entity.users:
            continue
        # Parameter 1 is the read time (the UPDATE's); the conditions use 2 onwards.
        where = (
            f'"instance_id" = {param(conn, 2)} AND "entity_id" = {param(conn, 3)} '
            f'AND "entity_kind" = {param(conn, 4)} AND "read_at" IS NULL'
        )
        values: list[object] = [read_at, instance_id, entity.id, entity.kind]
        if entity.users is not None:
            where += (
                f' AND "operator_id" IN (SELECT "id" FROM "{operators}" WHERE "instance_id" = {param(conn, 5)}'
                f" AND {one_of(conn, 'user_id', 'text', 6)})"
            )
            values += [instance_id, list_param(conn, sorted(set(entity.users)))]
        if conn.capabilities.dialect == "postgres":
            # The rows in id order first, as every other writer of notifications takes them
            # (domain.bell.lock_in_order): concurrent writers queue instead of deadlocking.
            await conn.execute_query(
                f'SELECT 1 FROM "{table}" WHERE $1::timestamptz IS NOT NULL AND {where} ORDER BY "id" FOR UPDATE',
                values,
            )
        sql = f'UPDATE "{table}" SET "read_at" = {param(conn, 1)} WHERE {where}'
        returning = ' RETURNING "id", "operator_id", "in_bell", "archived_at", "snoozed_until"'
        for row in await conn.execute_query_dict(sql + returning, values):
            changed.setdefault(row["operator_id"], []).append(row["id"])
            if visible(row):  # archived and snoozed items are not on the counter
                in_bell[row["operator_id"]] = in_bell.get(row["operator_id"], 0) + 1
    if not changed:
        return []
    ids = sorted(i for read in changed.values() for i in read)
    for start in range(0, len(ids), MARK_CHUNK):
        await ToastRepeat.filter(notification_id__in=ids[start : start + MARK_CHUNK]).delete()
    await take_back(ids, at)
    await take_from_counters(in_bell)
    now = await counters(changed)
    users = dict(await Operator.filter(id__in=sorted(changed)).values_list("id", "user_id"))
    marks = [
        ReadMark(
            user_id=str(users[operator_id]),
            ids=[str(i) for i in sorted(read, reverse=True)],
            unread_count=now.get(operator_id, 0),
        )
        for operator_id, read in changed.items()
        if operator_id in users
    ]
    return sorted(marks, key=lambda m: m.user_id)


__all__ = ["EntityRead", "ReadMark", "read_about"]
