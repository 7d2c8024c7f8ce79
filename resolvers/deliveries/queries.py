"""The delivery log's query fields: one notification's, and the instance's for supervisors and administrators."""

from __future__ import annotations

import strawberry

from domain import bell, channel_health, delivery_log
from models.enums import Role
from resolvers.bell.types import PageInfo
from resolvers.bounds import at_most
from resolvers.context import Info
from resolvers.deliveries.inputs import DeliveryLogFilter, log_filter
from resolvers.deliveries.types import (
    ChannelProblem,
    Delivery,
    DeliveryCount,
    DeliveryLogConnection,
    DeliveryLogEdge,
    DeliveryLogEntry,
    OperatorChannelHealth,
    OperatorChannelHealthConnection,
    OperatorChannelHealthEdge,
)
from resolvers.enums import ChannelKind

LOG_SCOPE = (
    " It lists the stored deliveries: the external channels (BROWSER and the bot channels) and test sends;"
    " BELL, BANNER and SOUND have no delivery rows (publishing hands them to open panels), so they are not"
    " in it: deliveries(notificationId) shows one notification's."
)


@strawberry.type
class DeliveriesQuery:
    @strawberry.field(
        description="Delivery log of one notification: the viewer's own, or any in the instance for SUPERVISOR and ADMINISTRATOR."
    )
    async def deliveries(self, info: Info, notification_id: strawberry.ID) -> list[Delivery]:
        ctx = info.context
        p = ctx.require_user()
        whole = p.role in (Role.SUPERVISOR, Role.ADMINISTRATOR)
        rows = await bell.deliveries(
            p.instance_id, None if whole else await ctx.operator(), notification_id, whole_instance=whole
        )
        return [Delivery.build(r) for r in rows]

    @strawberry.field(
        description="SUPERVISOR and ADMINISTRATOR: the instance's delivery log, newest first, in pages of"
        " first (1 to the deployment's page size, 100 unless set) after the cursor after." + LOG_SCOPE
    )
    async def delivery_log(
        self,
        info: Info,
        filter: DeliveryLogFilter | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> DeliveryLogConnection:
        ctx = info.context
        p = ctx.require(Role.SUPERVISOR, Role.ADMINISTRATOR)
        result = await delivery_log.page(
            p.instance_id,
            log_filter(filter, ctx.settings.limits, "deliveryLog"),
            first=first,
            after=after,
            max_first=ctx.settings.limits.page_size_max,
        )
        edges = [
            DeliveryLogEdge(cursor=delivery_log.encode_cursor(e.id), node=DeliveryLogEntry.build(e))
            for e in result.entries
        ]
        return DeliveryLogConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=result.has_next_page, end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(
        description="SUPERVISOR and ADMINISTRATOR: how many deliveries of the log the filter matches (typically a"
        " time range), per channel and status; only the pairs with some, in the channels' order." + LOG_SCOPE
    )
    async def delivery_summary(self, info: Info, filter: DeliveryLogFilter | None = None) -> list[DeliveryCount]:
        ctx = info.context
        p = ctx.require(Role.SUPERVISOR, Role.ADMINISTRATOR)
        counts = await delivery_log.summary(p.instance_id, log_filter(filter, ctx.settings.limits, "deliverySummary"))
        return [DeliveryCount(channel=c, status=s, count=n) for c, s, n in counts]

    @strawberry.field(
        description="SUPERVISOR and ADMINISTRATOR: the operators whose channels stopped working — the last send through"
        " one of the instance's offered external channels failed (a Telegram chat that blocked the bot, every browser"
        " push subscription expired ...) and none got through since — in pages of first (1 to the page size) after"
        " the cursor after. channels narrows it (BELL, BANNER and SOUND have no health: BAD_USER_INPUT)."
    )
    async def channel_health(
        self,
        info: Info,
        channels: list[ChannelKind] | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> OperatorChannelHealthConnection:
        ctx = info.context
        ctx.require(Role.SUPERVISOR, Role.ADMINISTRATOR)
        at_most(channels, len(ChannelKind), "channelHealth(channels)")
        result = await channel_health.page(
            await ctx.policy(),
            list(channels) if channels is not None else None,
            first=first,
            after=after,
            max_first=ctx.settings.limits.page_size_max,
        )
        edges = [
            OperatorChannelHealthEdge(
                cursor=channel_health.encode_cursor(o.operator_id),
                node=OperatorChannelHealth(
                    user_id=strawberry.ID(o.user_id),
                    operator_name=o.operator_name,
                    problems=[
                        ChannelProblem(
                            channel=p.channel,
                            status=p.status,
                            last_error=p.last_error,
                            last_test_at=p.last_test_at,
                            push_subscriptions=p.push_subscriptions,
                        )
                        for p in o.problems
                    ],
                ),
            )
            for o in result.operators
        ]
        return OperatorChannelHealthConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=result.has_next_page, end_cursor=edges[-1].cursor if edges else None),
        )
