"""The bell's output types: notifications, their pages, read marks and the live messages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from domain.bell import encode_cursor
from models.notification import Notification as NotificationRow
from resolvers.scalars import JSON


@strawberry.type
class EntityRef:
    kind: str
    id: strawberry.ID


@strawberry.type
class Notification:
    id: strawberry.ID
    type_code: strawberry.ID
    category_code: strawberry.ID
    title: str
    body: str
    entity: EntityRef | None
    data: JSON
    created_at: datetime
    read_at: datetime | None
    count: int = strawberry.field(
        description="Events collapsed into this item (1: its own). Unread items of a collapsing type about "
        "one entity collapse: the item takes the latest event's title, body and data."
    )
    updated_at: datetime = strawberry.field(
        description="When the latest event collapsed into this item (createdAt when none did)."
    )
    archived_at: datetime | None = strawberry.field(
        default=None,
        description="When the viewer archived it: archived items are out of the bell (filter.archived lists them).",
    )
    snoozed_until: datetime | None = strawberry.field(
        default=None,
        description="Until when the viewer snoozed it: out of the bell until then, when it comes back unread with a banner.",
    )

    @staticmethod
    def build(row: NotificationRow) -> Notification:
        entity = (
            EntityRef(kind=row.entity_kind, id=strawberry.ID(row.entity_id))
            if row.entity_kind and row.entity_id is not None
            else None
        )
        return Notification(
            id=strawberry.ID(str(row.id)),
            type_code=strawberry.ID(row.type_code),
            category_code=strawberry.ID(row.category_code),
            title=row.title,
            body=row.body,
            entity=entity,
            data=JSON(row.data or {}),
            created_at=row.created_at,
            read_at=row.read_at,
            count=row.count,
            updated_at=row.updated_at or row.created_at,
            archived_at=row.archived_at,
            snoozed_until=row.snoozed_until,
        )


def notification_from_payload(payload: dict) -> Notification:
    """A live message's notification (domain.live.notification_payload) as the GraphQL type."""
    entity = (
        EntityRef(kind=payload["entityKind"], id=strawberry.ID(payload["entityId"]))
        if payload.get("entityKind") and payload.get("entityId") is not None
        else None
    )
    read_at = payload.get("readAt")
    created_at = datetime.fromisoformat(payload["createdAt"])
    updated_at = payload.get("updatedAt")
    archived_at = payload.get("archivedAt")
    snoozed_until = payload.get("snoozedUntil")
    return Notification(
        id=strawberry.ID(payload["id"]),
        type_code=strawberry.ID(payload["typeCode"]),
        category_code=strawberry.ID(payload["categoryCode"]),
        title=payload["title"],
        body=payload["body"],
        entity=entity,
        data=JSON(payload.get("data") or {}),
        created_at=created_at,
        read_at=datetime.fromisoformat(read_at) if read_at else None,
        count=payload.get("count", 1),
        updated_at=datetime.fromisoformat(updated_at) if updated_at else created_at,
        archived_at=datetime.fromisoformat(archived_at) if archived_at else None,
        snoozed_until=datetime.fromisoformat(snoozed_until) if snoozed_until else None,
    )


@strawberry.type
class NotificationEdge:
    cursor: str
    node: Notification

    @staticmethod
    def build(row: NotificationRow) -> NotificationEdge:
        return NotificationEdge(cursor=encode_cursor(row.id), node=Notification.build(row))


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class NotificationConnection:
    edges: list[NotificationEdge]
    page_info: PageInfo
    unread_count: int


@strawberry.type
class MarkReadPayload:
    ids: list[strawberry.ID]
    unread_count: int


@strawberry.type(description="What an inbox action (mark unread, archive, unarchive) changed.")
class InboxPayload:
    ids: list[strawberry.ID] = strawberry.field(
        description="The notifications it changed, newest first (those already in that state are left out)."
    )
    unread_count: int = strawberry.field(description="The viewer's unread bell items after it (as unreadCount).")


@strawberry.type(description="What snoozeNotifications changed.")
class SnoozePayload:
    ids: list[strawberry.ID] = strawberry.field(description="The notifications snoozed, newest first.")
    snoozed_until: datetime = strawberry.field(description="When they come back into the bell, unread.")
    unread_count: int = strawberry.field(description="The viewer's unread bell items after it (as unreadCount).")


@strawberry.type(description="Unread items of one category in the bell.")
class CategoryUnreadCount:
    category_code: strawberry.ID = strawberry.field(description="The category (a notificationCategories code).")
    unread: int = strawberry.field(description="Its unread items the bell shows.")


@strawberry.type(description="The bell's unread items in all and per category, counted in one query.")
class UnreadCounts:
    total: int = strawberry.field(description="Unread items the bell shows (archived and snoozed ones not counted).")
    categories: list[CategoryUnreadCount] = strawberry.field(
        description="Per category, in the catalog's order; a category with no unread item is not listed."
    )


@strawberry.type
class NotificationAdded:
    notification: Notification
    unread_count: int


@strawberry.type
class NotificationsRead:
    ids: list[strawberry.ID]
    unread_count: int


@strawberry.type(description="Items marked unread again in one of the viewer's tabs.")
class NotificationsUnread:
    ids: list[strawberry.ID] = strawberry.field(description="The items, newest first.")
    unread_count: int = strawberry.field(description="The viewer's unread bell items after it (as unreadCount).")


@strawberry.type(description="Items archived in one of the viewer's tabs: they leave the bell.")
class NotificationsArchived:
    ids: list[strawberry.ID] = strawberry.field(description="The items, newest first.")
    unread_count: int = strawberry.field(description="The viewer's unread bell items after it (as unreadCount).")


@strawberry.type(description="Archived items brought back into the bell in one of the viewer's tabs.")
class NotificationsUnarchived:
    notifications: list[Notification] = strawberry.field(description="The items, newest first, as they are now.")
    unread_count: int = strawberry.field(description="The viewer's unread bell items after it (as unreadCount).")


@strawberry.type(description="Items snoozed in one of the viewer's tabs: they leave the bell until snoozedUntil.")
class NotificationsSnoozed:
    ids: list[strawberry.ID] = strawberry.field(description="The items, newest first.")
    snoozed_until: datetime = strawberry.field(description="When they come back into the bell, unread.")
    unread_count: int = strawberry.field(description="The viewer's unread bell items after it (as unreadCount).")


@strawberry.type(description="Snoozed items whose time came: back in the bell, unread (a banner shows each on toasts).")
class NotificationsReturned:
    notifications: list[Notification] = strawberry.field(description="The items, newest first, as they are now.")
    unread_count: int = strawberry.field(description="The viewer's unread bell items after it (as unreadCount).")


@strawberry.type(
    description="An unread item that another event about the same entity collapsed into: show it with its "
    "new count, title and body at the top (its id and createdAt stay; the unread count does not change)."
)
class NotificationCollapsed:
    notification: Notification
    unread_count: int


BellEvent = Annotated[
    NotificationAdded
    | NotificationsRead
    | NotificationCollapsed
    | NotificationsUnread
    | NotificationsArchived
    | NotificationsUnarchived
    | NotificationsSnoozed
    | NotificationsReturned,
    strawberry.union(
        "BellEvent",
        description=(
            "What the bell shows live: new items, read-state changes made in any of the viewer's tabs, "
            "items archived, unarchived, marked unread or snoozed there, and snoozed items coming back. "
            "The inbox members are sent only to a subscription whose document names them in a fragment "
            "(... on NotificationsArchived { ... }): documents written for NotificationAdded and "
            "NotificationsRead alone receive only those."
        ),
    ),
]


@strawberry.type
class Toast:
    notification: Notification
    duration_seconds: int
    sound: strawberry.ID | None
    repeat: int
    dismissed: bool = strawberry.field(
        default=False,
        description="True: take back the banner this subscription showed for the notification (it was read "
        "in some tab, or its ticket or chat was handled); nothing new to show or play.",
    )


@strawberry.type
class Reminder:
    kind: strawberry.ID
    message: str
    created_at: datetime
