"""Digests: bursts on an external channel become one message per recipient and channel (issue 15).

A digested delivery row (a *member*) waits without a due time (``next_attempt_at`` NULL, so no
claim takes it alone) and names its digest's own row (``digest_id``): a delivery row without a
notification, ``route = 'DIGEST'``, due when the window that the first member opened ends (or when
the recipient's working hours release it). Workers claim that row like any job; the channel sends
one message listing the members still QUEUED (read ones were CANCELLED meanwhile), and the members
take the digest's outcome. A member joins an open digest due no later than its own window would end
(a type's short window is never stretched by another's long one), else opens one; members show the
digest's status (HELD while it waits for working hours). A digest that a worker claimed, or that was
tried once, takes no new members: the next event opens a new one.

    open_digests(instance, [(operator id, channel)])  -> {(operator id, channel): [OpenDigest]} by due time
    digest_text(notifications, locale)                 -> (title, body)  grouped, in the locale
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.routing import DIGEST
from models.bulk import list_param, one_of, param
from models.catalog import pick_locale, text
from models.db import db, is_postgres
from models.enums import DeliveryStatus
from models.notification import Delivery, Notification

#: PostgreSQL advisory lock keys of operator buckets (apart from domain/collapse.py's entity keys).
LOCK_KEY = 0x4E44_0000_0000_0000
LOCK_BUCKETS = 1024
#: Lines a digest lists before "… and N more".
MAX_LINES = 10

TITLE = {
    "en": ("{n} new notification", "{n} new notifications", "{n} new notifications"),
    "uk": ("{n} нове сповіщення", "{n} нові сповіщення", "{n} нових сповіщень"),
}
MORE = {"en": "… and {n} more", "uk": "… і ще {n}"}


def _plural(n: int, locale: str) -> int:
    """Index into (one, few, many): Ukrainian's three forms, English's two."""
    if pick_locale(locale) == "uk":
        if n % 10 == 1 and n % 100 != 11:
            return 0
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return 1
        return 2
    return 0 if n == 1 else 1


@dataclass(frozen=True)
class Member:
    """What a digest lists of one member's notification."""

    type_code: str
    title: str
    entity: str | None
    count: int = 1


def digest_member(notification: Notification) -> Member:
    entity = f"{notification.entity_kind}:{notification.entity_id}" if notification.entity_kind else None
    return Member(notification.type_code, notification.title, entity, notification.count or 1)


def digest_text(members: Sequence[Member], locale: str) -> tuple[str, str]:
    """The digest's title ("5 new notifications") and body: one line per type and ticket or chat,
    in first-seen order, the latest title with "×n" when several; at most MAX_LINES lines."""
    total = sum(m.count for m in members)
    forms = TITLE.get(pick_locale(locale)) or TITLE["en"]
    title = forms[_plural(total, locale)].format(n=total)
    groups: dict[tuple[str, str | None], list[Any]] = {}
    for m in members:
        key = (m.type_code, m.entity)
        group = groups.setdefault(key, [m.title, 0])
        group[0] = m.title
        group[1] += m.count
    lines = [f"• {t} ×{n}" if n > 1 else f"• {t}" for t, n in groups.values()]
    if len(lines) > MAX_LINES:
        rest = len(lines) - (MAX_LINES - 1)
        lines = [*lines[: MAX_LINES - 1], text(MORE, locale).format(n=rest)]
    return title, "\n".join(lines)


@dataclass(frozen=True)
class OpenDigest:
    id: int
    due: datetime
    status: str


async def open_digests(instance_id: str, pairs: Sequence[tuple[int, str]]) -> dict[tuple[int, str], list[OpenDigest]]:
    """The digests still taking members of these (operator id, channel) pairs: due, never tried,
    not claimed. On PostgreSQL their rows are locked until the caller's transaction ends, so a
    worker's claim (SKIP LOCKED) takes a digest only after the members written with it commit; and
    concurrent publishers to one operator take turns here (an advisory lock per bucket of
    operators, taken after collapse's entity locks in every transaction), so the second sees the
    first's new digest instead of opening another."""
    if not pairs:
        return {}
    conn = db()
    operators = sorted({operator_id for operator_id, _ in pairs})
    if is_postgres():
        buckets = sorted({LOCK_KEY + operator_id % LOCK_BUCKETS for operator_id in operators})
        await conn.execute_query("SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::int8[]) AS k", [buckets])
    sql = (
        f'SELECT "id", "operator_id", "channel", "next_attempt_at", "status" FROM "{Delivery._meta.db_table}" '
        f'WHERE {one_of(conn, "operator_id", "int4", 1)} AND "route" = {param(conn, 2)} '
        f'AND "status" IN ({param(conn, 3)}, {param(conn, 4)}) AND "attempts" = 0 AND "lease_until" IS NULL '
        f'AND "instance_id" = {param(conn, 5)} ORDER BY "next_attempt_at", "id"'
    )
    if is_postgres():
        sql += " FOR UPDATE"
    _, rows = await conn.execute_query(
        sql,
        [
            list_param(conn, operators),
            DIGEST,
            DeliveryStatus.QUEUED.value,
            DeliveryStatus.HELD.value,
            instance_id,
        ],
    )
    wanted = set(pairs)
    out: dict[tuple[int, str], list[OpenDigest]] = {}
    for digest_id, operator_id, channel, due, status in rows:
        if (operator_id, channel) in wanted:
            when = due if isinstance(due, datetime) else datetime.fromisoformat(str(due))
            out.setdefault((operator_id, channel), []).append(OpenDigest(digest_id, when, status))
    return out
