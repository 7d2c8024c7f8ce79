"""Live messages: what goes through the broker to the bell, toasts and reminders subscriptions.

Each message carries everything the subscriber shows (a flat, JSON-ready dict), so fanning it out
to many connections needs no database read per connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from models.notification import Notification

BELL = "bell"
TOASTS = "toasts"
REMINDERS = "reminders"


def notification_payload(row: Notification) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "typeCode": row.type_code,
        "categoryCode": row.category_code,
        "title": row.title,
        "body": row.body,
        "entityKind": row.entity_kind,
        "entityId": row.entity_id,
        "data": row.data or {},
        "createdAt": _iso(row.created_at),
        "readAt": _iso(row.read_at),
        "count": row.count,
        "updatedAt": _iso(row.updated_at or row.created_at),
        "archivedAt": _iso(row.archived_at),
        "snoozedUntil": _iso(row.snoozed_until),
    }


def payload(
    notification_id: int, row: dict[str, Any], created_at: str, updated_at: str | None = None
) -> dict[str, Any]:
    """``notification_payload`` of a row as publishing writes it (no model built): unread. A
    collapsed item (domain.collapse) keeps its own ``created_at`` and is updated at ``updated_at``."""
    return {
        "id": str(notification_id),
        "typeCode": row["type_code"],
        "categoryCode": row["category_code"],
        "title": row["title"],
        "body": row["body"],
        "entityKind": row["entity_kind"],
        "entityId": row["entity_id"],
        "data": row["data"] or {},
        "createdAt": created_at,
        "readAt": None,
        "count": row.get("count", 1),
        "updatedAt": updated_at or created_at,
        "archivedAt": None,
        "snoozedUntil": None,
    }


def bell_added(notification: dict[str, Any], unread_count: int) -> dict[str, Any]:
    """``notification``: a payload (``notification_payload`` of a row, or ``payload`` as written)."""
    return {"type": "NotificationAdded", "notification": notification, "unreadCount": unread_count}


def bell_collapsed(notification: dict[str, Any], unread_count: int) -> dict[str, Any]:
    """An unread item that another event about the same entity collapsed into: its new count,
    latest title and body, and ``updatedAt`` (domain.collapse)."""
    return {"type": "NotificationCollapsed", "notification": notification, "unreadCount": unread_count}


def bell_read(ids: list[str], unread_count: int) -> dict[str, Any]:
    return {"type": "NotificationsRead", "ids": ids, "unreadCount": unread_count}


def toasts_dismissed(ids: list[str]) -> dict[str, Any]:
    """These notifications were read: each ``toasts`` subscription takes back their banners."""
    return {"type": "ToastsDismissed", "ids": ids}


def bell_unread(ids: list[str], unread_count: int) -> dict[str, Any]:
    """Items marked unread again (in any tab of the viewer)."""
    return {"type": "NotificationsUnread", "ids": ids, "unreadCount": unread_count}


def bell_archived(ids: list[str], unread_count: int) -> dict[str, Any]:
    """Items archived: they leave the bell."""
    return {"type": "NotificationsArchived", "ids": ids, "unreadCount": unread_count}


def bell_snoozed(ids: list[str], until: datetime, unread_count: int) -> dict[str, Any]:
    """Items snoozed until ``until``: they leave the bell until then."""
    return {"type": "NotificationsSnoozed", "ids": ids, "snoozedUntil": _iso(until), "unreadCount": unread_count}


def bell_restored(kind: str, notifications: list[dict[str, Any]], unread_count: int) -> dict[str, Any]:
    """Items back in the bell (``notification_payload`` each, newest first): ``kind`` is
    "NotificationsUnarchived" or "NotificationsReturned" (a snooze's end: unread again)."""
    return {"type": kind, "notifications": notifications, "unreadCount": unread_count}


def toast(notification: dict[str, Any], *, duration_seconds: int, sound: str | None, repeat: int) -> dict[str, Any]:
    return {
        "type": "Toast",
        "notification": notification,
        "durationSeconds": duration_seconds,
        "sound": sound,
        "repeat": repeat,
    }


def test_toast(*, title: str, body: str, duration_seconds: int, sound: str | None, at: datetime) -> dict[str, Any]:
    """A toast for the Channels tab's test button: a notification that is not in the bell."""
    return {
        "type": "Toast",
        "notification": {
            "id": "test",
            "typeCode": "test",
            "categoryCode": "test",
            "title": title,
            "body": body,
            "entityKind": None,
            "entityId": None,
            "data": {},
            "createdAt": _iso(at),
            "readAt": None,
            "count": 1,
            "updatedAt": _iso(at),
            "archivedAt": None,
            "snoozedUntil": None,
        },
        "durationSeconds": duration_seconds,
        "sound": sound,
        "repeat": 0,
    }


def reminder(kind: str, message: str, created_at: datetime) -> dict[str, Any]:
    return {"type": "Reminder", "kind": kind, "message": message, "createdAt": _iso(created_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
