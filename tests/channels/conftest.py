"""What the channel tests share: runtimes of their own, with settings of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest

from channels.deps import ChannelDeps, http_client
from channels.registry import build_channels
from channels.runtime import Runtime


@pytest.fixture
async def worker(app: Any) -> AsyncIterator[Callable[..., Runtime]]:
    """Makes runtimes with their own concurrency and settings while the app's workers are stopped."""
    services = app.state.services
    await app.state.runtime.stop()
    http = http_client(allow_private=services.settings.allow_http_endpoints)
    made: list[Runtime] = []

    def make(concurrency: int = 2, **settings: Any) -> Runtime:
        tuned = replace(services.settings, **settings)
        deps = ChannelDeps(settings=tuned, secret_box=services.secret_box, http=http)
        runtime = Runtime(tuned, services.broker, build_channels(services.broker, deps), concurrency=concurrency)
        made.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in made:
            await runtime.stop(grace_seconds=5)
        await http.aclose()
        await app.state.runtime.start()
