"""GraphQL types of the contract (and a few additions), and their builders from domain values."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from domain.bell import encode_cursor
from domain.channels_tab import ChannelRow
from domain.policy import InstancePolicy
from domain.resolution import Decision, TypeResolution
from models import enums
from models.catalog import MELODIES, TypeDef, text
from models.notification import Delivery as DeliveryRow
from models.notification import Notification as NotificationRow
from models.notification import PushTarget as PushTargetRow
from models.operator import Operator
from models.operator import PushSubscription as PushSubscriptionRow
from resolvers.context import Info

# The GraphQL enums are the domain's enums themselves: strawberry.enum marks a class and returns
# it, so these names are plain aliases of models.enums, which mypy takes as types.
Role = enums.Role
ChannelKind = enums.ChannelKind
TypeAvailability = enums.TypeAvailability
ChannelStatus = enums.ChannelStatus
BulkAction = enums.BulkAction
SkipReason = enums.SkipReason
DeliveryStatus = enums.DeliveryStatus
PushTargetStatus = enums.PushTargetStatus
ChannelDecisionReason = enums.DecisionReason
strawberry.enum(Role)
strawberry.enum(ChannelKind)
strawberry.enum(TypeAvailability)
strawberry.enum(ChannelStatus)
strawberry.enum(BulkAction)
strawberry.enum(SkipReason)
strawberry.enum(DeliveryStatus)
strawberry.enum(
    PushTargetStatus,
    description=(
        "What one browser push subscription's push came to within a BROWSER delivery: SENT (the push"
        " service accepted it), RETRYING (failed transiently: pushed again on the delivery's next try),"
        " FAILED (refused for good, or still failing when the delivery's last try ended), GONE (the"
        " subscription had expired, HTTP 404/410, and was removed)."
    ),
)
strawberry.enum(
    ChannelDecisionReason,
    description="Why channel resolution turned a channel on or off for one type.",
)


@strawberry.type
class Viewer:
    id: strawberry.ID
    instance_id: strawberry.ID
    role: Role
    display_name: str | None
    email: str | None
    locale: str = strawberry.field(description="BCP 47 language tag; at least 'en' and 'uk' are served.")


@strawberry.type(description="What the instance offers.")
class NotificationCenter:
    enabled: bool
    extended_types_enabled: bool
    available_channels: list[ChannelKind]
    mandatory_channels: list[ChannelKind]
    unavailable_types_notice: str | None


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

    @staticmethod
    def build(decision: Decision, locale: str | None) -> ChannelDecision:
        from resolvers.explanations import explain

        return ChannelDecision(
            channel=decision.channel,
            enabled=decision.on,
            reason=decision.reason,
            deliverable=decision.deliverable,
            explanation=explain(decision, locale),
        )


@strawberry.type
class Melody:
    id: strawberry.ID
    title: str

    @staticmethod
    def all(locale: str | None) -> list[Melody]:
        return [Melody(id=strawberry.ID(m.id), title=text(m.title, locale)) for m in MELODIES]


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
class EntityRef:
    kind: str
    id: strawberry.ID


@strawberry.type
class Notification:
    id: strawberry.ID
    type_code: strawberry.ID
    category_code: strawberry.ID
    title: str
    body: str
    entity: EntityRef | None
    data: JSON
    created_at: datetime
    read_at: datetime | None

    @staticmethod
    def build(row: NotificationRow) -> Notification:
        entity = (
            EntityRef(kind=row.entity_kind, id=strawberry.ID(row.entity_id))
            if row.entity_kind and row.entity_id is not None
            else None
        )
        return Notification(
            id=strawberry.ID(str(row.id)),
            type_code=strawberry.ID(row.type_code),
            category_code=strawberry.ID(row.category_code),
            title=row.title,
            body=row.body,
            entity=entity,
            data=JSON(row.data or {}),
            created_at=row.created_at,
            read_at=row.read_at,
        )


def notification_from_payload(payload: dict) -> Notification:
    """A live message's notification (domain.live.notification_payload) as the GraphQL type."""
    entity = (
        EntityRef(kind=payload["entityKind"], id=strawberry.ID(payload["entityId"]))
        if payload.get("entityKind") and payload.get("entityId") is not None
        else None
    )
    read_at = payload.get("readAt")
    return Notification(
        id=strawberry.ID(payload["id"]),
        type_code=strawberry.ID(payload["typeCode"]),
        category_code=strawberry.ID(payload["categoryCode"]),
        title=payload["title"],
        body=payload["body"],
        entity=entity,
        data=JSON(payload.get("data") or {}),
        created_at=datetime.fromisoformat(payload["createdAt"]),
        read_at=datetime.fromisoformat(read_at) if read_at else None,
    )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification

    @staticmethod
    def build(row: NotificationRow) -> NotificationEdge:
        return NotificationEdge(cursor=encode_cursor(row.id), node=Notification.build(row))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    unread_count: int


@strawberry.input
class NotificationFilter:
    unread_only: bool | None = None
    category_codes: list[strawberry.ID] | None = None
    type_codes: list[strawberry.ID] | None = None


@strawberry.type(description="One browser push subscription's outcome within a BROWSER delivery.")
class PushTarget:
    subscription_id: strawberry.ID = strawberry.field(
        description="The push subscription's id (as in channelSettings.pushSubscriptions; it may have been removed since)."
    )
    push_service: str = strawberry.field(
        description="The push service's host name; the endpoint's path is never shown (it is the subscription's secret)."
    )
    status: PushTargetStatus = strawberry.field(description="What the pushes to this subscription came to so far.")
    attempts: int = strawberry.field(description="Pushes sent to this subscription for this delivery.")
    last_error: str | None = strawberry.field(description="Why the last push was not accepted; null once SENT.")
    updated_at: datetime = strawberry.field(description="When the last push to this subscription was answered.")

    @staticmethod
    def build(row: PushTargetRow) -> PushTarget:
        return PushTarget(
            subscription_id=strawberry.ID(str(row.subscription_id)),
            push_service=row.push_service,
            status=enums.PushTargetStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            updated_at=row.updated_at,
        )


@strawberry.type
class Delivery:
    id: strawberry.ID
    notification_id: strawberry.ID | None
    channel: ChannelKind
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    updated_at: datetime

    @strawberry.field(
        description="BROWSER deliveries: each of the recipient's push subscriptions and what its pushes came to"
        " (so a SENT delivery shows which browsers never got it); empty for the other channels."
    )
    async def targets(self, info: Info) -> list[PushTarget]:
        if self.channel != enums.ChannelKind.BROWSER:
            return []
        return [PushTarget.build(row) for row in await info.context.push_targets.load(int(self.id))]

    @staticmethod
    def build(row: DeliveryRow) -> Delivery:
        return Delivery(
            id=strawberry.ID(str(row.id)),
            notification_id=strawberry.ID(str(row.notification_id)) if row.notification_id else None,
            channel=enums.ChannelKind(row.channel),
            status=enums.DeliveryStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            updated_at=row.updated_at,
        )


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


@strawberry.type
class TypePolicy:
    type_code: strawberry.ID
    mandatory: bool
    mandatory_channels: list[ChannelKind]
    availability: TypeAvailability
    default_channels: list[ChannelKind]

    @staticmethod
    def build(policy: InstancePolicy, type_def: TypeDef) -> TypePolicy:
        rule = policy.rule(type_def.code)
        return TypePolicy(
            type_code=strawberry.ID(type_def.code),
            mandatory=rule.mandatory,
            mandatory_channels=enums.sort_channels(rule.mandatory_channels),
            availability=policy.availability(type_def),
            default_channels=list(policy.default_channels_for(type_def)),
        )


@strawberry.type
class BotChannelConfig:
    channel: ChannelKind
    enabled: bool
    settings: JSON
    has_secret: bool
    has_webhook_secret_token: bool = strawberry.field(
        description="TELEGRAM: whether a webhookSecretToken is set. The token is write-only: given in "
        "settings, never returned."
    )


@strawberry.type(description="Instance-wide policy, for administrators.")
class InstanceSettings:
    notification_center_enabled: bool
    extended_types_enabled: bool
    mandatory_channels: list[ChannelKind]
    default_channels: list[ChannelKind]
    bot_scenario: str | None
    bot_channels: list[BotChannelConfig]
    type_policies: list[TypePolicy]
    negative_csat_threshold: int

    @staticmethod
    def build(policy: InstancePolicy) -> InstanceSettings:
        from models.catalog import LISTED_TYPES

        return InstanceSettings(
            notification_center_enabled=policy.notification_center_enabled,
            extended_types_enabled=policy.extended_types_enabled,
            mandatory_channels=enums.sort_channels(policy.mandatory_channels),
            default_channels=list(policy.default_channels),
            bot_scenario=policy.bot_scenario,
            bot_channels=[
                BotChannelConfig(
                    channel=bot.channel,
                    enabled=bot.enabled,
                    settings=JSON(bot.settings),
                    has_secret=bot.has_secret,
                    has_webhook_secret_token=bot.has_webhook_secret_token,
                )
                for bot in sorted(policy.bot_channels.values(), key=lambda b: enums.CHANNEL_ORDER[b.channel])
            ],
            type_policies=[TypePolicy.build(policy, t) for t in LISTED_TYPES],
            negative_csat_threshold=policy.negative_csat_threshold,
        )


@strawberry.type
class SkippedType:
    type_code: strawberry.ID
    reason: SkipReason


@strawberry.type
class BulkUpdateTypesPayload:
    updated: list[NotificationType]
    skipped: list[SkippedType]


@strawberry.type
class MarkReadPayload:
    ids: list[strawberry.ID]
    unread_count: int


@strawberry.type
class PublishResult:
    """What publishing one event did. Publishing is idempotent per (instance, event id): a
    second publish of an id already seen writes nothing and answers ``duplicate: true`` with the
    first publish's counts."""

    event_id: strawberry.ID
    duplicate: bool = strawberry.field(
        description="True when this event id was published before: nothing was written now, and the counts are "
        "those of the first publish."
    )
    notification_count: int = strawberry.field(
        description="Notifications the event created (one per recipient whose settings take it); for a duplicate, "
        "the first publish's."
    )
    deliveries_queued: int = strawberry.field(
        description="Delivery jobs queued across all channels; for a duplicate, the first publish's."
    )


@strawberry.type
class NotificationAdded:
    notification: Notification
    unread_count: int


@strawberry.type
class NotificationsRead:
    ids: list[strawberry.ID]
    unread_count: int


BellEvent = Annotated[
    NotificationAdded | NotificationsRead,
    strawberry.union(
        "BellEvent",
        description="What the bell shows live: new items, and read-state changes made in any of the viewer's tabs.",
    ),
]


@strawberry.type
class Toast:
    notification: Notification
    duration_seconds: int
    sound: strawberry.ID | None
    repeat: int


@strawberry.type
class Reminder:
    kind: strawberry.ID
    message: str
    created_at: datetime
