"""At scale the per-user WebSocket cap and the rate budgets are shared by every process (Redis)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from api.connections import WebSocketSlots
from api.ratelimit import RateLimits
from core.settings import Settings
from domain.errors import RateLimited
from models.enums import Role
from services.auth import Principal
from tests.core.test_broker import REDIS_URL, need_redis


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    await need_redis()
    yield REDIS_URL


async def test_two_processes_share_one_users_websocket_cap(redis_url: str) -> None:
    prefix = f"nc-test-{uuid.uuid4().hex[:8]}:"
    first, second = (WebSocketSlots(3, redis_url, prefix=prefix) for _ in range(2))
    try:
        held = [
            await first.acquire("demo:olena"),
            await second.acquire("demo:olena"),
            await first.acquire("demo:olena"),
        ]
        assert all(held)
        assert await second.acquire("demo:olena") is None, "the fourth socket, on either process, is refused"
        assert await second.acquire("demo:taras") is not None, "another user is not affected"
        await first.release(held[0])
        assert await second.acquire("demo:olena") is not None, "a released place is free on every process"
    finally:
        await first.close()
        await second.close()


async def test_a_dead_processs_places_lapse(redis_url: str) -> None:
    prefix = f"nc-test-{uuid.uuid4().hex[:8]}:"
    dead = WebSocketSlots(2, redis_url, prefix=prefix, lease_seconds=1, renew_seconds=0.3)
    alive = WebSocketSlots(2, redis_url, prefix=prefix, lease_seconds=1, renew_seconds=0.3)
    try:
        assert await alive.acquire("demo:anna") is not None
        assert await dead.acquire("demo:anna") is not None
        assert dead._renewer is not None
        dead._renewer.cancel()  # the process died: nobody renews or releases its place
        assert await alive.acquire("demo:anna") is None
        await asyncio.sleep(1.5)  # alive renews its own place meanwhile
        assert await alive.acquire("demo:anna") is not None, "the dead process's place lapsed"
        assert await alive.acquire("demo:anna") is None, "the live process's renewed place did not"
    finally:
        await dead.close()
        await alive.close()


async def test_rate_budgets_are_counted_across_processes(redis_url: str) -> None:
    settings = replace(Settings(), redis_url=redis_url, rate_limit_user="4/minute")
    first, second = RateLimits(settings), RateLimits(settings)
    caller = Principal(user_id=f"u-{uuid.uuid4().hex}", instance_id="demo", role=Role.OPERATOR)
    try:
        for limits in (first, second, first, second):
            await limits.check_principal(caller)
        with pytest.raises(RateLimited) as refused:
            await second.check_principal(caller)
    finally:
        await first.close()
        await second.close()
    assert 1 <= refused.value.extensions["retryAfter"] <= 60
