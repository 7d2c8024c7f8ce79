"""Section 6: SQL statements per request, counted in-process (no server, no network).

The real app (api.app.create_app) on a temporary SQLite file, its lifespan entered, requests sent
through httpx's ASGI transport; statements are counted from tortoise-orm's ``tortoise.db_client``
logger at DEBUG, as tests/conftest.py's SqlCounter does. The runtime's own background queries are
told apart with ``channels.runtime.IN_RUNTIME``: a request's statements exclude them, and the
worker's statements per delivered job are counted from them.

    python -m bench.sqlcount --data-dir /tmp/x      (prints one JSON object)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.common import BELL_PAGE, PUBLISH_EVENT, TYPES_TAB

BULK = (
    "mutation($input: BulkUpdateTypesInput!) { bulkUpdateTypes(input: $input) { "
    "updated { code channels } skipped { typeCode reason } } }"
)


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        from channels.runtime import IN_RUNTIME

        self.in_runtime = IN_RUNTIME
        self.request: list[str] = []
        self.runtime: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(("Created connection", "Closed connection")):
            return
        (self.runtime if self.in_runtime.get() else self.request).append(message)


async def measure(data_dir: Path, recipients: int) -> dict[str, Any]:
    from api.app import create_app
    from core.settings import Limits, Secret, Settings
    from services.auth import TokenCodec

    settings = Settings(
        data_dir=data_dir,
        jwt_secret=Secret("bench-sql-" + uuid.uuid4().hex),
        graphiql=False,
        poll_seconds=0.2,
        limits=Limits(recipients_per_event=10_000, events_per_batch=1_000),
    )
    codec = TokenCodec(settings)
    instance = "sql-bench"
    operator = codec.issue(instance=instance, user="op-00000", role="operator")
    service = codec.issue(instance=instance, user="svc", role="service")
    app = create_app(settings)
    logger = logging.getLogger("tortoise.db_client")
    counter = Counter()
    out: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://nc.bench", timeout=60) as http:

            async def gql(token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
                response = await http.post(
                    "/graphql",
                    json={"query": query, "variables": variables or {}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                body = response.json()
                if body.get("errors"):
                    raise RuntimeError(str(body["errors"])[:500])
                return body["data"]

            async def count(call: Callable[[], Awaitable[Any]]) -> list[str]:
                counter.request.clear()
                await call()
                # What a request leaves for just after its answer (a publishing call's hand-off
                # row, deleted once the call is answered) is its too.
                await asyncio.sleep(0.1)
                return list(counter.request)

            logger.setLevel(logging.DEBUG)
            logger.addHandler(counter)
            try:
                all_rows = {"input": {"action": "SET_CHANNELS", "channels": ["BELL", "BANNER", "SOUND"]}}
                first = await count(lambda: gql(operator, BULK, all_rows))
                again = await count(
                    lambda: gql(operator, BULK, {"input": {"action": "ADD_CHANNELS", "channels": ["BELL"]}})
                )
                out["sql_bulk_update_types_first_statements"] = len(first)
                out["sql_bulk_update_types_statements"] = len(again)
                out["sql_bulk_update_types_statements_text"] = [s[:160] for s in again]

                users = [f"op-{i:05d}" for i in range(recipients)]

                def event(tag: str) -> dict[str, Any]:
                    data = {"ticketNumber": 1, "subject": "SQL count"}
                    return {"input": {"id": tag, "type": "ticket_created", "recipients": users, "data": data}}

                new = await count(lambda: gql(service, PUBLISH_EVENT, event("sql-1")))
                await _drained(app)
                counter.runtime.clear()
                started = time.perf_counter()
                known = await count(lambda: gql(service, PUBLISH_EVENT, event("sql-2")))
                jobs = await _drained(app)
                drain_s = time.perf_counter() - started
                runtime = list(counter.runtime)
                out["sql_publish_event_1000_new_recipients_statements"] = len(new)
                out["sql_publish_event_1000_statements"] = len(known)
                out["sql_publish_event_1000_statements_text"] = [s[:160] for s in known]
                out["sql_worker_jobs"] = jobs
                out["sql_worker_statements"] = len(runtime)
                out["sql_worker_statements_per_job"] = round(len(runtime) / jobs, 2) if jobs else None
                out["sql_worker_drain_s"] = round(drain_s, 3)
                out["sql_worker_statement_kinds"] = _kinds(runtime)

                out["sql_types_tab_statements"] = len(await count(lambda: gql(operator, TYPES_TAB)))
                out["sql_bell_page_statements"] = len(await count(lambda: gql(operator, BELL_PAGE)))
            finally:
                logger.removeHandler(counter)
    return out


async def _drained(app: Any, seconds: float = 120.0) -> int:
    """Wait until no delivery job is QUEUED; returns how many jobs were settled meanwhile."""
    from models.notification import Delivery

    before = await Delivery.filter(status__in=("SENT", "FAILED")).count()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        if not await Delivery.filter(status__in=("QUEUED", "RETRYING")).exists():
            break
        await asyncio.sleep(0.05)
    return await Delivery.filter(status__in=("SENT", "FAILED")).count() - before


def _kinds(statements: list[str]) -> dict[str, int]:
    """How many of each statement shape (its first words), most frequent first."""
    kinds: dict[str, int] = {}
    for s in statements:
        words = " ".join(s.replace("\n", " ").split()[:4])[:60]
        kinds[words] = kinds.get(words, 0) + 1
    return dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:8])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--recipients", type=int, default=1000)
    args = parser.parse_args()
    result = asyncio.run(measure(Path(args.data_dir), args.recipients))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
