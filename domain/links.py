"""Linking bot channels to an operator (placeholder: being written)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.errors import NotImplementedYet
from domain.policy import InstancePolicy
from models.enums import ChannelKind
from models.operator import Operator


@dataclass(frozen=True)
class LinkStart:
    channel: ChannelKind
    code: str
    url: str
    expires_at: datetime


async def start_link(policy: InstancePolicy, operator: Operator, channel: ChannelKind) -> LinkStart:
    raise NotImplementedYet("Linking bot channels is being written")


async def complete_link(
    instance_id: str, channel: ChannelKind, code: str, *, target: str, label: str | None
) -> Operator | None:
    """Finish a pending link whose one-time code arrived through the provider's webhook: the
    operator it belongs to, or None when the code is unknown, used or expired."""
    raise NotImplementedYet("Linking bot channels is being written")


async def unlink(policy: InstancePolicy, operator: Operator, channel: ChannelKind) -> None:
    raise NotImplementedYet("Linking bot channels is being written")
