"""Placeholder: the WhatsAppChannel channel module is being written."""

from __future__ import annotations

from channels.base import Job, Outcome, RetryLater
from channels.deps import ChannelDeps
from models.enums import ChannelKind


class WhatsAppChannel:
    kinds = frozenset({ChannelKind.WHATSAPP})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        return RetryLater("this channel's module is not installed yet")
