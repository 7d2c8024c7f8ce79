"""The domain's vocabularies, shared by storage, resolution and the GraphQL layer."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    OPERATOR = "OPERATOR"
    SUPERVISOR = "SUPERVISOR"
    ADMINISTRATOR = "ADMINISTRATOR"
    SERVICE = "SERVICE"


class ChannelKind(StrEnum):
    BELL = "BELL"
    BANNER = "BANNER"
    SOUND = "SOUND"
    BROWSER = "BROWSER"
    TELEGRAM = "TELEGRAM"
    VIBER = "VIBER"
    WHATSAPP = "WHATSAPP"
    ECHAT = "ECHAT"
    EMAIL = "EMAIL"
    CUSTOM = "CUSTOM"


#: Channels every instance offers: they need no bot configured.
PANEL_CHANNELS: tuple[ChannelKind, ...] = (
    ChannelKind.BELL,
    ChannelKind.BANNER,
    ChannelKind.SOUND,
    ChannelKind.BROWSER,
)
#: Channels offered only when an administrator configured and enabled a bot for them.
BOT_CHANNELS: tuple[ChannelKind, ...] = (
    ChannelKind.TELEGRAM,
    ChannelKind.VIBER,
    ChannelKind.WHATSAPP,
    ChannelKind.ECHAT,
    ChannelKind.EMAIL,
    ChannelKind.CUSTOM,
)
CHANNEL_ORDER: dict[ChannelKind, int] = {kind: i for i, kind in enumerate(ChannelKind)}


def sort_channels(channels: Iterable[str]) -> list[ChannelKind]:
    """Channels in the catalog's display order, each once."""
    return sorted({ChannelKind(c) for c in channels}, key=CHANNEL_ORDER.__getitem__)


class Waveform(StrEnum):
    """A melody's oscillator shape, as the Web Audio API's OscillatorNode.type names it (lowercase)."""

    SINE = "sine"
    SQUARE = "square"
    SAWTOOTH = "sawtooth"
    TRIANGLE = "triangle"


class TypeAvailability(StrEnum):
    AVAILABLE = "AVAILABLE"
    VIEW_ONLY = "VIEW_ONLY"
    UNAVAILABLE = "UNAVAILABLE"


class ChannelStatus(StrEnum):
    READY = "READY"
    NOT_LINKED = "NOT_LINKED"
    PENDING = "PENDING"
    ERROR = "ERROR"
    UNAVAILABLE = "UNAVAILABLE"


class BulkAction(StrEnum):
    ADD_CHANNELS = "ADD_CHANNELS"
    REMOVE_CHANNELS = "REMOVE_CHANNELS"
    SET_CHANNELS = "SET_CHANNELS"
    RESET_TO_DEFAULTS = "RESET_TO_DEFAULTS"
    DISABLE_ALL = "DISABLE_ALL"


class SkipReason(StrEnum):
    MANDATORY = "MANDATORY"
    VIEW_ONLY = "VIEW_ONLY"
    UNAVAILABLE = "UNAVAILABLE"
    CHANNEL_UNAVAILABLE = "CHANNEL_UNAVAILABLE"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"


class DeliveryStatus(StrEnum):
    QUEUED = "QUEUED"
    SENT = "SENT"
    RETRYING = "RETRYING"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    #: Read (or its entity handled) before it was sent: never sent.
    CANCELLED = "CANCELLED"
    #: Outside the recipient's working hours: waits (due at the release time) and is then sent.
    HELD = "HELD"


class RoutingMode(StrEnum):
    """When an external channel of a notification is sent, given the recipient's attention."""

    ALWAYS = "ALWAYS"
    """Sent at once."""
    WHEN_AWAY = "WHEN_AWAY"
    """Sent only when the recipient has no active panel (else skipped: they saw the banner)."""
    ESCALATE_AFTER = "ESCALATE_AFTER"
    """Sent after a number of minutes only if the notification is still unread; cancelled when read."""


class RouteSource(StrEnum):
    """Where a channel's routing mode for one type comes from."""

    DEFAULT = "DEFAULT"
    """Nobody set one: ALWAYS."""
    INSTANCE = "INSTANCE"
    """The instance's default for the channel."""
    TYPE_POLICY = "TYPE_POLICY"
    """The type policy's mode for the channel."""
    OPERATOR = "OPERATOR"
    """The recipient's choice for the channel (the type is editable)."""
    ALWAYS_ON = "ALWAYS_ON"
    """The type is always-on: sent at once, never digested nor held outside working hours."""
    MANDATORY = "MANDATORY"
    """A mandatory channel, and the instance lets mandatory channels bypass routing."""


class Weekday(StrEnum):
    MONDAY = "MONDAY"
    TUESDAY = "TUESDAY"
    WEDNESDAY = "WEDNESDAY"
    THURSDAY = "THURSDAY"
    FRIDAY = "FRIDAY"
    SATURDAY = "SATURDAY"
    SUNDAY = "SUNDAY"


class PushTargetStatus(StrEnum):
    """What one browser push subscription's push came to within a BROWSER delivery."""

    SENT = "SENT"
    RETRYING = "RETRYING"
    FAILED = "FAILED"
    GONE = "GONE"


class DecisionReason(StrEnum):
    """Why channel resolution (SPEC section 3) turned a channel on or off for one type."""

    CHOSEN = "CHOSEN"
    """On: the user chose it for this type."""
    DEFAULT = "DEFAULT"
    """On: the type's or the instance's default channels (the user made no choice)."""
    MANDATORY = "MANDATORY"
    """On: the administrator made it mandatory for every type or for this type."""
    MANDATORY_TYPE_BELL = "MANDATORY_TYPE_BELL"
    """On: a mandatory type always keeps the bell."""
    NOT_CHOSEN = "NOT_CHOSEN"
    """Off: neither chosen nor a default for this type."""
    SWITCHED_OFF = "SWITCHED_OFF"
    """Off: the user switched the channel off on the Channels tab."""
    NOT_OFFERED = "NOT_OFFERED"
    """Off: the instance does not offer the channel."""
    TYPE_UNAVAILABLE = "TYPE_UNAVAILABLE"
    """Off: the type is temporarily unavailable, nothing is delivered."""
    NOTIFICATION_CENTER_DISABLED = "NOTIFICATION_CENTER_DISABLED"
    """Off: the Notification Center is disabled; classic settings apply."""
    CLASSIC = "CLASSIC"
    """On: the Notification Center is disabled and the classic settings deliver it."""
