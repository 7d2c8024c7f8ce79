"""A small graphql-transport-ws client over the `websockets` package, for the live tests."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import websockets


class GraphQLWS:
    def __init__(
        self,
        host: str,
        token: str | None,
        protocol: str = "graphql-transport-ws",
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """``params``: more connectionParams beside the token (a panel's ``tab``, say);
        ``headers``: more handshake headers (an X-Request-ID, say)."""
        self.url = f"ws://{host}/graphql"
        self.token = token
        self.protocol = protocol
        self.params = params or {}
        self.headers = headers or {}
        self._ids = itertools.count(1)
        self.ws: Any = None

    async def __aenter__(self) -> GraphQLWS:
        self.ws = await websockets.connect(
            self.url, subprotocols=[self.protocol], additional_headers=self.headers or None
        )
        payload = {"authorization": f"Bearer {self.token}"} if self.token else {}
        payload.update(self.params)
        await self.ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        ack = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        assert ack["type"] == "connection_ack", ack
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def subscribe(self, query: str) -> str:
        op_id = str(next(self._ids))
        start = "subscribe" if self.protocol == "graphql-transport-ws" else "start"
        await self.ws.send(json.dumps({"id": op_id, "type": start, "payload": {"query": query}}))
        return op_id

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next operation result's data (errors fail the test)."""
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if message["type"] in ("next", "data"):
                payload = message["payload"]
                assert not payload.get("errors"), payload["errors"]
                return payload["data"]
            if message["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            if message["type"] == "ka":
                continue
            raise AssertionError(f"unexpected message {message}")

    async def nothing_for(self, seconds: float) -> None:
        try:
            message = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return
        raise AssertionError(f"expected nothing, got {message}")
