"""Attention routing (issue 15): when an external channel sends, given where the recipient's
attention is.

Per external channel a notification takes a *routing mode* — ALWAYS, WHEN_AWAY (only without an
active panel) or ESCALATE_AFTER n minutes (only if still unread then) — from, in order: the
recipient's choice for the channel (when the type is editable), the type policy's, the instance's
default, else ALWAYS. An always-on type (``TypePolicy.alwaysOn``: SLA, normatives) bypasses modes,
digests and working hours; mandatory channels bypass modes when the instance says so. A channel may
also be *digested*: bursts within the type's or instance's window become one message per recipient
and channel (domain/digests.py).

    ModeSetting.parse(value)                  a stored {"mode", "minutes"} (None if malformed)
    check_mode(channel, mode, minutes, field) one channel's mode as a client sent it -> ModeSetting
    given_modes(items, field)                 an input's list of them -> {channel: ModeSetting | None}
    away_of(instance, users, presence)        who is away from an active panel (publishing, workers)
    route(rules, type's modes, ..., channel, choice, editable, mandatory) -> Route   pure, no I/O
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.presence import PresenceUnavailable
from domain.errors import BadUserInput
from models.enums import BOT_CHANNELS, ChannelKind, RouteSource, RoutingMode
from models.notification import OperatorPresence

log = logging.getLogger(__name__)
#: How long publishing and the workers wait for the presence store before taking nobody for away.
PRESENCE_READ_SECONDS = 1.0

#: The channels routing applies to: those a worker sends outside the panel.
ROUTED_CHANNELS = frozenset({ChannelKind.BROWSER, *BOT_CHANNELS})
#: Operator statuses (operator_status_changed) that mean away from the panel, open or not.
AWAY_STATUSES = frozenset({"offline", "logged_out", "away", "break", "lunch"})


class PresenceSource(Protocol):
    """Who has an open, active panel (core/presence.py: in-process or in Redis)."""

    async def active_users(self, instance_id: str, user_ids: Collection[str]) -> set[str]: ...


async def away_of(instance_id: str, users: Mapping[int, str], presence: PresenceSource | None) -> set[int]:
    """The operator ids among ``users`` (operator id -> user id) who are away: no active panel, or
    a status that says so. Without a presence source everybody is away. When the source cannot be
    read within PRESENCE_READ_SECONDS (Redis down) nobody is: what sends only when away waits and
    looks again, rather than reaching people who may be at their panel. One read of statuses."""
    if not users:
        return set()
    try:
        async with asyncio.timeout(PRESENCE_READ_SECONDS):
            active = await presence.active_users(instance_id, list(users.values())) if presence is not None else set()
    except (TimeoutError, PresenceUnavailable):
        log.warning("presence unknown for %d operators: their WHEN_AWAY deliveries wait", len(users))
        return set()
    at_panel = {operator_id for operator_id, user_id in users.items() if user_id in active}
    if at_panel:
        statuses = await OperatorPresence.filter(operator_id__in=sorted(at_panel)).values_list("operator_id", "status")
        at_panel -= {operator_id for operator_id, status in statuses if status in AWAY_STATUSES}
    return set(users) - at_panel


#: Escalation waits between 1 minute and a week.
MAX_ESCALATE_MINUTES = 7 * 24 * 60
#: Digest windows up to a day.
MAX_DIGEST_SECONDS = 24 * 3600
#: Route tags on delivery rows (Delivery.route): the mode (ALWAYS, WHEN_AWAY, ESCALATE_AFTER),
#: ALWAYS_ON (an always-on type: never held), DIGEST (a digest's own row); None: not routed (the
#: simplified screen's channels, test sends). Workers hold routed rows outside working hours.
DIGEST = "DIGEST"
ALWAYS_ON = "ALWAYS_ON"
HELD_ROUTES = frozenset({"ALWAYS", "WHEN_AWAY", "ESCALATE_AFTER", DIGEST})
#: A WHEN_AWAY delivery waiting while its operator is at an active panel.
AT_THE_PANEL = "waiting: the operator is active in the panel (WHEN_AWAY); sent if still unread once they are away"


@dataclass(frozen=True, slots=True)
class ModeSetting:
    mode: RoutingMode
    minutes: int | None = None

    def stored(self) -> dict[str, Any]:
        return {"mode": self.mode.value, "minutes": self.minutes}

    @staticmethod
    def parse(value: Any) -> ModeSetting | None:
        if not isinstance(value, Mapping) or value.get("mode") not in RoutingMode.__members__:
            return None
        mode = RoutingMode(value["mode"])
        minutes = value.get("minutes")
        if mode is RoutingMode.ESCALATE_AFTER:
            if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 1:
                return None
            return ModeSetting(mode, minutes)
        return ModeSetting(mode)


def stored_modes(value: Any) -> dict[ChannelKind, ModeSetting]:
    """A stored per-channel mapping of modes (unknown channels and malformed entries left out)."""
    out = {}
    for channel, setting in (value or {}).items() if isinstance(value, Mapping) else ():
        parsed = ModeSetting.parse(setting)
        if channel in ChannelKind.__members__ and ChannelKind(channel) in ROUTED_CHANNELS and parsed is not None:
            out[ChannelKind(channel)] = parsed
    return out


def check_mode(channel: ChannelKind, mode: RoutingMode, minutes: int | None, field: str) -> ModeSetting:
    """One channel's mode as a client sent it; BadUserInput saying what to change."""
    if channel not in ROUTED_CHANNELS:
        raise BadUserInput(
            f"{field}: {channel.value} is shown in the panel; routing modes apply to the channels sent "
            f"outside it ({', '.join(sorted(c.value for c in ROUTED_CHANNELS))})",
            field=field,
        )
    if mode is RoutingMode.ESCALATE_AFTER:
        if minutes is None or not 1 <= minutes <= MAX_ESCALATE_MINUTES:
            raise BadUserInput(
                f"{field}: ESCALATE_AFTER for {channel.value} needs escalateAfterMinutes between 1 and "
                f"{MAX_ESCALATE_MINUTES}",
                field=field,
            )
        return ModeSetting(mode, minutes)
    if minutes is not None:
        raise BadUserInput(
            f"{field}: escalateAfterMinutes applies to ESCALATE_AFTER only; leave it out for {mode.value}",
            field=field,
        )
    return ModeSetting(mode)


def given_modes(
    items: Iterable[tuple[ChannelKind, RoutingMode | None, int | None]], field: str
) -> dict[ChannelKind, ModeSetting | None]:
    """An input's routing modes per channel, each checked (``check_mode``); None where it sent no
    mode (nothing set at that level). BadUserInput for a channel sent twice, or minutes without a mode."""
    out: dict[ChannelKind, ModeSetting | None] = {}
    for channel, mode, minutes in items:
        if channel in out:
            raise BadUserInput(f"{field}: {channel.value} appears twice; send each channel once", field=field)
        if mode is None and minutes is not None:
            raise BadUserInput(
                f"{field}: {channel.value} has escalateAfterMinutes without a mode; send ESCALATE_AFTER with it",
                field=field,
            )
        out[channel] = check_mode(channel, mode, minutes, field) if mode is not None else None
    return out


def check_digest_window(seconds: int | None, field: str) -> int | None:
    if seconds is not None and not 0 <= seconds <= MAX_DIGEST_SECONDS:
        raise BadUserInput(
            f"{field} must be between 0 (no digests) and {MAX_DIGEST_SECONDS} seconds, got {seconds}", field=field
        )
    return seconds


@dataclass(frozen=True, slots=True)
class Route:
    """How one external channel of one type sends for one recipient."""

    mode: RoutingMode = RoutingMode.ALWAYS
    minutes: int | None = None
    source: RouteSource = RouteSource.DEFAULT
    #: Bursts within this many seconds become one message (0: none).
    digest_seconds: int = 0
    #: Sent outside the recipient's working hours too (an always-on type).
    always_on: bool = False


ALWAYS = Route()


@dataclass(frozen=True)
class RoutingRules:
    """The instance's routing settings, as InstancePolicy holds them."""

    modes: Mapping[ChannelKind, ModeSetting]
    digest_seconds: int = 0
    mandatory_bypass: bool = False


def route(
    rules: RoutingRules,
    type_modes: Mapping[ChannelKind, ModeSetting] | None,
    type_digest_seconds: int | None,
    always_on: bool,
    channel: ChannelKind,
    choice: ModeSetting | None,
    *,
    editable: bool,
    mandatory: bool,
) -> Route:
    """The route of ``channel`` for a type (its policy's modes, digest window and always-on flag)
    and a recipient's ``choice`` for the channel (used only when the type is ``editable``)."""
    if always_on:
        return Route(source=RouteSource.ALWAYS_ON, always_on=True)
    digest = type_digest_seconds if type_digest_seconds is not None else rules.digest_seconds
    if mandatory and rules.mandatory_bypass:
        return Route(source=RouteSource.MANDATORY, digest_seconds=digest)
    if editable and choice is not None:
        setting, source = choice, RouteSource.OPERATOR
    elif type_modes is not None and channel in type_modes:
        setting, source = type_modes[channel], RouteSource.TYPE_POLICY
    elif channel in rules.modes:
        setting, source = rules.modes[channel], RouteSource.INSTANCE
    else:
        return Route(digest_seconds=digest)
    # An escalation is about one notification: it is sent alone, never in a digest.
    if setting.mode is RoutingMode.ESCALATE_AFTER:
        digest = 0
    return Route(setting.mode, setting.minutes, source, digest)
