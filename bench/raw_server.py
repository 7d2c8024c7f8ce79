"""The fan-out baseline: a plain Starlette WebSocket app, no GraphQL, no database.

Clients speak the same graphql-transport-ws handshake as with the real service (connection_init
with the bearer token, verified with the same secret; connection_ack; one subscribe), so the load
generator runs exactly the same code against both. ``POST /broadcast`` takes what ``publishEvent``
takes (recipients and data) and sends every connected socket of those recipients a ``next``
message shaped like the bell's NotificationAdded, one json.dumps per socket (each recipient has
its own unread count), from a background task: like the service, the POST answers before the
fan-out is done. A body with ``events`` (a list of such recipients-and-data objects) is what
``publishEvents`` takes: the events go out in order.

    python -m bench.raw_server --port 8100
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.common import SECRET_ENV, raise_nofile


class Listener:
    __slots__ = ("ws", "op_id", "unread")

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.op_id: str | None = None
        self.unread = 0


class Hub:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.users: dict[str, set[Listener]] = {}
        self.ids = itertools.count(1)
        self.tasks: set[asyncio.Task[None]] = set()

    def subscriptions(self) -> int:
        return sum(1 for group in self.users.values() for listener in group if listener.op_id is not None)

    async def websocket(self, ws: WebSocket) -> None:
        await ws.accept(subprotocol="graphql-transport-ws")
        listener = Listener(ws)
        user = None
        try:
            init = json.loads(await ws.receive_text())
            token = str((init.get("payload") or {}).get("authorization", "")).removeprefix("Bearer ").strip()
            try:
                claims = jwt.decode(token, self.secret, algorithms=["HS256"])
            except jwt.InvalidTokenError:
                await ws.close(code=4401)
                return
            user = f"{claims['instance']}/{claims['sub']}"
            self.users.setdefault(user, set()).add(listener)
            await ws.send_text('{"type":"connection_ack"}')
            while True:
                message = json.loads(await ws.receive_text())
                kind = message.get("type")
                if kind == "subscribe":
                    listener.op_id = message["id"]
                elif kind == "complete":
                    listener.op_id = None
                elif kind == "ping":
                    await ws.send_text('{"type":"pong"}')
        except WebSocketDisconnect:
            pass
        finally:
            if user is not None:
                group = self.users.get(user)
                if group is not None:
                    group.discard(listener)
                    if not group:
                        del self.users[user]

    async def broadcast(self, request: Request) -> Response:
        body = await request.json()
        instance = body.get("instance", "")
        events = body["events"] if "events" in body else [body]
        task = asyncio.create_task(self._fan_out_all(instance, events))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return JSONResponse({"accepted": sum(len(e["recipients"]) for e in events)}, status_code=202)

    async def _fan_out_all(self, instance: str, events: list[dict[str, Any]]) -> None:
        for event in events:
            await self._fan_out(instance, event["recipients"], event.get("data") or {})

    async def _fan_out(self, instance: str, recipients: list[str], data: dict[str, Any]) -> None:
        title = f"New ticket #{data.get('ticketNumber', 0)}"
        for recipient in dict.fromkeys(recipients):
            for listener in tuple(self.users.get(f"{instance}/{recipient}", ())):
                if listener.op_id is None:
                    continue
                listener.unread += 1
                message = {
                    "id": listener.op_id,
                    "type": "next",
                    "payload": {
                        "data": {
                            "bell": {
                                "__typename": "NotificationAdded",
                                "unreadCount": listener.unread,
                                "notification": {
                                    "id": str(next(self.ids)),
                                    "typeCode": "ticket_created",
                                    "title": title,
                                    "data": data,
                                },
                            }
                        }
                    },
                }
                try:
                    await listener.ws.send_text(json.dumps(message))
                except Exception:  # noqa: BLE001 - a socket that went away is skipped
                    continue


def create_app(secret: str) -> Starlette:
    hub = Hub(secret)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def stats(request: Request) -> Response:
        return JSONResponse({"subscriptions": hub.subscriptions()})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/stats", stats),
            Route("/broadcast", hub.broadcast, methods=["POST"]),
            WebSocketRoute("/graphql", hub.websocket),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    # The same uvicorn settings as `notification-center serve` (uvloop, httptools, websockets) —
    # permessage-deflate off, as the service's default (NC_WS_PER_MESSAGE_DEFLATE=0) has it:
    # uvicorn's own default would make the baseline compress every message and ours not.
    uvicorn.run(
        create_app(os.environ[SECRET_ENV]),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ws_per_message_deflate=False,
    )


if __name__ == "__main__":
    main()
