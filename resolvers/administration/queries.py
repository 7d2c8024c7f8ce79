"""Instance administration's query field."""

from __future__ import annotations

import strawberry

from models.enums import Role
from resolvers.administration.types import InstanceSettings
from resolvers.context import Info


@strawberry.type
class AdministrationQuery:
    @strawberry.field(description="ADMINISTRATOR only.")
    async def instance_settings(self, info: Info) -> InstanceSettings:
        ctx = info.context
        ctx.require(Role.ADMINISTRATOR)
        return InstanceSettings.build(await ctx.policy())
