"""The one "poll until it holds" helper: workers run beside the tests, so results arrive a moment later."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def eventually(
    read: Callable[[], Awaitable[T]],
    done: Callable[[T], Any] = bool,
    *,
    seconds: float = 5.0,
    every: float = 0.05,
) -> T:
    """Call ``read()`` until ``done(value)`` is true or ``seconds`` have passed; return the last value
    either way, so the test's own assertion shows what was there instead of a bare timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await read()
        if done(value) or loop.time() > deadline:
            return value
        await asyncio.sleep(every)


async def until(predicate: Callable[[], Awaitable[Any]], *, seconds: float = 5.0, every: float = 0.05) -> None:
    """Wait until ``predicate()`` is true; fail the test when it is not within ``seconds``."""
    assert await eventually(predicate, seconds=seconds, every=every), f"condition not met within {seconds:g} s"
