"""Instance administration's output types."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.policy import InstancePolicy
from domain.policy_preview import Preview
from models import enums
from models.audit import AuditEntry
from models.catalog import TypeDef
from resolvers.bell.types import PageInfo
from resolvers.enums import ChannelKind, Role, TypeAvailability
from resolvers.routing_types import ChannelRouting
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
    routing: list[ChannelRouting] = strawberry.field(
        description="The type's routing modes per external channel (the instance's apply to channels not listed)."
    )
    always_on: bool = strawberry.field(
        description="Urgent: every channel sends at once, outside working hours too, never digested or delayed."
    )
    digest_window_seconds: int | None = strawberry.field(
        description="The type's digest window (0: never digested); null: the instance's."
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
            routing=ChannelRouting.listed(rule.routing),
            always_on=rule.always_on,
            digest_window_seconds=rule.digest_seconds,
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
    routing: list[ChannelRouting] = strawberry.field(
        description="The instance's default routing mode per external channel (ALWAYS for those not listed)."
    )
    digest_window_seconds: int = strawberry.field(
        description="Bursts on an external channel within this many seconds become one message per operator "
        "(0: no digests); a type policy can set its own."
    )
    mandatory_channels_bypass_routing: bool = strawberry.field(
        description="Mandatory channels send at once whatever routing mode applies to them."
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
            routing=ChannelRouting.listed(policy.routing.modes),
            digest_window_seconds=policy.routing.digest_seconds,
            mandatory_channels_bypass_routing=policy.routing.mandatory_bypass,
        )


@strawberry.type(
    description="One type and channel whose effective channel a policy change turns on or off for some operators."
)
class PolicyChannelChange:
    type_code: strawberry.ID
    channel: ChannelKind
    turned_on: int = strawberry.field(description="Operators for whom the channel would turn on for this type.")
    turned_off: int = strawberry.field(description="Operators for whom the channel would turn off for this type.")
    turned_on_sample: list[strawberry.ID] = strawberry.field(
        description="Up to the deployment's preview sample (20 unless set) of their user ids, sorted."
    )
    turned_off_sample: list[strawberry.ID] = strawberry.field(
        description="Up to the deployment's preview sample (20 unless set) of their user ids, sorted."
    )


@strawberry.type(
    description="What saving a policy change would do, computed with the same resolution as delivery; nothing"
    " is written. Operators are the instance's known ones (upsertOperators, their first change, or a notification)."
)
class PolicyPreview:
    operators: int = strawberry.field(description="Operators resolved under the policy before and after.")
    changes: list[PolicyChannelChange] = strawberry.field(
        description="Only the type and channel pairs that change for somebody, in the catalog's type and channel order."
    )

    @staticmethod
    def build(preview: Preview) -> PolicyPreview:
        n = preview.sample
        return PolicyPreview(
            operators=preview.operators,
            changes=[
                PolicyChannelChange(
                    type_code=strawberry.ID(c.type_code),
                    channel=c.channel,
                    turned_on=c.on,
                    turned_off=c.off,
                    turned_on_sample=[strawberry.ID(u) for u in sorted(c.turned_on)[:n]],
                    turned_off_sample=[strawberry.ID(u) for u in sorted(c.turned_off)[:n]],
                )
                for c in preview.changes
            ],
        )


@strawberry.type(description="One settings change: who made it, when, from which client, and what it changed.")
class AuditLogEntry:
    id: strawberry.ID
    action: str = strawberry.field(
        description="The mutation: updateInstanceSettings, setTypePolicy, setTypeChannels, bulkUpdateTypes,"
        " updateChannelSettings, updateSystemMessageSettings, updateReminderSettings, updateClassicSettings, setWorkingHours or"
        " retryDeliveries."
    )
    subject: str = strawberry.field(
        description='What it changed: "instance", "type:<code>", "operator:<user id>" (their own settings) or "deliveries".'
    )
    actor_user_id: strawberry.ID = strawberry.field(description="Who: the caller's user id.")
    actor_role: Role
    client: str | None = strawberry.field(
        description="From which client: its X-NC-Client header, else its User-Agent; null when it sent neither."
    )
    before: JSON = strawberry.field(
        description="The parts that changed, as they were (an object; a secret only ever shows as changed or cleared)."
    )
    after: JSON = strawberry.field(description="The parts that changed, as they became.")
    created_at: datetime

    @staticmethod
    def build(row: AuditEntry) -> AuditLogEntry:
        return AuditLogEntry(
            id=strawberry.ID(str(row.id)),
            action=row.action,
            subject=row.subject,
            actor_user_id=strawberry.ID(row.actor),
            actor_role=enums.Role(row.actor_role),
            client=row.client,
            before=JSON(row.before),
            after=JSON(row.after),
            created_at=row.created_at,
        )


@strawberry.type
class AuditLogEdge:
    cursor: str
    node: AuditLogEntry


@strawberry.type(description="A page of the audit log, newest first.")
class AuditLogConnection:
    edges: list[AuditLogEdge]
    page_info: PageInfo
