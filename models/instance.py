"""Instance-wide rows: the policy an administrator sets, and deployment keys."""

from __future__ import annotations

import json

from tortoise import fields
from tortoise.models import Model

from core.jsonenc import dumps


def _default_channels() -> list[str]:
    return ["BELL", "BANNER"]


class Instance(Model):
    """A tenant. Rows are created lazily the first time an instance is written to."""

    id = fields.CharField(max_length=64, primary_key=True)
    notification_center_enabled = fields.BooleanField(default=True, db_default=True)
    extended_types_enabled = fields.BooleanField(default=False, db_default=False)
    mandatory_channels: list[str] = fields.JSONField(default=list)
    default_channels: list[str] = fields.JSONField(default=_default_channels)
    bot_scenario = fields.CharField(max_length=200, null=True)
    negative_csat_threshold = fields.IntField(default=2, db_default=2)
    # ticket_closed / chat_closed about an entity read every operator's unread items about it.
    read_on_entity_close = fields.BooleanField(default=False, db_default=False)
    # Routing modes per external channel: {"TELEGRAM": {"mode": "WHEN_AWAY", "minutes": null}, ...}.
    routing: dict[str, object] | None = fields.JSONField(null=True)
    # Bursts within this many seconds become one message per operator and channel (0: no digests).
    digest_window_seconds = fields.IntField(default=0, db_default=0)
    # Mandatory channels are sent at once, whatever routing mode applies to them.
    mandatory_bypass_routing = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_instance"


class BotChannelConfig(Model):
    """A bot channel an administrator configured, its secret sealed (encrypted) and write-only."""

    id = fields.IntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    channel = fields.CharField(max_length=16)
    enabled = fields.BooleanField(default=False)
    settings: dict[str, object] = fields.JSONField(default=dict, encoder=dumps, decoder=json.loads)
    secret_sealed = fields.TextField(null=True)
    #: Telegram's webhook secret_token, sealed like the secret and as write-only (never returned).
    webhook_secret_sealed = fields.TextField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_bot_channel"
        unique_together = (("instance_id", "channel"),)


class TypePolicy(Model):
    """An administrator's changes to one catalog type in one instance."""

    id = fields.IntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    type_code = fields.CharField(max_length=64)
    mandatory = fields.BooleanField(default=False)
    mandatory_channels: list[str] = fields.JSONField(default=list)
    #: None: the catalog's availability.
    availability = fields.CharField(max_length=16, null=True)
    #: None: the instance's default channels.
    default_channels: list[str] | None = fields.JSONField(null=True)
    # Whether unread items of the type about one entity collapse into one (None: the catalog's).
    collapse = fields.BooleanField(null=True)
    # Routing modes per external channel for this type, as Instance.routing (None: the instance's).
    routing: dict[str, object] | None = fields.JSONField(null=True)
    # Always-on (urgent) types bypass routing modes, digests and working hours.
    always_on = fields.BooleanField(default=False, db_default=False)
    # The type's digest window in seconds (None: the instance's; 0: never digested).
    digest_window_seconds = fields.IntField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "nc_type_policy"
        unique_together = (("instance_id", "type_code"),)


class DeploymentKey(Model):
    """Keys generated once per deployment (the VAPID key pair), shared by every process."""

    name = fields.CharField(max_length=64, primary_key=True)
    value = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "nc_deployment_key"
