"""A local CUSTOM-webhook provider that answers at once: verifies the signature, answers 200.

``GET /stats`` tells the load generator how many deliveries arrived (and when, as epoch seconds)
and a sample of the notification ids they carried, so the load generator can check that their
delivery rows are SENT.

    python -m bench.receiver --port 8300 --secret s
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench.common import raise_nofile


class Receiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.count = 0
        self.bad = 0
        self.first: float | None = None
        self.last: float | None = None
        self.notification_ids: list[str] = []

    async def hook(self, request: Request) -> Response:
        raw = await request.body()
        stamp = request.headers.get("x-nc-timestamp", "")
        expected = "sha256=" + hmac.new(self.secret, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("x-nc-signature", "")):
            self.bad += 1
            return PlainTextResponse("bad signature", status_code=401)
        at = time.time()
        self.first = self.first or at
        self.last = at
        self.count += 1
        self.notification_ids.append(str(json.loads(raw)["notification"]["id"]))
        return Response(status_code=200)

    async def stats(self, request: Request) -> Response:
        ids = self.notification_ids
        sample = sorted(set(ids[:: max(1, len(ids) // 20)] + ids[-5:]))
        return JSONResponse(
            {"count": self.count, "bad": self.bad, "first": self.first, "last": self.last, "sample": sample}
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    raise_nofile()
    receiver = Receiver(args.secret)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/hook", receiver.hook, methods=["POST"]),
            Route("/stats", receiver.stats),
        ]
    )
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
