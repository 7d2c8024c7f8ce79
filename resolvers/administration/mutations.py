"""Instance administration's mutation fields: instance settings (with bot channels) and type policies."""

from __future__ import annotations

import strawberry

from domain import audit
from domain.instance_admin import set_type_policy, update_instance
from domain.policy import load_policy
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
    @strawberry.mutation(
        description="ADMINISTRATOR only. Leaves one auditLog entry (secrets shown only as changed or cleared)."
    )
    async def update_instance_settings(self, info: Info, input: InstanceSettingsInput) -> InstanceSettings:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        changes = instance_changes(input, "updateInstanceSettings")
        async with transaction():
            before = audit.instance_state(await load_policy(p.instance_id))
            policy = await update_instance(
                p.instance_id,
                changes,
                secret_box=ctx.services.secret_box,
                allow_http=ctx.settings.allow_http_endpoints,
                smtp_allowed_hosts=ctx.settings.smtp_allowed_hosts,
            )
            after = audit.instance_state(policy)
            secrets = audit.secrets_given([(b.channel, b.secret, b.settings) for b in changes.bot_channels or ()])
            for channel, given in secrets.items():
                after["botChannels"].setdefault(channel, {}).update(given)
            await audit.record(p.instance_id, ctx.actor(), "updateInstanceSettings", "instance", before, after)
        if input.bot_channels is not None or input.bot_scenario is not None:
            await ctx.bots_changed()  # the bot scenario travels with the bots' configuration
        await ctx.policy_changed()
        return InstanceSettings.build(policy)

    @strawberry.mutation(description="ADMINISTRATOR only. Leaves one auditLog entry.")
    async def set_type_policy(self, info: Info, input: TypePolicyInput) -> TypePolicy:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        code = str(input.type_code)
        async with transaction():
            before = await load_policy(p.instance_id)
            policy = await set_type_policy(p.instance_id, type_policy_changes(input))
            await audit.record(
                p.instance_id,
                ctx.actor(),
                "setTypePolicy",
                f"type:{code}",
                audit.type_rule_state(before, code),
                audit.type_rule_state(policy, code),
            )
        await ctx.policy_changed()
        return TypePolicy.build(policy, TYPES_BY_CODE[str(input.type_code)])
