"""The queries baseline: a hand-written JSON endpoint with no GraphQL and no database.

It answers the same two documents as the service (the whole types tab, the first bell page) with
the same JSON, built per request from plain Python dicts held in memory, as a REST endpoint over
a cache would: parse the request body, verify the bearer token (same secret, HS256), group the
type rows into their categories or page the notification rows and count the unread ones, encode
cursors, json.dumps. The rows come from a store file the runner writes from the real API's
answers once at start (``--store``), so both sides serve identical documents.

    python -m bench.plain_server --port 8200 --store store.json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench.common import SECRET_ENV, raise_nofile

TYPE_FIELDS = (
    "code",
    "title",
    "description",
    "availability",
    "mandatory",
    "mandatoryChannels",
    "selectableChannels",
    "channels",
    "melody",
    "editable",
)
NODE_FIELDS = ("id", "typeCode", "title", "body", "createdAt", "readAt")
PAGE_SIZE = 20


def _cursor(notification_id: str) -> str:
    return base64.urlsafe_b64encode(f"n:{notification_id}".encode()).decode().rstrip("=")


class Store:
    def __init__(self, data: dict[str, Any], secret: str) -> None:
        self.categories: list[dict[str, Any]] = data["categories"]
        self.types: list[dict[str, Any]] = data["types"]
        # Newest first, as an index on (operator, id desc) would hand them over.
        self.notifications: list[dict[str, Any]] = sorted(
            data["notifications"], key=lambda r: int(r["id"]), reverse=True
        )
        self.secret = secret

    async def _caller(self, request: Request) -> tuple[dict[str, Any], dict[str, Any]] | Response:
        body = await request.json()
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        try:
            claims = jwt.decode(token, self.secret, algorithms=["HS256"])
        except jwt.InvalidTokenError:
            return JSONResponse({"errors": [{"message": "bad token"}]}, status_code=401)
        return body, claims

    async def types_tab(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        by_category: dict[str, list[dict[str, Any]]] = {}
        for row in self.types:
            by_category.setdefault(row["categoryCode"], []).append({k: row[k] for k in TYPE_FIELDS})
        categories = [
            {"code": c["code"], "title": c["title"], "types": by_category.get(c["code"], [])} for c in self.categories
        ]
        return Response(json.dumps({"data": {"notificationCategories": categories}}), media_type="application/json")

    async def bell_page(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        rows = self.notifications
        unread = sum(1 for r in rows if r["readAt"] is None)
        page = rows[: PAGE_SIZE + 1]
        edges = [{"cursor": _cursor(r["id"]), "node": {k: r[k] for k in NODE_FIELDS}} for r in page[:PAGE_SIZE]]
        result = {
            "notifications": {
                "edges": edges,
                "pageInfo": {
                    "hasNextPage": len(page) > PAGE_SIZE,
                    "endCursor": edges[-1]["cursor"] if edges else None,
                },
                "unreadCount": unread,
            }
        }
        return Response(json.dumps({"data": result}), media_type="application/json")


def create_app(store: Store) -> Starlette:
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/plain/types", store.types_tab, methods=["POST"]),
            Route("/plain/bell", store.bell_page, methods=["POST"]),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True)
    args = parser.parse_args()
    raise_nofile()
    with open(args.store) as fh:
        store = Store(json.load(fh), os.environ[SECRET_ENV])
    uvicorn.run(create_app(store), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
