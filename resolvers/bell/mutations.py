"""The bell's mutation fields: read marks, announced to every tab the viewer has open."""

from __future__ import annotations

import strawberry
from tortoise.timezone import now

from domain import bell
from domain.acknowledge import EntityRead, read_about
from domain.entities import checked_entity
from domain.retract import read_messages
from models.db import transaction
from resolvers.bell.types import MarkReadPayload
from resolvers.bounds import at_most
from resolvers.context import Info
from resolvers.events.inputs import EntityRefInput


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

    @strawberry.mutation(
        description="Mark read every unread item of the viewer about one ticket, chat or client (entity kinds "
        "TICKET, CHAT, CLIENT in any case, or the kind the producer used): their banners are taken back "
        "in every tab and their unsent external deliveries CANCELLED."
    )
    async def mark_entity_read(self, info: Info, entity: EntityRefInput) -> MarkReadPayload:
        ctx = info.context
        p = ctx.require_user()
        kind, entity_id = checked_entity(entity.kind, str(entity.id))
        operator = await ctx.operator()
        if operator is None or operator.id is None:
            return MarkReadPayload(ids=[], unread_count=0)
        async with transaction():
            marks = await read_about(p.instance_id, [EntityRead(kind, entity_id, (p.user_id,))], now())
        if not marks:
            return MarkReadPayload(ids=[], unread_count=await bell.unread_count(operator))
        mark = marks[0]
        await _announce_read(info, mark.ids, mark.unread_count)
        return MarkReadPayload(ids=[strawberry.ID(i) for i in mark.ids], unread_count=mark.unread_count)

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
    """Every tab the viewer has open learns what was read, with the exact unread count, and takes
    back the banners it shows for them (domain.retract)."""
    if ids:
        p = info.context.principal
        await info.context.services.broker.publish_many(read_messages(p.instance_id, p.user_id, ids, unread))
