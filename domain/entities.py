"""What a notification is about: the ticket, chat or client an event names (its entity).

Collapse (domain.collapse), ``markEntityRead`` and producers' ``entity_resolved`` events all match
notifications by entity, so the entity must be dependable:

- kinds the platform knows are ``TICKET``, ``CHAT`` and ``CLIENT``; a producer may spell them in any
  case (``ticket``), and they are stored upper-case. Other kinds are kept as sent (1-32 letters,
  digits, ``_`` or ``-``; domain.event_input checks them).
- an event of the catalog that names no entity gets one from its data: ``data.chatId`` for the chat
  types (chat_created, chat_message, chat_reassign, chat_closed, send_transfer_chat), else
  ``data.ticketNumber`` (then ``data.chatId``) — a string or an integer that makes a valid entity id.

    entity_of(type code, kind, id, data) -> (kind, id) or (None, None)
    with_entity(event)                   -> the event with its entity made dependable
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING, Any

from domain.errors import BadUserInput
from domain.input_text import shown

if TYPE_CHECKING:
    from domain.event_input import Event

#: What an event's entity may be: it becomes part of a link (channels/message.py) and of texts.
ENTITY_KIND = re.compile(r"[A-Za-z0-9_-]{1,32}")
ENTITY_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

TICKET, CHAT, CLIENT = "TICKET", "CHAT", "CLIENT"
KNOWN_KINDS = frozenset({TICKET, CHAT, CLIENT})
#: Types whose data names a chat first.
CHAT_TYPES = frozenset({"chat_created", "chat_message", "chat_reassign", "chat_closed", "send_transfer_chat"})
#: Closing one of these reads its notifications when the instance's readOnEntityClose is on.
CLOSING_TYPES = frozenset({"ticket_closed", "chat_closed"})

_DERIVED: dict[bool, tuple[tuple[str, str], ...]] = {
    True: (("chatId", CHAT), ("ticketNumber", TICKET)),
    False: (("ticketNumber", TICKET), ("chatId", CHAT)),
}
_NUMBER = re.compile(r"-?\d{1,30}")


def normal_kind(kind: str) -> str:
    """A known kind in upper case (``ticket`` -> ``TICKET``); any other kind as sent. Only ASCII
    kinds are known ones: Unicode's upper case makes ``tıcket`` (dotless ı) ``TICKET`` too, and a
    kind is normalised before some paths check it (ENTITY_KIND refuses it as sent)."""
    if not kind.isascii():
        return kind
    upper = kind.upper()
    return upper if upper in KNOWN_KINDS else kind


def checked_entity(kind: str, entity_id: str) -> tuple[str, str]:
    """A client's entity (``markEntityRead``): known kinds upper-cased; BadUserInput (field
    ``entity``) when the kind or id could not be one a producer sent."""
    if not ENTITY_KIND.fullmatch(kind):
        raise BadUserInput(
            f"entity.kind {shown(kind)} must be 1-32 letters, digits, _ or - (e.g. TICKET, CHAT)", field="entity"
        )
    if not ENTITY_ID.fullmatch(entity_id):
        raise BadUserInput(
            f"entity.id {shown(entity_id)} must be 1-128 letters, digits or . _ : - as the producer sent it",
            field="entity",
        )
    return normal_kind(kind), entity_id


def entity_of(
    type_code: str, kind: str | None, entity_id: str | None, data: dict[str, Any]
) -> tuple[str | None, str | None]:
    """The event's entity: as sent (known kinds upper-cased), else derived from its data."""
    if kind is not None and entity_id is not None:
        return normal_kind(kind), entity_id
    for key, derived_kind in _DERIVED[type_code in CHAT_TYPES]:
        text = _entity_id_of(data.get(key))
        if text is not None:
            return derived_kind, text
    return None, None


def _entity_id_of(value: Any) -> str | None:
    """``value`` (data.ticketNumber or data.chatId) as an entity id, or None when it makes none."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    if isinstance(value, int) and not _NUMBER.fullmatch(text):
        return None
    return text if ENTITY_ID.fullmatch(text) else None


def unusable_entity_key(type_code: str, data: dict[str, Any]) -> str | None:
    """The data key (ticketNumber, chatId) an event without an entity would name its entity by,
    when its value cannot be one (``true``, an object, a space or a slash in it): a producer's
    mistake that would leave the notification about nothing (never collapsed, never read with its
    ticket or chat). None when the first such key sent is usable, or none is sent."""
    for key, _ in _DERIVED[type_code in CHAT_TYPES]:
        value = data.get(key)
        if value is not None:
            return None if _entity_id_of(value) is not None else key
    return None


def with_entity(event: Event) -> Event:
    """``event`` with its entity as ``entity_of`` makes it (the same object when nothing changes)."""
    kind, entity_id = entity_of(event.type, event.entity_kind, event.entity_id, event.data)
    if kind == event.entity_kind and entity_id == event.entity_id:
        return event
    return dataclasses.replace(event, entity_kind=kind, entity_id=entity_id)


__all__ = [
    "ENTITY_ID",
    "ENTITY_KIND",
    "CHAT",
    "CLIENT",
    "CLOSING_TYPES",
    "KNOWN_KINDS",
    "TICKET",
    "entity_of",
    "normal_kind",
    "unusable_entity_key",
    "with_entity",
]
