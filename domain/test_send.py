"""The Channels tab's test button: one delivery through one channel, now, reported when final."""

from __future__ import annotations

import asyncio

from tortoise.timezone import now

from domain.errors import BadUserInput
from domain.policy import InstancePolicy
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery
from models.operator import Operator

FINAL = frozenset({DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value, DeliveryStatus.SKIPPED.value})


async def queue_test(policy: InstancePolicy, operator: Operator, channel: ChannelKind) -> Delivery:
    """Write the test job (in the caller's transaction); a worker sends it like any other."""
    if channel not in policy.offered:
        raise BadUserInput(f"{channel.value} is not offered on this instance: nothing to test", field="channel")
    if channel is ChannelKind.BELL:
        raise BadUserInput("The bell needs no test: it shows in every open panel", field="channel")
    current = now()
    return await Delivery.create(
        instance_id=operator.instance_id,
        operator_id=operator.id,
        notification_id=None,
        channel=channel.value,
        status=DeliveryStatus.QUEUED.value,
        attempts=0,
        next_attempt_at=current,
    )


async def wait_final(delivery_id: int, timeout_seconds: float, poll_seconds: float = 0.05) -> Delivery:
    """The delivery once a worker settled it (or as it stands when the time is up)."""
    deadline = asyncio.get_running_loop().time() + timeout_seconds
    while True:
        row = await Delivery.get(id=delivery_id)
        if row.status in FINAL or asyncio.get_running_loop().time() >= deadline:
            return row
        await asyncio.sleep(poll_seconds)
