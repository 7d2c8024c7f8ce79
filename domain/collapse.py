"""Collapse: one bell item per recipient, type and entity while it is unread.

A busy chat is one item that counts, not a hundred. For a type that collapses (the catalog's
``TypeDef.collapse``: comment_created, ticket_message, chat_message; an instance's type policy can
turn it on or off for any type) an event about an entity (domain.entities) that finds the
recipient's unread bell item of the same type and entity does not add an item: the item's
``count`` grows, it takes the event's title, body and data, and its ``updatedAt`` moves. Every tab
hears ``NotificationCollapsed`` on ``bell`` (the unread count does not change).

Its banner and its external channels fire again only once ``NC_COLLAPSE_WINDOW_SECONDS`` have passed
since they last fired for the item (``alerted_at``): one banner and one message per channel per
window, however many events arrive in it. Events of one call about one entity collapse together
too (the first makes the item with the call's count). Reading the item ends the collapse: the next
event starts a new item.

    collapse(policy, rows, plans, ts, window) -> Collapsing   in the publishing transaction:
        removes the events that collapse from ``rows``/``plans``, writes the collapsed items (one
        read and one multi-row upsert per call, whatever the number of items)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.policy import InstancePolicy
from models.bulk import upsert
from models.catalog import TYPES_BY_CODE
from models.db import db
from models.enums import ChannelKind
from models.notification import Notification

#: (operator id, dedupe key) of a notification row publishing is about to write.
RowKey = tuple[int, str]
#: (the event's id, the channels resolution turned on: (channel, deliverable)).
Plan = tuple[str, list[tuple[ChannelKind, bool]]]


@dataclass(slots=True)
class Collapsed:
    """An existing unread item that events of this call collapsed into."""

    notification_id: int
    operator_id: int
    #: The item as it is now: the latest event's texts and data, its own created_at and count.
    row: dict[str, Any]
    #: The latest event's channels.
    channels: list[tuple[ChannelKind, bool]]
    #: Its banner and external channels fire (the window since they last did has passed).
    alert: bool
    #: The events that collapsed into it, in order.
    event_ids: list[str]


@dataclass(slots=True)
class Collapsing:
    into_existing: list[Collapsed] = field(default_factory=list)
    #: A new row's key -> the events of this call that collapsed into it after the first.
    into_new: dict[RowKey, list[str]] = field(default_factory=dict)


_UPDATE = {
    "count": '"nc_notification"."count" + excluded."count"',
    "title": 'excluded."title"',
    "body": 'excluded."body"',
    "data": 'excluded."data"',
    "updated_at": 'excluded."updated_at"',
    "alerted_at": 'excluded."alerted_at"',
}


async def collapse(
    policy: InstancePolicy,
    rows: dict[RowKey, dict[str, Any]],
    plans: dict[RowKey, Plan],
    ts: datetime,
    window_seconds: float,
) -> Collapsing:
    """Collapse the call's events into unread items about the same entity (see the module)."""
    out = Collapsing()
    collapsing_types = {
        code for code in {r["type_code"] for r in rows.values()} if policy.collapses(TYPES_BY_CODE[code])
    }
    if not collapsing_types:
        return out
    groups: dict[tuple[int, str, str, str], list[RowKey]] = {}
    for key, row in rows.items():
        if row["type_code"] in collapsing_types and row["entity_id"] is not None and row["in_bell"]:
            groups.setdefault((row["operator_id"], row["type_code"], row["entity_kind"], row["entity_id"]), []).append(
                key
            )
    if not groups:
        return out
    existing: dict[tuple[int, str, str, str], dict[str, Any]] = {}
    for found in (
        await Notification.filter(
            operator_id__in=sorted({g[0] for g in groups}),
            entity_id__in=sorted({g[3] for g in groups}),
            type_code__in=sorted({g[1] for g in groups}),
            read_at__isnull=True,
            in_bell=True,
        )
        .order_by("id")
        .values("id", "operator_id", "type_code", "entity_kind", "entity_id", "event_id", "created_at", "alerted_at")
    ):
        group = (found["operator_id"], found["type_code"], found["entity_kind"], found["entity_id"])
        if group in groups:
            existing[group] = found  # the newest unread one, should there be several
    window = timedelta(seconds=window_seconds)
    writes: list[dict[str, Any]] = []
    for group, keys in groups.items():
        item = existing.get(group)
        latest = rows[keys[-1]]
        if item is None:
            if len(keys) > 1:
                first = rows[keys[0]]
                first.update(count=len(keys), title=latest["title"], body=latest["body"], data=latest["data"])
                out.into_new[keys[0]] = [plans[k][0] for k in keys[1:]]
                for key in keys[1:]:
                    del rows[key]
            continue
        alerted = item["alerted_at"] or item["created_at"]
        alert = ts - alerted >= window
        merged = {
            **latest,
            "id": item["id"],
            "event_id": item["event_id"],
            "created_at": item["created_at"],
            "count": len(keys),  # added to the stored count by the upsert
            "updated_at": ts,
            "alerted_at": ts if alert else item["alerted_at"],
        }
        writes.append(merged)
        out.into_existing.append(
            Collapsed(
                notification_id=item["id"],
                operator_id=item["operator_id"],
                row=merged,
                channels=plans[keys[-1]][1],
                alert=alert,
                event_ids=[plans[k][0] for k in keys],
            )
        )
        for key in keys:
            del rows[key]
    if writes:
        counted = {
            r["id"]: r["count"]
            for r in await upsert(
                db(), Notification, writes, conflict=["id"], update=_UPDATE, returning=["id", "count"]
            )
        }
        for collapsed in out.into_existing:
            collapsed.row["count"] = counted.get(collapsed.notification_id, collapsed.row["count"])
    return out


__all__ = ["Collapsed", "Collapsing", "collapse"]
