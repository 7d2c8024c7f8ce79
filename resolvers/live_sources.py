"""The live streams of one viewer as flat messages (domain.live), before any GraphQL shaping.

Both ways of answering a subscription read these: the GraphQL execution path (resolvers in
bell/subscriptions.py) and the compiled path (compiled_subscriptions.py) that shapes each message directly.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from core.broker import RESYNC, user_topic
from domain import bell, live
from resolvers.context import Context


def _topic(ctx: Context, stream: str) -> str:
    p = ctx.require_user()
    return user_topic(p.instance_id, p.user_id, stream)


async def bell_messages(ctx: Context, after: str | None) -> AsyncGenerator[dict[str, Any], None]:
    """NotificationAdded and NotificationsRead messages; replays from ``after`` first, and again
    from the last item seen when the broker lost messages (a Redis reconnect)."""
    p = ctx.require_user()
    last_seen = bell.cursor_or_id(after) if after else None
    async with ctx.services.broker.subscribe(_topic(ctx, live.BELL)) as messages:
        # Listening first, then reading the database: nothing falls between the two.
        if last_seen is not None:
            for row, unread in await bell.missed(p.instance_id, p.user_id, last_seen):
                last_seen = row.id
                yield live.bell_added(row, unread)
        async for message in messages:
            kind = message["type"]
            if kind == RESYNC["type"]:
                if last_seen is None:
                    continue
                for row, unread in await bell.missed(p.instance_id, p.user_id, last_seen):
                    last_seen = row.id
                    yield live.bell_added(row, unread)
            elif kind == "NotificationAdded":
                item_id = int(message["notification"]["id"])
                if last_seen is not None and item_id <= last_seen:
                    continue  # already replayed
                last_seen = item_id
                yield message
            elif kind == "NotificationsRead":
                yield message


async def toast_messages(ctx: Context) -> AsyncGenerator[dict[str, Any], None]:
    async with ctx.services.broker.subscribe(_topic(ctx, live.TOASTS)) as messages:
        async for message in messages:
            if message["type"] == "Toast":
                yield message


async def reminder_messages(ctx: Context) -> AsyncGenerator[dict[str, Any], None]:
    async with ctx.services.broker.subscribe(_topic(ctx, live.REMINDERS)) as messages:
        async for message in messages:
            if message["type"] == "Reminder":
                yield message
