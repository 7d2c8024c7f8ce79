"""What reading a notification takes back: its unsent external deliveries and its open banners.

When a notification is read — marked read by its recipient in any tab, by ``markEntityRead``, or
because a producer resolved its entity (domain/acknowledge.py) — nothing about it should reach the
recipient any more:

- its external deliveries still QUEUED, RETRYING or HELD (escalations and digest members
  among them) that no worker holds now become CANCELLED
  (never sent; a job a worker is sending at that moment finishes as it goes);
- a Telegram message it already sent is edited to say it was handled, when the bot's settings say
  so (``editWhenHandled``; channels/telegram.py);
- its banner repeats stop (the caller deletes their rows), and a snooze it was under ends: a read
  item does not come back unread when the snooze's time comes;
- every open tab of the recipient hears NotificationsRead on ``bell`` and, on ``toasts``, a
  ToastsDismissed that makes each subscription take back the banners it is showing for them.

    cancel_unsent(notification ids, at) -> deliveries cancelled      one statement per 5,000 ids
    end_snoozes(notification ids)                                      two statements per 5,000 ids
    edit_sent_messages(notification ids, at)                           one statement per 5,000 ids
    take_back(notification ids, at)                                    the three above
    read_messages(instance, user, ids, unread) -> [(topic, message)] for the broker, after the commit
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from core.broker import user_topic
from domain import live
from models.enums import DeliveryStatus
from models.notification import BellSnooze, Delivery, Notification, TelegramSent

#: Ids per cancelling statement (well under either database's bound parameters).
CHUNK = 5_000
CANCELLED_REASON = "cancelled: the notification was read before it was sent"


async def cancel_unsent(notification_ids: list[int], at: datetime) -> int:
    """CANCEL the unsent external deliveries of these (just read) notifications; returns how many."""
    cancelled = 0
    for start in range(0, len(notification_ids), CHUNK):
        chunk = notification_ids[start : start + CHUNK]
        cancelled += await (
            Delivery.filter(
                notification_id__in=chunk,
                status__in=(DeliveryStatus.QUEUED.value, DeliveryStatus.RETRYING.value, DeliveryStatus.HELD.value),
            )
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=at))
            .update(
                status=DeliveryStatus.CANCELLED.value, last_error=CANCELLED_REASON, next_attempt_at=None, updated_at=at
            )
        )
    return cancelled


async def take_back(notification_ids: list[int], at: datetime) -> None:
    """All a read takes back from these (just read) notifications but their banner repeats: unsent
    deliveries CANCELLED, snoozes ended, Telegram messages already sent due to be edited."""
    await cancel_unsent(notification_ids, at)
    await end_snoozes(notification_ids)
    await edit_sent_messages(notification_ids, at)


async def edit_sent_messages(notification_ids: list[int], at: datetime) -> None:
    """Telegram messages these notifications sent (kept when the bot's ``editWhenHandled`` is on)
    are due to be edited to say they were handled (channels/telegram.py's TELEGRAM_EDITS)."""
    for start in range(0, len(notification_ids), CHUNK):
        chunk = notification_ids[start : start + CHUNK]
        await TelegramSent.filter(notification_id__in=chunk, edit_due_at__isnull=True).update(edit_due_at=at)


async def end_snoozes(notification_ids: list[int]) -> None:
    """The snoozes of these (just read) notifications end: no return is due, and they are in the
    bell again, read (their unread state was not counted while snoozed, nor is it now)."""
    for start in range(0, len(notification_ids), CHUNK):
        chunk = notification_ids[start : start + CHUNK]
        await BellSnooze.filter(notification_id__in=chunk).delete()
        await Notification.filter(id__in=chunk, snoozed_until__isnull=False).update(snoozed_until=None)


def read_messages(instance_id: str, user_id: str, ids: list[str], unread: int) -> list[tuple[str, dict[str, Any]]]:
    """The live messages of a read mark: the bell's NotificationsRead (with the exact unread
    count) and the toasts' ToastsDismissed, to every tab the user has open."""
    return bell_messages(instance_id, user_id, ids, live.bell_read(ids, unread), take_back_banners=True)


def bell_messages(
    instance_id: str, user_id: str, ids: list[str], message: dict[str, Any], *, take_back_banners: bool
) -> list[tuple[str, dict[str, Any]]]:
    """``message`` for the user's ``bell`` (none when no item changed: ``ids`` empty) and, for items
    that were read or left the bell, the ``toasts`` message that takes their banners back."""
    if not ids:
        return []
    out = [(user_topic(instance_id, user_id, live.BELL), message)]
    if take_back_banners:
        out.append((user_topic(instance_id, user_id, live.TOASTS), live.toasts_dismissed(ids)))
    return out


__all__ = [
    "CANCELLED_REASON",
    "bell_messages",
    "cancel_unsent",
    "edit_sent_messages",
    "end_snoozes",
    "read_messages",
    "take_back",
]
