"""Rate limits per token and per address, and the production posture (no introspection, /metrics)."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.abuse.conftest import Served

METRICS_TOKEN = "scrape-me-" + "x" * 20


@pytest.fixture(scope="module")
def server(serve) -> Served:
    return serve(
        # per minute, so a slow machine cannot let a window roll over in the middle of a burst
        NC_RATE_LIMIT_USER="5/minute",
        NC_RATE_LIMIT_SERVICE="50/second",
        NC_RATE_LIMIT_ANONYMOUS="3/minute",
        NC_GRAPHIQL="0",
        NC_METRICS_TOKEN=METRICS_TOKEN,
    )


async def _clear_of_a_minute_boundary(margin: float = 5.0) -> None:
    into = time.time() % 60
    if into > 60 - margin:
        await asyncio.sleep(60 - into + 0.5)


async def _burst(client: httpx.AsyncClient, server: Served, token: str | None, count: int) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return [
        await client.post(f"{server.base}/graphql", json={"query": "{ unreadCount }"}, headers=headers)
        for _ in range(count)
    ]


def _code(response: httpx.Response) -> str | None:
    errors = response.json().get("errors")
    return errors[0]["extensions"]["code"] if errors else None


async def test_a_token_over_its_budget_gets_rate_limited_with_retry_after(server: Served) -> None:
    # The sliding-window counter weighs the previous minute by what is left of it: a burst that
    # straddles a minute's start may pass a sixth request. Start the burst clear of one.
    await _clear_of_a_minute_boundary()
    async with httpx.AsyncClient(timeout=5) as client:
        burst = await _burst(client, server, server.token("op-olena"), 8)
        others = await _burst(client, server, server.token("op-taras"), 3)
        service = [
            await client.post(
                f"{server.base}/graphql",
                json={
                    "query": 'mutation { publishEvent(input: {id: "x", type: "ticket_created", recipients: []}) { duplicate } }'
                },
                headers={"Authorization": f"Bearer {server.token('svc-platform', 'service')}"},
            )
            for _ in range(20)
        ]
    assert [_code(r) for r in burst[:5]] == [None] * 5
    refused = burst[5:]
    assert all(r.status_code == 429 and _code(r) == "RATE_LIMITED" for r in refused)
    assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in refused)
    assert refused[0].json()["errors"][0]["extensions"]["retryAfter"] == int(refused[0].headers["Retry-After"])
    assert [_code(r) for r in others] == [None] * 3, "one user's budget is theirs alone"
    assert all(r.status_code == 200 for r in service), "a publishing service has its own, higher budget"


async def test_users_whose_ids_joined_read_alike_have_budgets_of_their_own(server: Served) -> None:
    # given instance "demo"'s user "b/c", who spent their budget (the limiter joined a key's parts with "/")
    await _clear_of_a_minute_boundary()
    async with httpx.AsyncClient(timeout=5) as client:
        spent = await _burst(client, server, server.token("b/c"), 6)
        # when instance "demo/b"'s user "c" asks
        other = await _burst(client, server, server.token("c", instance="demo/b"), 1)
    # then only the first is limited
    assert [_code(r) for r in spent] == [None] * 5 + ["RATE_LIMITED"]
    assert [_code(r) for r in other] == [None]


async def test_operations_over_a_websocket_count_against_the_same_budget(server: Served) -> None:
    await _clear_of_a_minute_boundary()  # per-minute budgets: see the first test
    token = server.token("op-anna")
    async with websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for i in range(8):
            await ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": {"query": "{ unreadCount }"}}))
        answers: dict[str, list[str]] = {}
        while sum(1 for v in answers.values() if "complete" in v or "error" in v) < 8:
            message = json.loads(await asyncio.wait_for(ws.recv(), 5))
            answers.setdefault(message["id"], []).append(message["type"])
            if message["type"] == "error":
                assert message["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
    refused = [i for i, kinds in answers.items() if "error" in kinds]
    assert len(refused) == 4, "the connection took one of the 5 a minute, four operations the rest"


async def test_opening_connections_counts_against_the_budget_and_message_floods_are_cut(server: Served) -> None:
    await _clear_of_a_minute_boundary()  # per-minute budgets: see the first test
    token = server.token("op-bohdan")
    codes = []
    for _ in range(7):
        async with websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            try:
                assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
                codes.append(1000)
            except websockets.ConnectionClosed as closed:
                codes.append(closed.rcvd.code)
    assert codes[:5] == [1000] * 5 and codes[5:] == [1013, 1013], "1013: try again later (clients back off)"
    # pings are messages too: a flood closes the socket (NC_LIMIT_WEBSOCKET_MESSAGES_PER_SECOND, 20)
    async with websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(200):
                await ws.send('{"type": "ping"}')
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 4429


async def test_failed_websocket_tokens_spend_the_address_budget_but_valid_ones_still_connect(server: Served) -> None:
    await _clear_of_a_minute_boundary()  # per-minute budgets: see the first test
    url = f"ws://{server.host}/graphql"

    async def attempt(token: str) -> int:  # 127.0.0.3 is an address of its own (a NAT shared by operators)
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], local_addr=("127.0.0.3", 0)) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            try:
                return 1000 if json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack" else 0
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code

    forged = [await attempt("forged") for _ in range(5)]  # NC_RATE_LIMIT_ANONYMOUS is 3 a minute here
    colleague = await attempt(server.token("op-nat"))
    assert forged == [4401, 4401, 4401, 1013, 1013], "past the budget a bad token is told to back off"
    assert colleague == 1000, "another operator behind the same address keeps her bell"


async def test_legacy_protocol_runs_subscriptions_only(server: Served) -> None:
    token = server.token("op-lev")
    async with websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "q", "type": "start", "payload": {"query": "{ unreadCount }"}}))
        answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert answer["type"] == "error" and answer["payload"]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "subscriptions only" in answer["payload"]["message"]
    assert server.tracebacks() == 0


async def test_requests_without_a_valid_token_are_limited_per_address(server: Served) -> None:
    await _clear_of_a_minute_boundary()  # per-minute budgets: see the first test
    async with httpx.AsyncClient(timeout=5) as client:
        anonymous = [
            # a client naming its own address does not get a budget of its own (no proxy is trusted)
            await client.post(
                f"{server.base}/graphql",
                json={"query": "{ unreadCount }"},
                headers={"X-Forwarded-For": f"203.0.113.{i}"},
            )
            for i in range(3)
        ]
        forged = await _burst(client, server, "not.a.token", 1)
        valid = await _burst(client, server, server.token("op-iryna"), 1)
    assert [_code(r) for r in anonymous] == ["UNAUTHENTICATED"] * 3
    assert forged[0].status_code == 429 and _code(forged[0]) == "RATE_LIMITED" and "Retry-After" in forged[0].headers
    assert _code(valid[0]) is None, "a valid token is not held back by the address's anonymous budget"


async def test_introspection_and_suggestions_are_off_with_graphiql_off(server: Served) -> None:
    async with httpx.AsyncClient(timeout=5) as client:

        async def ask(user: str, query: str) -> dict:
            headers = {"Authorization": f"Bearer {server.token(user)}"}
            return (await client.post(f"{server.base}/graphql", json={"query": query}, headers=headers)).json()

        schema = await ask("op-a", "{ __schema { types { name } } }")
        typo = await ask("op-b", "{ unreadCont }")
        page = await client.get(f"{server.base}/graphql", headers={"Accept": "text/html"})
    assert schema["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in schema["errors"][0]["message"].lower()
    assert typo["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "Did you mean" not in typo["errors"][0]["message"] and "unreadCount" not in typo["errors"][0]["message"]
    assert page.status_code == 404


async def test_metrics_need_their_token(server: Served) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        anonymous = await client.get(f"{server.base}/metrics")
        wrong = await client.get(f"{server.base}/metrics", headers={"Authorization": "Bearer nope"})
        scraped = await client.get(f"{server.base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert scraped.status_code == 200 and 'nc_requests_refused_total{reason="rate_limited"}' in scraped.text
