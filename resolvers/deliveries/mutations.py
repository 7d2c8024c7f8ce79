"""The delivery log's mutation field: queueing dead letters again."""

from __future__ import annotations

import strawberry

from domain import audit
from models.enums import Role
from resolvers.bounds import at_most
from resolvers.context import Info
from resolvers.deliveries.inputs import DeliveryLogFilter, log_filter
from resolvers.deliveries.types import RetryDeliveriesPayload
from services.dispatch import retry_deliveries


@strawberry.type
class DeliveriesMutation:
    @strawberry.mutation(
        description="SUPERVISOR and ADMINISTRATOR: queue FAILED deliveries of the instance's log again, with a fresh"
        " attempt count, in one transaction: those of ids, or those filter matches (give one of the two). At most"
        " the deployment's deliveries per retry (1000 unless set); more is BAD_USER_INPUT and nothing is queued."
        " An id that is not a FAILED delivery of the log (test sends are never retried) is BAD_USER_INPUT."
        " Leaves one auditLog entry listing the deliveries queued."
    )
    async def retry_deliveries(
        self,
        info: Info,
        ids: list[strawberry.ID] | None = None,
        filter: DeliveryLogFilter | None = None,
    ) -> RetryDeliveriesPayload:
        ctx = info.context
        p = ctx.require(Role.SUPERVISOR, Role.ADMINISTRATOR)
        most = ctx.settings.limits.deliveries_per_retry
        at_most(ids, most, "retryDeliveries(ids)")
        actor = ctx.actor()

        async def audited(queued: list[int]) -> None:
            await audit.record(
                p.instance_id,
                actor,
                "retryDeliveries",
                "deliveries",
                {},
                {"queued": [str(i) for i in queued]},
                whole=True,
            )

        queued = await retry_deliveries(
            ctx.services.broker,
            ctx.settings,
            p.instance_id,
            ids=[str(i) for i in ids] if ids is not None else None,
            flt=log_filter(filter, ctx.settings.limits, "retryDeliveries") if filter is not None else None,
            audit=audited,
        )
        return RetryDeliveriesPayload(ids=[strawberry.ID(str(i)) for i in queued])
