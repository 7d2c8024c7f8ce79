"""What the bot channel tests share: the documents, publishing a ticket, reading a delivery."""

from __future__ import annotations

from typing import Any

from tests.conftest import Caller, Tenant
from tests.polling import eventually

CONFIGURE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
  botChannels { channel enabled settings hasSecret } } }"""
SETTINGS = "{ channelSettings { channels { kind status target lastError } } }"
PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount deliveriesQueued } }"
LATEST = "{ notifications(first: 1) { edges { node { id title } } } }"
DELIVERIES = "query($id: ID!) { deliveries(notificationId: $id) { channel status attempts lastError } }"
SET_CHANNELS = """mutation($channels: [ChannelKind!]!) {
  setTypeChannels(typeCode: "ticket_created", channels: $channels) { code } }"""
TEST_CHANNEL = """mutation($channel: ChannelKind!) { testChannel(channel: $channel) {
  id notificationId channel status attempts lastError } }"""
FINAL = frozenset({"SENT", "FAILED", "SKIPPED"})


async def publish(tenant: Tenant, event_id: str, recipient: str = "olena") -> dict[str, Any]:
    """A ticket_created event for one recipient, as the platform publishes it."""
    event = {
        "id": event_id,
        "type": "ticket_created",
        "recipients": [recipient],
        "entity": {"kind": "TICKET", "id": "42"},
        "data": {"ticketNumber": 42, "subject": "Printer on fire"},
    }
    return (await tenant.service().gql(PUBLISH, {"input": event})).data["publishEvent"]


async def channel_row(caller: Caller, kind: str) -> dict[str, Any]:
    """The caller's Channels tab row for one channel."""
    channels = (await caller.gql(SETTINGS)).data["channelSettings"]["channels"]
    return next(c for c in channels if c["kind"] == kind)


async def latest_delivery(
    operator: Caller, channel: str, *, final: bool = True, seconds: float = 8.0
) -> dict[str, Any]:
    """The delivery through ``channel`` of the operator's latest notification, once settled."""
    node = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]

    async def read() -> dict[str, Any]:
        rows = (await operator.gql(DELIVERIES, {"id": node["id"]})).data["deliveries"]
        return next(r for r in rows if r["channel"] == channel)

    return await eventually(read, lambda row: not final or row["status"] in ("SENT", "FAILED"), seconds=seconds)
