"""ECHAT and CUSTOM: a signed JSON POST to the webhook URL the administrator configured.

Settings: ``url``; the secret is the HMAC signing secret. Each attempt sends

    Content-Type:    application/json
    X-NC-Timestamp:  <unix seconds>
    X-NC-Signature:  sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-NC-Delivery:   <delivery id>, the same on every retry (receivers dedupe with it)

Limits: none of the service's own beyond the event size limits: the receiver gets the title and
body whole. The body is serialized once and exactly those bytes are signed and sent. The answer is
mapped by channels/http.py (2xx Sent, 429/5xx retried, other 4xx GiveUp), in the service's words:
the receiver's body goes only to the log, redacted of the signing secret.
docs/receiving-webhooks.md is the receiver's side of this contract.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import Any

from channels.base import GiveUp, Job, Outcome
from channels.deps import ChannelDeps
from channels.http import network_failure, outcome_for
from channels.http_client import TransportError
from channels.message import message_for
from channels.redact import bot_secrets
from core.urls import UnsafeUrl, check_outbound
from models.enums import ChannelKind

TIMESTAMP_HEADER = "X-NC-Timestamp"
SIGNATURE_HEADER = "X-NC-Signature"
DELIVERY_HEADER = "X-NC-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-NC-Signature value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookChannel:
    kinds = frozenset({ChannelKind.ECHAT, ChannelKind.CUSTOM})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        channel = job.channel
        bot = await self.deps.bot(job.delivery.instance_id, channel)
        if bot is None:
            return GiveUp(f"{channel.value} is not configured (or not enabled) on this instance")
        url = bot.setting("url")
        if not url:
            return GiveUp(f"{channel.value} settings need url")
        if not bot.secret:
            return GiveUp(f"{channel.value} has no signing secret: set it in the secret field")
        try:
            await check_outbound(str(url), allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return GiveUp(f"{channel.value} url {exc}")

        body = json.dumps(self.payload(job, bot.scenario), separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(bot.secret, timestamp, body),
            DELIVERY_HEADER: str(job.delivery.id),
        }
        provider = f"the {channel.value} webhook"
        try:
            response = await self.deps.http.post(str(url), content=body, headers=headers)
        except UnsafeUrl as exc:  # the name resolved inside the network when connecting
            return GiveUp(f"{channel.value} url {exc}")
        except TransportError as exc:
            return network_failure(exc, provider)
        return outcome_for(
            response,
            provider,
            secrets=bot_secrets(bot.secret, bot.settings),
            credential="signed request",
            where=f"the receiver and the {channel.value} bot settings (url, signing secret)",
        )

    def payload(self, job: Job, scenario: str | None) -> dict[str, Any]:
        """The webhook body; ``scenario`` is the instance's bot scenario (read with the bot's settings)."""
        instance_id = job.delivery.instance_id
        msg = message_for(job, self.deps.panel_url)
        n = job.notification
        operator = job.operator
        return {
            "event": "notification" if n is not None else "digest" if job.digest is not None else "test",
            "channel": job.channel.value,
            "scenario": scenario or None,
            "instance": instance_id,
            "operator": {
                "id": operator.user_id,
                "email": operator.email,
                "name": operator.display_name,
                "locale": operator.locale,
            },
            "notification": {
                "id": msg.notification_id,
                "type": msg.type_code,
                "category": n.category_code if n is not None else None,
                "title": msg.title,
                "body": msg.body,
                "link": msg.link,
                "entity": {"kind": n.entity_kind, "id": n.entity_id} if n is not None and n.entity_kind else None,
                "createdAt": _iso(n.created_at if n is not None else datetime.now(UTC)),
            },
        }


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
