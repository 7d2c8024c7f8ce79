"""Events in, notifications out (SPEC section 4): idempotency, CSAT rules, writes (the events are
checked first by domain/event_input.py).

Everything one event creates — its processed-event row, the recipients' notifications, the delivery
rows of external channels (the durable job queue) and one hand-off row for the panel's messages of
the whole call (domain/panel.py) — is written in the caller's transaction with multi-row inserts: a
1,000-recipient event is a handful of statements. Nothing is delivered here.

An external delivery row takes its channel's route (domain/routing.py): SKIPPED when it sends only
while the recipient is away and they are at an active panel, due at its deadline (ESCALATE_AFTER),
HELD until the recipient's working hours open, or a member of a digest (domain/digests.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from tortoise.timezone import now

from core.logs import EVENT_ID
from core.settings import Limits
from domain.acknowledge import EntityRead, ReadMark, read_about
from domain.collapse import collapse
from domain.digests import open_digests
from domain.entities import CLOSING_TYPES, with_entity
from domain.event_input import CSAT_TYPES, RESOLVE_TYPE, Event, is_score, validate
from domain.panel import PANEL_CHANNELS, Showings, add_unread, panel_items
from domain.policy import InstancePolicy, ensure_instance, load_policy
from domain.presence import record_status
from domain.recipients import Recipient, RecipientCache, recipient_prefs, recipients
from domain.resolution import RecipientPrefs, TypeResolution, answer_key, resolve
from domain.routing import ALWAYS_ON, AT_THE_PANEL, DIGEST, PresenceSource, Route, away_of
from domain.templates import render
from domain.working_hours import WorkingHours, from_row
from models.bulk import begin_insert, json_value, list_param, next_id, one_of, rows_per_statement, upsert
from models.catalog import TYPES_BY_CODE, TypeDef
from models.db import db
from models.enums import ChannelKind, DeliveryStatus, RoutingMode, TypeAvailability
from models.notification import Delivery, Notification, ProcessedEvent

STATUS_TYPE = "operator_status_changed"
#: Types whose effects on a batch come before its other events' writes, whatever their order: an
#: entity's items read (``entity_resolved``, and the closing types when the instance reads on
#: close) before the batch's new items are written, a recipient's status recorded before any
#: event is routed. A batch joining several producers' calls may hold them only in its first call.
ACTS_FIRST = frozenset({RESOLVE_TYPE, STATUS_TYPE, *CLOSING_TYPES})


class NumberingClash(Exception):
    """A numbered notification was not written: it clashed with a stored one (``publish``'s
    ``numbered``). Its transaction is to be rolled back and the call published unnumbered."""


@dataclass(frozen=True)
class Published:
    event_id: str
    duplicate: bool
    notification_count: int
    deliveries_queued: int


@dataclass(frozen=True)
class Batch:
    """What a publishing call wrote: a result per event, in the order sent; the panel messages
    for the publisher to hand to the broker after the commit (domain/panel.py); and whether any
    external job (a worker's) was queued."""

    results: list[Published]
    #: Made into PanelItems after the commit (``Showings.items``).
    panel: Showings | None = None
    external_queued: bool = False
    #: When the notifications were written (their ``created_at``).
    written_at: datetime | None = None
    #: Users this call created operator rows for (first seen as recipients).
    new_users: list[str] = field(default_factory=list)
    #: The hand-off row of ``panel`` (deleted by the publisher once it sent them), if any.
    hand_off_id: int | None = None
    #: Items read by entity_resolved (or closing) events: announced by the publisher after the commit.
    read: list[ReadMark] = field(default_factory=list)


async def publish(
    instance_id: str,
    events: list[Event],
    limits: Limits,
    *,
    policy: InstancePolicy | None = None,
    reminder_minute_seconds: float = 60.0,
    panel_fallback_seconds: float = 5.0,
    collapse_window_seconds: float = 60.0,
    presence: PresenceSource | None = None,
    routing_minute_seconds: float = 60.0,
    away_check_seconds: float = 60.0,
    validated: bool = False,
    numbered: bool = False,
    recipient_cache: RecipientCache | None = None,
) -> Batch:
    """Write everything the events create (in the caller's transaction). The panel's messages
    (``Batch.panel``) are the publisher's to hand to the broker after the commit; their hand-off
    row is due ``panel_fallback_seconds`` later, when a worker sends them if the publisher did not.

    ``numbered`` (SQLite, in a transaction begun IMMEDIATE): the notifications are numbered here
    instead of read back, and written while the rest is worked out; should one clash with a stored
    row (a CSAT rating's second event), ``NumberingClash`` is raised: the caller rolls back and
    publishes again unnumbered. ``recipient_cache`` (SQLite): what is read of the recipients is
    taken from there, and kept there, while the database's settings version stays the same."""
    if not validated:
        validate(events, limits)
    events = [with_entity(event) for event in events]
    if policy is None:
        policy = await load_policy(instance_id)
    if not policy.stored:
        await ensure_instance(instance_id)
    token = EVENT_ID.set(events[0].id) if len(events) == 1 else None
    try:
        return await _publish_batch(
            policy,
            events,
            reminder_minute_seconds,
            panel_fallback_seconds,
            collapse_window_seconds,
            presence,
            routing_minute_seconds,
            away_check_seconds,
            numbered,
            recipient_cache,
        )
    finally:
        if token is not None:
            EVENT_ID.reset(token)


async def _publish_batch(
    policy: InstancePolicy,
    events: list[Event],
    minute_seconds: float,
    fallback_seconds: float,
    window_seconds: float,
    presence: PresenceSource | None,
    routing_minute_seconds: float,
    away_check_seconds: float,
    numbered: bool,
    recipient_cache: RecipientCache | None,
) -> Batch:
    """Every event of the call with the same handful of statements, however many events there are."""
    conn = db()
    ts = now()
    panel_due = ts + timedelta(seconds=fallback_seconds)
    # The unique (instance, event id) makes racing duplicates create exactly one set; an id sent
    # twice in one call counts once, like a second call would.
    first_of: dict[str, Event] = {}
    for event in events:
        first_of.setdefault(event.id, event)
    claimed_rows = await upsert(
        conn,
        ProcessedEvent,
        [
            {
                "instance_id": policy.instance_id,
                "event_id": event_id,
                "type_code": event.type,
                "notification_count": 0,
                "deliveries_queued": 0,
                "created_at": ts,
            }
            for event_id, event in sorted(first_of.items())  # one lock order for racing calls
        ],
        conflict=["instance_id", "event_id"],
        returning=["event_id"],
    )
    # The claims were written in key order (for the locks); the batch is handled in the producer's order.
    won = {r["event_id"] for r in claimed_rows}
    claimed = [event for event_id, event in first_of.items() if event_id in won]
    earlier = (
        {
            row.event_id: row
            for row in await ProcessedEvent.filter(
                instance_id=policy.instance_id, event_id__in=[i for i in first_of if i not in {e.id for e in claimed}]
            )
        }
        if len(claimed) < len(first_of)
        else {}
    )

    # Handled tickets and chats: their unread items are read before this call's new ones are written.
    handled = [
        EntityRead(e.entity_kind, e.entity_id, tuple(e.recipients) or None)
        for e in claimed
        if e.type == RESOLVE_TYPE and e.entity_kind is not None and e.entity_id is not None
    ]
    if policy.read_on_entity_close:
        handled += [
            EntityRead(e.entity_kind, e.entity_id)
            for e in claimed
            if e.type in CLOSING_TYPES and e.entity_kind is not None and e.entity_id is not None
        ]
    read_marks = await read_about(policy.instance_id, handled, ts) if handled else []

    # Status events feed reminders; the others are delivered (unless unavailable or not delivered).
    status_events = [e for e in claimed if e.type == STATUS_TYPE]
    delivered = [
        e
        for e in claimed
        if e.type != STATUS_TYPE
        and TYPES_BY_CODE[e.type].delivered
        and policy.availability(TYPES_BY_CODE[e.type]) is not TypeAvailability.UNAVAILABLE
    ]
    wanted = {r for e in status_events for r in e.recipients} | {
        r for e in delivered for r in e.recipients if r != e.actor_id
    }
    cache = await recipient_cache.current() if recipient_cache is not None and wanted else None
    operators = (
        {
            o.user_id: o
            for o in await recipients(
                policy.instance_id, list(dict.fromkeys([r for e in events for r in e.recipients if r in wanted])), cache
            )
        }
        if wanted
        else {}
    )
    for event in status_events:
        token = EVENT_ID.set(event.id)
        try:
            group = [operators[r] for r in dict.fromkeys(event.recipients) if r in operators]
            await record_status(policy.instance_id, group, event.data, event.occurred_at or ts, minute_seconds)
        finally:
            EVENT_ID.reset(token)

    type_codes = sorted({c for e in delivered for c in _candidate_types(TYPES_BY_CODE[e.type])})
    prefs, addresses = await recipient_prefs(list(operators.values()), type_codes, cache) if delivered else ({}, {})
    # Recipients with the same settings get the same answer: resolve once per distinct input,
    # with the channels it turns on (and their values, as the notification row stores them).
    answers: dict[tuple[Any, ...], _Answer] = {}
    # By the settings object first: recipients who set nothing share one (recipient_prefs).
    answered: dict[tuple[int, str], _Answer] = {}

    def resolved(p: RecipientPrefs, type_def: TypeDef) -> _Answer:
        answer = answered.get((id(p), type_def.code))
        if answer is not None:
            return answer
        key = answer_key(p, type_def.code)
        answer = answers.get(key)
        if answer is None:
            resolution = resolve(policy, p, type_def)
            on = [(c, d.deliverable) for c, d in resolution.decisions.items() if d.on]
            answer = answers[key] = _Answer(
                resolution,
                on,
                [c.value for c, _ in on],
                any(c is ChannelKind.SOUND for c, _ in on),
                any(c is ChannelKind.BELL for c, _ in on),
            )
        answered[(id(p), type_def.code)] = answer
        return answer

    notification_rows: dict[tuple[int, str], dict[str, Any]] = {}
    plans: dict[tuple[int, str], tuple[str, list[tuple[ChannelKind, bool]]]] = {}
    # How each recipient's external channels send, by (operator id, event id) (domain/routing.py).
    routes_of: dict[tuple[int, str], dict[ChannelKind, Route]] = {}
    for event in delivered:
        type_def = TYPES_BY_CODE[event.type]
        negative = _is_negative(policy, type_def, event.data)
        key = _dedupe_key(type_def, event)
        texts: dict[tuple[str, str], tuple[str, str]] = {}  # (type, locale) -> title, body
        for user_id in dict.fromkeys(event.recipients):
            operator = operators.get(user_id)
            if operator is None or user_id == event.actor_id or (operator.id, key) in notification_rows:
                continue
            recipient_type = type_def
            if negative:
                candidate = resolved(prefs[operator.id], TYPES_BY_CODE["csat_negative"])[0]
                if policy.availability(candidate.type_def) is not TypeAvailability.UNAVAILABLE and candidate.channels:
                    recipient_type = candidate.type_def
            resolution, channels, values, sounds, in_bell = resolved(prefs[operator.id], recipient_type)
            if not channels:
                continue
            text_key = (recipient_type.code, operator.locale)
            if text_key not in texts:
                texts[text_key] = render(recipient_type, event.data, operator.locale)
            title, body = texts[text_key]
            notification_rows[(operator.id, key)] = {
                "instance_id": policy.instance_id,
                "operator_id": operator.id,
                "event_id": key,
                "type_code": recipient_type.code,
                "category_code": recipient_type.category,
                "title": title,
                "body": body,
                "entity_kind": event.entity_kind,
                "entity_id": event.entity_id,
                "data": event.data,
                "channels": values,
                # What resolution chose travels with the notification: no job reads it again.
                "melody": (resolution.melody or operator.default_melody) if sounds else None,
                "in_bell": in_bell,
                "created_at": ts,
                "count": 1,
            }
            plans[(operator.id, key)] = (event.id, channels)
            if resolution.routes:
                routes_of[(operator.id, event.id)] = resolution.routes

    # Unread items about the same entity collapse (domain/collapse.py): fewer rows, no new items.
    collapsing = await collapse(policy, notification_rows, plans, ts, window_seconds)

    rows = list(notification_rows.values())
    inserting: asyncio.Future[int] | None = None
    totals: dict[int, int] | None = None
    # Numbered when one INSERT holds them (their columns and the id given here: 2,000 rows); a
    # larger call's are read back, each statement awaited (see models.bulk.begin_insert).
    if numbered and rows and len(rows) <= rows_per_statement(len(rows[0]) + 1):
        # The rows numbered here (the transaction holds SQLite's write lock): the unread counters
        # are raised first, and what follows the notifications' INSERT is worked out while
        # SQLite's thread writes them (a 1,600-row INSERT is ~35 ms of that thread's time).
        first = await next_id(conn, Notification)
        created: list[tuple[int, tuple[int, str]]] = []  # (id, (operator id, event key)), in id order
        for offset, (row_key, row) in enumerate(notification_rows.items()):
            row["id"] = first + offset
            created.append((first + offset, row_key))
        totals = await add_unread([(r["id"], r["operator_id"]) for r in rows if r["in_bell"]])
        inserting = await begin_insert(conn, Notification, rows, conflict=["operator_id", "event_id"])
    else:
        returned = await upsert(
            conn, Notification, rows, conflict=["operator_id", "event_id"], returning=["id", "operator_id", "event_id"]
        )
        created = sorted((r["id"], (r["operator_id"], r["event_id"])) for r in returned)

    async def written() -> None:
        """Before the first row that refers to the notifications (a banner's repeat, a delivery)
        or that must not be written should their INSERT fail: numbered, all of them were written."""
        if inserting is not None and await inserting != len(rows):
            raise NumberingClash(f"{len(rows) - inserting.result()} of {len(rows)} numbered notifications clashed")

    delivery_rows: list[dict[str, Any]] = []
    external_queued = False
    counts: dict[str, list[int]] = {e.id: [0, 0] for e in claimed}
    # Recipients with an active panel, for the channels that send only when they are away.
    present = await _present(policy.instance_id, routes_of, operators, presence)
    hours: dict[int, WorkingHours | None] = {}
    by_id = {o.id: o for o in operators.values()}
    digested: list[tuple[dict[str, Any], int]] = []

    def queue(operator_id: int, notification_id: int, event_id: str, channels: list[tuple[ChannelKind, bool]]) -> None:
        nonlocal external_queued
        routes = routes_of.get((operator_id, event_id), {})
        for channel, deliverable in channels:
            if channel in PANEL_CHANNELS:
                counts[event_id][1] += deliverable
                continue  # the publisher sends these itself; one hand-off row covers the batch
            route = routes.get(channel)
            row = {
                "instance_id": policy.instance_id,
                "operator_id": operator_id,
                "notification_id": notification_id,
                "channel": channel.value,
                # The linked chat travels with the job: the bot channel does not read it again.
                "address": addresses.get((operator_id, channel)),
                "status": (DeliveryStatus.QUEUED if deliverable else DeliveryStatus.SKIPPED).value,
                "attempts": 0,
                "last_error": None if deliverable else _skip_reason(channel),
                "next_attempt_at": ts if deliverable else None,
                "route": None,
                "digest_id": None,
                "created_at": ts,
                "updated_at": ts,
            }
            delivery_rows.append(row)
            if deliverable and route is not None:
                if operator_id not in hours:
                    operator = by_id[operator_id]
                    hours[operator_id] = from_row(operator.timezone, json_value(operator.working_hours))
                at_panel = operator_id in present
                _routed(row, route, at_panel, hours[operator_id], routing_minute_seconds, away_check_seconds)
                if route.digest_seconds > 0:
                    digested.append((row, route.digest_seconds))
            counts[event_id][1] += deliverable
            external_queued |= deliverable

    into_new = collapsing.into_new
    # A resolution that turns on panel channels only (shared by its recipients) is counted, not queued.
    panel_only: dict[int, int | None] = {}
    for notification_id, row_key in created:
        event_id, channels = plans[row_key]
        tally = counts[event_id]
        tally[0] += 1
        if into_new:
            for later in into_new.get(row_key, ()):
                counts[later][0] += 1
        deliverable = panel_only.get(id(channels), -1)
        if deliverable == -1:
            in_panel = all(channel in PANEL_CHANNELS for channel, _ in channels)
            deliverable = panel_only[id(channels)] = sum(d for _, d in channels) if in_panel else None
        if deliverable is not None:
            tally[1] += deliverable
        else:
            queue(row_key[0], notification_id, event_id, channels)
    # A collapsed item's external channel that still waits to send (an escalation, a WHEN_AWAY
    # delivery, a digest member, a held one) sends the grown item once: no second row for it; nor
    # for an item already escalated (escalated once, while unread).
    waiting = await _waiting_channels(
        [
            i.notification_id
            for i in collapsing.into_existing
            if i.alert and any(c not in PANEL_CHANNELS for c, _ in i.channels)
        ]
    )
    for item in collapsing.into_existing:
        for event_id in item.event_ids:
            counts[event_id][0] += 1
        if item.alert:  # once per window: the banner, the sound and one message per external channel
            channels = [(c, d) for c, d in item.channels if (item.notification_id, c.value) not in waiting]
            queue(item.operator_id, item.notification_id, item.event_ids[-1], channels)
        else:
            counts[item.event_ids[-1]][1] += 1  # the bell item's update
    # The panel's part first: numbered, its work runs while SQLite still writes the notifications
    # (the rows that refer to them wait for them: ``written``).
    live, hand_off_id = await panel_items(
        policy.instance_id,
        [(notification_id, notification_rows[k], plans[k][1]) for notification_id, k in created],
        {o.id: o for o in operators.values()},
        ts,
        due=panel_due,
        collapsed=collapsing.into_existing,
        totals=totals,
        written=written,
    )
    await written()
    if digested:
        await _digest(policy.instance_id, digested, ts, hours)
    await upsert(conn, Delivery, delivery_rows, conflict=["id"])
    tallied = [e for e in claimed if counts[e.id] != [0, 0]]
    if tallied:
        await upsert(
            conn,
            ProcessedEvent,
            [
                {
                    "instance_id": policy.instance_id,
                    "event_id": e.id,
                    "type_code": e.type,
                    "notification_count": counts[e.id][0],
                    "deliveries_queued": counts[e.id][1],
                    "created_at": ts,
                }
                for e in tallied
            ],
            conflict=["instance_id", "event_id"],
            update=["notification_count", "deliveries_queued"],
        )

    results = []
    claimed_ids = {e.id for e in claimed}
    reported: set[str] = set()
    for event in events:
        if event.id in claimed_ids and event.id not in reported:
            reported.add(event.id)
            made, queued = counts[event.id]
            results.append(Published(event.id, False, made, queued))
        elif event.id in claimed_ids:
            made, queued = counts[event.id]
            results.append(Published(event.id, True, made, queued))
        else:
            prior = earlier[event.id]
            results.append(Published(event.id, True, prior.notification_count, prior.deliveries_queued))
    new_users = [o.user_id for o in operators.values() if o.created]
    return Batch(results, live, external_queued, ts, new_users, hand_off_id, read_marks)


class _Answer(NamedTuple):
    """A resolution, the channels it turns on (deliverable or not), their values as stored, and
    whether SOUND and BELL are among them."""

    resolution: TypeResolution
    on: list[tuple[ChannelKind, bool]]
    values: list[str]
    sounds: bool
    in_bell: bool


async def _waiting_channels(notification_ids: list[int]) -> set[tuple[int, str]]:
    """(notification id, channel) of these notifications' deliveries not sent yet, and of their
    escalations already sent (an item is escalated once): one read whose text does not grow."""
    if not notification_ids:
        return set()
    conn = db()
    _, rows = await conn.execute_query(
        f'SELECT "notification_id", "channel" FROM "{Delivery._meta.db_table}" '
        f"WHERE {one_of(conn, 'notification_id', 'int8', 1)} AND (\"status\" IN ('QUEUED', 'RETRYING', 'HELD') "
        "OR (\"status\" = 'SENT' AND \"route\" = 'ESCALATE_AFTER'))",
        [list_param(conn, notification_ids)],
    )
    return {(n, c) for n, c in rows}


async def _present(
    instance_id: str,
    routes_of: dict[tuple[int, str], dict[ChannelKind, Route]],
    operators: dict[str, Recipient],
    presence: PresenceSource | None,
) -> set[int]:
    """Operator ids of the recipients with a WHEN_AWAY channel who are at an active panel now
    (no read at all when nobody's channels send only when away)."""
    asking = {
        operator_id
        for (operator_id, _), routes in routes_of.items()
        if any(r.mode is RoutingMode.WHEN_AWAY for r in routes.values())
    }
    if not asking:
        return set()
    users = {o.id: o.user_id for o in operators.values() if o.id in asking}
    away = await away_of(instance_id, users, presence)
    return set(users) - away


def _routed(
    row: dict[str, Any], route: Route, present: bool, hours: WorkingHours | None, minute: float, away_check: float
) -> None:
    """Shape a deliverable external row by its route. WHEN_AWAY with the recipient at an active
    panel: due ``away_check`` seconds later, when a worker looks again (sent only if still
    unhandled and they are away by then; reading it in the panel cancels it)."""
    row["route"] = ALWAYS_ON if route.always_on else route.mode.value
    if route.mode is RoutingMode.WHEN_AWAY:
        if present:
            row["last_error"] = AT_THE_PANEL
            row["next_attempt_at"] = row["next_attempt_at"] + timedelta(seconds=away_check)
    elif route.mode is RoutingMode.ESCALATE_AFTER:
        row["next_attempt_at"] = row["next_attempt_at"] + timedelta(seconds=(route.minutes or 1) * minute)
    if hours is not None and not route.always_on and route.digest_seconds == 0:
        release = hours.release(row["next_attempt_at"])
        if release is not None:
            row["status"] = DeliveryStatus.HELD.value
            row["next_attempt_at"] = release


async def _digest(
    instance_id: str,
    members: list[tuple[dict[str, Any], int]],
    ts: datetime,
    hours: dict[int, WorkingHours | None],
) -> None:
    """Make the rows digest members (no due time; their digest's id): of the recipient's open digest
    on the channel, else of a new one (inserted here) due when the window ends, or later when the
    recipient's working hours release it."""
    pairs = sorted({(row["operator_id"], row["channel"]) for row, _ in members})
    found = await open_digests(instance_id, pairs)
    # Each member's own due time: its window's end, or when working hours release it.
    planned = []
    for row, window in members:
        due, status = ts + timedelta(seconds=window), DeliveryStatus.QUEUED.value
        schedule = hours.get(row["operator_id"])
        release = schedule.release(due) if schedule is not None else None
        if release is not None:
            due, status = release, DeliveryStatus.HELD.value
        planned.append((due, status, row))
    planned.sort(key=lambda p: p[0])
    # The earliest open digest due no later than the member's own time; else a new one.
    leads: dict[tuple[int, str], list[dict[str, Any]]] = {
        pair: [{"id": d.id, "next_attempt_at": d.due, "status": d.status} for d in open_]
        for pair, open_ in found.items()
    }
    new: list[dict[str, Any]] = []
    joined: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for due, status, row in planned:
        pair = (row["operator_id"], row["channel"])
        lead = next((d for d in leads.get(pair, ()) if d["next_attempt_at"] <= due), None)
        if lead is None:
            lead = {**row, "notification_id": None, "status": status, "next_attempt_at": due, "route": DIGEST}
            leads.setdefault(pair, []).append(lead)
            new.append(lead)
        joined.append((row, lead))
    if new:
        created = await upsert(db(), Delivery, new, conflict=["id"], returning=["id"])
        # One statement's rows take ascending ids in the order they were given.
        for lead, made in zip(new, sorted(r["id"] for r in created), strict=True):
            lead["id"] = made
    for row, lead in joined:
        row["digest_id"] = lead["id"]
        row["next_attempt_at"] = None
        row["status"] = lead["status"]  # HELD while the digest waits for working hours


def _dedupe_key(type_def: TypeDef, event: Event) -> str:
    """One notification per recipient and key: a rating's id for CSAT, else the event's id."""
    rating = event.data.get("ratingId")
    if type_def.code in CSAT_TYPES and isinstance(rating, (str, int)) and not isinstance(rating, bool):
        return f"csat:{rating}"[:200]
    return event.id


def _is_negative(policy: InstancePolicy, type_def: TypeDef, data: dict[str, Any]) -> bool:
    score = data.get("score")
    return type_def.code == "csat_received" and is_score(score) and score <= policy.negative_csat_threshold


def _candidate_types(type_def: TypeDef) -> list[str]:
    return [type_def.code, "csat_negative"] if type_def.code == "csat_received" else [type_def.code]


def _skip_reason(channel: ChannelKind) -> str:
    if channel is ChannelKind.BROWSER:
        return "not linked: the recipient has no browser push subscription"
    if channel is ChannelKind.EMAIL:
        return "not linked: the recipient has no profile email"
    return f"not linked: the recipient has not linked {channel.value}"


__all__ = ["ACTS_FIRST", "Batch", "Event", "Published", "publish", "validate"]
