"""Mutation fields: check the caller, validate and write in one transaction, map the result."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from core.broker import user_topic
from domain import bell, live, profile
from domain.channels_tab import (
    load_channels_tab,
    register_push_subscription,
    unregister_push_subscription,
    update_channel_settings,
)
from domain.errors import BadUserInput
from domain.events import Event
from domain.instance_admin import (
    BotChannelInput,
    InstanceChanges,
    TypePolicyChanges,
    set_type_policy,
    update_instance,
)
from domain.links import start_link, unlink
from domain.operators import OperatorInput, upsert_operators
from domain.types_tab import bulk_update_types, listed_type, set_type_channels
from models.catalog import TYPES_BY_CODE
from models.db import transaction
from models.enums import Role
from resolvers.context import Info
from resolvers.inputs import at_most
from resolvers.types import (
    BulkAction,
    BulkUpdateTypesPayload,
    ChannelKind,
    ChannelLink,
    ChannelSetting,
    ChannelSettings,
    ClassicSettings,
    Delivery,
    InstanceSettings,
    MarkReadPayload,
    NotificationType,
    PublishResult,
    PushSubscription,
    ReminderSettings,
    SkippedType,
    SystemMessageSetting,
    TypeAvailability,
    TypePolicy,
)
from services.dispatch import publish_events, send_test


@strawberry.input
class BulkUpdateTypesInput:
    type_codes: list[strawberry.ID] | None = None
    category_code: strawberry.ID | None = None
    action: BulkAction
    channels: list[ChannelKind] | None = None


@strawberry.input
class BannerSettingsInput:
    duration_seconds: int | None = None
    max_visible: int | None = None
    repeat_count: int | None = None
    repeat_interval_seconds: int | None = None


@strawberry.input
class ChannelToggleInput:
    kind: ChannelKind
    enabled: bool


@strawberry.input
class ChannelSettingsInput:
    channels: list[ChannelToggleInput] | None = None
    banner: BannerSettingsInput | None = None
    default_melody: strawberry.ID | None = None


@strawberry.input
class PushSubscriptionInput:
    endpoint: str
    p256dh: str = strawberry.field(description="keys.p256dh of the browser's PushSubscription (URL-safe base64).")
    auth: str = strawberry.field(description="keys.auth of the browser's PushSubscription (URL-safe base64).")
    user_agent: str | None = None


@strawberry.input
class SystemMessageSettingInput:
    code: strawberry.ID
    enabled: bool


@strawberry.input
class ReminderSettingsInput:
    not_ready_enabled: bool | None = None
    not_ready_after_minutes: int | None = None
    not_ready_repeat_minutes: int | None = None


@strawberry.input
class ClassicSettingsInput:
    browser_enabled: bool | None = None
    sound_enabled: bool | None = None


@strawberry.input
class BotChannelConfigInput:
    channel: ChannelKind
    enabled: bool
    settings: JSON | None = strawberry.field(
        default=None,
        description="Replaces the stored settings; left out keeps them. TELEGRAM's webhookSecretToken is taken "
        "here but write-only (stored sealed, never returned): left out of settings keeps it, null clears it.",
    )
    secret: str | None = strawberry.field(
        default=None,
        description="Write-only: bot token, API key, SMTP password, webhook signing secret.",
    )


@strawberry.input
class InstanceSettingsInput:
    notification_center_enabled: bool | None = None
    extended_types_enabled: bool | None = None
    mandatory_channels: list[ChannelKind] | None = None
    default_channels: list[ChannelKind] | None = None
    bot_scenario: str | None = None
    bot_channels: list[BotChannelConfigInput] | None = None
    negative_csat_threshold: int | None = None


@strawberry.input
class TypePolicyInput:
    type_code: strawberry.ID
    mandatory: bool | None = None
    mandatory_channels: list[ChannelKind] | None = None
    availability: TypeAvailability | None = None
    default_channels: list[ChannelKind] | None = None


@strawberry.input
class EntityRefInput:
    kind: str = strawberry.field(description="1-32 characters of A-Z, a-z, 0-9, _ and -: TICKET, CHAT, CLIENT link.")
    id: strawberry.ID = strawberry.field(
        description="1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-' (it becomes part of a link)."
    )


@strawberry.input
class EventInput:
    id: strawberry.ID = strawberry.field(
        description="Idempotency key, unique per instance: the same id again creates nothing. "
        "1-200 characters, no control characters."
    )
    type: strawberry.ID
    recipients: list[strawberry.ID]
    actor_id: strawberry.ID | None = None
    entity: EntityRefInput | None = None
    data: JSON | None = strawberry.field(
        default=None,
        description="A JSON object for the type's templates: finite numbers, at most 32 levels deep, "
        "16 KiB of UTF-8 (NC_LIMIT_EVENT_DATA_BYTES).",
    )
    occurred_at: datetime | None = None


@strawberry.input(name="OperatorInput")
class OperatorInputGql:
    id: strawberry.ID
    display_name: str | None = None
    email: str | None = None
    locale: str | None = None
    role: Role | None = None


async def _channel_settings(info: Info) -> ChannelSettings:
    ctx = info.context
    operator = await ctx.saved_operator()
    tab = await load_channels_tab(await ctx.policy(), operator)
    return ChannelSettings.build(operator, tab.channels, tab.push_subscriptions)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def set_type_channels(
        self,
        info: Info,
        type_code: strawberry.ID,
        channels: list[ChannelKind],
        melody: strawberry.ID | None = None,
    ) -> NotificationType:
        ctx = info.context
        ctx.require_user()
        at_most(channels, len(ChannelKind), "setTypeChannels(channels)")
        async with transaction():
            await ctx.saved_operator()
            state = await set_type_channels(await ctx.viewer_state(), type_code, list(channels), melody)
        ctx.set_state(state)
        return NotificationType.build(state.resolve(listed_type(type_code)), state.locale)

    @strawberry.mutation(description="The types tab's bulk actions: one round trip, one transaction.")
    async def bulk_update_types(self, info: Info, input: BulkUpdateTypesInput) -> BulkUpdateTypesPayload:
        ctx = info.context
        ctx.require_user()
        at_most(input.type_codes, ctx.settings.limits.ids_per_request, "bulkUpdateTypes(typeCodes)")
        at_most(input.channels, len(ChannelKind), "bulkUpdateTypes(channels)")
        async with transaction():
            await ctx.saved_operator()
            result = await bulk_update_types(
                await ctx.viewer_state(),
                action=input.action,
                type_codes=[str(c) for c in input.type_codes] if input.type_codes is not None else None,
                category_code=input.category_code,
                channels=list(input.channels) if input.channels is not None else None,
            )
        state = result.state
        ctx.set_state(state)
        return BulkUpdateTypesPayload(
            updated=[NotificationType.build(state.resolve(TYPES_BY_CODE[c]), state.locale) for c in result.updated],
            skipped=[SkippedType(type_code=strawberry.ID(c), reason=r) for c, r in result.skipped],
        )

    @strawberry.mutation
    async def update_channel_settings(self, info: Info, input: ChannelSettingsInput) -> ChannelSettings:
        ctx = info.context
        ctx.require_user()
        at_most(input.channels, len(ChannelKind), "updateChannelSettings(channels)")
        async with transaction():
            operator = await ctx.saved_operator()
            await update_channel_settings(
                await ctx.policy(),
                operator,
                toggles=[(t.kind, t.enabled) for t in input.channels] if input.channels else None,
                banner=(
                    {
                        "duration_seconds": input.banner.duration_seconds,
                        "max_visible": input.banner.max_visible,
                        "repeat_count": input.banner.repeat_count,
                        "repeat_interval_seconds": input.banner.repeat_interval_seconds,
                    }
                    if input.banner
                    else None
                ),
                default_melody=input.default_melody,
            )
        return await _channel_settings(info)

    @strawberry.mutation
    async def register_push_subscription(self, info: Info, input: PushSubscriptionInput) -> PushSubscription:
        ctx = info.context
        ctx.require_user()
        async with transaction():
            row = await register_push_subscription(
                await ctx.saved_operator(),
                endpoint=input.endpoint,
                p256dh=input.p256dh,
                auth=input.auth,
                user_agent=input.user_agent,
                allow_http=ctx.settings.allow_http_endpoints,
                per_user_limit=ctx.settings.limits.push_subscriptions_per_user,
            )
        return PushSubscription.build(row)

    @strawberry.mutation
    async def unregister_push_subscription(self, info: Info, endpoint: str) -> bool:
        ctx = info.context
        ctx.require_user()
        operator = await ctx.operator()
        if operator.id is None:
            return False
        async with transaction():
            return await unregister_push_subscription(operator, endpoint)

    @strawberry.mutation(description="Starts linking TELEGRAM or VIBER (or another bot channel that links by code).")
    async def start_channel_link(self, info: Info, channel: ChannelKind) -> ChannelLink:
        ctx = info.context
        ctx.require_user()
        async with transaction():
            started = await start_link(await ctx.policy(), await ctx.saved_operator(), channel)
        return ChannelLink(channel=started.channel, code=started.code, url=started.url, expires_at=started.expires_at)

    @strawberry.mutation
    async def unlink_channel(self, info: Info, channel: ChannelKind) -> ChannelSetting:
        ctx = info.context
        ctx.require_user()
        async with transaction():
            operator = await ctx.saved_operator()
            await unlink(await ctx.policy(), operator, channel)
        tab = await load_channels_tab(await ctx.policy(), operator)
        return ChannelSetting.build(next(row for row in tab.channels if row.kind == channel))

    @strawberry.mutation(
        description="Sends a test notification through one channel now; the returned delivery is final (SENT or FAILED)."
    )
    async def test_channel(self, info: Info, channel: ChannelKind) -> Delivery:
        ctx = info.context
        ctx.require_user()
        final = await send_test(ctx.services.broker, ctx.settings, await ctx.policy(), channel, ctx.saved_operator)
        return Delivery.build(final)

    @strawberry.mutation
    async def mark_notifications_read(self, info: Info, ids: list[strawberry.ID]) -> MarkReadPayload:
        ctx = info.context
        ctx.require_user()
        at_most(ids, ctx.settings.limits.ids_per_request, "markNotificationsRead(ids)")
        async with transaction():
            changed, unread = await bell.mark_read(await ctx.operator(), [str(i) for i in ids])
        await _announce_read(info, changed, unread)
        return MarkReadPayload(ids=[strawberry.ID(i) for i in changed], unread_count=unread)

    @strawberry.mutation
    async def mark_all_notifications_read(
        self, info: Info, category_code: strawberry.ID | None = None
    ) -> MarkReadPayload:
        ctx = info.context
        ctx.require_user()
        async with transaction():
            changed, unread = await bell.mark_all_read(await ctx.operator(), category_code)
        await _announce_read(info, changed, unread)
        return MarkReadPayload(ids=[strawberry.ID(i) for i in changed], unread_count=unread)

    @strawberry.mutation
    async def update_system_message_settings(
        self,
        info: Info,
        input: list[SystemMessageSettingInput],
    ) -> list[SystemMessageSetting]:
        ctx = info.context
        ctx.require_user()
        at_most(input, ctx.settings.limits.ids_per_request, "updateSystemMessageSettings(input)")
        async with transaction():
            rows = await profile.update_system_messages(
                await ctx.saved_operator(), [(str(i.code), i.enabled) for i in input]
            )
        return [
            SystemMessageSetting(
                code=strawberry.ID(r.message.code), title=_title(r.message.title, ctx.locale), enabled=r.enabled
            )
            for r in rows
        ]

    @strawberry.mutation
    async def update_reminder_settings(self, info: Info, input: ReminderSettingsInput) -> ReminderSettings:
        ctx = info.context
        ctx.require_user()
        async with transaction():
            operator = await profile.update_reminders(
                await ctx.saved_operator(),
                {
                    "reminder_not_ready_enabled": input.not_ready_enabled,
                    "reminder_not_ready_after_minutes": input.not_ready_after_minutes,
                    "reminder_not_ready_repeat_minutes": input.not_ready_repeat_minutes,
                },
            )
        return ReminderSettings.build(operator)

    @strawberry.mutation
    async def update_classic_settings(self, info: Info, input: ClassicSettingsInput) -> ClassicSettings:
        ctx = info.context
        ctx.require_user()
        async with transaction():
            operator = await profile.update_classic(
                await ctx.saved_operator(),
                {
                    "classic_browser_enabled": input.browser_enabled,
                    "classic_sound_enabled": input.sound_enabled,
                },
            )
        return ClassicSettings.build(operator)

    @strawberry.mutation(description="ADMINISTRATOR only.")
    async def update_instance_settings(self, info: Info, input: InstanceSettingsInput) -> InstanceSettings:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        at_most(input.bot_channels, len(ChannelKind), "updateInstanceSettings(botChannels)")
        bot_channels: list[BotChannelInput] | None = None
        if input.bot_channels is not None:
            bot_channels = []
            for bot in input.bot_channels:
                settings = bot.settings
                if settings is not None and not isinstance(settings, dict):
                    raise BadUserInput(f"{bot.channel.value} settings must be a JSON object")
                bot_channels.append(BotChannelInput(bot.channel, bot.enabled, settings, bot.secret))
        async with transaction():
            policy = await update_instance(
                p.instance_id,
                InstanceChanges(
                    notification_center_enabled=input.notification_center_enabled,
                    extended_types_enabled=input.extended_types_enabled,
                    mandatory_channels=list(input.mandatory_channels) if input.mandatory_channels is not None else None,
                    default_channels=list(input.default_channels) if input.default_channels is not None else None,
                    bot_scenario=input.bot_scenario,
                    bot_channels=bot_channels,
                    negative_csat_threshold=input.negative_csat_threshold,
                ),
                secret_box=ctx.services.secret_box,
                allow_http=ctx.settings.allow_http_endpoints,
                smtp_allowed_hosts=ctx.settings.smtp_allowed_hosts,
            )
        if input.bot_channels is not None:
            await ctx.bots_changed()
        await ctx.policy_changed()
        return InstanceSettings.build(policy)

    @strawberry.mutation(description="ADMINISTRATOR only.")
    async def set_type_policy(self, info: Info, input: TypePolicyInput) -> TypePolicy:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        async with transaction():
            policy = await set_type_policy(
                p.instance_id,
                TypePolicyChanges(
                    type_code=str(input.type_code),
                    mandatory=input.mandatory,
                    mandatory_channels=list(input.mandatory_channels) if input.mandatory_channels is not None else None,
                    availability=input.availability,
                    default_channels=list(input.default_channels) if input.default_channels is not None else None,
                ),
            )
        await ctx.policy_changed()
        return TypePolicy.build(policy, TYPES_BY_CODE[str(input.type_code)])

    @strawberry.mutation(description="SERVICE only: a producer publishes a domain event.")
    async def publish_event(self, info: Info, input: EventInput) -> PublishResult:
        return (await _publish(info, [input]))[0]

    @strawberry.mutation(description="SERVICE only: many events in one round trip, each handled as publishEvent would.")
    async def publish_events(self, info: Info, inputs: list[EventInput]) -> list[PublishResult]:
        return await _publish(info, inputs)

    @strawberry.mutation(
        description="SERVICE only: create or update operators' profiles (email, locale, name) ahead of their first login."
    )
    async def upsert_operators(self, info: Info, inputs: list[OperatorInputGql]) -> int:
        ctx = info.context
        p = ctx.require(Role.SERVICE)
        async with transaction():
            return await upsert_operators(
                p.instance_id,
                [OperatorInput(str(i.id), i.display_name, i.email, i.locale, i.role) for i in inputs],
                ctx.settings.limits.operators_per_upsert,
            )


async def _announce_read(info: Info, ids: list[str], unread: int) -> None:
    """Every tab the viewer has open learns what was read, with the exact unread count."""
    if ids:
        p = info.context.principal
        await info.context.services.broker.publish(
            user_topic(p.instance_id, p.user_id, live.BELL), live.bell_read(ids, unread)
        )


async def _publish(info: Info, inputs: list[EventInput]) -> list[PublishResult]:
    ctx = info.context
    p = ctx.require(Role.SERVICE)
    events = [
        Event(
            id=str(i.id),
            type=str(i.type),
            recipients=[str(r) for r in i.recipients],
            actor_id=str(i.actor_id) if i.actor_id is not None else None,
            entity_kind=i.entity.kind if i.entity else None,
            entity_id=str(i.entity.id) if i.entity else None,
            # JSON of any shape as given: publish refuses one that is not an object ("data must be a JSON object")
            data=cast(dict[str, Any], i.data) if i.data is not None else {},
            occurred_at=i.occurred_at,
        )
        for i in inputs
    ]
    results = await publish_events(ctx.services.broker, ctx.settings, p.instance_id, events, await ctx.policy())
    return [
        PublishResult(
            event_id=strawberry.ID(r.event_id),
            duplicate=r.duplicate,
            notification_count=r.notification_count,
            deliveries_queued=r.deliveries_queued,
        )
        for r in results
    ]


def _title(titles: dict[str, str], locale: str | None) -> str:
    from models.catalog import text

    return text(titles, locale)
