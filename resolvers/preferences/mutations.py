"""The settings tabs' mutation fields: type channels, channel switches, push subscriptions, links,
test sends, system messages, reminders and classic settings."""

from __future__ import annotations

from typing import Any

import strawberry

from domain import audit, profile
from domain.channel_settings import (
    load_channels_tab,
    register_push_subscription,
    unregister_push_subscription,
    update_channel_settings,
)
from domain.links import start_link, unlink
from domain.type_choices import ViewerState, bulk_update_types, listed_type, set_type_channels
from domain.working_hours import MAX_SPANS, set_working_hours
from domain.working_hours import parse as parse_working_hours
from models.catalog import TYPES_BY_CODE
from models.db import transaction
from resolvers.bounds import at_most
from resolvers.context import Info
from resolvers.deliveries.types import Delivery
from resolvers.enums import ChannelKind
from resolvers.preferences.inputs import (
    BulkUpdateTypesInput,
    ChannelSettingsInput,
    ClassicSettingsInput,
    PushSubscriptionInput,
    ReminderSettingsInput,
    SystemMessageSettingInput,
)
from resolvers.preferences.types import (
    BulkUpdateTypesPayload,
    ChannelLink,
    ChannelSetting,
    ChannelSettings,
    ClassicSettings,
    NotificationType,
    PushSubscription,
    ReminderSettings,
    SkippedType,
    SystemMessageSetting,
)
from resolvers.routing_types import WorkingHours, WorkingHoursInput, routing_items
from services.dispatch import send_test


async def _channel_settings(info: Info) -> ChannelSettings:
    ctx = info.context
    operator = await ctx.saved_operator()
    tab = await load_channels_tab(await ctx.policy(), operator)
    return ChannelSettings.build(operator, tab.channels, tab.push_subscriptions)


async def _settings_before(info: Info) -> dict[str, Any]:
    """The viewer's settings before their change, read in its transaction (their row saved first)."""
    return await audit.operator_state((await info.context.saved_operator()).id)


async def _audit(info: Info, action: str, before: dict[str, Any]) -> None:
    """The change's audit entry, in its transaction: what of the viewer's settings it changed."""
    ctx = info.context
    operator = await ctx.saved_operator()
    p = ctx.principal
    after = await audit.operator_state(operator.id)
    await audit.record(p.instance_id, ctx.actor(), action, f"operator:{p.user_id}", before, after)


async def _audit_types(info: Info, action: str, before: ViewerState, after: ViewerState) -> None:
    """A types tab change's audit entry, from the choices the request read and wrote (no read)."""
    ctx = info.context
    p = ctx.principal
    await audit.record(
        p.instance_id,
        ctx.actor(),
        action,
        f"operator:{p.user_id}",
        {"types": audit.choices_state(before.prefs.choices)},
        {"types": audit.choices_state(after.prefs.choices)},
    )


@strawberry.type
class PreferencesMutation:
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
            viewer = await ctx.viewer_state()
            state = await set_type_channels(viewer, type_code, list(channels), melody)
            await _audit_types(info, "setTypeChannels", viewer, state)
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
            viewer = await ctx.viewer_state()
            result = await bulk_update_types(
                viewer,
                action=input.action,
                type_codes=[str(c) for c in input.type_codes] if input.type_codes is not None else None,
                category_code=input.category_code,
                channels=list(input.channels) if input.channels is not None else None,
            )
            await _audit_types(info, "bulkUpdateTypes", viewer, result.state)
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
        at_most(input.routing, len(ChannelKind), "updateChannelSettings(routing)")
        async with transaction():
            before = await _settings_before(info)
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
                routing=routing_items(input.routing),
            )
            await _audit(info, "updateChannelSettings", before)
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
    async def update_system_message_settings(
        self,
        info: Info,
        input: list[SystemMessageSettingInput],
    ) -> list[SystemMessageSetting]:
        ctx = info.context
        ctx.require_user()
        at_most(input, ctx.settings.limits.ids_per_request, "updateSystemMessageSettings(input)")
        async with transaction():
            before = await _settings_before(info)
            rows = await profile.update_system_messages(
                await ctx.saved_operator(), [(str(i.code), i.enabled) for i in input]
            )
            await _audit(info, "updateSystemMessageSettings", before)
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
            before = await _settings_before(info)
            operator = await profile.update_reminders(
                await ctx.saved_operator(),
                {
                    "reminder_not_ready_enabled": input.not_ready_enabled,
                    "reminder_not_ready_after_minutes": input.not_ready_after_minutes,
                    "reminder_not_ready_repeat_minutes": input.not_ready_repeat_minutes,
                },
            )
            await _audit(info, "updateReminderSettings", before)
        return ReminderSettings.build(operator)

    @strawberry.mutation(
        description="Set the viewer's working hours (time zone and weekly spans; [] days: any time). Outside them "
        "external channels are HELD and sent when the next span opens; always-on types go through."
    )
    async def set_working_hours(self, info: Info, input: WorkingHoursInput) -> WorkingHours:
        ctx = info.context
        ctx.require_user()
        at_most(input.days, MAX_SPANS, "setWorkingHours(days)")
        hours = parse_working_hours(input.timezone, input.spans())
        async with transaction():
            before = await _settings_before(info)
            operator = await ctx.saved_operator()
            await set_working_hours(operator, hours)
            await _audit(info, "setWorkingHours", before)
        return WorkingHours.build(operator.timezone, operator.working_hours)

    @strawberry.mutation
    async def update_classic_settings(self, info: Info, input: ClassicSettingsInput) -> ClassicSettings:
        ctx = info.context
        ctx.require_user()
        async with transaction():
            before = await _settings_before(info)
            operator = await profile.update_classic(
                await ctx.saved_operator(),
                {
                    "classic_browser_enabled": input.browser_enabled,
                    "classic_sound_enabled": input.sound_enabled,
                },
            )
            await _audit(info, "updateClassicSettings", before)
        return ClassicSettings.build(operator)


def _title(titles: dict[str, str], locale: str | None) -> str:
    from models.catalog import text

    return text(titles, locale)
