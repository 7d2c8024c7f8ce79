"""Query fields: thin — check the caller, call the domain, map to GraphQL types."""

from __future__ import annotations

import strawberry

from domain import bell, profile
from domain.channels_tab import load_channels_tab
from domain.keys import application_server_key, vapid_private_pem
from domain.types_tab import listed_type, listed_types, unavailable_notice
from models.catalog import LISTED_CATEGORIES, text
from models.enums import Role
from resolvers.context import Info
from resolvers.inputs import at_most
from resolvers.types import (
    ChannelDecision,
    ChannelSettings,
    ClassicSettings,
    Delivery,
    InstanceSettings,
    Melody,
    NotificationCategory,
    NotificationCenter,
    NotificationConnection,
    NotificationEdge,
    NotificationFilter,
    NotificationType,
    PageInfo,
    ReminderSettings,
    SystemMessageSetting,
    Viewer,
)


@strawberry.type
class Query:
    @strawberry.field
    async def viewer(self, info: Info) -> Viewer:
        ctx = info.context
        p = ctx.principal
        if not p.is_user:
            return Viewer(
                id=strawberry.ID(p.user_id),
                instance_id=strawberry.ID(p.instance_id),
                role=p.role,
                display_name=p.name,
                email=p.email,
                locale=p.locale or "en",
            )
        operator = await ctx.operator()
        return Viewer(
            id=strawberry.ID(p.user_id),
            instance_id=strawberry.ID(p.instance_id),
            role=p.role,
            display_name=operator.display_name or p.name,
            email=operator.email or p.email,
            locale=ctx.locale or "en",
        )

    @strawberry.field
    async def notification_center(self, info: Info) -> NotificationCenter:
        ctx = info.context
        ctx.require_user()
        policy = await ctx.policy()
        await ctx.operator()
        return NotificationCenter(
            enabled=policy.notification_center_enabled,
            extended_types_enabled=policy.extended_types_enabled,
            available_channels=policy.offered_sorted,
            mandatory_channels=[c for c in policy.offered_sorted if c in policy.mandatory_channels],
            unavailable_types_notice=unavailable_notice(policy, ctx.locale),
        )

    @strawberry.field
    async def notification_categories(self, info: Info) -> list[NotificationCategory]:
        ctx = info.context
        ctx.require_user()
        state = await ctx.viewer_state()
        return [
            NotificationCategory(
                code=strawberry.ID(c.code),
                title=text(c.title, state.locale),
                position=c.position,
                types=[
                    NotificationType.build(state.resolve(t), state.locale) for t in listed_types(state, category=c.code)
                ],
            )
            for c in LISTED_CATEGORIES
        ]

    @strawberry.field(
        description="The types tab. search matches code, title and description, case-insensitively, in the viewer's locale."
    )
    async def notification_types(
        self, info: Info, search: str | None = None, category_code: strawberry.ID | None = None
    ) -> list[NotificationType]:
        ctx = info.context
        ctx.require_user()
        state = await ctx.viewer_state()
        rows = listed_types(state, search=search, category=category_code)
        return [NotificationType.build(state.resolve(t), state.locale) for t in rows]

    @strawberry.field(
        description="Why each channel is on or off for one type: chosen, default, mandatory, switched off, not offered, not linked."
    )
    async def channel_decisions(self, info: Info, type_code: strawberry.ID) -> list[ChannelDecision]:
        ctx = info.context
        ctx.require_user()
        state = await ctx.viewer_state(with_reach=True)
        resolution = state.resolve(listed_type(type_code))
        return [ChannelDecision.build(d, state.locale) for d in resolution.decisions.values()]

    @strawberry.field
    async def channel_settings(self, info: Info) -> ChannelSettings:
        ctx = info.context
        ctx.require_user()
        operator = await ctx.operator()
        tab = await load_channels_tab(await ctx.policy(), operator)
        return ChannelSettings.build(operator, tab.channels, tab.push_subscriptions)

    @strawberry.field
    async def melodies(self, info: Info) -> list[Melody]:
        ctx = info.context
        ctx.require_user()
        await ctx.operator()
        return Melody.all(ctx.locale)

    @strawberry.field(description="The viewer's bell history, newest first.")
    async def notifications(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: NotificationFilter | None = None,
    ) -> NotificationConnection:
        ctx = info.context
        ctx.require_user()
        if filter is not None:
            most = ctx.settings.limits.ids_per_request
            at_most(filter.category_codes, most, "notifications(filter.categoryCodes)")
            at_most(filter.type_codes, most, "notifications(filter.typeCodes)")
        flt = bell.BellFilter(
            unread_only=bool(filter and filter.unread_only),
            category_codes=[str(c) for c in filter.category_codes]
            if filter and filter.category_codes is not None
            else None,
            type_codes=[str(c) for c in filter.type_codes] if filter and filter.type_codes is not None else None,
        )
        result = await bell.page(
            await ctx.operator(),
            first=20 if first is None else first,
            after=after,
            flt=flt,
            max_first=ctx.settings.limits.page_size_max,
        )
        edges = [NotificationEdge.build(row) for row in result.items]
        return NotificationConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=result.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            unread_count=result.unread_count,
        )

    @strawberry.field
    async def unread_count(self, info: Info) -> int:
        ctx = info.context
        ctx.require_user()
        return await bell.unread_count(await ctx.operator())

    @strawberry.field(description="VAPID application server key (URL-safe base64) for PushManager.subscribe.")
    async def web_push_public_key(self, info: Info) -> str:
        info.context.require_user()
        return application_server_key(await vapid_private_pem())

    @strawberry.field
    async def system_message_settings(self, info: Info) -> list[SystemMessageSetting]:
        ctx = info.context
        ctx.require_user()
        rows = await profile.system_messages(await ctx.operator())
        return [
            SystemMessageSetting(
                code=strawberry.ID(r.message.code), title=text(r.message.title, ctx.locale), enabled=r.enabled
            )
            for r in rows
        ]

    @strawberry.field
    async def reminder_settings(self, info: Info) -> ReminderSettings:
        ctx = info.context
        ctx.require_user()
        return ReminderSettings.build(await ctx.operator())

    @strawberry.field
    async def classic_settings(self, info: Info) -> ClassicSettings:
        ctx = info.context
        ctx.require_user()
        return ClassicSettings.build(await ctx.operator())

    @strawberry.field(
        description="Delivery log of one notification: the viewer's own, or any in the instance for SUPERVISOR and ADMINISTRATOR."
    )
    async def deliveries(self, info: Info, notification_id: strawberry.ID) -> list[Delivery]:
        ctx = info.context
        p = ctx.require_user()
        whole = p.role in (Role.SUPERVISOR, Role.ADMINISTRATOR)
        rows = await bell.deliveries(
            p.instance_id, None if whole else await ctx.operator(), notification_id, whole_instance=whole
        )
        return [Delivery.build(r) for r in rows]

    @strawberry.field(description="ADMINISTRATOR only.")
    async def instance_settings(self, info: Info) -> InstanceSettings:
        ctx = info.context
        ctx.require(Role.ADMINISTRATOR)
        return InstanceSettings.build(await ctx.policy())
