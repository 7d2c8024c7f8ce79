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
    NotificationsArchived,
    NotificationsRead,
    NotificationsReturned,
    NotificationsSnoozed,
    NotificationsUnarchived,
    NotificationsUnread,
    Reminder,
    Toast,
    notification_from_payload,
)
from resolvers.context import Info
from resolvers.live_sources import bell_members, bell_messages, reminder_messages, toast_messages

AFTER_DESCRIPTION = (
    "Resume cursor (a NotificationEdge cursor, or the id of the last item seen): items the client "
    "missed after it are replayed before going live."
)


@strawberry.type
class BellSubscription:
    @strawberry.subscription(
        description="What the bell shows live: new items, read-state changes made in any of the viewer's tabs, "
        "and, to a document that names them in a fragment, items archived, unarchived, marked unread or "
        "snoozed there and snoozed items coming back (documents naming only NotificationAdded and "
        "NotificationsRead receive only those)."
    )
    async def bell(
        self,
        info: Info,
        after: Annotated[str | None, strawberry.argument(description=AFTER_DESCRIPTION)] = None,
    ) -> AsyncGenerator[BellEvent, None]:
        raw = info._raw_info
        members = bell_members(raw.field_nodes[0].selection_set, raw.fragments)
        async for message in bell_messages(info.context, after, members):
            yield bell_event(message)

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


def bell_event(message: dict) -> BellEvent:
    """A live bell message (domain.live) as its BellEvent member."""
    kind, unread = message["type"], message["unreadCount"]
    if kind == "NotificationAdded":
        return NotificationAdded(notification=notification_from_payload(message["notification"]), unread_count=unread)
    if kind == "NotificationCollapsed":
        return NotificationCollapsed(
            notification=notification_from_payload(message["notification"]), unread_count=unread
        )
    if kind in ("NotificationsUnarchived", "NotificationsReturned"):
        restored = NotificationsUnarchived if kind == "NotificationsUnarchived" else NotificationsReturned
        return restored(
            notifications=[notification_from_payload(n) for n in message["notifications"]], unread_count=unread
        )
    ids = [strawberry.ID(i) for i in message["ids"]]
    if kind == "NotificationsSnoozed":
        return NotificationsSnoozed(
            ids=ids, snoozed_until=datetime.fromisoformat(message["snoozedUntil"]), unread_count=unread
        )
    if kind == "NotificationsUnread":
        return NotificationsUnread(ids=ids, unread_count=unread)
    if kind == "NotificationsArchived":
        return NotificationsArchived(ids=ids, unread_count=unread)
    return NotificationsRead(ids=ids, unread_count=unread)
