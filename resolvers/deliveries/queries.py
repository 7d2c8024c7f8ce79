"""The delivery log's query field."""

from __future__ import annotations

import strawberry

from domain import bell
from models.enums import Role
from resolvers.context import Info
from resolvers.deliveries.types import Delivery


@strawberry.type
class DeliveriesQuery:
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
