"""Redis clients whose pool makes a burst wait for a connection instead of failing.

redis-py's default pool opens at most 100 connections and raises ``MaxConnectionsError`` for the
101st command in flight: a reconnect storm (every panel of a restarted API process opening or
closing at once), a burst of publishes or of rate-limit checks would lose presence updates,
live messages or checks. ``blocking_pool`` keeps at most ``MAX_CONNECTIONS`` connections per
client and makes the rest wait their turn, up to ``WAIT_SECONDS`` (then the command fails as a
Redis error, which each caller already handles).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

#: Connections one client keeps at most.
MAX_CONNECTIONS = 64
#: Seconds a command waits for a free connection before it fails.
WAIT_SECONDS = 5.0


def blocking_pool(url: str, **connection_kwargs: Any) -> BlockingConnectionPool:
    """A pool for ``url`` (``redis://…``) where commands past ``MAX_CONNECTIONS`` wait."""
    return BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_SECONDS, **connection_kwargs
    )


def redis_client(url: str, **connection_kwargs: Any) -> Redis:
    """A client on its own ``blocking_pool``, closed with the client (``aclose``)."""
    return Redis.from_pool(blocking_pool(url, **connection_kwargs))
