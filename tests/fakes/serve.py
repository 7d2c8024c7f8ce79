"""Serving an ASGI app on 127.0.0.1 inside the test's event loop (the fakes and the live server)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn


@asynccontextmanager
async def serve_asgi(app: Any, **config: Any) -> AsyncIterator[str]:
    """Yields the base URL (http://127.0.0.1:<free port>); stops the server on exit."""
    async with serve_uvicorn(app, **config) as (base_url, _):
        yield base_url


@asynccontextmanager
async def serve_uvicorn(app: Any, **config: Any) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """Yields the base URL and the running server (its ``server_state.connections`` are the
    open connections' protocols); stops the server on exit."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = {"lifespan": "off", "log_level": "warning", **config}
    server = uvicorn.Server(uvicorn.Config(app, **options))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped the server from starting
            raise RuntimeError("the local server did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server
    finally:
        server.should_exit = True
        await task
        sock.close()
