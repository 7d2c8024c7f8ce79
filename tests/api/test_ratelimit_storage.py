"""The embedded rate limiter's counters: expired on read, swept out every few seconds, not per hit."""

from __future__ import annotations

import asyncio

from api.ratelimit import SweptMemoryStorage


async def test_a_window_expires_on_read_and_one_sweep_serves_many_hits() -> None:
    storage = SweptMemoryStorage()
    # given a thousand callers' counters
    assert await storage.incr("caller-0", expiry=0.2) == 1
    first_sweep = storage.timer
    for i in range(1, 1000):
        await storage.incr(f"caller-{i}", expiry=0.2)
    # then the hits started no sweep after the first (the library would start one per hit)
    assert first_sweep is not None and storage.timer is first_sweep
    assert await storage.get("caller-0") == 1
    # when the window has passed, a caller's count is gone on its next read
    await asyncio.sleep(0.25)
    assert await storage.get("caller-0") == 0
    assert await storage.incr("caller-0", expiry=0.2) == 1
