"""Subscription fields: the live bell, toasts and reminders of the operator panel.

Each subscription listens on its viewer's own topic (instance and user in the name), so nobody
receives another user's or another instance's items. Leaving the ``async with`` — a client that
completes the operation or disconnects — removes the listener; nothing outlives the connection.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from channels.broker import RESYNC, user_topic
from domain import bell, live
from resolvers.context import Info
from resolvers.types import (
    BellEvent,
    NotificationAdded,
    NotificationsRead,
    Reminder,
    Toast,
    notification_from_payload,
)


def _added(message: dict) -> NotificationAdded:
    return NotificationAdded(
        notification=notification_from_payload(message["notification"]), unread_count=message["unreadCount"]
    )


def _topic(info: Info, stream: str) -> str:
    p = info.context.require_user()
    return user_topic(p.instance_id, p.user_id, stream)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="What the bell shows live: new items, and read-state changes made in any of the viewer's tabs."
    )
    async def bell(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="Resume cursor (a NotificationEdge cursor, or the id of the last item seen): "
                "items the client missed after it are replayed before going live."
            ),
        ] = None,
    ) -> AsyncGenerator[BellEvent, None]:  # type: ignore[valid-type]
        p = info.context.require_user()
        last_seen = bell.cursor_or_id(after) if after else None
        async with info.context.services.broker.subscribe(_topic(info, live.BELL)) as messages:
            # Listening first, then reading the database: nothing falls between the two.
            if last_seen is not None:
                for row, unread in await bell.missed(p.instance_id, p.user_id, last_seen):
                    last_seen = row.id
                    yield _added(live.bell_added(row, unread))
            async for message in messages:
                if message["type"] == RESYNC["type"]:
                    # The broker lost messages (Redis reconnected): replay from the database.
                    if last_seen is None:
                        continue
                    for row, unread in await bell.missed(p.instance_id, p.user_id, last_seen):
                        last_seen = row.id
                        yield _added(live.bell_added(row, unread))
                elif message["type"] == "NotificationAdded":
                    item_id = int(message["notification"]["id"])
                    if last_seen is not None and item_id <= last_seen:
                        continue  # already replayed
                    last_seen = item_id
                    yield _added(message)
                else:
                    yield NotificationsRead(
                        ids=[strawberry.ID(i) for i in message["ids"]], unread_count=message["unreadCount"]
                    )

    @strawberry.subscription(description="Banners to show now, with their duration and melody; repeats of unread ones.")
    async def toasts(self, info: Info) -> AsyncGenerator[Toast, None]:
        async with info.context.services.broker.subscribe(_topic(info, live.TOASTS)) as messages:
            async for message in messages:
                if message["type"] != "Toast":
                    continue
                yield Toast(
                    notification=notification_from_payload(message["notification"]),
                    duration_seconds=message["durationSeconds"],
                    sound=strawberry.ID(message["sound"]) if message.get("sound") else None,
                    repeat=message["repeat"],
                )

    @strawberry.subscription(description="Prompts to change status while the viewer stays not ready.")
    async def reminders(self, info: Info) -> AsyncGenerator[Reminder, None]:
        async with info.context.services.broker.subscribe(_topic(info, live.REMINDERS)) as messages:
            async for message in messages:
                if message["type"] != "Reminder":
                    continue
                yield Reminder(
                    kind=strawberry.ID(message["kind"]),
                    message=message["message"],
                    created_at=datetime.fromisoformat(message["createdAt"]),
                )
