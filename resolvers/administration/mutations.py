"""Instance administration's mutation fields: instance settings (with bot channels) and type policies."""

from __future__ import annotations

import strawberry

from domain.bot_input import BotChannelInput
from domain.errors import BadUserInput
from domain.instance_admin import InstanceChanges, TypePolicyChanges, set_type_policy, update_instance
from models.catalog import TYPES_BY_CODE
from models.db import transaction
from models.enums import Role
from resolvers.administration.inputs import InstanceSettingsInput, TypePolicyInput
from resolvers.administration.types import InstanceSettings, TypePolicy
from resolvers.bounds import at_most
from resolvers.context import Info
from resolvers.enums import ChannelKind


@strawberry.type
class AdministrationMutation:
    @strawberry.mutation(description="ADMINISTRATOR only.")
    async def update_instance_settings(self, info: Info, input: InstanceSettingsInput) -> InstanceSettings:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        at_most(input.bot_channels, len(ChannelKind), "updateInstanceSettings(botChannels)")
        bot_channels: list[BotChannelInput] | None = None
        if input.bot_channels is not None:
            bot_channels = []
            for bot in input.bot_channels:
                settings = bot.settings
                if settings is not None and not isinstance(settings, dict):
                    raise BadUserInput(f"{bot.channel.value} settings must be a JSON object")
                bot_channels.append(BotChannelInput(bot.channel, bot.enabled, settings, bot.secret))
        async with transaction():
            policy = await update_instance(
                p.instance_id,
                InstanceChanges(
                    notification_center_enabled=input.notification_center_enabled,
                    extended_types_enabled=input.extended_types_enabled,
                    mandatory_channels=list(input.mandatory_channels) if input.mandatory_channels is not None else None,
                    default_channels=list(input.default_channels) if input.default_channels is not None else None,
                    bot_scenario=input.bot_scenario,
                    bot_channels=bot_channels,
                    negative_csat_threshold=input.negative_csat_threshold,
                    read_on_entity_close=input.read_on_entity_close,
                ),
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
                TypePolicyChanges(
                    type_code=str(input.type_code),
                    mandatory=input.mandatory,
                    mandatory_channels=list(input.mandatory_channels) if input.mandatory_channels is not None else None,
                    availability=input.availability,
                    default_channels=list(input.default_channels) if input.default_channels is not None else None,
                    collapse=input.collapse,
                ),
            )
        await ctx.policy_changed()
        return TypePolicy.build(policy, TYPES_BY_CODE[str(input.type_code)])
