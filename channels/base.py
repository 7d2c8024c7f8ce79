"""The one small interface every delivery channel implements, and what a send can come to.

Outcome
 ├── Sent          delivered (the provider accepted it)
 ├── RetryLater    try again, after ``after_seconds`` when the provider said so (429, 5xx, timeouts)
 └── GiveUp        permanent: retrying cannot help (4xx, nothing to deliver to); ``reason`` says why
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from models.enums import ChannelKind
from models.notification import Notification
from models.operator import ChannelLink, Operator


@dataclass(frozen=True)
class Sent:
    pass


@dataclass(frozen=True)
class RetryLater:
    reason: str
    after_seconds: float | None = None


@dataclass(frozen=True)
class GiveUp:
    reason: str


Outcome = Sent | RetryLater | GiveUp


@dataclass(frozen=True)
class DeliveryRow:
    """What a worker knows of a claimed delivery row (returned by the claim itself)."""

    id: int
    instance_id: str
    operator_id: int
    notification_id: int | None
    channel: str
    #: This try's number (1 for the first): the claim counts a try when it starts.
    attempts: int
    #: Where a bot channel delivers (the linked chat publishing found); None for the others.
    address: str | None = None
    #: The routing that shaped it (Delivery.route): "DIGEST" for a digest's own row.
    route: str | None = None


@dataclass(frozen=True)
class Job:
    """One claimed delivery, with what a channel needs to send it."""

    delivery: DeliveryRow
    notification: Notification | None
    operator: Operator
    #: Loop time (``asyncio`` clock) at which the runtime abandons this try: a channel that sends
    #: to several targets bounds its waits by it, so it can record what it did before then.
    deadline_at: float | None = None
    #: The worker holding the delivery's lease (``locked_by``): a channel that writes rows of its
    #: own for the delivery writes them only while the row is still leased to it.
    owner: str | None = None
    #: A digest (domain/digests.py): its title and body, and its members' delivery ids.
    digest: tuple[str, str] | None = None
    members: tuple[int, ...] = ()

    @property
    def is_test(self) -> bool:
        """The Channels tab's Test (no notification, not a digest): one try, recorded as a test."""
        return self.notification is None and self.digest is None

    @property
    def channel(self) -> ChannelKind:
        return ChannelKind(self.delivery.channel)

    def last_try(self, max_attempts: int) -> bool:
        """No try follows this one if it fails transiently: the attempts are used up, or it is a
        test send (no notification), which reports at once."""
        return self.notification is None or self.delivery.attempts >= max_attempts


async def linked_address(job: Job) -> str | None:
    """Where a bot channel sends this job: the chat publishing found, carried on the delivery row.
    A test send (written without one) reads the operator's current link; None when not linked."""
    if job.delivery.address:
        return job.delivery.address
    link = await ChannelLink.get_or_none(operator_id=job.operator.id, channel=job.channel.value, status="LINKED")
    return link.target if link is not None and link.target else None


class Channel(Protocol):
    #: The delivery channels this module sends.
    kinds: frozenset[ChannelKind]

    async def send(self, job: Job) -> Outcome: ...
