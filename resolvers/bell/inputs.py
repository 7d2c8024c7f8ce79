"""The bell's input types."""

from __future__ import annotations

import strawberry


@strawberry.input
class NotificationFilter:
    unread_only: bool | None = None
    category_codes: list[strawberry.ID] | None = None
    type_codes: list[strawberry.ID] | None = None
