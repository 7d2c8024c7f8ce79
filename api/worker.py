"""`notification-center worker`: the delivery workers and schedulers, without the API."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

from channels.deps import ChannelDeps, http_client
from channels.registry import build_channels
from channels.runtime import Runtime
from core.broker import build_broker
from core.presence import build_presence
from core.settings import Settings
from domain.keys import SecretBox
from models.db import close_db, init_db

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, concurrency: int) -> None:
    """Run until SIGTERM or SIGINT. Whatever start-up step fails, what the steps before it opened
    is closed again (the database's threads would keep the process from exiting)."""
    settings = settings.with_jwt_secret()
    assert settings.jwt_secret is not None
    async with AsyncExitStack() as opened:
        await init_db(settings, run_migrations=settings.embedded)
        opened.push_async_callback(close_db)
        broker = build_broker(settings.redis_url)
        opened.push_async_callback(broker.close)
        http = http_client(allow_private=settings.allow_http_endpoints)
        opened.push_async_callback(http.aclose)
        deps = ChannelDeps(settings=settings, secret_box=SecretBox(settings.jwt_secret.reveal()), http=http)
        # WHEN_AWAY deliveries ask, when due, whether their operator is at an active panel (Redis at scale).
        presence = build_presence(settings)
        opened.push_async_callback(presence.close)
        runtime = Runtime(settings, broker, build_channels(broker, deps), concurrency=concurrency, presence=presence)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # An administrator's bot channel change, announced by an API process: forget it at once.
        bots_listener = asyncio.create_task(deps.bots.listen_for_changes(broker), name="nc-bots-listener")
        opened.push_async_callback(_cancelled, bots_listener)
        opened.push_async_callback(runtime.stop)
        await runtime.start()
        log.info("worker %s started (concurrency %d)", runtime.worker_id, concurrency)
        await stop.wait()
        log.info("worker %s stopping: finishing the jobs in hand", runtime.worker_id)


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
