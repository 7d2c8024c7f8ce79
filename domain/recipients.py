"""Who an event reaches, read once for the whole batch (SPEC section 3's inputs per recipient).

    recipients(instance, user_ids)       -> [Recipient]  created with defaults when never seen
    recipient_prefs(operators, types)    -> ({operator id: RecipientPrefs}, {(operator id, channel): chat})

Four reads for any number of recipients: switches, choices for the batch's types, push
subscriptions and links (on SQLite, none for the recipients a ``RecipientCache`` holds). The
linked chat each bot channel delivers to is returned with them, so the delivery row carries it
and no job reads the link again. The reads are SQL whose text does not
grow with the batch (the ids travel as one list parameter: ``models.bulk.one_of``): building the
ORM's ``IN (…)`` for hundreds of ids cost more than running the statements.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tortoise.timezone import now

from domain.operators import routing_choices
from domain.resolution import Choice, RecipientPrefs
from models.bulk import json_value, list_param, one_of, param, upsert
from models.db import db, is_postgres
from models.enums import BOT_CHANNELS, ChannelKind, Role
from models.operator import ChannelLink, ChannelSwitch, Operator, PushSubscription, TypeChoice


@dataclass(slots=True)
class Recipient:
    """What publishing reads of an operator: their row's delivery settings, no ORM model (building
    one per recipient, timestamps parsed, cost more than the rest of a recipient's work). Not
    frozen, though never changed: a frozen dataclass sets each of its 15 fields through
    ``object.__setattr__``, ~3x the cost of its init (1,000 per 16-call group)."""

    id: int
    user_id: str
    locale: str = "en"
    email: str | None = None
    default_melody: str = "default"
    banner_duration_seconds: int = 8
    banner_repeat_count: int = 0
    banner_repeat_interval_seconds: int = 60
    classic_browser_enabled: bool = True
    classic_sound_enabled: bool = True
    reminder_not_ready_enabled: bool = True
    reminder_not_ready_after_minutes: int = 10
    #: Working hours (domain/working_hours.py): the zone, and the spans as stored (JSON text or list).
    timezone: str | None = None
    working_hours: Any = None
    #: Inserted by this publish (never seen before): caches that knew "no such operator" must hear.
    created: bool = False


#: The columns a Recipient holds (its defaults are the model's, for rows just inserted).
RECIPIENT_FIELDS = tuple(name for name in Recipient.__dataclass_fields__ if name != "created")


#: The columns of each settings table publishing reads (its RecipientCache hears of changes to
#: these: models/migrations/0015_recipient_cache.py watches the same, and a test keeps them equal).
SETTINGS_COLUMNS = {
    ChannelSwitch._meta.db_table: ("operator_id", "channel", "enabled", "routing_mode", "escalate_after_minutes"),
    TypeChoice._meta.db_table: ("operator_id", "type_code", "channels", "melody"),
    PushSubscription._meta.db_table: ("operator_id",),
    ChannelLink._meta.db_table: ("operator_id", "channel", "target", "status"),
}


def _columns(model: type[Any], count: int | None = None) -> str:
    names = SETTINGS_COLUMNS[model._meta.db_table]
    return ", ".join(f'"{c}"' for c in names[:count])


_BOOLEANS = frozenset(i for i, name in enumerate(RECIPIENT_FIELDS) if name.endswith("_enabled"))


#: The chats of an operator with no bot channel linked (one, for every such cache entry).
_NO_CHATS: Mapping[ChannelKind, str] = MappingProxyType({})


class RecipientCache:
    """SQLite: what publishing read of its recipients — their ``Recipient``, their
    ``RecipientPrefs`` (with their choices of the types published to them) and their bot
    channels' chats — kept between transactions for as long as none of it changed. Each change to
    it, whoever writes it (a mutation, a ``worker`` process, the ``sqlite3`` shell, a REPLACE),
    sets the database's settings version to a new random number (``nc_settings_version``, set by
    triggers: models/migrations/0015_recipient_cache.py; random, so that a restored backup's is
    not one the cache holds), and a transaction that finds another version than the cache's
    (``current``) empties it first. A publishing transaction of 1,600 notifications for ~800
    operators read them in five statements (~4 ms of SQLite's thread, and the rows made into
    objects on the event loop's): ~10 % of the independent configuration's messages/s
    (bench/ANALYSIS.md).

    Holds at most ``capacity`` operators (``NC_RECIPIENT_CACHE_OPERATORS``; ~0.7 KiB each:
    recipients with equal settings share one ``RecipientPrefs``, equal choices one ``Choice``):
    the others are read each time. Operators a transaction creates are not kept (it may roll back).
    Not for PostgreSQL, whose API processes would order every settings write on the one version
    row; there ``recipients`` and ``recipient_prefs`` read each time."""

    __slots__ = ("capacity", "database", "version", "recipients", "prefs")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        #: The database and its settings version the entries are as of (None: none yet).
        self.database: str | None = None
        self.version: int | None = None
        self.recipients: dict[tuple[str, str], Recipient] = {}
        #: By operator id: their settings (with their choices of the types read), their bot
        #: channels' chats, and the types whose choices were read.
        self.prefs: dict[int, tuple[RecipientPrefs, Mapping[ChannelKind, str], frozenset[str]]] = {}

    async def current(self) -> RecipientCache | None:
        """In a transaction, before the recipients are read: the cache, emptied should the
        database or its settings version differ from its entries'; None (read everything) when
        it holds nothing (``capacity`` 0) or ``nc_settings_version`` has no row. Raises the
        database's error when that table is missing (a database not migrated: ``migrate``)."""
        if self.capacity <= 0:
            return None
        _, rows = await db().execute_query('SELECT "database", "version" FROM "nc_settings_version" WHERE "id" = 1')
        database, version = (rows[0][0], rows[0][1]) if rows else (None, None)
        if database != self.database or version != self.version:
            self.recipients.clear()
            self.prefs.clear()
            self.database, self.version = database, version
        return self if database is not None else None

    def room(self) -> int:
        """How many more operators it may take."""
        return self.capacity - max(len(self.recipients), len(self.prefs))


async def recipients(instance_id: str, user_ids: list[str], cache: RecipientCache | None = None) -> list[Recipient]:
    """The recipients, created with defaults for users never seen before: one read (of those
    ``cache`` does not hold, then kept there), and one insert returning the new rows only when
    some are new (a racing insert's rows are read back)."""
    rows: dict[str, Recipient] = {}
    unknown = user_ids
    if cache is not None:
        held = cache.recipients
        unknown = []
        for u in user_ids:
            known = held.get((instance_id, u))
            if known is None:
                unknown.append(u)
            else:
                rows[u] = known
    if unknown:
        read = await _read(instance_id, unknown)
        if cache is not None:
            for r in read[: max(0, cache.room())]:
                cache.recipients[(instance_id, r.user_id)] = r
        rows.update((r.user_id, r) for r in read)
    missing = [u for u in user_ids if u not in rows]
    if missing:
        ts = now()
        created = await upsert(
            db(),
            Operator,
            [
                {
                    "instance_id": instance_id,
                    "user_id": u,
                    "role": Role.OPERATOR.value,
                    "locale": "en",
                    "created_at": ts,
                    "updated_at": ts,
                }
                for u in sorted(missing)  # one lock order for racing publishes
            ],
            conflict=["instance_id", "user_id"],
            returning=["id", "user_id"],
        )
        if len(created) < len(missing):  # another publisher created some of them meanwhile
            rows.update({r.user_id: r for r in await _read(instance_id, missing)})
        else:
            rows.update({r["user_id"]: Recipient(id=r["id"], user_id=r["user_id"], created=True) for r in created})
    return [rows[u] for u in user_ids if u in rows]


async def _read(instance_id: str, user_ids: list[str]) -> list[Recipient]:
    conn = db()
    columns = ", ".join(f'"{c}"' for c in RECIPIENT_FIELDS)
    sql = (
        f'SELECT {columns} FROM "{Operator._meta.db_table}" '
        f'WHERE "instance_id" = {param(conn, 1)} AND {one_of(conn, "user_id", "text", 2)}'
    )
    _, rows = await conn.execute_query(sql, [instance_id, list_param(conn, user_ids)])
    if is_postgres():
        return [Recipient(*row) for row in rows]
    out = []
    for row in rows:  # SQLite keeps booleans as 0 / 1
        values = list(row)
        for i in _BOOLEANS:
            values[i] = bool(values[i])
        out.append(Recipient(*values))
    return out


async def recipient_prefs(
    operators: list[Recipient], type_codes: list[str], cache: RecipientCache | None = None
) -> tuple[dict[int, RecipientPrefs], dict[tuple[int, ChannelKind], str]]:
    """Every recipient's switches, choices for these types and reachability, and where each linked
    bot channel delivers (by operator id and channel): four reads in all, of the recipients
    ``cache`` does not hold with these types' choices (then read with those of the types it held
    them with, and kept there: as many as the types ever published)."""
    if cache is None:
        return await _prefs(operators, type_codes)
    held = cache.prefs
    wanted = frozenset(type_codes)
    out: dict[int, RecipientPrefs] = {}
    addresses: dict[tuple[int, ChannelKind], str] = {}
    unknown = []
    types = set(wanted)
    for o in operators:
        known = held.get(o.id)
        if known is None or not wanted <= known[2]:
            unknown.append(o)
            if known is not None:
                types |= known[2]
            continue
        out[o.id] = known[0]
        for channel, chat in known[1].items():
            addresses[(o.id, channel)] = chat
    if unknown:
        read_types = frozenset(types)
        read, read_addresses = await _prefs(unknown, sorted(read_types))
        out.update(read)
        addresses.update(read_addresses)
        chats: dict[int, dict[ChannelKind, str]] = {}
        for (operator_id, channel), chat in read_addresses.items():
            chats.setdefault(operator_id, {})[channel] = chat
        room = cache.room()
        for o in unknown:
            # (one its transaction created is not kept: that transaction may roll back)
            if o.created or (o.id not in held and room <= 0):
                continue
            room -= o.id not in held
            held[o.id] = (read[o.id], chats.get(o.id, _NO_CHATS), read_types)
    return out, addresses


async def _prefs(
    operators: list[Recipient], type_codes: list[str]
) -> tuple[dict[int, RecipientPrefs], dict[tuple[int, ChannelKind], str]]:
    """``recipient_prefs``'s four reads."""
    ids = [o.id for o in operators]
    conn = db()
    id_list = list_param(conn, ids)
    in_ids = one_of(conn, "operator_id", "int4", 1)
    switched_off: dict[int, set[ChannelKind]] = {i: set() for i in ids}
    routing: dict[int, list[tuple[str, str | None, int | None]]] = {}
    _, switches = await conn.execute_query(
        f"SELECT {_columns(ChannelSwitch)} "
        f'FROM "{ChannelSwitch._meta.db_table}" WHERE {in_ids} AND (NOT "enabled" OR "routing_mode" IS NOT NULL)',
        [id_list],
    )
    for operator_id, channel, enabled, mode, minutes in switches:
        if channel in ChannelKind.__members__ and not enabled:
            switched_off[operator_id].add(ChannelKind(channel))
        if mode is not None:
            routing.setdefault(operator_id, []).append((channel, mode, minutes))
    choices: dict[int, dict[str, Choice]] = {i: {} for i in ids}
    _, chosen = await conn.execute_query(
        f'SELECT {_columns(TypeChoice)} FROM "{TypeChoice._meta.db_table}" '
        f"WHERE {in_ids} AND {one_of(conn, 'type_code', 'text', 2)}",
        [id_list, list_param(conn, type_codes)],
    )
    # One Choice for equal ones: after the Notification Center was switched on, every operator
    # holds the defaults of every type (domain.instance_admin), which a cache then keeps once.
    interned: dict[Choice, Choice] = {}
    for operator_id, type_code, stored, melody in chosen:
        channels = frozenset(ChannelKind(v) for v in json_value(stored) or [] if v in ChannelKind.__members__)
        choice = Choice(channels, melody)
        choices[operator_id][type_code] = interned.setdefault(choice, choice)
    _, pushing = await conn.execute_query(
        f'SELECT DISTINCT {_columns(PushSubscription)} FROM "{PushSubscription._meta.db_table}" WHERE {in_ids}',
        [id_list],
    )
    with_push = {row[0] for row in pushing}
    links: dict[int, set[ChannelKind]] = {i: set() for i in ids}
    addresses: dict[tuple[int, ChannelKind], str] = {}
    for link in await _linked(ids):
        if link["channel"] in ChannelKind.__members__ and ChannelKind(link["channel"]) in BOT_CHANNELS:
            links[link["operator_id"]].add(ChannelKind(link["channel"]))
            if link["target"]:
                addresses[(link["operator_id"], ChannelKind(link["channel"]))] = link["target"]
    out: dict[int, RecipientPrefs] = {}
    # Recipients with equal settings (most set nothing, or hold the defaults) share one
    # RecipientPrefs: publishing then resolves them once, by identity, and a cache keeps it once.
    shared: dict[tuple[Any, ...], RecipientPrefs] = {}
    for o in operators:
        reachable = _reachable(links[o.id], o.id in with_push, bool(o.email))
        if o.id in routing:
            out[o.id] = RecipientPrefs(
                switched_off=frozenset(switched_off[o.id]),
                choices=choices[o.id],
                classic_browser=o.classic_browser_enabled,
                classic_sound=o.classic_sound_enabled,
                reachable=reachable,
                routing=routing_choices(routing[o.id]),
            )
            continue
        off = frozenset(switched_off[o.id])
        key = (off, tuple(sorted(choices[o.id].items())), o.classic_browser_enabled, o.classic_sound_enabled, reachable)
        prefs = shared.get(key)
        if prefs is None:
            prefs = shared[key] = RecipientPrefs(
                switched_off=off,
                choices=choices[o.id],
                classic_browser=o.classic_browser_enabled,
                classic_sound=o.classic_sound_enabled,
                reachable=reachable,
            )
        out[o.id] = prefs
    return out, addresses


#: What every recipient can be reached by (the panel's channels, e-chat, the webhook).
_ALWAYS_REACHABLE = frozenset(
    {ChannelKind.BELL, ChannelKind.BANNER, ChannelKind.SOUND, ChannelKind.ECHAT, ChannelKind.CUSTOM}
)


def _reachable(linked: set[ChannelKind], pushing: bool, email: bool) -> frozenset[ChannelKind]:
    reachable = set(_ALWAYS_REACHABLE) | linked
    if pushing:
        reachable.add(ChannelKind.BROWSER)
    if email:
        reachable.add(ChannelKind.EMAIL)
    return frozenset(reachable)


async def _linked(operator_ids: list[int]) -> list[dict[str, Any]]:
    """The operators' LINKED channels. On PostgreSQL the rows are share-locked until the publish
    commits: an unlink or relink (which changes them, then moves or skips the unsent deliveries
    that carry the chat) waits for it, so it also sees the rows this publish writes. SQLite's one
    writer orders the two already."""
    if not operator_ids:
        return []
    conn = db()
    sql = (
        f'SELECT {_columns(ChannelLink, 3)} FROM "{ChannelLink._meta.db_table}" '
        f"WHERE {one_of(conn, 'operator_id', 'int4', 1)} AND \"status\" = 'LINKED'"
    )
    return await conn.execute_query_dict(
        sql + (" FOR SHARE" if is_postgres() else ""), [list_param(conn, operator_ids)]
    )
