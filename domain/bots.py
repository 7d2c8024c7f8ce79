"""The instance's bot channel configurations, with their secrets opened, cached per process.

Channels read them per job, the webhooks per update, ``testChannel`` right after an administrator's
change: one cache per process (``BotCache``), invalidated at once where the change was made and,
through the broker's "bots" topic, in every other process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from core.broker import RESYNC, Broker
from domain.keys import SecretBox
from models.enums import ChannelKind
from models.instance import BotChannelConfig, Instance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotConfig:
    """An enabled bot channel's settings, with its secret opened (never log or return it)."""

    channel: ChannelKind
    settings: dict[str, Any]
    secret: str | None
    #: The instance's bot scenario (instance settings), sent in webhook bodies.
    scenario: str | None = None

    def setting(self, key: str, default: Any = None) -> Any:
        value = self.settings.get(key)
        return default if value in (None, "") else value


#: Seconds a worker reuses an instance's bot configuration before reading it again.
BOT_CACHE_SECONDS = 2.0
#: Broker topic on which a process announces "this instance's bot channels changed".
BOTS_TOPIC = "bots"


class BotCache:
    """Bot configurations kept per process for a couple of seconds (a batch of jobs to one
    instance reads them once). An administrator's change forgets them at once in the process that
    made it and, through the broker's "bots" topic, in every other (``listen_for_changes``); the
    TTL bounds staleness should that message be lost (pub/sub is at-most-once)."""

    def __init__(self, ttl_seconds: float = BOT_CACHE_SECONDS) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[tuple[str, ChannelKind], tuple[float, BotConfig | None]] = {}
        #: Bumped by every change: a read that began before it must not store what it read.
        self._generation: dict[str, int] = {}

    async def get(self, secret_box: SecretBox, instance_id: str, channel: ChannelKind) -> BotConfig | None:
        key = (instance_id, channel)
        cached = self._entries.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl:
            return cached[1]
        generation = self._generation.get(instance_id, 0)
        bot = await load_bot(secret_box, instance_id, channel)
        if self._generation.get(instance_id, 0) == generation:
            self._entries[key] = (time.monotonic(), bot)
        return bot

    def forget(self, instance_id: str) -> None:
        self._generation[instance_id] = self._generation.get(instance_id, 0) + 1
        for key in [k for k in self._entries if k[0] == instance_id]:
            del self._entries[key]

    def forget_all(self) -> None:
        for instance_id in {k[0] for k in self._entries}:
            self.forget(instance_id)

    async def changed(self, broker: Broker, instance_id: str) -> None:
        """After an administrator's write: this process forgets now, the others when told."""
        self.forget(instance_id)
        await broker.publish(BOTS_TOPIC, {"instance": instance_id})

    async def listen_for_changes(self, broker: Broker) -> None:
        """Run for the life of the process: forget what other processes announce as changed."""
        async with broker.subscribe(BOTS_TOPIC) as changes:
            async for change in changes:
                instance_id = change.get("instance")
                if isinstance(instance_id, str):
                    self.forget(instance_id)
                elif change == RESYNC:  # the broker lost messages: any entry may be stale
                    self.forget_all()


async def load_bot(secret_box: SecretBox, instance_id: str, channel: ChannelKind) -> BotConfig | None:
    """The instance's enabled bot for ``channel`` with its secret opened; None when there is none,
    or when its secret was sealed under another deployment secret (it must be set again)."""
    row = await BotChannelConfig.get_or_none(instance_id=instance_id[:64], channel=channel.value, enabled=True)
    if row is None:
        return None
    secret = None
    if row.secret_sealed:
        try:
            secret = secret_box.open(row.secret_sealed)
        except ValueError:
            log.warning("the %s secret of instance %s cannot be opened: set it again", channel.value, instance_id)
            return None
    scenario = await Instance.filter(id=instance_id[:64]).first().values_list("bot_scenario", flat=True)
    return BotConfig(
        channel=channel, settings=dict(row.settings or {}), secret=secret, scenario=str(scenario) if scenario else None
    )
