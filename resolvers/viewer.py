"""Who is asking and what the instance offers: the Viewer and NotificationCenter root types."""

from __future__ import annotations

import strawberry

from domain.type_choices import unavailable_notice
from resolvers.context import Info
from resolvers.enums import ChannelKind, Role


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


@strawberry.type
class ViewerQuery:
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
