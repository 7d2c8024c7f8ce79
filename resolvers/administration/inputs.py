"""Instance administration's input types."""

from __future__ import annotations

import strawberry

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
    read_on_entity_close: bool | None = strawberry.field(
        default=None, description="Closing a ticket or chat (ticket_closed, chat_closed) reads its notifications."
    )


@strawberry.input
class TypePolicyInput:
    type_code: strawberry.ID
    mandatory: bool | None = None
    mandatory_channels: list[ChannelKind] | None = None
    availability: TypeAvailability | None = None
    default_channels: list[ChannelKind] | None = None
    collapse: bool | None = strawberry.field(
        default=None,
        description="Collapse unread items of the type per ticket or chat. Unlisted delivered types "
        "(chat_message, operator_mentioned) accept this field alone.",
    )
