"""What channel modules share: settings, the HTTP client, and the instance's bot configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from core.settings import Settings
from domain.bots import BotCache, BotConfig
from domain.keys import SecretBox
from models.enums import ChannelKind


@dataclass
class ChannelDeps:
    settings: Settings
    secret_box: SecretBox
    http: httpx.AsyncClient
    bots: BotCache = field(default_factory=BotCache)

    @property
    def panel_url(self) -> str:
        return self.settings.panel_url

    async def bot(self, instance_id: str, channel: ChannelKind) -> BotConfig | None:
        """The enabled configuration of ``channel`` in the instance, or None when it has none."""
        return await self.bots.get(self.secret_box, instance_id, channel)


def http_client() -> httpx.AsyncClient:
    """One pooled client for every provider; no redirects (a redirect could lead inside)."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=5.0),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        headers={"User-Agent": "notification-center/0.1"},
    )
