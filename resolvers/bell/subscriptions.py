"""Subscription fields: the live bell, toasts and reminders of the operator panel.

Each subscription listens on its viewer's own topic (instance and user in the name), so nobody
receives another user's or another instance's items. Leaving the stream — a client that completes
the operation or disconnects — removes the listener; nothing outlives the connection. Over
graphql-transport-ws the usual documents skip this execution path (see resolvers/compiled_subscriptions.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from resolvers.bell.types import (
    BellEvent,
    NotificationAdded,
    NotificationCollapsed,
    NotificationsRead,
    Reminder,
    Toast,
    notification_from_payload,
)
from resolvers.context import Info
from resolvers.live_sources import bell_messages, reminder_messages, toast_messages

AFTER_DESCRIPTION = (
    "Resume cursor (a NotificationEdge cursor, or the id of the last item seen): items the client "
    "missed after it are replayed before going live."
)


@strawberry.type
class BellSubscription:
    @strawberry.subscription(
        description="What the bell shows live: new items, and read-state changes made in any of the viewer's tabs."
    )
    async def bell(
        self,
        info: Info,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> AsyncGenerator[BellEvent, None]:
        async for message in bell_messages(info.context, after):
            if message["type"] == "NotificationAdded":
                yield NotificationAdded(
                    notification=notification_from_payload(message["notification"]),
                    unread_count=message["unreadCount"],
                )
            elif message["type"] == "NotificationCollapsed":
                yield NotificationCollapsed(
                    notification=notification_from_payload(message["notification"]),
                    unread_count=message["unreadCount"],
                )
            else:
                yield NotificationsRead(
                    ids=[strawberry.ID(i) for i in message["ids"]], unread_count=message["unreadCount"]
                )

    @strawberry.subscription(
        description="Banners to show now, with their duration and melody; repeats of unread ones; and "
        "dismissed: true for a banner shown here whose notification was read meanwhile (take it back)."
    )
    async def toasts(self, info: Info) -> AsyncGenerator[Toast, None]:
        async for message in toast_messages(info.context):
            yield Toast(
                notification=notification_from_payload(message["notification"]),
                duration_seconds=message["durationSeconds"],
                sound=strawberry.ID(message["sound"]) if message.get("sound") else None,
                repeat=message["repeat"],
                dismissed=bool(message.get("dismissed")),
            )

    @strawberry.subscription(description="Prompts to change status while the viewer stays not ready.")
    async def reminders(self, info: Info) -> AsyncGenerator[Reminder, None]:
        async for message in reminder_messages(info.context):
            yield Reminder(
                kind=strawberry.ID(message["kind"]),
                message=message["message"],
                created_at=datetime.fromisoformat(message["createdAt"]),
            )
