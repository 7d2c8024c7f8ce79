"""Events in, notifications out (SPEC section 4): validation, idempotency, CSAT rules, writes.

Everything one event creates — its processed-event row, the recipients' notifications and their
delivery rows (the durable job queue) — is written in the caller's transaction with multi-row
inserts: a 1,000-recipient event is a handful of statements. Nothing is delivered here.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from tortoise.timezone import now

from core.logs import EVENT_ID
from core.settings import Limits
from domain.errors import BadUserInput
from domain.input_text import check_id, check_json, shown
from domain.panel import PANEL_CHANNELS, PanelItem, panel_items
from domain.policy import InstancePolicy, ensure_instance, load_policy
from domain.presence import record_status
from domain.recipients import recipient_prefs, recipients
from domain.resolution import RecipientPrefs, TypeResolution, resolve
from domain.templates import render
from models.bulk import upsert
from models.catalog import TYPES_BY_CODE, TypeDef
from models.db import db
from models.enums import ChannelKind, DeliveryStatus, TypeAvailability
from models.notification import Delivery, Notification, ProcessedEvent

#: What an event's entity may be: it becomes part of a link (channels/message.py) and of texts.
ENTITY_KIND = re.compile(r"[A-Za-z0-9_-]{1,32}")
ENTITY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CSAT_TYPES = frozenset({"csat_received", "csat_negative"})
STATUS_TYPE = "operator_status_changed"


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    recipients: list[str]
    actor_id: str | None = None
    entity_kind: str | None = None
    entity_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime | None = None


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
    panel: list[PanelItem] = field(default_factory=list)
    external_queued: bool = False
    #: When the notifications were written (their ``created_at``).
    written_at: datetime | None = None
    #: Users this call created operator rows for (first seen as recipients).
    new_users: list[str] = field(default_factory=list)


def validate(events: list[Event], limits: Limits) -> None:
    """Reject the whole call, before anything is written, on the first wrong event."""
    if not events:
        raise BadUserInput("inputs is empty: send at least one event")
    if len(events) > limits.events_per_batch:
        raise BadUserInput(f"At most {limits.events_per_batch} events per call, got {len(events)}: split the batch")
    for i, event in enumerate(events):
        where = f"event {shown(event.id)}" if len(events) == 1 else f"inputs[{i}] (event {shown(event.id)})"
        if not event.id or len(event.id) > 200:
            raise BadUserInput(f"{where}: id must be 1-200 characters, got {len(event.id)}")
        check_id(event.id, f"{where}: id")
        if event.type not in TYPES_BY_CODE:
            raise BadUserInput(
                f"{where}: unknown type {shown(event.type)}; use a type code from the catalog, e.g. ticket_created",
                field="type",
            )
        if not event.recipients:
            raise BadUserInput(f"{where}: recipients is empty")
        if len(event.recipients) > limits.recipients_per_event:
            raise BadUserInput(
                f"{where}: at most {limits.recipients_per_event} recipients per event, got {len(event.recipients)}"
            )
        for r in event.recipients:
            if not r or len(r) > 128:
                raise BadUserInput(f"{where}: recipient ids must be 1-128 characters")
            check_id(r, f"{where}: recipient {shown(r)}")
        if event.actor_id is not None:
            check_id(event.actor_id, f"{where}: actorId")
        if not isinstance(event.data, dict):
            raise BadUserInput(f"{where}: data must be a JSON object")
        check_json(event.data, limits, what=f"{where}: data")
        # UTF-8 bytes, as stored and sent (not \uXXXX escapes: Cyrillic counts 2 bytes, not 6)
        size = len(json.dumps(event.data, separators=(",", ":"), default=str, ensure_ascii=False).encode())
        if size > limits.event_data_bytes:
            raise BadUserInput(f"{where}: data is {size} bytes, the most is {limits.event_data_bytes}: send less")
        if event.entity_kind is not None and not ENTITY_KIND.fullmatch(event.entity_kind):
            raise BadUserInput(
                f"{where}: entity.kind {shown(event.entity_kind)} must be 1-32 letters, digits, _ or - "
                "(e.g. TICKET, CHAT)"
            )
        if event.entity_id is not None and not ENTITY_ID.fullmatch(event.entity_id):
            raise BadUserInput(
                f"{where}: entity.id {shown(event.entity_id)} must be 1-128 letters, digits or . _ : - "
                "(no spaces, slashes or control characters): it becomes part of a link"
            )
        if event.type in CSAT_TYPES and "score" in event.data and not _is_score(event.data["score"]):
            raise BadUserInput(f"{where}: data.score must be a number from 1 to 5")


def _is_score(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value <= 5


async def publish(
    instance_id: str,
    events: list[Event],
    limits: Limits,
    *,
    policy: InstancePolicy | None = None,
    reminder_minute_seconds: float = 60.0,
    panel_fallback_seconds: float = 5.0,
) -> Batch:
    """Write everything the events create (in the caller's transaction). The panel's delivery rows
    are due ``panel_fallback_seconds`` later: the publisher confirms them once it has handed the
    returned ``Batch.panel`` to the broker, else a worker sends them then."""
    validate(events, limits)
    await ensure_instance(instance_id)
    if policy is None:
        policy = await load_policy(instance_id)
    token = EVENT_ID.set(events[0].id) if len(events) == 1 else None
    try:
        return await _publish_batch(policy, events, reminder_minute_seconds, panel_fallback_seconds)
    finally:
        if token is not None:
            EVENT_ID.reset(token)


async def _publish_batch(
    policy: InstancePolicy, events: list[Event], minute_seconds: float, fallback_seconds: float
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
            for event_id, event in first_of.items()
        ],
        conflict=["instance_id", "event_id"],
        returning=["event_id"],
    )
    claimed = [first_of[r["event_id"]] for r in claimed_rows]
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
    operators = (
        {
            o.user_id: o
            for o in await recipients(
                policy.instance_id, list(dict.fromkeys([r for e in events for r in e.recipients if r in wanted]))
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
    prefs, addresses = await recipient_prefs(list(operators.values()), type_codes) if delivered else ({}, {})
    # Recipients with the same settings get the same answer: resolve once per distinct input.
    answers: dict[tuple[Any, ...], TypeResolution] = {}
    on_channels: dict[int, tuple[list[tuple[ChannelKind, bool]], list[str]]] = {}

    def resolved(p: RecipientPrefs, type_def: TypeDef) -> TypeResolution:
        key = (
            type_def.code,
            p.switched_off,
            p.choices.get(type_def.code),
            p.classic_browser,
            p.classic_sound,
            p.reachable,
        )
        answer = answers.get(key)
        if answer is None:
            answer = answers[key] = resolve(policy, p, type_def)
            on = [(c, d.deliverable) for c, d in answer.decisions.items() if d.on]
            on_channels[id(answer)] = (on, [c.value for c, _ in on])
        return answer

    notification_rows: dict[tuple[int, str], dict[str, Any]] = {}
    plans: dict[tuple[int, str], tuple[str, list[tuple[ChannelKind, bool]]]] = {}
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
                candidate = resolved(prefs[operator.id], TYPES_BY_CODE["csat_negative"])
                if policy.availability(candidate.type_def) is not TypeAvailability.UNAVAILABLE and candidate.channels:
                    recipient_type = candidate.type_def
            resolution = resolved(prefs[operator.id], recipient_type)
            channels, values = on_channels[id(resolution)]
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
                "melody": (resolution.melody or operator.default_melody)
                if any(c is ChannelKind.SOUND for c, _ in channels)
                else None,
                "in_bell": any(c is ChannelKind.BELL for c, _ in channels),
                "created_at": ts,
            }
            plans[(operator.id, key)] = (event.id, channels)

    created = await upsert(
        conn,
        Notification,
        list(notification_rows.values()),
        conflict=["operator_id", "event_id"],
        returning=["id", "operator_id", "event_id"],
    )
    created.sort(key=lambda r: r["id"])
    delivery_rows = []
    external_queued = False
    counts: dict[str, list[int]] = {e.id: [0, 0] for e in claimed}
    for row in created:
        event_id, channels = plans[(row["operator_id"], row["event_id"])]
        counts[event_id][0] += 1
        for channel, deliverable in channels:
            counts[event_id][1] += deliverable
            panel = channel in PANEL_CHANNELS
            external_queued |= deliverable and not panel
            delivery_rows.append(
                {
                    "instance_id": policy.instance_id,
                    "operator_id": row["operator_id"],
                    "notification_id": row["id"],
                    "channel": channel.value,
                    # The linked chat travels with the job: the bot channel does not read it again.
                    "address": addresses.get((row["operator_id"], channel)),
                    "status": (DeliveryStatus.QUEUED if deliverable else DeliveryStatus.SKIPPED).value,
                    "attempts": 0,
                    "last_error": None if deliverable else _skip_reason(channel),
                    # The publisher sends the panel's messages itself; a worker only if it did not.
                    "next_attempt_at": (panel_due if panel else ts) if deliverable else None,
                    "created_at": ts,
                    "updated_at": ts,
                }
            )
    await upsert(conn, Delivery, delivery_rows, conflict=["id"])
    counted = [e for e in claimed if counts[e.id] != [0, 0]]
    if counted:
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
                for e in counted
            ],
            conflict=["instance_id", "event_id"],
            update=["notification_count", "deliveries_queued"],
        )

    keys = [(r["operator_id"], r["event_id"]) for r in created]
    live = await panel_items(
        policy.instance_id,
        [(r["id"], notification_rows[k], plans[k][1]) for r, k in zip(created, keys, strict=True)],
        {o.id: o for o in operators.values()},
        ts,
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
    return Batch(results, live, external_queued, ts, new_users)


def _dedupe_key(type_def: TypeDef, event: Event) -> str:
    """One notification per recipient and key: a rating's id for CSAT, else the event's id."""
    rating = event.data.get("ratingId")
    if type_def.code in CSAT_TYPES and isinstance(rating, (str, int)) and not isinstance(rating, bool):
        return f"csat:{rating}"[:200]
    return event.id


def _is_negative(policy: InstancePolicy, type_def: TypeDef, data: dict[str, Any]) -> bool:
    score = data.get("score")
    return type_def.code == "csat_received" and _is_score(score) and score <= policy.negative_csat_threshold


def _candidate_types(type_def: TypeDef) -> list[str]:
    return [type_def.code, "csat_negative"] if type_def.code == "csat_received" else [type_def.code]


def _skip_reason(channel: ChannelKind) -> str:
    if channel is ChannelKind.BROWSER:
        return "not linked: the recipient has no browser push subscription"
    if channel is ChannelKind.EMAIL:
        return "not linked: the recipient has no profile email"
    return f"not linked: the recipient has not linked {channel.value}"


__all__ = ["Batch", "Event", "Published", "publish", "validate"]
