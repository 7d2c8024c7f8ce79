"""The bell's input types."""

from __future__ import annotations

import strawberry


@strawberry.input
class NotificationFilter:
    unread_only: bool | None = None
    category_codes: list[strawberry.ID] | None = None
    type_codes: list[strawberry.ID] | None = None
    archived: bool | None = strawberry.field(
        default=None, description="true: the archived items instead of the bell (unreadCount counts their unread ones)."
    )
    snoozed: bool | None = strawberry.field(
        default=None, description="true: the snoozed items (until they come back) instead of the bell."
    )
