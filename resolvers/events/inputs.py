"""The producers' API input types: events and operators' profiles."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.enums import Role
from resolvers.routing_types import WorkingHoursInput
from resolvers.scalars import JSON


@strawberry.input
class EntityRefInput:
    kind: str = strawberry.field(description="1-32 characters of A-Z, a-z, 0-9, _ and -: TICKET, CHAT, CLIENT link.")
    id: strawberry.ID = strawberry.field(
        description="1-128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-' (it becomes part of a link)."
    )


@strawberry.input
class EventInput:
    id: strawberry.ID = strawberry.field(
        description="Idempotency key, unique per instance: the same id again creates nothing. "
        "1-200 characters, no control characters."
    )
    type: strawberry.ID
    recipients: list[strawberry.ID]
    actor_id: strawberry.ID | None = None
    entity: EntityRefInput | None = None
    data: JSON | None = strawberry.field(
        default=None,
        description="A JSON object for the type's templates: finite numbers (those with a fraction or an "
        "exponent 0 or between 1e-20 and 1e16 in size), at most 32 levels deep, 16 KiB of UTF-8 "
        "(NC_LIMIT_EVENT_DATA_BYTES).",
    )
    occurred_at: datetime | None = strawberry.field(
        default=None,
        description="When it happened (e.g. when a status changed: reminders count from it). Any UTC "
        "offset, kept as the same instant in UTC (none: UTC); from 2000 to at most a day ahead of the "
        "service's clock (NC_LIMIT_OCCURRED_AT_AHEAD_SECONDS). Default: when the service takes it.",
    )


@strawberry.input(name="OperatorInput")
class OperatorInputGql:
    id: strawberry.ID
    display_name: str | None = None
    email: str | None = None
    locale: str | None = None
    role: Role | None = None
    working_hours: WorkingHoursInput | None = strawberry.field(
        default=None,
        description="The operator's working hours from the platform's calendars (replaces theirs); left out: kept.",
    )
