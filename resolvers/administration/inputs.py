"""Instance administration's input types."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from core.settings import Limits
from domain.audit import AuditFilter
from domain.bot_input import BotChannelInput
from domain.errors import BadUserInput
from domain.instance_admin import InstanceChanges, TypePolicyChanges
from resolvers.bounds import at_most
from resolvers.enums import ChannelKind, TypeAvailability
from resolvers.routing_types import ChannelRoutingInput, routing_items
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
    routing: list[ChannelRoutingInput] | None = strawberry.field(
        default=None, description="Replaces the default routing modes (entries with a null mode are left out)."
    )
    digest_window_seconds: int | None = strawberry.field(default=None, description="0 (no digests) to 86400 seconds.")
    mandatory_channels_bypass_routing: bool | None = None


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
    routing: list[ChannelRoutingInput] | None = strawberry.field(
        default=None, description="Replaces the type's routing modes; []: the instance's again."
    )
    always_on: bool | None = strawberry.field(
        default=None, description="Urgent: bypass routing modes, digests and working hours."
    )
    digest_window_seconds: int | None = strawberry.field(
        default=None, description="0 (never digested) to 86400 seconds; -1: the instance's window again."
    )


def instance_changes(input: InstanceSettingsInput, field: str) -> InstanceChanges:
    """The domain's changes from the client's input (botChannels bounded, settings a JSON object)."""
    at_most(input.bot_channels, len(ChannelKind), f"{field}(botChannels)")
    at_most(input.routing, len(ChannelKind), f"{field}(routing)")
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
        read_on_entity_close=input.read_on_entity_close,
        routing=routing_items(input.routing),
        digest_window_seconds=input.digest_window_seconds,
        mandatory_bypass_routing=input.mandatory_channels_bypass_routing,
    )


def type_policy_changes(input: TypePolicyInput) -> TypePolicyChanges:
    at_most(input.routing, len(ChannelKind), "setTypePolicy(routing)")
    return TypePolicyChanges(
        type_code=str(input.type_code),
        mandatory=input.mandatory,
        mandatory_channels=list(input.mandatory_channels) if input.mandatory_channels is not None else None,
        availability=input.availability,
        default_channels=list(input.default_channels) if input.default_channels is not None else None,
        collapse=input.collapse,
        routing=routing_items(input.routing),
        always_on=input.always_on,
        digest_window_seconds=input.digest_window_seconds,
    )


@strawberry.input(description="Which entries of the audit log: each part left out (or null) does not filter.")
class AuditLogFilter:
    actions: list[str] | None = strawberry.field(
        default=None, description="Any of these mutations (AuditLogEntry.action)."
    )
    actor_user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Made by any of these users."
    )
    subjects: list[str] | None = strawberry.field(
        default=None, description='About any of these subjects ("instance", "type:sla_expired", "operator:olena" ...).'
    )
    since: datetime | None = strawberry.field(
        default=None, description="At or after (ISO 8601; without an offset: UTC)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Before (ISO 8601; without an offset: UTC); later than since."
    )


def audit_filter(flt: AuditLogFilter | None, limits: Limits) -> AuditFilter:
    """The domain's filter, each list bounded by the ids per request."""
    if flt is None:
        return AuditFilter()
    most = limits.ids_per_request
    at_most(flt.actions, most, "auditLog(filter.actions)")
    at_most(flt.actor_user_ids, most, "auditLog(filter.actorUserIds)")
    at_most(flt.subjects, most, "auditLog(filter.subjects)")

    def utc(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    return AuditFilter(
        actions=list(flt.actions) if flt.actions is not None else None,
        actors=[str(a) for a in flt.actor_user_ids] if flt.actor_user_ids is not None else None,
        subjects=list(flt.subjects) if flt.subjects is not None else None,
        since=utc(flt.since),
        until=utc(flt.until),
    )
