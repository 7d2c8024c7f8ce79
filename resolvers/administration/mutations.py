"""Instance administration's mutation fields: instance settings (with bot channels) and type policies."""

from __future__ import annotations

import strawberry

from domain.instance_admin import set_type_policy, update_instance
from models.catalog import TYPES_BY_CODE
from models.db import transaction
from models.enums import Role
from resolvers.administration.inputs import (
    InstanceSettingsInput,
    TypePolicyInput,
    instance_changes,
    type_policy_changes,
)
from resolvers.administration.types import InstanceSettings, TypePolicy
from resolvers.context import Info


@strawberry.type
class AdministrationMutation:
    @strawberry.mutation(description="ADMINISTRATOR only.")
    async def update_instance_settings(self, info: Info, input: InstanceSettingsInput) -> InstanceSettings:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        async with transaction():
            policy = await update_instance(
                p.instance_id,
                instance_changes(input, "updateInstanceSettings"),
                secret_box=ctx.services.secret_box,
                allow_http=ctx.settings.allow_http_endpoints,
                smtp_allowed_hosts=ctx.settings.smtp_allowed_hosts,
            )
        if input.bot_channels is not None or input.bot_scenario is not None:
            await ctx.bots_changed()  # the bot scenario travels with the bots' configuration
        await ctx.policy_changed()
        return InstanceSettings.build(policy)

    @strawberry.mutation(description="ADMINISTRATOR only.")
    async def set_type_policy(self, info: Info, input: TypePolicyInput) -> TypePolicy:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        async with transaction():
            policy = await set_type_policy(
                p.instance_id,
                type_policy_changes(input),
            )
        await ctx.policy_changed()
        return TypePolicy.build(policy, TYPES_BY_CODE[str(input.type_code)])
