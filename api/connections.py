"""Open WebSockets per user (``NC_LIMIT_WEBSOCKETS_PER_USER``), across the deployment.

Embedded, a dict in the process counts them. At scale (``NC_REDIS_URL``) each user has a Redis
sorted set of connection ids scored by when they lapse; a Lua script drops lapsed ids, counts and
adds in one step, so two processes never both admit the last free place. Each process renews its
own ids every ``RENEW_SECONDS``, so the ids of a process that died lapse after ``LEASE_SECONDS``
instead of holding the user's places forever. If Redis does not answer, the process falls back to
its own count (a user may then hold the cap on each process) rather than refuse everyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from contextlib import suppress
from typing import Any

from core.metrics import LIMITER_ERRORS
from core.redis_pool import redis_client

logger = logging.getLogger("nc.connections")

LEASE_SECONDS = 90.0
RENEW_SECONDS = 30.0

_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


class WebSocketSlots:
    """``acquire(user)`` before serving a user's socket, ``release`` when it closes."""

    def __init__(
        self,
        cap: int,
        redis_url: str | None = None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        renew_seconds: float = RENEW_SECONDS,
        prefix: str = "nc:ws:",
    ) -> None:
        self.cap = cap
        self.lease_seconds = lease_seconds
        self.prefix = prefix
        self.renew_seconds = renew_seconds
        self._local: Counter[str] = Counter()
        self._held: dict[str, str] = {}  # connection id -> user key (for renewal)
        self._redis: Any = None
        self._script: Any = None
        self._renewer: asyncio.Task[None] | None = None
        self._skip_until = 0.0
        if redis_url:
            self._redis = redis_client(redis_url, socket_connect_timeout=1, socket_timeout=2)
            self._script = self._redis.register_script(_ACQUIRE)

    async def acquire(self, user: str) -> str | None:
        """A connection id when ``user`` has a free place, else None."""
        connection = uuid.uuid4().hex
        if self._redis is not None and time.monotonic() >= self._skip_until:
            now = time.time()
            try:
                admitted = await self._script(
                    keys=[self._key(user)],
                    args=[now, now + self.lease_seconds, self.cap, connection, int(self.lease_seconds * 1000)],
                )
            except Exception as exc:  # noqa: BLE001 - Redis down: count in this process only
                LIMITER_ERRORS.inc()
                self._skip_until = time.monotonic() + 5
                logger.warning("WebSocket slots: Redis unavailable (%s), counting locally for 5 s", type(exc).__name__)
            else:
                if not admitted:
                    return None
                self._held[connection] = user
                self._local[user] += 1
                self._ensure_renewer()
                return connection
        if self._local[user] >= self.cap:
            return None
        self._local[user] += 1
        self._held[connection] = user
        return connection

    async def release(self, connection: str) -> None:
        user = self._held.pop(connection, None)
        if user is None:
            return
        self._local[user] -= 1
        if self._local[user] <= 0:
            del self._local[user]
        if self._redis is not None:
            with suppress(Exception):
                await self._redis.zrem(self._key(user), connection)

    def count(self, user: str) -> int:
        """This process's open sockets of ``user``."""
        return self._local.get(user, 0)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with suppress(asyncio.CancelledError):
                await self._renewer
        if self._redis is not None:
            with suppress(Exception):
                await self._redis.aclose()

    def _key(self, user: str) -> str:
        return f"{self.prefix}{user}"

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="nc-ws-slots-renew")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_seconds)
            lapse = time.time() + self.lease_seconds
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for connection, user in list(self._held.items()):
                        pipe.zadd(self._key(user), {connection: lapse}, xx=True)
                        pipe.pexpire(self._key(user), int(self.lease_seconds * 1000))
                    await pipe.execute()
            except Exception as exc:  # noqa: BLE001 - the next round tries again
                LIMITER_ERRORS.inc()
                logger.warning("WebSocket slots: renewal failed (%s)", type(exc).__name__)
