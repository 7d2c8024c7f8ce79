"""The producers' API input types: events and operators' profiles."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers.enums import Role
from resolvers.scalars import JSON


@strawberry.input
class EntityRefInput:
    kind: str
    id: strawberry.ID


@strawberry.input
class EventInput:
    id: strawberry.ID = strawberry.field(
        description="Idempotency key, unique per instance: the same id again creates nothing."
    )
    type: strawberry.ID
    recipients: list[strawberry.ID]
    actor_id: strawberry.ID | None = None
    entity: EntityRefInput | None = None
    data: JSON | None = None
    occurred_at: datetime | None = None


@strawberry.input(name="OperatorInput")
class OperatorInputGql:
    id: strawberry.ID
    display_name: str | None = None
    email: str | None = None
    locale: str | None = None
    role: Role | None = None
