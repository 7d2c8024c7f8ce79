"""Which routing mode an external channel takes for one recipient and type (domain/routing.py
through domain.resolution.resolve): the recipient's choice on editable types, else the type
policy's, else the instance's, else ALWAYS; always-on types and (when the instance says so)
mandatory channels bypass. Pure: policies and preferences built in memory."""

from __future__ import annotations

from domain.policy import BotChannel, InstancePolicy, TypeRule
from domain.resolution import Choice, RecipientPrefs, resolve
from domain.routing import ModeSetting, Route, RoutingRules
from models.catalog import TYPES_BY_CODE
from models.enums import ChannelKind, RouteSource, RoutingMode, TypeAvailability

TELEGRAM, EMAIL, BELL = ChannelKind.TELEGRAM, ChannelKind.EMAIL, ChannelKind.BELL
AWAY = ModeSetting(RoutingMode.WHEN_AWAY)
TEN = ModeSetting(RoutingMode.ESCALATE_AFTER, 10)
TICKET = TYPES_BY_CODE["ticket_created"]


def policy(**kw: object) -> InstancePolicy:
    bots = {c: BotChannel(c, True, {}, True) for c in (TELEGRAM, EMAIL)}
    return InstancePolicy("i", bot_channels=bots, **kw)  # type: ignore[arg-type]


def prefs(**routing: ModeSetting) -> RecipientPrefs:
    return RecipientPrefs(
        choices={"ticket_created": Choice(frozenset({BELL, TELEGRAM, EMAIL}))},
        routing=tuple((ChannelKind(c), m) for c, m in routing.items()),
    )


def route(p: InstancePolicy, r: RecipientPrefs, channel: ChannelKind = TELEGRAM) -> Route:
    return resolve(p, r, TICKET).routes[channel]


def test_the_nearest_setting_wins() -> None:
    instance = RoutingRules({TELEGRAM: AWAY, EMAIL: AWAY}, digest_seconds=60)
    typed = {"ticket_created": TypeRule(routing={TELEGRAM: TEN})}
    assert route(policy(), prefs()) == Route()  # nobody set one: ALWAYS
    assert route(policy(routing=instance), prefs()) == Route(RoutingMode.WHEN_AWAY, None, RouteSource.INSTANCE, 60)
    # the type policy's escalation (never digested: it is about one notification)
    assert route(policy(routing=instance, type_rules=typed), prefs()) == Route(
        RoutingMode.ESCALATE_AFTER, 10, RouteSource.TYPE_POLICY, 0
    )
    # the recipient's choice on an editable type; the instance's for the channel the type did not set
    mine = prefs(TELEGRAM=ModeSetting(RoutingMode.ALWAYS))
    assert route(policy(routing=instance, type_rules=typed), mine).source is RouteSource.OPERATOR
    assert route(policy(routing=instance, type_rules=typed), mine, EMAIL).source is RouteSource.INSTANCE


def test_a_view_only_type_ignores_the_recipients_choice() -> None:
    typed = {"ticket_created": TypeRule(availability=TypeAvailability.VIEW_ONLY, routing={TELEGRAM: TEN})}
    p = policy(type_rules=typed, default_channels=(BELL, TELEGRAM))
    assert route(p, prefs(TELEGRAM=AWAY)).source is RouteSource.TYPE_POLICY


def test_always_on_types_and_mandatory_channels_bypass() -> None:
    instance = RoutingRules({TELEGRAM: AWAY}, digest_seconds=60)
    urgent = {"ticket_created": TypeRule(always_on=True)}
    assert route(policy(routing=instance, type_rules=urgent), prefs()) == Route(
        source=RouteSource.ALWAYS_ON, always_on=True
    )
    mandatory = policy(
        routing=RoutingRules({TELEGRAM: AWAY}, mandatory_bypass=True), mandatory_channels=frozenset({TELEGRAM})
    )
    assert route(mandatory, prefs(TELEGRAM=AWAY)).source is RouteSource.MANDATORY
    # without the instance's bypass a mandatory channel keeps its mode
    kept = policy(routing=RoutingRules({TELEGRAM: AWAY}), mandatory_channels=frozenset({TELEGRAM}))
    assert route(kept, prefs()).mode is RoutingMode.WHEN_AWAY


def test_panel_channels_and_channels_that_are_off_have_no_route() -> None:
    resolution = resolve(policy(routing=RoutingRules({TELEGRAM: AWAY})), RecipientPrefs(), TICKET)
    assert resolution.routes == {}  # the defaults are BELL and BANNER: nothing sent outside the panel
