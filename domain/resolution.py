"""Which channels a notification of a type goes to, for one recipient (SPEC section 3).

This is the one place that decides. The types tab shows what it returns (``channels``,
``selectableChannels``, ``channelDecisions``) and event publishing delivers what it returns, so the
screen and the deliveries cannot disagree. Pure functions of plain values: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.policy import InstancePolicy
from domain.routing import ROUTED_CHANNELS, ModeSetting, Route
from models.catalog import CLASSIC_BROWSER_SOUND_TYPES, TypeDef
from models.enums import ChannelKind, DecisionReason, TypeAvailability, sort_channels


@dataclass(frozen=True)
class Choice:
    channels: frozenset[ChannelKind]
    melody: str | None = None


@dataclass(frozen=True)
class RecipientPrefs:
    """What the recipient set: Channels tab switches, per-type choices, classic toggles."""

    switched_off: frozenset[ChannelKind] = frozenset()
    choices: dict[str, Choice] = field(default_factory=dict)
    classic_browser: bool = True
    classic_sound: bool = True
    #: Channels that can deliver to this recipient now (linked, subscribed, has an email).
    #: None when not known (the question was not asked): then nothing is marked undeliverable.
    reachable: frozenset[ChannelKind] | None = None
    #: The recipient's routing mode per external channel (Channels tab), for editable types.
    routing: tuple[tuple[ChannelKind, ModeSetting], ...] = ()

    def routing_choice(self, channel: ChannelKind) -> ModeSetting | None:
        for kind, setting in self.routing:
            if kind is channel:
                return setting
        return None


@dataclass(frozen=True)
class Decision:
    channel: ChannelKind
    on: bool
    reason: DecisionReason
    #: On, but nothing to deliver to yet (not linked, no push subscription, no email): a SKIPPED
    #: delivery with this reason instead of a silent drop.
    deliverable: bool = True


@dataclass(frozen=True)
class TypeResolution:
    type_def: TypeDef
    availability: TypeAvailability
    editable: bool
    mandatory: bool
    mandatory_channels: list[ChannelKind]
    selectable_channels: list[ChannelKind]
    decisions: dict[ChannelKind, Decision]
    melody: str | None
    #: How each external channel that is on sends (routing mode, digest, always-on).
    routes: dict[ChannelKind, Route] = field(default_factory=dict)

    @property
    def channels(self) -> list[ChannelKind]:
        """The effective channels, mandatory ones included."""
        return [c for c, d in self.decisions.items() if d.on]

    @property
    def deliverable_channels(self) -> list[ChannelKind]:
        return [c for c, d in self.decisions.items() if d.on and d.deliverable]


def answer_key(prefs: RecipientPrefs, type_code: str) -> tuple[object, ...]:
    """What ``resolve``'s answer for one recipient and type depends on besides the policy:
    recipients with equal keys get equal answers, so many are resolved once (publishing, previews)."""
    return (
        type_code,
        prefs.switched_off,
        prefs.choices.get(type_code),
        prefs.classic_browser,
        prefs.classic_sound,
        prefs.reachable,
        prefs.routing,
    )


def resolve(policy: InstancePolicy, prefs: RecipientPrefs, type_def: TypeDef) -> TypeResolution:
    availability = policy.availability(type_def)
    editable = policy.editable(type_def)
    mandatory = policy.type_mandatory(type_def)
    offered = policy.offered
    mandatory_channels = set(policy.mandatory_channels_for(type_def))
    if mandatory and ChannelKind.BELL in offered:
        mandatory_channels.add(ChannelKind.BELL)
    choice = prefs.choices.get(type_def.code) if editable else None

    decisions: dict[ChannelKind, Decision] = {}
    if availability is TypeAvailability.UNAVAILABLE or not type_def.delivered:
        for channel in ChannelKind:
            decisions[channel] = Decision(channel, False, DecisionReason.TYPE_UNAVAILABLE)
    elif not policy.notification_center_enabled:
        decisions = _classic(type_def, prefs)
    else:
        if choice is not None:
            base, base_reason = choice.channels, DecisionReason.CHOSEN
        else:
            base, base_reason = frozenset(policy.default_channels_for(type_def)), DecisionReason.DEFAULT
        for channel in ChannelKind:
            if channel not in offered:
                decision = Decision(channel, False, DecisionReason.NOT_OFFERED)
            elif channel in mandatory_channels:
                reason = (
                    DecisionReason.MANDATORY_TYPE_BELL
                    if channel is ChannelKind.BELL
                    and mandatory
                    and channel not in policy.mandatory_channels_for(type_def)
                    else DecisionReason.MANDATORY
                )
                decision = Decision(channel, True, reason)
            elif channel not in base:
                decision = Decision(channel, False, DecisionReason.NOT_CHOSEN)
            elif channel in prefs.switched_off:
                decision = Decision(channel, False, DecisionReason.SWITCHED_OFF)
            else:
                decision = Decision(channel, True, base_reason)
            decisions[channel] = decision

    if prefs.reachable is not None:
        decisions = {
            c: (Decision(c, d.on, d.reason, deliverable=c in prefs.reachable) if d.on else d)
            for c, d in decisions.items()
        }

    routes: dict[ChannelKind, Route] = {}
    if policy.notification_center_enabled:
        for channel, decision in decisions.items():
            if decision.on and channel in ROUTED_CHANNELS:
                routes[channel] = policy.route(
                    type_def,
                    channel,
                    prefs.routing_choice(channel),
                    editable=editable,
                    mandatory=channel in mandatory_channels,
                )

    selectable: list[ChannelKind] = []
    if editable and policy.notification_center_enabled:
        selectable = [c for c in sort_channels(offered) if c not in prefs.switched_off and c not in mandatory_channels]
    return TypeResolution(
        type_def=type_def,
        availability=availability,
        editable=editable and policy.notification_center_enabled,
        mandatory=mandatory,
        mandatory_channels=sort_channels(mandatory_channels),
        selectable_channels=selectable,
        decisions=decisions,
        melody=choice.melody if choice is not None else None,
        routes=routes,
    )


def _classic(type_def: TypeDef, prefs: RecipientPrefs) -> dict[ChannelKind, Decision]:
    """The simplified screen: bell and banner for everything, browser and sound for new chats."""
    on = {ChannelKind.BELL, ChannelKind.BANNER}
    if type_def.code in CLASSIC_BROWSER_SOUND_TYPES:
        if prefs.classic_browser:
            on.add(ChannelKind.BROWSER)
        if prefs.classic_sound:
            on.add(ChannelKind.SOUND)
    return {
        c: Decision(c, True, DecisionReason.CLASSIC)
        if c in on
        else Decision(c, False, DecisionReason.NOTIFICATION_CENTER_DISABLED)
        for c in ChannelKind
    }
