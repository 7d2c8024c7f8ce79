"""What a process opens at start-up and every request, webhook and worker of it shares.

``api/app.py`` builds one ``Services`` in its lifespan; the GraphQL context, the webhooks and the
in-process channels read from it. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.broker import Broker
from core.presence import Presence
from core.settings import Settings
from domain.bots import BotCache
from domain.keys import SecretBox
from domain.policy import PolicyCache
from domain.viewers import ViewerCache
from services.auth import TokenCodec


@dataclass
class Services:
    """What the app opened at start-up and every request shares (kept in lifespan state)."""

    settings: Settings
    tokens: TokenCodec
    secret_box: SecretBox
    broker: Broker
    #: Who has the panel open and is active in it (core/presence.py): per process, or in Redis.
    presence: Presence
    policies: PolicyCache = field(default_factory=PolicyCache)
    #: The bot configurations this process's channels read (shared with the in-process workers).
    bots: BotCache = field(default_factory=BotCache)
    #: The viewers' own rows and preferences the settings screens read (domain/viewers.py).
    viewers: ViewerCache = field(default_factory=ViewerCache)
