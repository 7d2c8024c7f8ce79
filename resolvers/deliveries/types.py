"""The delivery log's output types: a delivery, and its browser push targets."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.delivery_log import LogEntry
from domain.panel import PanelDelivery
from models import enums
from models.notification import Delivery as DeliveryRow
from models.notification import PushTarget as PushTargetRow
from resolvers.bell.types import PageInfo
from resolvers.context import Info
from resolvers.enums import ChannelKind, ChannelStatus, DeliveryStatus, PushTargetStatus


@strawberry.type(description="One browser push subscription's outcome within a BROWSER delivery.")
class PushTarget:
    subscription_id: strawberry.ID = strawberry.field(
        description="The push subscription's id (as in channelSettings.pushSubscriptions; it may have been removed since)."
    )
    push_service: str = strawberry.field(
        description="The push service's host name; the endpoint's path is never shown (it is the subscription's secret)."
    )
    status: PushTargetStatus = strawberry.field(description="What the pushes to this subscription came to so far.")
    attempts: int = strawberry.field(description="Pushes sent to this subscription for this delivery.")
    last_error: str | None = strawberry.field(description="Why the last push was not accepted; null once SENT.")
    updated_at: datetime = strawberry.field(description="When the last push to this subscription was answered.")

    @staticmethod
    def build(row: PushTargetRow) -> PushTarget:
        return PushTarget(
            subscription_id=strawberry.ID(str(row.subscription_id)),
            push_service=row.push_service,
            status=enums.PushTargetStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            updated_at=row.updated_at,
        )


@strawberry.type
class Delivery:
    id: strawberry.ID
    notification_id: strawberry.ID | None
    channel: ChannelKind
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    updated_at: datetime
    due_at: datetime | None = strawberry.field(
        default=None,
        description="When a QUEUED, RETRYING or HELD delivery is sent next: a HELD one's release time (the start of the "
        "recipient's next working hours), an escalation's deadline. null for a digest member (its digest decides) "
        "and once final.",
    )
    route: str | None = strawberry.field(
        default=None,
        description="The routing that shaped it: its mode (ALWAYS, WHEN_AWAY, ESCALATE_AFTER), ALWAYS_ON (an "
        "always-on type: never held), DIGEST (a digest's own delivery, no notification), or null (not routed: the "
        "simplified screen's channels, test sends).",
    )
    digest_id: strawberry.ID | None = strawberry.field(
        default=None, description="A digest member: the delivery of the digest that sends it with the others."
    )

    @strawberry.field(
        description="BROWSER deliveries: each of the recipient's push subscriptions and what its pushes came to"
        " (so a SENT delivery shows which browsers never got it); empty for the other channels."
    )
    async def targets(self, info: Info) -> list[PushTarget]:
        if self.channel != enums.ChannelKind.BROWSER:
            return []
        return [PushTarget.build(row) for row in await info.context.push_targets.load(int(self.id))]

    @staticmethod
    def build(row: DeliveryRow | PanelDelivery) -> Delivery:
        if isinstance(row, PanelDelivery):
            return Delivery(
                id=strawberry.ID(row.id),
                notification_id=strawberry.ID(str(row.notification_id)),
                channel=row.channel,
                status=row.status,
                attempts=row.attempts,
                last_error=None,
                updated_at=row.updated_at,
            )
        return Delivery(
            id=strawberry.ID(str(row.id)),
            notification_id=strawberry.ID(str(row.notification_id)) if row.notification_id else None,
            channel=enums.ChannelKind(row.channel),
            status=enums.DeliveryStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            updated_at=row.updated_at,
            due_at=row.next_attempt_at
            if row.status in (enums.DeliveryStatus.QUEUED, enums.DeliveryStatus.RETRYING, enums.DeliveryStatus.HELD)
            else None,
            route=row.route,
            digest_id=strawberry.ID(str(row.digest_id)) if row.digest_id else None,
        )


@strawberry.type(description="One delivery in the instance's delivery log (an external channel or a test send).")
class DeliveryLogEntry:
    id: strawberry.ID = strawberry.field(description="The delivery's id (as retryDeliveries(ids) takes it).")
    notification_id: strawberry.ID | None = strawberry.field(description="Its notification; null for a test send.")
    type_code: strawberry.ID | None = strawberry.field(description="Its notification's type; null for a test send.")
    user_id: strawberry.ID = strawberry.field(description="The recipient's user id.")
    operator_name: str | None = strawberry.field(description="The recipient's display name, when known.")
    channel: ChannelKind
    status: DeliveryStatus
    attempts: int = strawberry.field(description="Tries so far (retryDeliveries starts them again from 0).")
    last_error: str | None = strawberry.field(description="Why the last try failed; null once SENT.")
    next_attempt_at: datetime | None = strawberry.field(
        description="When a QUEUED, RETRYING or HELD delivery is due (a HELD one's release time)."
    )
    created_at: datetime = strawberry.field(description="When it was queued.")
    updated_at: datetime = strawberry.field(description="When its status last changed.")
    route: str | None = strawberry.field(
        default=None,
        description="ALWAYS, WHEN_AWAY, ESCALATE_AFTER, ALWAYS_ON, DIGEST (a digest's own delivery: no "
        "notification, it sends its members in one message) or null (not routed).",
    )
    digest_id: strawberry.ID | None = strawberry.field(
        default=None, description="A digest member: the delivery of its digest."
    )

    @staticmethod
    def build(entry: LogEntry) -> DeliveryLogEntry:
        return DeliveryLogEntry(
            id=strawberry.ID(str(entry.id)),
            notification_id=strawberry.ID(str(entry.notification_id)) if entry.notification_id else None,
            type_code=strawberry.ID(entry.type_code) if entry.type_code else None,
            user_id=strawberry.ID(entry.user_id),
            operator_name=entry.operator_name,
            channel=entry.channel,
            status=entry.status,
            attempts=entry.attempts,
            last_error=entry.last_error,
            next_attempt_at=entry.next_attempt_at,
            created_at=entry.created_at,
            updated_at=entry.updated_at,
            route=entry.route,
            digest_id=strawberry.ID(str(entry.digest_id)) if entry.digest_id else None,
        )


@strawberry.type
class DeliveryLogEdge:
    cursor: str
    node: DeliveryLogEntry


@strawberry.type(description="A page of the delivery log, newest first.")
class DeliveryLogConnection:
    edges: list[DeliveryLogEdge]
    page_info: PageInfo


@strawberry.type(description="How many deliveries of one channel have one status.")
class DeliveryCount:
    channel: ChannelKind
    status: DeliveryStatus
    count: int


@strawberry.type
class RetryDeliveriesPayload:
    ids: list[strawberry.ID] = strawberry.field(description="The deliveries queued again (ascending ids).")


@strawberry.type(description="One of an operator's channels whose last send failed.")
class ChannelProblem:
    channel: ChannelKind
    status: ChannelStatus = strawberry.field(
        description="ERROR: still linked (or subscribed) but the last send failed; NOT_LINKED: nothing left to"
        " deliver to (the link is gone, or every browser push subscription expired and was removed)."
    )
    last_error: str = strawberry.field(description="Why the last send through it failed, as the worker recorded it.")
    last_test_at: datetime | None = strawberry.field(description="The operator's last test send through it.")
    push_subscriptions: int | None = strawberry.field(
        description="BROWSER: the operator's push subscriptions left; null for the other channels."
    )


@strawberry.type(description="An operator with at least one failing channel.")
class OperatorChannelHealth:
    user_id: strawberry.ID
    operator_name: str | None
    problems: list[ChannelProblem] = strawberry.field(description="The failing channels, in the channels' order.")


@strawberry.type
class OperatorChannelHealthEdge:
    cursor: str
    node: OperatorChannelHealth


@strawberry.type(description="A page of operators with failing channels, those first known to the instance first.")
class OperatorChannelHealthConnection:
    edges: list[OperatorChannelHealthEdge]
    page_info: PageInfo
