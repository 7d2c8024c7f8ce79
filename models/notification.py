"""Notifications, their deliveries (the durable job queue) and processed event ids."""

from __future__ import annotations

import json

from tortoise import fields
from tortoise.models import Model

from core.jsonenc import dumps
from models.operator import Operator


class Notification(Model):
    """One recipient's copy of one event, rendered in the recipient's locale."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="notifications", on_delete=fields.CASCADE
    )
    operator_id: int
    event_id = fields.CharField(max_length=200)
    type_code = fields.CharField(max_length=64)
    category_code = fields.CharField(max_length=64)
    title = fields.CharField(max_length=500)
    body = fields.TextField()
    entity_kind = fields.CharField(max_length=32, null=True)
    entity_id = fields.CharField(max_length=128, null=True)
    #: The producer's data: any JSON, integers beyond 64 bits included (the standard library reads them).
    data: dict[str, object] = fields.JSONField(default=dict, encoder=dumps, decoder=json.loads)
    #: The channels resolution chose (BELL among them puts it in the bell history).
    channels: list[str] = fields.JSONField(default=list)
    in_bell = fields.BooleanField(default=True)
    #: The melody resolution chose when SOUND is among the channels (the toast and its repeats
    #: play it without reading the recipient's choices again); None without SOUND.
    melody = fields.CharField(max_length=64, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    read_at = fields.DatetimeField(null=True)
    # Events collapsed into this item (domain.collapse): 1 for an item of its own.
    count = fields.IntField(default=1, db_default=1)
    # When the last event collapsed into it (None: never, ``created_at``).
    updated_at = fields.DatetimeField(null=True)
    # When its banner and external channels last fired (None: at ``created_at``); a collapse
    # fires them again only once NC_COLLAPSE_WINDOW_SECONDS have passed since.
    alerted_at = fields.DatetimeField(null=True)
    # When the recipient archived it: it left the bell (``filter.archived`` shows it); None: not archived.
    archived_at = fields.DatetimeField(null=True)
    # Until when the recipient snoozed it: it is out of the bell until then and comes back unread
    # (its due row: BellSnooze); None: not snoozed. Never set together with ``archived_at``.
    snoozed_until = fields.DatetimeField(null=True)

    class Meta:
        table = "nc_notification"
        unique_together = (("operator", "event_id"),)
        indexes = (
            ("operator_id", "in_bell", "id"),
            ("operator_id", "read_at"),
            ("created_at",),
            # Collapse finds a recipient's unread item about an entity (one seek per recipient and
            # entity); markEntityRead and resolving an entity find an entity's items.
            ("entity_id", "operator_id", "read_at"),
        )


class Delivery(Model):
    """One channel's delivery of one notification: a job workers claim, retry and settle."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="deliveries", on_delete=fields.CASCADE
    )
    operator_id: int
    notification: fields.ForeignKeyNullableRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="deliveries", null=True, on_delete=fields.CASCADE
    )
    notification_id: int | None
    channel = fields.CharField(max_length=16)
    #: Where a bot channel delivers (the linked chat), as publishing found it: the job carries it
    #: instead of reading the link again. Relinking moves queued rows; unlinking skips them.
    address = fields.CharField(max_length=200, null=True)
    status = fields.CharField(max_length=16, default="QUEUED")
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    next_attempt_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    #: The worker holding the lease, so only it settles the job.
    locked_by = fields.CharField(max_length=64, null=True)
    # The routing that shaped the job: WHEN_AWAY, ESCALATE_AFTER, DIGEST (a digest's own row,
    # without a notification: it sends its members in one message) or None (sent at once).
    route = fields.CharField(max_length=16, null=True)
    # A digest member's digest row: the member waits (no due time) and settles with it.
    digest_id = fields.BigIntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_delivery"
        # The claims pick due rows of a set of channels (panel and external apart): by status, channel, due time.
        # The instance's delivery log pages by id within an instance.
        indexes = (
            ("status", "channel", "next_attempt_at"),
            ("notification_id",),
            ("instance_id", "id"),
            # Digests find their members, and publishing a recipient's open digest.
            ("digest_id",),
            ("operator_id", "route", "status"),
        )


class PushTarget(Model):
    """One browser push subscription's outcome within a BROWSER delivery.

    A delivery to N subscriptions is retried only for the targets that failed transiently; the
    ones a push service accepted (SENT) or refused for good (FAILED, GONE) are not tried again.
    ``subscription_id`` outlives a deleted subscription (no foreign key): the log stays readable.
    """

    id = fields.BigIntField(primary_key=True)
    delivery: fields.ForeignKeyRelation[Delivery] = fields.ForeignKeyField(
        "models.Delivery", related_name="push_targets", on_delete=fields.CASCADE
    )
    delivery_id: int
    subscription_id = fields.IntField()
    #: The push service's host (never the endpoint's path: it is the subscription's bearer token).
    push_service = fields.CharField(max_length=255)
    status = fields.CharField(max_length=16)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_push_target"
        unique_together = (("delivery_id", "subscription_id"),)


class ProcessedEvent(Model):
    """An accepted event id: the unique constraint makes publishing idempotent under races."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    event_id = fields.CharField(max_length=200)
    type_code = fields.CharField(max_length=64)
    notification_count = fields.IntField(default=0)
    deliveries_queued = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "nc_processed_event"
        unique_together = (("instance_id", "event_id"),)
        indexes = (("created_at",),)


class BellUnread(Model):
    """An operator's unread bell items, kept by every write that changes them, in its transaction:
    publishing adds its new bell items (an operator without a row had none: migration 0007 counted
    the existing ones), marking read subtracts the rows it changed, pruning the unread rows it
    deleted. Archived and snoozed items are out of the bell and not counted: archiving, snoozing,
    unarchiving, marking unread and a snooze's return move the count by the rows they changed
    (domain/inbox.py). The live bell's counts and ``unreadCount`` read it instead of counting rows."""

    id = fields.IntField(primary_key=True)
    operator: fields.OneToOneRelation[Operator] = fields.OneToOneField(
        "models.Operator", related_name="bell_unread", on_delete=fields.CASCADE
    )
    operator_id: int
    unread = fields.IntField(default=0)

    class Meta:
        table = "nc_bell_unread"


class PanelHandOff(Model):
    """The panel messages (bell, banner, sound) of one publishing call, until the publisher has
    handed them to the broker: written in the publishing transaction, deleted right after the
    hand-off. One row per call instead of a delivery row per recipient and panel channel; should
    the process die (or the broker fail) between the commit and the hand-off, a worker claims the
    row at ``due_at`` and sends those notifications' panel messages (channels.schedules)."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    #: The notifications' ids, comma-separated, ascending.
    notification_ids = fields.TextField()
    due_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    #: The publishing call's time: its notifications' ``created_at``.
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "nc_panel_hand_off"
        indexes = (("due_at",), ("instance_id", "created_at"))


class BellSnooze(Model):
    """A snoozed notification's return: due at the snooze's end, claimed with a lease by
    ``channels.schedules.SNOOZE_RETURNS`` (so a restart keeps it, and two workers never return
    it twice); the notification then comes back into the bell unread, with a banner."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="bell_snoozes", on_delete=fields.CASCADE
    )
    operator_id: int
    notification: fields.ForeignKeyRelation[Notification] = fields.OneToOneField(
        "models.Notification", related_name="bell_snooze", on_delete=fields.CASCADE
    )
    notification_id: int
    due_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "nc_bell_snooze"
        indexes = (("due_at",),)


class ToastRepeat(Model):
    """The next repeat of a still-unread notification's banner: stored, so a restart keeps it."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="toast_repeats", on_delete=fields.CASCADE
    )
    operator_id: int
    notification: fields.ForeignKeyRelation[Notification] = fields.OneToOneField(
        "models.Notification", related_name="toast_repeat", on_delete=fields.CASCADE
    )
    notification_id: int
    #: 1 for the first repeat, up to the recipient's repeatCount.
    repeat = fields.IntField(default=1)
    due_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "nc_toast_repeat"
        indexes = (("due_at",),)


class OperatorPresence(Model):
    """An operator's status from operator_status_changed events, and their next not-ready reminder."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.OneToOneField(
        "models.Operator", related_name="presence", on_delete=fields.CASCADE
    )
    operator_id: int
    status = fields.CharField(max_length=32)
    not_ready_since = fields.DatetimeField(null=True)
    next_reminder_at = fields.DatetimeField(null=True)
    reminders_sent = fields.IntField(default=0)
    lease_until = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_operator_presence"
        indexes = (("next_reminder_at",),)


class TelegramSent(Model):
    """A Telegram message a delivery sent, kept while its bot edits messages of handled notifications
    (TELEGRAM settings ``editWhenHandled``): once the notification is read (or its ticket or chat
    handled), ``edit_due_at`` is set and a worker edits the message to say so (editMessageText)."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="telegram_sent", on_delete=fields.CASCADE
    )
    operator_id: int
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="telegram_sent", on_delete=fields.CASCADE
    )
    notification_id: int
    chat_id = fields.CharField(max_length=200)
    message_id = fields.BigIntField()
    # Due once the notification is read; null until then.
    edit_due_at = fields.DatetimeField(null=True)
    lease_until = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "nc_telegram_sent"
        indexes = (("notification_id",), ("edit_due_at",))
