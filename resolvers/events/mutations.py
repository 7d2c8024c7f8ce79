"""The producers' mutation fields: publishEvent(s) through services.dispatch, and upsertOperators."""

from __future__ import annotations

from typing import Any, cast

import strawberry

from domain.errors import BadUserInput
from domain.events import Event, Published
from domain.operators import OperatorInput, upsert_operators
from domain.working_hours import MAX_SPANS, WorkingHours
from domain.working_hours import parse as parse_working_hours
from models.db import transaction
from models.enums import Role
from resolvers.bounds import at_most
from resolvers.context import Context, Info
from resolvers.events.inputs import EventInput, OperatorInputGql
from resolvers.events.types import PublishResult
from resolvers.routing_types import WorkingHoursInput
from services.dispatch import publish_events


@strawberry.type
class EventsMutation:
    @strawberry.mutation(description="SERVICE only: a producer publishes a domain event.")
    async def publish_event(self, info: Info, input: EventInput) -> PublishResult:
        return (await _publish(info, [input]))[0]

    @strawberry.mutation(description="SERVICE only: many events in one round trip, each handled as publishEvent would.")
    async def publish_events(self, info: Info, inputs: list[EventInput]) -> list[PublishResult]:
        return await _publish(info, inputs)

    @strawberry.mutation(
        description="SERVICE only: create or update operators' profiles (email, locale, name) ahead of their first login."
    )
    async def upsert_operators(self, info: Info, inputs: list[OperatorInputGql]) -> int:
        ctx = info.context
        p = ctx.require(Role.SERVICE)
        async with transaction():
            count = await upsert_operators(
                p.instance_id,
                [
                    OperatorInput(
                        str(i.id),
                        i.display_name,
                        i.email,
                        i.locale,
                        i.role,
                        _working_hours(i.working_hours, n) if i.working_hours is not None else None,
                    )
                    for n, i in enumerate(inputs)
                ],
                ctx.settings.limits.operators_per_upsert,
            )
        # Their profiles changed: every process forgets its copy of those viewers.
        await ctx.services.viewers.changed(ctx.services.broker, p.instance_id, [str(i.id) for i in inputs])
        return count


def _working_hours(given: WorkingHoursInput, n: int) -> WorkingHours:
    """An operator's schedule as the platform sent it; BadUserInput naming the operator at fault."""
    at_most(given.days, MAX_SPANS, f"upsertOperators(inputs[{n}].workingHours.days)")
    try:
        return parse_working_hours(given.timezone, given.spans())
    except BadUserInput as exc:
        raise BadUserInput(f"inputs[{n}].workingHours: {exc}", field="workingHours") from None


async def _publish(info: Info, inputs: list[EventInput]) -> list[PublishResult]:
    events = [
        Event(
            id=str(i.id),
            type=str(i.type),
            recipients=[str(r) for r in i.recipients],
            actor_id=str(i.actor_id) if i.actor_id is not None else None,
            entity_kind=i.entity.kind if i.entity else None,
            entity_id=str(i.entity.id) if i.entity else None,
            # JSON of any shape as given: publish refuses one that is not an object ("data must be a JSON object")
            data=cast(dict[str, Any], i.data) if i.data is not None else {},
            occurred_at=i.occurred_at,
        )
        for i in inputs
    ]
    return [
        PublishResult(
            event_id=strawberry.ID(r.event_id),
            duplicate=r.duplicate,
            notification_count=r.notification_count,
            deliveries_queued=r.deliveries_queued,
        )
        for r in await publish(info.context, events)
    ]


async def publish(ctx: Context, events: list[Event], *, validated: bool = False) -> list[Published]:
    """A producer's events through the dispatch seam (SERVICE only): what ``publishEvent(s)`` and
    their compiled path (resolvers/compiled_mutations.py, which validated them: ``validated``) both call."""
    p = ctx.require(Role.SERVICE)
    policy = await ctx.policy()
    published = await publish_events(
        ctx.services.broker,
        ctx.settings,
        p.instance_id,
        events,
        policy,
        ctx.services.viewers,
        ctx.services.presence,
        validated=validated,
    )
    if not policy.stored:
        # The call wrote the instance's row: the next one reads the policy as stored (and writes
        # no row again) instead of until the cached defaults lapse.
        ctx.services.policies.invalidate(p.instance_id)
    return published
