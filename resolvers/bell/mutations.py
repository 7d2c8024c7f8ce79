"""The bell's mutation fields: read marks, announced to every tab the viewer has open."""

from __future__ import annotations

import strawberry

from core.broker import user_topic
from domain import bell, live
from models.db import transaction
from resolvers.bell.types import MarkReadPayload
from resolvers.bounds import at_most
from resolvers.context import Info


@strawberry.type
class BellMutation:
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


async def _announce_read(info: Info, ids: list[str], unread: int) -> None:
    """Every tab the viewer has open learns what was read, with the exact unread count."""
    if ids:
        p = info.context.principal
        await info.context.services.broker.publish(
            user_topic(p.instance_id, p.user_id, live.BELL), live.bell_read(ids, unread)
        )
