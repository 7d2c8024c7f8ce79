"""JSON log lines carry request, event and delivery ids."""

from __future__ import annotations

import io
import json
import logging

from core.logs import DELIVERY_ID, EVENT_ID, REQUEST_ID, JsonFormatter
from tests.conftest import Tenant


def test_a_json_line_carries_the_ids_in_context() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("nc.test.logs")
    log.addHandler(handler)
    log.propagate = False
    tokens = [REQUEST_ID.set("req-1"), EVENT_ID.set("evt-9"), DELIVERY_ID.set(42)]
    try:
        log.warning("delivered %s", "ok")
    finally:
        for var, token in zip((REQUEST_ID, EVENT_ID, DELIVERY_ID), tokens, strict=True):
            var.reset(token)
        log.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "delivered ok" and line["level"] == "WARNING"
    assert (line["request_id"], line["event_id"], line["delivery_id"]) == ("req-1", "evt-9", 42)


async def test_responses_carry_the_request_id(http, tenant: Tenant) -> None:
    caller = tenant.operator()
    given = await http.post(
        "/graphql",
        json={"query": "{ unreadCount }"},
        headers={"Authorization": f"Bearer {caller.token}", "X-Request-ID": "abc123"},
    )
    assert given.headers["x-request-id"] == "abc123"
    fresh = await http.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32
