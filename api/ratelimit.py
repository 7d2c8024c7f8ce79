"""Rate limits per caller (the `limits` library: memory storage embedded, Redis at scale).

Three budgets, each a setting in the library's notation ("30/second;600/minute"; empty turns it
off), counted with the sliding-window-counter strategy:

    user        NC_RATE_LIMIT_USER       per operator/supervisor/administrator token (instance, user)
    service     NC_RATE_LIMIT_SERVICE    per service token: event producers get their own, higher budget
    anonymous   NC_RATE_LIMIT_ANONYMOUS  per client address, for requests without a valid token (and /readyz)
    webhook     NC_RATE_LIMIT_WEBHOOK    per client address, for the providers' webhooks

An HTTP request costs 1, and so does each operation started over a WebSocket. A refused request
gets RATE_LIMITED with ``retryAfter`` (seconds, also the HTTP ``Retry-After`` header). With Redis
the counts are shared by every process; if Redis does not answer, the limiter lets requests through
for ``SKIP_SECONDS`` (and counts ``nc_rate_limiter_errors_total``) rather than take the service down
with it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from core.keys import key_part
from core.metrics import LIMITER_ERRORS, REFUSED
from core.redis_pool import blocking_pool
from core.settings import Settings
from domain.errors import RateLimited
from models.enums import Role
from services.auth import Principal

logger = logging.getLogger("nc.ratelimit")

#: After Redis fails to answer, requests pass uncounted for this long before it is tried again.
SKIP_SECONDS = 5
#: How often the in-memory counters' expired keys are swept out.
SWEEP_SECONDS = 5.0


#: MemoryStorage's private "start a sweep" method, as Python mangles its name.
_SCHEDULE_EXPIRY = "_MemoryStorage__schedule_expiry"


class SweptMemoryStorage(MemoryStorage):
    """limits' in-memory storage, sweeping expired keys at most every ``SWEEP_SECONDS``.

    The library starts a sweep of every key after each hit once the previous sweep is done: with
    a thousand callers that is a pass over thousands of keys per request (a fifth of the process's
    CPU in the types-tab benchmark). Reads expire their own key already (``get``), so the sweep
    only returns memory, and once every few seconds does that."""

    _swept_at = float("-inf")

    async def _MemoryStorage__schedule_expiry(self) -> None:
        current = time.monotonic()
        if current - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = current
        await getattr(super(), _SCHEDULE_EXPIRY)()


class RateLimits:
    def __init__(self, settings: Settings) -> None:
        self._budgets: dict[str, list[RateLimitItem]] = {
            "user": parse_many(settings.rate_limit_user) if settings.rate_limit_user else [],
            "service": parse_many(settings.rate_limit_service) if settings.rate_limit_service else [],
            "anonymous": parse_many(settings.rate_limit_anonymous) if settings.rate_limit_anonymous else [],
            "webhook": parse_many(settings.rate_limit_webhook) if settings.rate_limit_webhook else [],
        }
        self._redis_url = settings.redis_url
        self._limiter: SlidingWindowCounterRateLimiter | None = None
        self._storage: Storage | None = None
        self._pool: Any = None
        self._skip_until = 0.0

    def _strategy(self) -> SlidingWindowCounterRateLimiter:
        if self._limiter is None:
            if self._redis_url:
                # Our own pool, so close() can let its connections go.
                self._pool = blocking_pool(self._redis_url, socket_timeout=1, socket_connect_timeout=1)
                self._storage = RedisStorage(
                    "async+" + self._redis_url,
                    implementation="redispy",
                    key_prefix="nc-rate",
                    connection_pool=self._pool,
                )
            else:
                self._storage = SweptMemoryStorage()
            self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        return self._limiter

    async def check(self, budget: str, *key: str) -> None:
        """Count one request against ``budget`` for ``key``; raises RateLimited when it is spent."""
        items = self._budgets[budget]
        if not items or time.monotonic() < self._skip_until:
            return
        limiter = self._strategy()
        for item in items:
            try:
                allowed = await limiter.hit(item, budget, *key)
                if allowed:
                    continue
                stats = await limiter.get_window_stats(item, budget, *key)
            except Exception as exc:  # noqa: BLE001 - a limiter that cannot count lets requests through
                LIMITER_ERRORS.inc()
                # Do not wait on an unreachable Redis for every request: skip it for a while.
                self._skip_until = time.monotonic() + SKIP_SECONDS
                logger.warning(
                    "rate limiter unavailable (%s): letting requests through for %d s", type(exc).__name__, SKIP_SECONDS
                )
                return
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            REFUSED.labels("rate_limited").inc()
            raise RateLimited(
                f"Too many requests: the limit is {item.amount} per {item.multiples} {item.GRANULARITY.name}"
                f"{'s' if item.multiples != 1 else ''}; retry in {retry_after} s",
                retryAfter=retry_after,
            )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()

    async def check_principal(self, principal: Principal) -> None:
        """A verified caller's request: the service budget for event producers, else the user's."""
        budget = "service" if principal.role is Role.SERVICE else "user"
        await self.check(budget, key_part(principal.instance_id), key_part(principal.user_id))

    async def check_address(self, address: str) -> None:
        """A request without a valid token, by the client's address."""
        await self.check("anonymous", address)
