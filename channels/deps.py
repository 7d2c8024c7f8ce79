"""What channel modules share: settings, the HTTP client, and the instance's bot configuration."""

from __future__ import annotations

from dataclasses import dataclass, field

from channels.http_client import ProviderClient
from core.settings import Settings
from domain.bots import BotCache, BotConfig
from domain.keys import SecretBox
from models.enums import ChannelKind


@dataclass
class ChannelDeps:
    settings: Settings
    secret_box: SecretBox
    http: ProviderClient
    bots: BotCache = field(default_factory=BotCache)

    @property
    def panel_url(self) -> str:
        return self.settings.panel_url

    async def bot(self, instance_id: str, channel: ChannelKind) -> BotConfig | None:
        """The enabled configuration of ``channel`` in the instance, or None when it has none."""
        return await self.bots.get(self.secret_box, instance_id, channel)


def http_client(*, allow_private: bool) -> ProviderClient:
    """One pooled client for every provider (channels/http_client.py); no redirects (a redirect
    could lead inside). Unless ``allow_private`` (``Settings.allow_http_endpoints``), a name that
    resolves to a non-public address is refused when the connection is made. Call it in the loop."""
    return ProviderClient(allow_private=allow_private)
