"""The audit log: who changed which setting of an instance, when, from which client, before and after."""

from __future__ import annotations

import json

from tortoise import fields
from tortoise.models import Model

from core.jsonenc import dumps


class AuditEntry(Model):
    """One mutation that changed (or tried to change, with nothing different) settings: written in
    the mutation's transaction, so it exists exactly when the change does. Secrets never appear:
    a changed one is the string "changed"."""

    id = fields.BigIntField(primary_key=True)
    instance_id = fields.CharField(max_length=64)
    #: The caller's user id (the token's sub) and role.
    actor = fields.CharField(max_length=128)
    actor_role = fields.CharField(max_length=16)
    #: The client's name (X-NC-Client) or, without one, its User-Agent (None over WebSocket).
    client = fields.CharField(max_length=200, null=True)
    #: The mutation's GraphQL name (updateInstanceSettings, setTypeChannels ...).
    action = fields.CharField(max_length=64)
    #: What it changed: "instance", "type:<code>", "operator:<user id>", "deliveries".
    subject = fields.CharField(max_length=200)
    before: dict[str, object] = fields.JSONField(default=dict, encoder=dumps, decoder=json.loads)
    after: dict[str, object] = fields.JSONField(default=dict, encoder=dumps, decoder=json.loads)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "nc_audit_entry"
        indexes = (("instance_id", "id"), ("created_at",))
