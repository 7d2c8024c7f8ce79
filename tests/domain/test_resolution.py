"""SPEC section 3, table by table: which channels a type goes to for one recipient, and why.

Pure unit tests of ``domain.resolution.resolve``: the policy, the recipient's preferences and the
type definitions are built in memory. No database, no GraphQL, no I/O.

Each row of a table is one rule (its id starts with the SPEC step it covers, ``r1``..``r7``, ``nc-off``
for the simplified screen) and asserts the exact set of channels that are on, with the reason the
types tab shows for each (``channelDecisions``), plus the reasons of the off channels the row is about.

Not covered here, because ``resolve`` does not decide it: step 2 (the event's actor gets nothing) is
applied while publishing (``domain.events._publish_batch``, a database path; see tests/services/test_publish.py).
"""

from __future__ import annotations

import dataclasses

import pytest

from core.settings import Limits
from domain.errors import BadUserInput
from domain.events import Event, _skip_reason, validate
from domain.policy import DEFAULT_CHANNELS, BotChannel, InstancePolicy, TypeRule
from domain.resolution import Choice, RecipientPrefs, TypeResolution, resolve
from models.catalog import LISTED_TYPES, TYPES, TYPES_BY_CODE, TypeDef
from models.enums import ChannelKind, DecisionReason, TypeAvailability

BELL = ChannelKind.BELL
BANNER = ChannelKind.BANNER
SOUND = ChannelKind.SOUND
BROWSER = ChannelKind.BROWSER
TELEGRAM = ChannelKind.TELEGRAM
VIBER = ChannelKind.VIBER
WHATSAPP = ChannelKind.WHATSAPP
ECHAT = ChannelKind.ECHAT
EMAIL = ChannelKind.EMAIL
CUSTOM = ChannelKind.CUSTOM
BOTS = (TELEGRAM, VIBER, WHATSAPP, ECHAT, EMAIL, CUSTOM)

CHOSEN = DecisionReason.CHOSEN
DEFAULT = DecisionReason.DEFAULT
MANDATORY = DecisionReason.MANDATORY
MANDATORY_TYPE_BELL = DecisionReason.MANDATORY_TYPE_BELL
NOT_CHOSEN = DecisionReason.NOT_CHOSEN
SWITCHED_OFF = DecisionReason.SWITCHED_OFF
NOT_OFFERED = DecisionReason.NOT_OFFERED
TYPE_UNAVAILABLE = DecisionReason.TYPE_UNAVAILABLE
NC_DISABLED = DecisionReason.NOTIFICATION_CENTER_DISABLED
CLASSIC = DecisionReason.CLASSIC

AVAILABLE = TypeAvailability.AVAILABLE
VIEW_ONLY = TypeAvailability.VIEW_ONLY
UNAVAILABLE = TypeAvailability.UNAVAILABLE

#: What a recipient can always be reached on: the panel, and the webhook channels (by operator id).
ALWAYS_REACHABLE = frozenset({BELL, BANNER, SOUND, ECHAT, CUSTOM})

# SPEC section 2, restated: the catalog the rules below rely on.
SPEC_EXTENDED = {
    "csat_negative",
    "sla_expired",
    "sla_time_in_status_exceeded",
    "normative_response_warning",
    "normative_response_overlimit",
}
# entity_resolved: issue 14's acknowledgement by entity (a producer's "handled"), never delivered.
SPEC_UNLISTED = {"operator_mentioned", "chat_message", "operator_status_changed", "sla_warning", "entity_resolved"}
SPEC_NEVER_DELIVERED = {"operator_status_changed", "entity_resolved"}
SPEC_UNAVAILABLE = {"sla_warning"}


# -- building inputs ---------------------------------------------------------------------------------


def bots(*channels: ChannelKind, enabled: bool = True) -> dict[ChannelKind, BotChannel]:
    """Bot channels the administrator configured (``enabled=False``: configured, then switched off)."""
    return {c: BotChannel(channel=c, enabled=enabled, settings={}, has_secret=True) for c in channels}


def policy(**kw: object) -> InstancePolicy:
    """An instance's policy; unset fields are the out-of-the-box defaults (NC on, BELL+BANNER)."""
    return InstancePolicy(instance_id="instance-1", **kw)  # type: ignore[arg-type]


def rules(code: str = "ticket_created", **kw: object) -> dict[str, TypeRule]:
    """One type's administrator policy row."""
    if "mandatory_channels" in kw:
        kw["mandatory_channels"] = frozenset(kw["mandatory_channels"])  # type: ignore[arg-type]
    return {code: TypeRule(**kw)}  # type: ignore[arg-type]


def prefs(
    *,
    chose: dict[str, set[ChannelKind]] | None = None,
    melody: dict[str, str] | None = None,
    off: set[ChannelKind] | frozenset[ChannelKind] = frozenset(),
    classic_browser: bool = True,
    classic_sound: bool = True,
    reachable: set[ChannelKind] | frozenset[ChannelKind] | None = None,
) -> RecipientPrefs:
    """A recipient: per-type choices (and melodies), Channels tab switches, classic toggles, reach."""
    melody = melody or {}
    codes = set(chose or {}) | set(melody)
    return RecipientPrefs(
        switched_off=frozenset(off),
        choices={c: Choice(frozenset((chose or {}).get(c, set())), melody.get(c)) for c in codes},
        classic_browser=classic_browser,
        classic_sound=classic_sound,
        reachable=frozenset(reachable) if reachable is not None else None,
    )


def type_with_defaults(code: str, *channels: ChannelKind) -> TypeDef:
    """A catalog type with its own default channels (no shipped type has any yet)."""
    return dataclasses.replace(TYPES_BY_CODE[code], default_channels=channels)


def on_reasons(res: TypeResolution) -> dict[ChannelKind, DecisionReason]:
    return {c: d.reason for c, d in res.decisions.items() if d.on}


def every(reason: DecisionReason) -> dict[ChannelKind, DecisionReason]:
    return dict.fromkeys(ChannelKind, reason)


def case(
    id: str,
    *,
    type: str | TypeDef = "ticket_created",
    pol: InstancePolicy | None = None,
    prf: RecipientPrefs | None = None,
    on: dict[ChannelKind, DecisionReason],
    off: dict[ChannelKind, DecisionReason] | None = None,
) -> object:
    return pytest.param(type, pol or policy(), prf or prefs(), on, off or {}, id=id)


# -- the table: channels on (with reasons) and the off channels' reasons ------------------------------

CHANNEL_CASES = [
    # 1. availability: an UNAVAILABLE type is accepted and delivered nowhere
    case(
        "r1-catalog-unavailable-type-sla_warning-delivers-nothing",
        type="sla_warning",
        on={},
        off=every(TYPE_UNAVAILABLE),
    ),
    case(
        "r1-admin-unavailable-type-delivers-nothing-despite-choice-and-mandatory",
        pol=policy(
            mandatory_channels=frozenset({SOUND}),
            type_rules=rules(availability=UNAVAILABLE, mandatory=True, mandatory_channels={BROWSER}),
        ),
        prf=prefs(chose={"ticket_created": {BELL, BROWSER}}),
        on={},
        off=every(TYPE_UNAVAILABLE),
    ),
    case(
        "r1-never-delivered-type-operator_status_changed-delivers-nothing",
        type="operator_status_changed",
        pol=policy(mandatory_channels=frozenset({BELL})),
        on={},
        off=every(TYPE_UNAVAILABLE),
    ),
    case(
        "r1-unavailable-for-another-type-does-not-apply",
        pol=policy(type_rules=rules("chat_created", availability=UNAVAILABLE)),
        on={BELL: DEFAULT, BANNER: DEFAULT},
    ),
    # 3. the starting set: R's choice if T is editable, else T's defaults, else the instance's
    case(
        "r3-no-choice-instance-defaults-bell-banner-out-of-the-box",
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={SOUND: NOT_CHOSEN, BROWSER: NOT_CHOSEN} | dict.fromkeys(BOTS, NOT_OFFERED),
    ),
    case(
        "r3-no-choice-instance-default-channels-as-the-admin-set-them",
        pol=policy(default_channels=(BELL, BROWSER)),
        on={BELL: DEFAULT, BROWSER: DEFAULT},
        off={BANNER: NOT_CHOSEN},
    ),
    case(
        "r3-type-default-channels-beat-instance-defaults",
        pol=policy(default_channels=(BELL, BANNER), type_rules=rules(default_channels=(BROWSER, SOUND))),
        on={SOUND: DEFAULT, BROWSER: DEFAULT},
        off={BELL: NOT_CHOSEN, BANNER: NOT_CHOSEN},
    ),
    case(
        "r3-type-default-of-no-channels-delivers-nothing",
        pol=policy(type_rules=rules(default_channels=())),
        on={},
        off={BELL: NOT_CHOSEN, BANNER: NOT_CHOSEN},
    ),
    case(
        "r3-another-types-defaults-do-not-apply",
        pol=policy(type_rules=rules("chat_created", default_channels=(BROWSER,))),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    case(
        "r3-catalog-type-defaults-beat-instance-defaults",
        type=type_with_defaults("ticket_created", BELL, SOUND),
        on={BELL: DEFAULT, SOUND: DEFAULT},
        off={BANNER: NOT_CHOSEN},
    ),
    case(
        "r3-admin-type-defaults-beat-catalog-type-defaults",
        type=type_with_defaults("ticket_created", BELL, SOUND),
        pol=policy(type_rules=rules(default_channels=(BROWSER,))),
        on={BROWSER: DEFAULT},
        off={BELL: NOT_CHOSEN, SOUND: NOT_CHOSEN},
    ),
    case(
        "r3-recipients-choice-replaces-the-defaults",
        pol=policy(type_rules=rules(default_channels=(BELL, BANNER, SOUND))),
        prf=prefs(chose={"ticket_created": {BELL, BROWSER}}),
        on={BELL: CHOSEN, BROWSER: CHOSEN},
        off={BANNER: NOT_CHOSEN, SOUND: NOT_CHOSEN},
    ),
    case(
        "r3-empty-choice-delivers-nothing",
        prf=prefs(chose={"ticket_created": set()}),
        on={},
        off={BELL: NOT_CHOSEN, BANNER: NOT_CHOSEN},
    ),
    case(
        "r3-choice-for-another-type-does-not-apply",
        prf=prefs(chose={"chat_created": {BROWSER}}),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    case(
        "r3-extended-type-while-extended-off-is-view-only-choice-ignored",
        type="csat_negative",
        prf=prefs(chose={"csat_negative": {BROWSER}}),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    case(
        "r3-extended-type-while-extended-off-gets-its-type-defaults",
        type="sla_expired",
        pol=policy(type_rules=rules("sla_expired", default_channels=(BELL, SOUND))),
        prf=prefs(chose={"sla_expired": {BROWSER}}),
        on={BELL: DEFAULT, SOUND: DEFAULT},
        off={BROWSER: NOT_CHOSEN, BANNER: NOT_CHOSEN},
    ),
    case(
        "r3-extended-type-while-extended-on-follows-the-choice",
        type="csat_negative",
        pol=policy(extended_types_enabled=True),
        prf=prefs(chose={"csat_negative": {BROWSER}}),
        on={BROWSER: CHOSEN},
        off={BELL: NOT_CHOSEN, BANNER: NOT_CHOSEN},
    ),
    case(
        "r3-extended-type-marked-available-by-admin-stays-view-only-while-extended-off",
        type="normative_response_warning",
        pol=policy(type_rules=rules("normative_response_warning", availability=AVAILABLE)),
        prf=prefs(chose={"normative_response_warning": {BROWSER}}),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    case(
        "r3-admin-view-only-type-ignores-the-choice",
        pol=policy(type_rules=rules(availability=VIEW_ONLY)),
        prf=prefs(chose={"ticket_created": {BROWSER}}),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    case(
        "r3-unlisted-operator_mentioned-gets-instance-defaults-choice-ignored",
        type="operator_mentioned",
        pol=policy(default_channels=(BELL, SOUND)),
        prf=prefs(chose={"operator_mentioned": {BROWSER}}),
        on={BELL: DEFAULT, SOUND: DEFAULT},
        off={BANNER: NOT_CHOSEN, BROWSER: NOT_CHOSEN},
    ),
    case(
        "r3-unlisted-chat_message-gets-instance-defaults",
        type="chat_message",
        prf=prefs(chose={"chat_message": {BROWSER}}),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    # 4. drop what the instance doesn't offer and what R switched off on the Channels tab
    case(
        "r4-bot-channel-not-configured-is-not-offered",
        prf=prefs(chose={"ticket_created": {BELL, TELEGRAM}}),
        on={BELL: CHOSEN},
        off={TELEGRAM: NOT_OFFERED},
    ),
    case(
        "r4-bot-channel-configured-but-disabled-is-not-offered",
        pol=policy(bot_channels=bots(TELEGRAM, enabled=False)),
        prf=prefs(chose={"ticket_created": {BELL, TELEGRAM}}),
        on={BELL: CHOSEN},
        off={TELEGRAM: NOT_OFFERED},
    ),
    case(
        "r4-bot-channel-configured-and-chosen-is-on",
        pol=policy(bot_channels=bots(TELEGRAM)),
        prf=prefs(chose={"ticket_created": {BELL, TELEGRAM, VIBER}}),
        on={BELL: CHOSEN, TELEGRAM: CHOSEN},
        off={VIBER: NOT_OFFERED, WHATSAPP: NOT_OFFERED},
    ),
    case(
        "r4-every-bot-channel-configured-and-chosen-is-on",
        pol=policy(bot_channels=bots(*BOTS)),
        prf=prefs(chose={"ticket_created": set(BOTS)}),
        on=dict.fromkeys(BOTS, CHOSEN),
        off={BELL: NOT_CHOSEN, BANNER: NOT_CHOSEN, SOUND: NOT_CHOSEN, BROWSER: NOT_CHOSEN},
    ),
    case(
        "r4-configured-bot-channel-not-chosen-stays-off",
        pol=policy(bot_channels=bots(TELEGRAM)),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={TELEGRAM: NOT_CHOSEN},
    ),
    case(
        "r4-default-channel-the-instance-does-not-offer-is-dropped",
        pol=policy(default_channels=(BELL, EMAIL)),
        on={BELL: DEFAULT},
        off={EMAIL: NOT_OFFERED},
    ),
    case(
        "r4-switched-off-banner-is-dropped-from-the-defaults",
        prf=prefs(off={BANNER}),
        on={BELL: DEFAULT},
        off={BANNER: SWITCHED_OFF},
    ),
    case(
        "r4-switched-off-browser-and-telegram-are-dropped-from-the-choice",
        pol=policy(bot_channels=bots(TELEGRAM)),
        prf=prefs(chose={"ticket_created": {BELL, BROWSER, TELEGRAM}}, off={BROWSER, TELEGRAM}),
        on={BELL: CHOSEN},
        off={BROWSER: SWITCHED_OFF, TELEGRAM: SWITCHED_OFF},
    ),
    case(
        "r4-switched-off-bell-and-banner-leave-nothing",
        prf=prefs(off={BELL, BANNER}),
        on={},
        off={BELL: SWITCHED_OFF, BANNER: SWITCHED_OFF},
    ),
    case(
        "r4-switched-off-and-not-chosen-reads-not-chosen",
        prf=prefs(off={BROWSER}),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    case(
        "r4-not-offered-wins-over-switched-off",
        prf=prefs(chose={"ticket_created": {BELL, TELEGRAM}}, off={TELEGRAM}),
        on={BELL: CHOSEN},
        off={TELEGRAM: NOT_OFFERED},
    ),
    case(
        "r4-switches-apply-to-view-only-types-too",
        type="csat_negative",
        prf=prefs(off={BANNER}),
        on={BELL: DEFAULT},
        off={BANNER: SWITCHED_OFF},
    ),
    # 5. SOUND only while switched on on the Channels tab, or mandatory
    case(
        "r5-sound-chosen-and-switched-on-stays",
        prf=prefs(chose={"ticket_created": {BELL, SOUND}}),
        on={BELL: CHOSEN, SOUND: CHOSEN},
    ),
    case(
        "r5-sound-chosen-but-switched-off-is-dropped",
        prf=prefs(chose={"ticket_created": {BELL, SOUND}}, off={SOUND}),
        on={BELL: CHOSEN},
        off={SOUND: SWITCHED_OFF},
    ),
    case(
        "r5-sound-in-the-defaults-but-switched-off-is-dropped",
        pol=policy(default_channels=(BELL, SOUND)),
        prf=prefs(off={SOUND}),
        on={BELL: DEFAULT},
        off={SOUND: SWITCHED_OFF},
    ),
    case(
        "r5-sound-switched-off-but-mandatory-for-the-instance-stays",
        pol=policy(mandatory_channels=frozenset({SOUND})),
        prf=prefs(off={SOUND}),
        on={BELL: DEFAULT, BANNER: DEFAULT, SOUND: MANDATORY},
    ),
    case(
        "r5-sound-switched-off-but-mandatory-for-the-type-stays",
        pol=policy(type_rules=rules(mandatory_channels={SOUND})),
        prf=prefs(chose={"ticket_created": {BELL}}, off={SOUND}),
        on={BELL: CHOSEN, SOUND: MANDATORY},
    ),
    # 6. the instance's and T's mandatory channels (where offered); a mandatory type keeps BELL
    case(
        "r6-instance-mandatory-channel-added-though-not-chosen",
        pol=policy(mandatory_channels=frozenset({BROWSER})),
        prf=prefs(chose={"ticket_created": {BELL}}),
        on={BELL: CHOSEN, BROWSER: MANDATORY},
        off={BANNER: NOT_CHOSEN},
    ),
    case(
        "r6-instance-mandatory-channel-added-to-an-empty-choice",
        pol=policy(mandatory_channels=frozenset({BELL})),
        prf=prefs(chose={"ticket_created": set()}),
        on={BELL: MANDATORY},
        off={BANNER: NOT_CHOSEN},
    ),
    case(
        "r6-instance-mandatory-channel-overrides-the-channels-tab-switch",
        pol=policy(mandatory_channels=frozenset({BANNER})),
        prf=prefs(off={BANNER}),
        on={BELL: DEFAULT, BANNER: MANDATORY},
    ),
    case(
        "r6-instance-mandatory-bot-channel-offered-is-added",
        pol=policy(mandatory_channels=frozenset({TELEGRAM}), bot_channels=bots(TELEGRAM)),
        on={BELL: DEFAULT, BANNER: DEFAULT, TELEGRAM: MANDATORY},
    ),
    case(
        "r6-instance-mandatory-bot-channel-not-configured-is-not-added",
        pol=policy(mandatory_channels=frozenset({TELEGRAM})),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={TELEGRAM: NOT_OFFERED},
    ),
    case(
        "r6-instance-mandatory-bot-channel-configured-but-disabled-is-not-added",
        pol=policy(mandatory_channels=frozenset({EMAIL}), bot_channels=bots(EMAIL, enabled=False)),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={EMAIL: NOT_OFFERED},
    ),
    case(
        "r6-type-mandatory-channel-added-for-that-type",
        type="chat_created",
        pol=policy(type_rules=rules("chat_created", mandatory_channels={BROWSER})),
        on={BELL: DEFAULT, BANNER: DEFAULT, BROWSER: MANDATORY},
    ),
    case(
        "r6-type-mandatory-channel-not-added-to-other-types",
        pol=policy(type_rules=rules("chat_created", mandatory_channels={BROWSER})),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={BROWSER: NOT_CHOSEN},
    ),
    case(
        "r6-type-mandatory-channel-overrides-empty-choice-and-switch",
        pol=policy(bot_channels=bots(EMAIL), type_rules=rules(mandatory_channels={EMAIL})),
        prf=prefs(chose={"ticket_created": set()}, off={EMAIL}),
        on={EMAIL: MANDATORY},
        off={BELL: NOT_CHOSEN, BANNER: NOT_CHOSEN},
    ),
    case(
        "r6-type-mandatory-bot-channel-not-configured-is-not-added",
        pol=policy(type_rules=rules(mandatory_channels={VIBER})),
        on={BELL: DEFAULT, BANNER: DEFAULT},
        off={VIBER: NOT_OFFERED},
    ),
    case(
        "r6-mandatory-type-keeps-bell-though-not-chosen-and-switched-off",
        pol=policy(type_rules=rules(mandatory=True)),
        prf=prefs(chose={"ticket_created": {BROWSER}}, off={BELL}),
        on={BELL: MANDATORY_TYPE_BELL, BROWSER: CHOSEN},
        off={BANNER: NOT_CHOSEN},
    ),
    case(
        "r6-mandatory-type-keeps-only-bell-not-banner",
        pol=policy(type_rules=rules(mandatory=True)),
        prf=prefs(chose={"ticket_created": set()}, off={BANNER}),
        on={BELL: MANDATORY_TYPE_BELL},
        off={BANNER: NOT_CHOSEN},
    ),
    case(
        "r6-mandatory-type-with-bell-among-its-mandatory-channels-reads-mandatory",
        pol=policy(type_rules=rules(mandatory=True, mandatory_channels={BELL, BROWSER})),
        prf=prefs(chose={"ticket_created": set()}),
        on={BELL: MANDATORY, BROWSER: MANDATORY},
    ),
    case(
        "r6-mandatory-type-with-bell-mandatory-for-the-instance-reads-mandatory",
        pol=policy(mandatory_channels=frozenset({BELL}), type_rules=rules(mandatory=True)),
        prf=prefs(chose={"ticket_created": set()}),
        on={BELL: MANDATORY},
    ),
    case(
        "r6-mandatory-view-only-type-keeps-bell",
        type="csat_negative",
        pol=policy(type_rules=rules("csat_negative", mandatory=True)),
        prf=prefs(off={BELL}),
        on={BELL: MANDATORY_TYPE_BELL, BANNER: DEFAULT},
    ),
    case(
        "r6-instance-mandatory-channels-apply-to-view-only-types",
        type="sla_expired",
        pol=policy(mandatory_channels=frozenset({BROWSER})),
        on={BELL: DEFAULT, BANNER: DEFAULT, BROWSER: MANDATORY},
    ),
    case(
        "r6-instance-mandatory-channels-apply-to-unlisted-types",
        type="operator_mentioned",
        pol=policy(mandatory_channels=frozenset({BROWSER})),
        on={BELL: DEFAULT, BANNER: DEFAULT, BROWSER: MANDATORY},
    ),
    # Notification Center disabled: the simplified screen
    case(
        "nc-off-listed-type-goes-to-bell-and-banner-whatever-the-settings",
        pol=policy(
            notification_center_enabled=False,
            default_channels=(SOUND, BROWSER),
            type_rules=rules(default_channels=(BROWSER,)),
        ),
        prf=prefs(chose={"ticket_created": {BROWSER}}, off={BELL, BANNER}),
        on={BELL: CLASSIC, BANNER: CLASSIC},
        off={SOUND: NC_DISABLED, BROWSER: NC_DISABLED},
    ),
    case(
        "nc-off-ticket_created-ignores-the-classic-toggles",
        pol=policy(notification_center_enabled=False),
        prf=prefs(classic_browser=True, classic_sound=True),
        on={BELL: CLASSIC, BANNER: CLASSIC},
        off={SOUND: NC_DISABLED, BROWSER: NC_DISABLED},
    ),
    case(
        "nc-off-chat_created-with-both-classic-toggles-on",
        type="chat_created",
        pol=policy(notification_center_enabled=False),
        prf=prefs(classic_browser=True, classic_sound=True),
        on={BELL: CLASSIC, BANNER: CLASSIC, SOUND: CLASSIC, BROWSER: CLASSIC},
    ),
    case(
        "nc-off-chat_created-with-classic-browser-off",
        type="chat_created",
        pol=policy(notification_center_enabled=False),
        prf=prefs(classic_browser=False, classic_sound=True),
        on={BELL: CLASSIC, BANNER: CLASSIC, SOUND: CLASSIC},
        off={BROWSER: NC_DISABLED},
    ),
    case(
        "nc-off-chat_created-with-classic-sound-off",
        type="chat_created",
        pol=policy(notification_center_enabled=False),
        prf=prefs(classic_browser=True, classic_sound=False),
        on={BELL: CLASSIC, BANNER: CLASSIC, BROWSER: CLASSIC},
        off={SOUND: NC_DISABLED},
    ),
    case(
        "nc-off-chat_created-with-both-classic-toggles-off",
        type="chat_created",
        pol=policy(notification_center_enabled=False),
        prf=prefs(classic_browser=False, classic_sound=False),
        on={BELL: CLASSIC, BANNER: CLASSIC},
        off={SOUND: NC_DISABLED, BROWSER: NC_DISABLED},
    ),
    case(
        "nc-off-chat_message-follows-the-classic-toggles",
        type="chat_message",
        pol=policy(notification_center_enabled=False),
        prf=prefs(classic_browser=True, classic_sound=True, off={SOUND, BROWSER}),
        on={BELL: CLASSIC, BANNER: CLASSIC, SOUND: CLASSIC, BROWSER: CLASSIC},
    ),
    case(
        "nc-off-view-only-extended-type-goes-to-bell-and-banner",
        type="sla_expired",
        pol=policy(notification_center_enabled=False),
        on={BELL: CLASSIC, BANNER: CLASSIC},
    ),
    case(
        "nc-off-unavailable-type-still-delivers-nothing",
        pol=policy(notification_center_enabled=False, type_rules=rules(availability=UNAVAILABLE)),
        on={},
        off=every(TYPE_UNAVAILABLE),
    ),
    case(
        "nc-off-configured-and-chosen-bot-channel-is-not-used",
        pol=policy(notification_center_enabled=False, bot_channels=bots(TELEGRAM)),
        prf=prefs(chose={"ticket_created": {TELEGRAM}}),
        on={BELL: CLASSIC, BANNER: CLASSIC},
        off={TELEGRAM: NC_DISABLED},
    ),
    case(
        # The simplified screen names BELL, BANNER (and BROWSER, SOUND for new chats) only.
        "nc-off-mandatory-channels-are-not-added",
        pol=policy(
            notification_center_enabled=False,
            mandatory_channels=frozenset({TELEGRAM}),
            bot_channels=bots(TELEGRAM),
            type_rules=rules(mandatory=True, mandatory_channels={BROWSER}),
        ),
        on={BELL: CLASSIC, BANNER: CLASSIC},
        off={TELEGRAM: NC_DISABLED, BROWSER: NC_DISABLED},
    ),
]


@pytest.mark.parametrize(("type_", "pol", "prf", "on", "off"), CHANNEL_CASES)
def test_channels_and_reasons(
    type_: str | TypeDef,
    pol: InstancePolicy,
    prf: RecipientPrefs,
    on: dict[ChannelKind, DecisionReason],
    off: dict[ChannelKind, DecisionReason],
) -> None:
    type_def = TYPES_BY_CODE[type_] if isinstance(type_, str) else type_
    res = resolve(pol, prf, type_def)

    assert on_reasons(res) == on
    assert {c: res.decisions[c].reason for c in off} == off
    assert res.channels == [c for c in ChannelKind if c in on]
    # reachability unknown (None): nothing is marked undeliverable
    assert res.deliverable_channels == res.channels


# -- 7. a channel that cannot deliver now: on, but a SKIPPED delivery with the reason -------------------

REACH_CASES = [
    pytest.param(
        policy(bot_channels=bots(TELEGRAM)),
        prefs(chose={"ticket_created": {BELL, TELEGRAM}}, reachable=ALWAYS_REACHABLE),
        "ticket_created",
        {BELL: CHOSEN, TELEGRAM: CHOSEN},
        {TELEGRAM},
        id="r7-telegram-chosen-not-linked-is-on-but-skipped",
    ),
    pytest.param(
        policy(bot_channels=bots(TELEGRAM)),
        prefs(chose={"ticket_created": {BELL, TELEGRAM}}, reachable=ALWAYS_REACHABLE | {TELEGRAM}),
        "ticket_created",
        {BELL: CHOSEN, TELEGRAM: CHOSEN},
        set(),
        id="r7-telegram-chosen-and-linked-is-deliverable",
    ),
    pytest.param(
        policy(bot_channels=bots(*BOTS)),
        prefs(chose={"ticket_created": {BROWSER, *BOTS}}, reachable=ALWAYS_REACHABLE | {VIBER}),
        "ticket_created",
        dict.fromkeys((BROWSER, *BOTS), CHOSEN),
        {BROWSER, TELEGRAM, WHATSAPP, EMAIL},
        id="r7-unlinked-bots-no-push-no-email-skipped-echat-custom-deliverable",
    ),
    pytest.param(
        policy(default_channels=(BELL, BROWSER)),
        prefs(reachable=ALWAYS_REACHABLE),
        "ticket_created",
        {BELL: DEFAULT, BROWSER: DEFAULT},
        {BROWSER},
        id="r7-browser-default-without-push-subscription-is-skipped",
    ),
    pytest.param(
        policy(default_channels=(BELL, BROWSER)),
        prefs(reachable=ALWAYS_REACHABLE | {BROWSER}),
        "ticket_created",
        {BELL: DEFAULT, BROWSER: DEFAULT},
        set(),
        id="r7-browser-with-push-subscription-is-deliverable",
    ),
    pytest.param(
        policy(mandatory_channels=frozenset({EMAIL}), bot_channels=bots(EMAIL)),
        prefs(reachable=ALWAYS_REACHABLE),
        "ticket_created",
        {BELL: DEFAULT, BANNER: DEFAULT, EMAIL: MANDATORY},
        {EMAIL},
        id="r7-mandatory-email-without-profile-email-is-skipped",
    ),
    pytest.param(
        policy(type_rules=rules(mandatory=True)),
        prefs(chose={"ticket_created": set()}, reachable=frozenset()),
        "ticket_created",
        {BELL: MANDATORY_TYPE_BELL},
        {BELL},
        id="r7-unreachable-mandatory-type-bell-is-still-on-but-skipped",
    ),
    pytest.param(
        policy(bot_channels=bots(TELEGRAM)),
        prefs(chose={"ticket_created": {BELL, TELEGRAM}}, reachable=None),
        "ticket_created",
        {BELL: CHOSEN, TELEGRAM: CHOSEN},
        set(),
        id="r7-reach-unknown-marks-nothing-undeliverable",
    ),
    pytest.param(
        policy(bot_channels=bots(TELEGRAM)),
        prefs(reachable=frozenset()),
        "ticket_created",
        {BELL: DEFAULT, BANNER: DEFAULT},
        {BELL, BANNER},
        id="r7-off-channels-are-never-marked-undeliverable",
    ),
    pytest.param(
        policy(notification_center_enabled=False),
        prefs(reachable=ALWAYS_REACHABLE),
        "chat_created",
        {BELL: CLASSIC, BANNER: CLASSIC, SOUND: CLASSIC, BROWSER: CLASSIC},
        {BROWSER},
        id="r7-nc-off-chat_created-browser-without-push-subscription-is-skipped",
    ),
    pytest.param(
        policy(type_rules=rules(availability=UNAVAILABLE)),
        prefs(reachable=frozenset()),
        "ticket_created",
        {},
        set(),
        id="r7-unavailable-type-has-nothing-to-skip",
    ),
]


@pytest.mark.parametrize(("pol", "prf", "code", "on", "undeliverable"), REACH_CASES)
def test_undeliverable_channels_stay_on_with_their_reason(
    pol: InstancePolicy,
    prf: RecipientPrefs,
    code: str,
    on: dict[ChannelKind, DecisionReason],
    undeliverable: set[ChannelKind],
) -> None:
    res = resolve(pol, prf, TYPES_BY_CODE[code])

    assert on_reasons(res) == on
    assert {c for c, d in res.decisions.items() if d.on and not d.deliverable} == undeliverable
    assert all(d.deliverable for d in res.decisions.values() if not d.on)
    assert res.deliverable_channels == [c for c in res.channels if c not in undeliverable]


@pytest.mark.parametrize(
    ("channel", "reason"),
    [
        pytest.param(TELEGRAM, "not linked: the recipient has not linked TELEGRAM", id="r7-skip-reason-telegram"),
        pytest.param(VIBER, "not linked: the recipient has not linked VIBER", id="r7-skip-reason-viber"),
        pytest.param(WHATSAPP, "not linked: the recipient has not linked WHATSAPP", id="r7-skip-reason-whatsapp"),
        pytest.param(
            BROWSER, "not linked: the recipient has no browser push subscription", id="r7-skip-reason-browser"
        ),
        pytest.param(EMAIL, "not linked: the recipient has no profile email", id="r7-skip-reason-email"),
    ],
)
def test_skipped_delivery_names_why(channel: ChannelKind, reason: str) -> None:
    """The SKIPPED delivery's last error for an undeliverable channel: never a silent drop."""
    assert _skip_reason(channel) == reason


# -- 1. an unknown type: the whole event is rejected with a clear error -------------------------------


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([Event(id="e1", type="no_such_type", recipients=["u1"])], id="r1-unknown-type-rejected"),
        pytest.param(
            [
                Event(id="e1", type="ticket_created", recipients=["u1"]),
                Event(id="e2", type="no_such_type", recipients=["u1"]),
            ],
            id="r1-unknown-type-rejects-the-whole-batch",
        ),
        pytest.param([Event(id="e1", type="", recipients=["u1"])], id="r1-empty-type-rejected"),
    ],
)
def test_unknown_type_rejects_the_event(events: list[Event]) -> None:
    with pytest.raises(BadUserInput, match="unknown type") as raised:
        validate(events, Limits())
    assert raised.value.extensions == {"code": "BAD_USER_INPUT", "field": "type"}


@pytest.mark.parametrize("code", ["sla_warning", "operator_status_changed", "operator_mentioned", "csat_negative"])
def test_known_types_are_accepted_even_when_unavailable_or_unlisted(code: str) -> None:
    validate([Event(id="e1", type=code, recipients=["u1"])], Limits())


# -- the types tab: availability, editability, mandatory and selectable channels ---------------------

VIEW_CASES = [
    pytest.param(
        "ticket_created",
        policy(),
        prefs(),
        (AVAILABLE, True, False, [], [BELL, BANNER, SOUND, BROWSER]),
        id="available-listed-type-editable-every-panel-channel-selectable",
    ),
    pytest.param(
        "ticket_created",
        policy(bot_channels=bots(TELEGRAM) | bots(VIBER, enabled=False)),
        prefs(),
        (AVAILABLE, True, False, [], [BELL, BANNER, SOUND, BROWSER, TELEGRAM]),
        id="configured-bot-channel-selectable-disabled-one-not",
    ),
    pytest.param(
        "ticket_created",
        policy(),
        prefs(off={SOUND, BANNER}),
        (AVAILABLE, True, False, [], [BELL, BROWSER]),
        id="switched-off-channels-not-selectable",
    ),
    pytest.param(
        "ticket_created",
        policy(mandatory_channels=frozenset({BROWSER}), type_rules=rules(mandatory_channels={SOUND})),
        prefs(),
        (AVAILABLE, True, False, [SOUND, BROWSER], [BELL, BANNER]),
        id="mandatory-channels-listed-and-not-selectable",
    ),
    pytest.param(
        "ticket_created",
        policy(type_rules=rules(mandatory=True)),
        prefs(),
        (AVAILABLE, True, True, [BELL], [BANNER, SOUND, BROWSER]),
        id="mandatory-type-lists-bell-as-mandatory",
    ),
    pytest.param(
        "ticket_created",
        policy(mandatory_channels=frozenset({TELEGRAM})),
        prefs(),
        (AVAILABLE, True, False, [], [BELL, BANNER, SOUND, BROWSER]),
        id="unoffered-mandatory-channel-not-listed",
    ),
    pytest.param(
        "csat_negative",
        policy(),
        prefs(),
        (VIEW_ONLY, False, False, [], []),
        id="extended-type-extended-off-view-only-nothing-selectable",
    ),
    pytest.param(
        "csat_negative",
        policy(extended_types_enabled=True),
        prefs(),
        (AVAILABLE, True, False, [], [BELL, BANNER, SOUND, BROWSER]),
        id="extended-type-extended-on-available-and-editable",
    ),
    pytest.param(
        "ticket_created",
        policy(type_rules=rules(availability=VIEW_ONLY)),
        prefs(),
        (VIEW_ONLY, False, False, [], []),
        id="admin-view-only-type-not-editable",
    ),
    pytest.param(
        "ticket_created",
        policy(type_rules=rules(availability=UNAVAILABLE)),
        prefs(),
        (UNAVAILABLE, False, False, [], []),
        id="admin-unavailable-type-not-editable",
    ),
    pytest.param(
        "sla_warning",
        policy(extended_types_enabled=True, type_rules=rules("sla_warning", availability=AVAILABLE)),
        prefs(),
        (UNAVAILABLE, False, False, [], []),
        id="sla_warning-unavailable-until-wired-whatever-the-admin-says",
    ),
    pytest.param(
        "operator_mentioned",
        policy(),
        prefs(),
        (AVAILABLE, False, False, [], []),
        id="unlisted-type-not-configurable",
    ),
    pytest.param(
        "ticket_created",
        policy(notification_center_enabled=False),
        prefs(),
        (AVAILABLE, False, False, [], []),
        id="nc-off-nothing-editable-nothing-selectable",
    ),
]


@pytest.mark.parametrize(("code", "pol", "prf", "expected"), VIEW_CASES)
def test_types_tab_view(
    code: str,
    pol: InstancePolicy,
    prf: RecipientPrefs,
    expected: tuple[TypeAvailability, bool, bool, list[ChannelKind], list[ChannelKind]],
) -> None:
    res = resolve(pol, prf, TYPES_BY_CODE[code])
    assert (
        res.availability,
        res.editable,
        res.mandatory,
        res.mandatory_channels,
        res.selectable_channels,
    ) == expected


# -- the melody chosen for a type (played when SOUND is on; None: the operator's default melody) -----

MELODY_CASES = [
    pytest.param("ticket_created", policy(), prefs(melody={"ticket_created": "chime"}), "chime", id="chosen-melody"),
    pytest.param("ticket_created", policy(), prefs(), None, id="no-choice-no-type-melody"),
    pytest.param(
        "ticket_created", policy(), prefs(chose={"ticket_created": {BELL, SOUND}}), None, id="choice-without-melody"
    ),
    pytest.param(
        "ticket_created", policy(), prefs(melody={"chat_created": "ping"}), None, id="another-types-melody-not-used"
    ),
    pytest.param(
        "csat_negative",
        policy(),
        prefs(melody={"csat_negative": "ping"}),
        None,
        id="view-only-type-ignores-its-old-melody",
    ),
    pytest.param(
        "csat_negative",
        policy(extended_types_enabled=True),
        prefs(melody={"csat_negative": "ping"}),
        "ping",
        id="extended-type-extended-on-uses-its-melody",
    ),
    pytest.param(
        "operator_mentioned",
        policy(),
        prefs(melody={"operator_mentioned": "alert"}),
        None,
        id="unlisted-type-has-no-melody",
    ),
]


@pytest.mark.parametrize(("code", "pol", "prf", "melody"), MELODY_CASES)
def test_melody(code: str, pol: InstancePolicy, prf: RecipientPrefs, melody: str | None) -> None:
    assert resolve(pol, prf, TYPES_BY_CODE[code]).melody == melody


# -- the whole catalog with the out-of-the-box policy and a recipient who set nothing ----------------


def test_catalog_is_the_one_spec_section_2_describes() -> None:
    assert {t.code for t in TYPES if t.extended} == SPEC_EXTENDED
    assert {t.code for t in TYPES if not t.listed} == SPEC_UNLISTED
    assert {t.code for t in TYPES if not t.delivered} == SPEC_NEVER_DELIVERED
    assert {t.code for t in TYPES if t.availability is UNAVAILABLE} == SPEC_UNAVAILABLE
    assert DEFAULT_CHANNELS == (BELL, BANNER)


@pytest.mark.parametrize("type_def", TYPES, ids=[t.code for t in TYPES])
def test_every_type_out_of_the_box(type_def: TypeDef) -> None:
    res = resolve(policy(), prefs(), type_def)

    if type_def.code in SPEC_UNAVAILABLE | SPEC_NEVER_DELIVERED:
        assert on_reasons(res) == {}
        assert {d.reason for d in res.decisions.values()} == {TYPE_UNAVAILABLE}
    else:
        assert on_reasons(res) == {BELL: DEFAULT, BANNER: DEFAULT}
    expected_availability = (
        UNAVAILABLE if type_def.code in SPEC_UNAVAILABLE else VIEW_ONLY if type_def.code in SPEC_EXTENDED else AVAILABLE
    )
    assert res.availability is expected_availability
    assert res.editable is (type_def in LISTED_TYPES and expected_availability is AVAILABLE)
    assert list(res.decisions) == list(ChannelKind)  # a decision for every channel, in display order
    assert all(d.channel is c for c, d in res.decisions.items())
