"""What channel modules share: settings, the HTTP client, and the instance's bot configuration."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.settings import Settings
from domain.keys import SecretBox
from models.enums import ChannelKind
from models.instance import BotChannelConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotConfig:
    """An enabled bot channel's settings, with its secret opened (never log or return it)."""

    channel: ChannelKind
    settings: dict[str, Any]
    secret: str | None

    def setting(self, key: str, default: Any = None) -> Any:
        value = self.settings.get(key)
        return default if value in (None, "") else value


#: Seconds a worker reuses an instance's bot configuration before reading it again.
BOT_CACHE_SECONDS = 2.0


@dataclass
class ChannelDeps:
    settings: Settings
    secret_box: SecretBox
    http: httpx.AsyncClient
    _bots: dict[tuple[str, ChannelKind], tuple[float, BotConfig | None]] = field(default_factory=dict)

    @property
    def panel_url(self) -> str:
        return self.settings.panel_url

    async def bot(self, instance_id: str, channel: ChannelKind) -> BotConfig | None:
        """The enabled configuration of ``channel`` in the instance, or None when it has none.
        Kept for a couple of seconds: a batch of jobs to one instance reads it once."""
        key = (instance_id, channel)
        cached = self._bots.get(key)
        if cached is not None and time.monotonic() - cached[0] < BOT_CACHE_SECONDS:
            return cached[1]
        bot = await load_bot(self.secret_box, instance_id, channel)
        self._bots[key] = (time.monotonic(), bot)
        return bot


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
    return BotConfig(channel=channel, settings=dict(row.settings or {}), secret=secret)


def http_client() -> httpx.AsyncClient:
    """One pooled client for every provider; no redirects (a redirect could lead inside)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": "notification-center/0.1"},
    )
