"""Per-operator rows: profile, Channels tab, types tab choices, links and push subscriptions."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Operator(Model):
    """A user of an instance. Created by upsertOperators or on a user's first change."""

    id = fields.IntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    user_id = fields.CharField(max_length=128)
    role = fields.CharField(max_length=16, default="OPERATOR")
    display_name = fields.CharField(max_length=200, null=True)
    email = fields.CharField(max_length=254, null=True)
    locale = fields.CharField(max_length=35, default="en")
    # Channels tab: banners and sound
    banner_duration_seconds = fields.IntField(default=8, db_default=8)
    banner_max_visible = fields.IntField(default=3, db_default=3)
    banner_repeat_count = fields.IntField(default=0, db_default=0)
    banner_repeat_interval_seconds = fields.IntField(default=60, db_default=60)
    default_melody = fields.CharField(max_length=32, default="default", db_default="default")
    # The simplified screen used while the Notification Center is disabled
    classic_browser_enabled = fields.BooleanField(default=True, db_default=True)
    classic_sound_enabled = fields.BooleanField(default=True, db_default=True)
    # Reminders tab
    reminder_not_ready_enabled = fields.BooleanField(default=True, db_default=True)
    reminder_not_ready_after_minutes = fields.IntField(default=10, db_default=10)
    reminder_not_ready_repeat_minutes = fields.IntField(default=10, db_default=10)
    # Working hours: an IANA time zone (None: UTC) and the weekly spans external channels may
    # deliver in, [{"day": 0..6 (Monday 0), "from": "09:00", "to": "18:00"}, ...] (None: any time).
    timezone = fields.CharField(max_length=64, null=True)
    working_hours: list[dict[str, object]] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_operator"
        unique_together = (("instance_id", "user_id"),)


class ChannelSwitch(Model):
    """The operator's switch for one channel on the Channels tab, and its last test or error."""

    id = fields.IntField(primary_key=True)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="channel_switches", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=16)
    enabled = fields.BooleanField(default=True)
    # The operator's routing mode for the channel on editable types (None: the policy's).
    routing_mode = fields.CharField(max_length=16, null=True)
    escalate_after_minutes = fields.IntField(null=True)
    last_test_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)

    class Meta:
        table = "nc_channel_switch"
        unique_together = (("operator", "channel"),)


class TypeChoice(Model):
    """The channels (and melody) an operator chose for one notification type."""

    id = fields.IntField(primary_key=True)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="type_choices", on_delete=fields.CASCADE
    )
    type_code = fields.CharField(max_length=64)
    channels: list[str] = fields.JSONField(default=list)
    melody = fields.CharField(max_length=32, null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_type_choice"
        unique_together = (("operator", "type_code"),)


class SystemMessageSwitch(Model):
    """Whether a Fast Line service line is shown in the operator's dialogue history."""

    id = fields.IntField(primary_key=True)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="system_messages", on_delete=fields.CASCADE
    )
    code = fields.CharField(max_length=64)
    enabled = fields.BooleanField(default=True)

    class Meta:
        table = "nc_system_message_switch"
        unique_together = (("operator", "code"),)


class PushSubscription(Model):
    """A browser's Web Push subscription (PushSubscription.toJSON() of the panel)."""

    id = fields.IntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="push_subscriptions", on_delete=fields.CASCADE
    )
    endpoint = fields.TextField()
    endpoint_hash = fields.CharField(max_length=64)
    p256dh = fields.CharField(max_length=128)
    auth = fields.CharField(max_length=64)
    user_agent = fields.CharField(max_length=512, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_success_at = fields.DatetimeField(null=True)

    class Meta:
        table = "nc_push_subscription"
        unique_together = (("instance_id", "endpoint_hash"),)


class ChannelLink(Model):
    """Where a bot channel delivers for one operator (a Telegram chat, a Viber id ...)."""

    id = fields.IntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    operator: fields.ForeignKeyRelation[Operator] = fields.ForeignKeyField(
        "models.Operator", related_name="channel_links", on_delete=fields.CASCADE
    )
    operator_id: int
    channel = fields.CharField(max_length=16)
    #: PENDING while a one-time code waits to be used, LINKED once the bot confirmed it.
    status = fields.CharField(max_length=16, default="PENDING")
    code = fields.CharField(max_length=64, null=True, unique=True)
    code_expires_at = fields.DatetimeField(null=True)
    target = fields.CharField(max_length=200, null=True)
    target_label = fields.CharField(max_length=200, null=True)
    linked_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_channel_link"
        unique_together = (("operator", "channel"),)
