"""The producers' API output types."""

from __future__ import annotations

import strawberry


@strawberry.type
class PublishResult:
    """What publishing one event did. Publishing is idempotent per (instance, event id): a
    second publish of an id already seen writes nothing and answers ``duplicate: true`` with the
    first publish's counts."""

    event_id: strawberry.ID
    duplicate: bool = strawberry.field(
        description="True when this event id was published before: nothing was written now, and the counts are "
        "those of the first publish."
    )
    notification_count: int = strawberry.field(
        description="Notifications the event created (one per recipient whose settings take it); for a duplicate, "
        "the first publish's."
    )
    deliveries_queued: int = strawberry.field(
        description="Delivery jobs queued across all channels; for a duplicate, the first publish's."
    )
