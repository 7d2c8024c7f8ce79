"""Instance administration's output types."""

from __future__ import annotations

import strawberry

from domain.policy import InstancePolicy
from models import enums
from models.catalog import TypeDef
from resolvers.enums import ChannelKind, TypeAvailability
from resolvers.scalars import JSON


@strawberry.type
class TypePolicy:
    type_code: strawberry.ID
    mandatory: bool
    mandatory_channels: list[ChannelKind]
    availability: TypeAvailability
    default_channels: list[ChannelKind]
    collapse: bool = strawberry.field(
        description="Unread items of this type about one ticket or chat collapse into one bell item that counts; "
        "its banner and external channels fire once per collapse window."
    )

    @staticmethod
    def build(policy: InstancePolicy, type_def: TypeDef) -> TypePolicy:
        rule = policy.rule(type_def.code)
        return TypePolicy(
            type_code=strawberry.ID(type_def.code),
            mandatory=rule.mandatory,
            mandatory_channels=enums.sort_channels(rule.mandatory_channels),
            availability=policy.availability(type_def),
            default_channels=list(policy.default_channels_for(type_def)),
            collapse=policy.collapses(type_def),
        )


@strawberry.type
class BotChannelConfig:
    channel: ChannelKind
    enabled: bool
    settings: JSON
    has_secret: bool
    has_webhook_secret_token: bool = strawberry.field(
        description="TELEGRAM: whether a webhookSecretToken is set. The token is write-only: given in "
        "settings, never returned."
    )


@strawberry.type(description="Instance-wide policy, for administrators.")
class InstanceSettings:
    notification_center_enabled: bool
    extended_types_enabled: bool
    mandatory_channels: list[ChannelKind]
    default_channels: list[ChannelKind]
    bot_scenario: str | None
    bot_channels: list[BotChannelConfig]
    type_policies: list[TypePolicy]
    negative_csat_threshold: int
    read_on_entity_close: bool = strawberry.field(
        description="A ticket_closed or chat_closed event reads every operator's unread items about the ticket or "
        "chat it closes (their banners taken back, unsent external deliveries CANCELLED)."
    )

    @staticmethod
    def build(policy: InstancePolicy) -> InstanceSettings:
        from models.catalog import LISTED_TYPES

        return InstanceSettings(
            notification_center_enabled=policy.notification_center_enabled,
            extended_types_enabled=policy.extended_types_enabled,
            mandatory_channels=enums.sort_channels(policy.mandatory_channels),
            default_channels=list(policy.default_channels),
            bot_scenario=policy.bot_scenario,
            bot_channels=[
                BotChannelConfig(
                    channel=bot.channel,
                    enabled=bot.enabled,
                    settings=JSON(bot.settings),
                    has_secret=bot.has_secret,
                    has_webhook_secret_token=bot.has_webhook_secret_token,
                )
                for bot in sorted(policy.bot_channels.values(), key=lambda b: enums.CHANNEL_ORDER[b.channel])
            ],
            type_policies=[TypePolicy.build(policy, t) for t in LISTED_TYPES],
            negative_csat_threshold=policy.negative_csat_threshold,
            read_on_entity_close=policy.read_on_entity_close,
        )
