"""The operator panel's own channels: the bell, banners (toasts) and sound.

Nothing leaves the service: a send publishes a live message to the recipient's subscriptions
through the broker. Publishing hands a notification's panel messages to the broker itself
(domain/panel.py) and writes no panel delivery rows; the jobs here are the Channels tab's tests and
rows written by releases before the hand-off row. The bell item itself is the stored notification (written once by the
publisher), so a retried BELL job can never make a second bell item. A banner of a notification
that stays unread is shown again later: the next showing is a stored ToastRepeat row, fired by
``channels.schedules.TOAST_REPEATS``, so a restart keeps the schedule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise.timezone import now

from channels.base import GiveUp, Job, Outcome, Sent
from channels.message import CHANNEL_NAMES, TEST_BODY, TEST_TITLE
from core.broker import Broker, user_topic
from domain import live
from domain.bell import unread_count
from domain.panel import unread_now
from models.bulk import upsert
from models.catalog import text
from models.db import db
from models.enums import ChannelKind
from models.notification import Notification, ToastRepeat
from models.operator import Operator, TypeChoice


async def melody_for(operator: Operator, notification: Notification) -> str:
    """The melody publishing chose for the notification; for a row written before it was stored
    there, the recipient's choice for the type, read once."""
    if notification.melody:
        return notification.melody
    choice = await TypeChoice.get_or_none(operator_id=operator.id, type_code=notification.type_code).values("melody")
    return (choice or {}).get("melody") or operator.default_melody


class PanelChannels:
    kinds = frozenset({ChannelKind.BELL, ChannelKind.BANNER, ChannelKind.SOUND})

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        #: The bell jobs' operators' unread counts now, by operator id, prepared per claimed batch
        #: (a job is late: a count as of its item could undo a larger one sent since).
        self._unread: dict[int, int] = {}

    async def prepare(self, jobs: list[Job]) -> None:
        """Unread counts for every bell job of a batch in one query instead of one per job."""
        self._unread = await unread_now(
            j.operator.id for j in jobs if j.channel is ChannelKind.BELL and j.notification is not None
        )

    async def send(self, job: Job) -> Outcome:
        notification, operator = job.notification, job.operator
        if notification is None:
            return await self._test(job)
        channels = set(notification.channels)
        if job.channel is ChannelKind.BELL:
            count = self._unread.get(operator.id)
            if count is None:
                count = await unread_count(operator)
            await self.broker.publish(
                user_topic(operator.instance_id, operator.user_id, live.BELL),
                live.bell_added(live.notification_payload(notification), count),
            )
            return Sent()
        if job.channel is ChannelKind.SOUND and ChannelKind.BANNER.value in channels:
            return Sent()  # the sound rides with the banner's toast
        sound = await melody_for(operator, notification) if ChannelKind.SOUND.value in channels else None
        banner = job.channel is ChannelKind.BANNER
        await self.broker.publish(
            user_topic(operator.instance_id, operator.user_id, live.TOASTS),
            live.toast(
                live.notification_payload(notification),
                duration_seconds=operator.banner_duration_seconds if banner else 0,
                sound=sound,
                repeat=0,
            ),
        )
        if banner and operator.banner_repeat_count > 0 and notification.read_at is None:
            await schedule_repeat(operator, notification, repeat=1, at=now())
        return Sent()

    async def _test(self, job: Job) -> Outcome:
        """The Channels tab's test: a toast that says the channel works (the bell needs none)."""
        operator = job.operator
        if job.channel is ChannelKind.BELL:
            return GiveUp("the bell has nothing to test: it shows in every open panel")
        body = text(TEST_BODY, operator.locale).format(channel=CHANNEL_NAMES[job.channel.value])
        await self.broker.publish(
            user_topic(operator.instance_id, operator.user_id, live.TOASTS),
            live.test_toast(
                title=text(TEST_TITLE, operator.locale),
                body=body,
                duration_seconds=operator.banner_duration_seconds if job.channel is ChannelKind.BANNER else 0,
                sound=operator.default_melody if job.channel is ChannelKind.SOUND else None,
                at=now(),
            ),
        )
        return Sent()


async def schedule_repeat(operator: Operator, notification: Notification, *, repeat: int, at: datetime) -> None:
    await upsert(
        db(),
        ToastRepeat,
        [
            {
                "instance_id": operator.instance_id,
                "operator_id": operator.id,
                "notification_id": notification.id,
                "repeat": repeat,
                "due_at": at + timedelta(seconds=operator.banner_repeat_interval_seconds),
                "lease_until": None,
            }
        ],
        conflict=["notification_id"],
        update=["repeat", "due_at", "lease_until"],
    )
