"""The settings tabs' output types: types and categories, channel decisions, channels, profile settings."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.channel_settings import ChannelRow
from domain.resolution import Decision, TypeResolution
from domain.routing import Route
from models.catalog import MELODIES, text
from models.operator import Operator
from models.operator import PushSubscription as PushSubscriptionRow
from resolvers.enums import (
    ChannelDecisionReason,
    ChannelKind,
    ChannelStatus,
    RouteSource,
    RoutingMode,
    SkipReason,
    TypeAvailability,
    Waveform,
)
from resolvers.preferences.explanations import explain


@strawberry.type(description="A row of the types tab, as the viewer sees it.")
class NotificationType:
    code: strawberry.ID
    category_code: strawberry.ID
    title: str
    description: str
    availability: TypeAvailability
    mandatory: bool
    mandatory_channels: list[ChannelKind]
    selectable_channels: list[ChannelKind]
    channels: list[ChannelKind]
    melody: strawberry.ID | None
    editable: bool

    @staticmethod
    def build(resolution: TypeResolution, locale: str | None) -> NotificationType:
        t = resolution.type_def
        return NotificationType(
            code=strawberry.ID(t.code),
            category_code=strawberry.ID(t.category),
            title=text(t.title, locale),
            description=text(t.description, locale),
            availability=resolution.availability,
            mandatory=resolution.mandatory,
            mandatory_channels=resolution.mandatory_channels,
            selectable_channels=resolution.selectable_channels,
            channels=resolution.channels,
            melody=strawberry.ID(resolution.melody) if resolution.melody else None,
            editable=resolution.editable,
        )


@strawberry.type
class NotificationCategory:
    code: strawberry.ID
    title: str
    position: int
    types: list[NotificationType]


@strawberry.type(description="Why one channel is on or off for one type, for the viewer.")
class ChannelDecision:
    channel: ChannelKind
    enabled: bool = strawberry.field(description="True when notifications of this type go to this channel.")
    reason: ChannelDecisionReason
    deliverable: bool = strawberry.field(
        description="False when the channel is on but can't deliver yet (not linked, no push subscription, no email)."
    )
    explanation: str = strawberry.field(description="The reason in words, in the viewer's locale.")
    routing_mode: RoutingMode | None = strawberry.field(
        default=None, description="How the channel sends when it is on and sent outside the panel; else null."
    )
    escalate_after_minutes: int | None = strawberry.field(default=None, description="ESCALATE_AFTER's wait.")
    routing_source: RouteSource | None = strawberry.field(
        default=None, description="Where routingMode comes from (the viewer's choice counts only on editable types)."
    )
    digest_window_seconds: int | None = strawberry.field(
        default=None, description="Bursts within this many seconds come as one message (0: each on its own)."
    )
    always_on: bool | None = strawberry.field(
        default=None, description="An always-on type: sent at once, outside working hours too, never digested."
    )

    @staticmethod
    def build(decision: Decision, locale: str | None, route: Route | None = None) -> ChannelDecision:
        return ChannelDecision(
            channel=decision.channel,
            enabled=decision.on,
            reason=decision.reason,
            deliverable=decision.deliverable,
            explanation=explain(decision, locale, route),
            routing_mode=route.mode if route else None,
            escalate_after_minutes=route.minutes if route else None,
            routing_source=route.source if route else None,
            digest_window_seconds=route.digest_seconds if route else None,
            always_on=route.always_on if route else None,
        )


@strawberry.type
class SkippedType:
    type_code: strawberry.ID
    reason: SkipReason


@strawberry.type
class BulkUpdateTypesPayload:
    updated: list[NotificationType]
    skipped: list[SkippedType]


@strawberry.type(description="One tone of a melody, for an OscillatorNode: its pitch, start and length.")
class MelodyNote:
    frequency_hz: float
    start_ms: int = strawberry.field(description="When the tone starts, after the melody's start.")
    duration_ms: int


@strawberry.type(description="A banner's sound: tones the panel plays with the Web Audio API.")
class Melody:
    id: strawberry.ID
    title: str
    waveform: Waveform
    notes: list[MelodyNote]

    @staticmethod
    def all(locale: str | None) -> list[Melody]:
        return [
            Melody(
                id=strawberry.ID(m.id),
                title=text(m.title, locale),
                waveform=m.waveform,
                notes=[
                    MelodyNote(frequency_hz=n.frequency_hz, start_ms=n.start_ms, duration_ms=n.duration_ms)
                    for n in m.notes
                ],
            )
            for m in MELODIES
        ]


@strawberry.type
class ChannelSetting:
    kind: ChannelKind
    enabled: bool
    mandatory: bool
    available: bool
    status: ChannelStatus
    target: str | None
    last_test_at: datetime | None
    last_error: str | None
    routing_mode: RoutingMode | None = strawberry.field(
        default=None,
        description="The viewer's routing mode for this external channel on editable types; null: the policy's.",
    )
    escalate_after_minutes: int | None = strawberry.field(default=None, description="With ESCALATE_AFTER.")

    @staticmethod
    def build(row: ChannelRow) -> ChannelSetting:
        return ChannelSetting(
            kind=row.kind,
            enabled=row.enabled,
            mandatory=row.mandatory,
            available=row.available,
            status=row.status,
            target=row.target,
            last_test_at=row.last_test_at,
            last_error=row.last_error,
            routing_mode=row.routing.mode if row.routing else None,
            escalate_after_minutes=row.routing.minutes if row.routing else None,
        )


@strawberry.type
class BannerSettings:
    duration_seconds: int
    max_visible: int
    repeat_count: int
    repeat_interval_seconds: int


@strawberry.type
class SoundSettings:
    default_melody: strawberry.ID


@strawberry.type
class PushSubscription:
    id: strawberry.ID
    endpoint: str
    user_agent: str | None
    created_at: datetime
    last_success_at: datetime | None

    @staticmethod
    def build(row: PushSubscriptionRow) -> PushSubscription:
        return PushSubscription(
            id=strawberry.ID(str(row.id)),
            endpoint=row.endpoint,
            user_agent=row.user_agent,
            created_at=row.created_at,
            last_success_at=row.last_success_at,
        )


@strawberry.type(description="The Channels tab.")
class ChannelSettings:
    channels: list[ChannelSetting]
    banner: BannerSettings
    sound: SoundSettings
    push_subscriptions: list[PushSubscription]

    @staticmethod
    def build(operator: Operator, rows: list[ChannelRow], subscriptions: list[PushSubscriptionRow]) -> ChannelSettings:
        return ChannelSettings(
            channels=[ChannelSetting.build(r) for r in rows],
            banner=BannerSettings(
                duration_seconds=operator.banner_duration_seconds,
                max_visible=operator.banner_max_visible,
                repeat_count=operator.banner_repeat_count,
                repeat_interval_seconds=operator.banner_repeat_interval_seconds,
            ),
            sound=SoundSettings(default_melody=strawberry.ID(operator.default_melody)),
            push_subscriptions=[PushSubscription.build(s) for s in subscriptions],
        )


@strawberry.type
class ChannelLink:
    channel: ChannelKind
    code: str
    url: str
    expires_at: datetime


@strawberry.type
class SystemMessageSetting:
    code: strawberry.ID
    title: str
    enabled: bool


@strawberry.type
class ReminderSettings:
    not_ready_enabled: bool
    not_ready_after_minutes: int
    not_ready_repeat_minutes: int

    @staticmethod
    def build(operator: Operator) -> ReminderSettings:
        return ReminderSettings(
            not_ready_enabled=operator.reminder_not_ready_enabled,
            not_ready_after_minutes=operator.reminder_not_ready_after_minutes,
            not_ready_repeat_minutes=operator.reminder_not_ready_repeat_minutes,
        )


@strawberry.type
class ClassicSettings:
    browser_enabled: bool
    sound_enabled: bool

    @staticmethod
    def build(operator: Operator) -> ClassicSettings:
        return ClassicSettings(
            browser_enabled=operator.classic_browser_enabled,
            sound_enabled=operator.classic_sound_enabled,
        )
