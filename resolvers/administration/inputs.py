"""Instance administration's input types."""

from __future__ import annotations

import strawberry

from domain.bot_input import BotChannelInput
from domain.errors import BadUserInput
from domain.instance_admin import InstanceChanges, TypePolicyChanges
from resolvers.bounds import at_most
from resolvers.enums import ChannelKind, TypeAvailability
from resolvers.scalars import JSON


@strawberry.input
class BotChannelConfigInput:
    channel: ChannelKind
    enabled: bool
    settings: JSON | None = strawberry.field(
        default=None,
        description="Replaces the stored settings; left out keeps them. TELEGRAM's webhookSecretToken is taken "
        "here but write-only (stored sealed, never returned): left out of settings keeps it, null clears it.",
    )
    secret: str | None = strawberry.field(
        default=None,
        description="Write-only: bot token, API key, SMTP password, webhook signing secret.",
    )


@strawberry.input
class InstanceSettingsInput:
    notification_center_enabled: bool | None = None
    extended_types_enabled: bool | None = None
    mandatory_channels: list[ChannelKind] | None = None
    default_channels: list[ChannelKind] | None = None
    bot_scenario: str | None = None
    bot_channels: list[BotChannelConfigInput] | None = None
    negative_csat_threshold: int | None = None


@strawberry.input
class TypePolicyInput:
    type_code: strawberry.ID
    mandatory: bool | None = None
    mandatory_channels: list[ChannelKind] | None = None
    availability: TypeAvailability | None = None
    default_channels: list[ChannelKind] | None = None


def instance_changes(input: InstanceSettingsInput, field: str) -> InstanceChanges:
    """The domain's changes from the client's input (botChannels bounded, settings a JSON object)."""
    at_most(input.bot_channels, len(ChannelKind), f"{field}(botChannels)")
    bot_channels: list[BotChannelInput] | None = None
    if input.bot_channels is not None:
        bot_channels = []
        for bot in input.bot_channels:
            settings = bot.settings
            if settings is not None and not isinstance(settings, dict):
                raise BadUserInput(f"{bot.channel.value} settings must be a JSON object")
            bot_channels.append(BotChannelInput(bot.channel, bot.enabled, settings, bot.secret))
    return InstanceChanges(
        notification_center_enabled=input.notification_center_enabled,
        extended_types_enabled=input.extended_types_enabled,
        mandatory_channels=list(input.mandatory_channels) if input.mandatory_channels is not None else None,
        default_channels=list(input.default_channels) if input.default_channels is not None else None,
        bot_scenario=input.bot_scenario,
        bot_channels=bot_channels,
        negative_csat_threshold=input.negative_csat_threshold,
    )


def type_policy_changes(input: TypePolicyInput) -> TypePolicyChanges:
    return TypePolicyChanges(
        type_code=str(input.type_code),
        mandatory=input.mandatory,
        mandatory_channels=list(input.mandatory_channels) if input.mandatory_channels is not None else None,
        availability=input.availability,
        default_channels=list(input.default_channels) if input.default_channels is not None else None,
    )
