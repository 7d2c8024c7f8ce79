"""The settings tabs' query fields: types and categories, channel decisions, channels, profile settings."""

from __future__ import annotations

from collections import OrderedDict

import strawberry

from domain import profile
from domain.channel_settings import load_channels_tab
from domain.keys import application_server_key, vapid_private_pem
from domain.type_choices import ViewerState, listed_type, listed_types
from models.catalog import LISTED_CATEGORIES, text
from resolvers.context import Info
from resolvers.preferences.types import (
    ChannelDecision,
    ChannelSettings,
    ClassicSettings,
    Melody,
    NotificationCategory,
    NotificationType,
    ReminderSettings,
    SystemMessageSetting,
)
from resolvers.routing_types import WorkingHours

#: The types tab as last built for a (policy, preferences, locale): the policy and preference
#: objects are replaced, never changed, when what they hold changes (caches forget, reads build
#: new ones), so while a viewer's copies are cached their tab is answered from here.
_TABS: OrderedDict[tuple[int, int, str | None], tuple[object, object, list[NotificationCategory]]] = OrderedDict()
TABS_KEPT = 4_096


def _types_tab(state: ViewerState) -> list[NotificationCategory]:
    key = (id(state.policy), id(state.prefs), state.locale)
    kept = _TABS.get(key)
    if kept is not None and kept[0] is state.policy and kept[1] is state.prefs:
        _TABS.move_to_end(key)
        return kept[2]
    tab = [
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
    _TABS[key] = (state.policy, state.prefs, tab)  # holding both keeps their ids from being reused
    if len(_TABS) > TABS_KEPT:
        _TABS.popitem(last=False)
    return tab


@strawberry.type
class PreferencesQuery:
    @strawberry.field
    async def notification_categories(self, info: Info) -> list[NotificationCategory]:
        ctx = info.context
        ctx.require_user()
        return _types_tab(await ctx.viewer_state())

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
        return [
            ChannelDecision.build(d, state.locale, resolution.routes.get(d.channel))
            for d in resolution.decisions.values()
        ]

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

    @strawberry.field(description="The viewer's working hours: outside them external channels are HELD.")
    async def working_hours(self, info: Info) -> WorkingHours:
        ctx = info.context
        ctx.require_user()
        operator = await ctx.operator()
        return WorkingHours.build(operator.timezone, operator.working_hours)

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
