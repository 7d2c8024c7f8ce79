"""What channel modules share: settings, the HTTP client, and the instance's bot configuration."""

from __future__ import annotations

import logging
from dataclasses import dataclass
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


@dataclass
class ChannelDeps:
    settings: Settings
    secret_box: SecretBox
    http: httpx.AsyncClient

    @property
    def panel_url(self) -> str:
        return self.settings.panel_url

    async def bot(self, instance_id: str, channel: ChannelKind) -> BotConfig | None:
        """The enabled configuration of ``channel`` in the instance, or None when it has none."""
        return await load_bot(self.secret_box, instance_id, channel)


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
