"""Placeholder: the WebhookChannel channel module is being written."""

from __future__ import annotations

from channels.base import Job, Outcome, RetryLater
from channels.deps import ChannelDeps
from models.enums import ChannelKind


class WebhookChannel:
    kinds = frozenset({ChannelKind.ECHAT, ChannelKind.CUSTOM})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        return RetryLater("this channel's module is not installed yet")
