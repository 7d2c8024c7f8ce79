"""Events as producers send them (SPEC section 4): what an event is, and the rule that checks a
call's events before anything is written.

    Event                       one event of publishEvent(s): id, type, recipients, entity, data
    validate(events, limits)    raises BadUserInput on the first wrong event (nothing written)

Limits are settings (``Limits``): events per call, recipients per event, data size in UTF-8
bytes and JSON depth; ids are checked like every id, entity kind and id are restricted because
they become part of links.
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeGuard

from core.jsonenc import dumps
from core.jsonenc import size as json_size
from core.settings import Limits
from domain.entities import ENTITY_ID, ENTITY_KIND, entity_of, unusable_entity_key
from domain.errors import BadUserInput
from domain.input_text import check_id, check_json, shown
from models.catalog import TYPES_BY_CODE

CSAT_TYPES = frozenset({"csat_received", "csat_negative"})
#: A producer's "this ticket or chat was handled": reads its recipients' (or, with no
#: recipients, every operator's) unread notifications about the event's entity.
RESOLVE_TYPE = "entity_resolved"


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    recipients: list[str]
    actor_id: str | None = None
    entity_kind: str | None = None
    entity_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: When it happened, in UTC: a value with another offset is the same instant in UTC (stored
    #: and compared as text on SQLite, "+03:00" sorted 3 hours late), one without an offset is UTC.
    occurred_at: datetime | None = None

    def __post_init__(self) -> None:
        at = self.occurred_at
        if at is not None and at.utcoffset() != timedelta(0):
            with suppress(OverflowError):  # (year 1 or 9999 past UTC: ``validate`` refuses it)
                object.__setattr__(self, "occurred_at", at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC))


def validate(events: list[Event], limits: Limits) -> None:
    """Reject the whole call, before anything is written, on the first wrong event."""
    if not events:
        raise BadUserInput("inputs is empty: send at least one event")
    if len(events) > limits.events_per_batch:
        raise BadUserInput(f"At most {limits.events_per_batch} events per call, got {len(events)}: split the batch")
    total = sum(len(event.recipients) for event in events)
    if total > limits.recipients_per_call:
        raise BadUserInput(
            f"At most {limits.recipients_per_call} recipients in one call (all its events together), got {total}:"
            " split the batch",
            field="recipients",
        )
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
        if not event.recipients and event.type != RESOLVE_TYPE:
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
        size = json_size(event.data)
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
        if event.entity_kind is None or event.entity_id is None:
            key = unusable_entity_key(event.type, event.data)
            if key is not None:
                raise BadUserInput(
                    f"{where}: data.{key} {shown(_as_sent(event.data[key]))} names the event's "
                    f"{'chat' if key == 'chatId' else 'ticket'}: send a whole number or 1-128 letters, digits "
                    "or . _ : - (or name the entity in entity {kind, id})",
                    field="data",
                )
        if event.type == RESOLVE_TYPE and (event.entity_kind is None or event.entity_id is None):
            if entity_of(event.type, event.entity_kind, event.entity_id, event.data)[1] is None:
                raise BadUserInput(
                    f"{where}: entity_resolved needs the entity that was handled: send entity "
                    "{kind, id} (or data.ticketNumber / data.chatId)",
                    field="entity",
                )
        if event.occurred_at is not None:
            _check_occurred_at(event.occurred_at, limits, where)
        if event.type in CSAT_TYPES and "score" in event.data and not is_score(event.data["score"]):
            raise BadUserInput(f"{where}: data.score must be a number from 1 to 5")


def _as_sent(value: Any) -> str:
    """``value`` as the producer wrote it (JSON: ``true``, ``{"id":5}``), strings as they are."""
    return value if isinstance(value, str) else dumps(value)


#: The earliest ``occurredAt`` taken.
OCCURRED_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def _check_occurred_at(at: datetime, limits: Limits, where: str) -> None:
    ahead = limits.occurred_at_ahead_seconds
    if at > datetime.now(UTC) + timedelta(seconds=ahead):
        raise BadUserInput(
            f"{where}: occurredAt {at.isoformat()} is more than {ahead} s ahead of the service's clock (UTC):"
            " send when the event happened, with its UTC offset",
            field="occurredAt",
        )
    if at < OCCURRED_SINCE:
        raise BadUserInput(
            f"{where}: occurredAt {at.isoformat()} is before 2000-01-01: send when the event happened",
            field="occurredAt",
        )


def is_score(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value <= 5
