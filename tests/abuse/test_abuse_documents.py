"""Work before and after authentication is bounded: memory, CPU, cost, and what the logs get."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import websockets

from tests.abuse.conftest import Served


@pytest.fixture(scope="module")
def server(serve) -> Served:
    # Rate limits off: every request here must reach as far into the service as it can get.
    return serve(NC_RATE_LIMIT_USER="off", NC_RATE_LIMIT_ANONYMOUS="off", NC_GRAPHIQL="0")


def _fragment_bomb(levels: int = 12) -> str:
    fragments = ["fragment G0 on Query { unreadCount }"]
    fragments += [f"fragment G{i} on Query {{ ...G{i - 1} ...G{i - 1} ...G{i - 1} }}" for i in range(1, levels + 1)]
    return f"{{ ...G{levels} }}\n" + "\n".join(fragments)


async def _post(
    client: httpx.AsyncClient, server: Served, body: bytes | dict, token: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(f"{server.base}/graphql", content=content, headers=headers)


async def test_unique_large_variables_do_not_grow_memory(server: Served) -> None:
    token = server.token("op-olena")
    pad = ["x" * 60_000] * 17  # ~1 MB of unused variables, in strings under NC_LIMIT_STRING_CHARS
    async with httpx.AsyncClient(timeout=30) as client:
        for i in range(20):  # warm up: allocator arenas, first plans
            await _post(client, server, {"query": "{ unreadCount }", "variables": {"pad": [str(i), *pad]}}, token)
        before = server.rss_mib()
        codes = set()
        for i in range(1000):
            unused = {"query": "{ unreadCount }", "variables": {"pad": [f"{i}-", *pad]}}
            # without a token: refused before the body is parsed
            codes.add((await _post(client, server, unused)).json()["errors"][0]["extensions"]["code"])
            # with one: executed, and the unused variable must not be kept anywhere
            answer = (await _post(client, server, unused, token)).json()
            assert isinstance(answer["data"]["unreadCount"], int)
        after = server.rss_mib()
    assert codes == {"UNAUTHENTICATED"}
    assert after - before < 50, f"RSS grew from {before:.0f} to {after:.0f} MiB"


async def test_a_nested_fragment_document_is_refused_at_once_while_healthz_answers(server: Served) -> None:
    token = server.token("op-olena")
    bomb = _fragment_bomb(12)  # 3^12 = 531,441 fields once expanded, in ~600 bytes
    assert len(bomb) < 1000
    async with httpx.AsyncClient(timeout=10) as client:
        cpu_before = server.cpu_seconds()
        for _ in range(20):
            answer = (await _post(client, server, {"query": bomb}, token)).json()
            assert answer["errors"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"
            assert "531,441" in answer["errors"][0]["message"]
        cpu_per_request = (server.cpu_seconds() - cpu_before) / 20
        # the same over a WebSocket, with /healthz asked at the same time
        async with websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            started = time.monotonic()
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": bomb}}))
            health = await client.get(f"{server.base}/healthz")
            refused = json.loads(await asyncio.wait_for(ws.recv(), 5))
            elapsed = time.monotonic() - started
    assert cpu_per_request < 0.05, f"{cpu_per_request * 1000:.1f} ms of server CPU per refused document"
    assert health.status_code == 200 and elapsed < 1.0
    assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "QUERY_TOO_COSTLY"


async def test_cost_depth_and_document_size_have_their_codes(server: Served) -> None:
    token = server.token("op-olena")
    page = "notifications(first: 100) { edges { node { id title body createdAt readAt } } }"
    aliased = "{ " + " ".join(f"a{i}: {page}" for i in range(30)) + " }"
    too_deep_introspection = "{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } } } } } } } } }"
    async with httpx.AsyncClient(timeout=10) as client:
        costly = (await _post(client, server, {"query": aliased}, token)).json()["errors"][0]
        deep = (await _post(client, server, {"query": too_deep_introspection}, token)).json()["errors"][0]
        commented = (await _post(client, server, {"query": "#" + "c" * 4_000_000 + "\n{ unreadCount }"}, token)).json()
        one_page = (await _post(client, server, {"query": "{ " + page + " }"}, token)).json()
    assert costly["extensions"] == {"code": "QUERY_TOO_COSTLY", "cost": 30 * (1 + 100 * 7), "maxCost": 5000}
    assert deep["extensions"]["code"] == "QUERY_TOO_COSTLY" and deep["extensions"]["maxDepth"] == 16
    assert commented["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "characters; the most is 20,000" in commented["errors"][0]["message"]
    assert "errors" not in one_page


async def test_huge_variable_lists_and_deep_json_are_refused_before_any_work(server: Served) -> None:
    token = server.token("op-olena")
    many_ids = {
        "query": "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { unreadCount } }",
        "variables": {"ids": [str(i) for i in range(300_000)]},
    }
    over_domain_cap = {"query": many_ids["query"], "variables": {"ids": [str(i) for i in range(1_001)]}}
    deep = b'{"query": "{ unreadCount }", "variables": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    async with httpx.AsyncClient(timeout=10) as client:
        cpu_before = server.cpu_seconds()
        huge = (await _post(client, server, many_ids, token)).json()["errors"][0]
        cpu = server.cpu_seconds() - cpu_before
        capped = (await _post(client, server, over_domain_cap, token)).json()["errors"][0]
        nested = await _post(client, server, deep, token)
        nested_shallower = await _post(
            client, server, {"query": "{ unreadCount }", "variables": {"x": json.loads("[" * 40 + "]" * 40)}}, token
        )
        many_lists = {"query": "{ unreadCount }", "variables": {f"v{n}": list(range(5_000)) for n in range(25)}}
        too_many_values = (await _post(client, server, many_lists, token)).json()["errors"][0]
        toggles = {
            "query": "mutation($a: [ChannelToggleInput!]) { updateChannelSettings(input: {channels: $a}) { banner { maxVisible } } }",
            "variables": {"a": [{"kind": "BELL", "enabled": True}] * 33_000},
        }
        cpu_before = server.cpu_seconds()
        objects = (await _post(client, server, toggles, token)).json()["errors"][0]
        objects_cpu = server.cpu_seconds() - cpu_before
    assert huge["extensions"]["code"] == "BAD_USER_INPUT" and "300,000 items; the most is 5,000" in huge["message"]
    assert too_many_values["extensions"]["code"] == "BAD_USER_INPUT"
    assert "more than 100,000 values" in too_many_values["message"]
    assert objects["extensions"]["code"] == "BAD_USER_INPUT" and "33,000 items" in objects["message"]
    assert objects_cpu < 0.1, f"{objects_cpu:.2f} s of server CPU to refuse 33,000 input objects"
    assert cpu < 0.5, f"{cpu:.2f} s of server CPU for a refused 300k-item list"
    assert capped["extensions"]["code"] == "BAD_USER_INPUT" and "at most 1000 items; you sent 1001" in capped["message"]
    assert nested.status_code == 400 and nested.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "nests deeper than the JSON reader goes" in nested.json()["errors"][0]["message"]
    assert nested_shallower.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "deeper than 32 levels" in nested_shallower.json()["errors"][0]["message"]


async def test_client_mistakes_are_one_line_each_and_never_a_traceback(server: Served) -> None:
    token = server.token("op-olena")
    async with httpx.AsyncClient(timeout=10) as client:
        lines_before = len(server.log.read_text().splitlines())
        invalid_utf8 = await _post(client, server, b'{"query": "{ unreadCount \xff\xfe }"}', token)
        by_post = await _post(client, server, {"query": "subscription { bell { __typename } }"}, token)
        not_json = await client.post(
            f"{server.base}/graphql",
            content=b"query=1",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "text/plain"},
        )
        syntax = (await _post(client, server, {"query": "{ unreadCount"}, token)).json()["errors"][0]
        named = await _post(client, server, {"query": "{ unreadCount }", "operationName": "x" * 1_000_000}, token)
        await asyncio.sleep(0.2)
    log = server.log.read_text().splitlines()[lines_before:]
    assert invalid_utf8.status_code == 400
    assert invalid_utf8.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert by_post.status_code == 400 and by_post.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert not_json.status_code == 400 and not_json.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert syntax["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert named.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and len(named.content) < 500
    client_lines = [line for line in log if "client error" in line]
    assert len(client_lines) == 5, log
    assert max(len(line) for line in log) < 1000, "a client's input is never copied into the log at length"
    assert server.tracebacks() == 0


async def test_documents_that_would_stall_validation_or_amplify_are_refused_at_once(server: Served) -> None:
    token = server.token("op-olena")
    fragments = "".join(f" fragment F{i} on Query {{ viewer {{ id }} }}" for i in range(40))
    data_pages = (
        "{ " + " ".join(f"a{i}: notifications(first: 100) {{ edges {{ node {{ data }} }} }}" for i in range(16)) + " }"
    )
    cases = {
        "{" + " unreadCount" * 497 + " }": ("QUERY_TOO_COSTLY", "497 selections; the most is 64"),
        "{" + " viewer { id }" * 497 + " }": ("QUERY_TOO_COSTLY", "again in the same selection set 496 times"),
        "{" + (" notificationCategories { " + (" types { " + " code" * 11 + " }") * 11 + " }") * 11 + " }": (
            "QUERY_TOO_COSTLY",
            "again in the same selection set",
        ),
        "{" + "".join(f" ...F{i}" for i in range(40)) + " }" + fragments: ("QUERY_TOO_COSTLY", "40 fragments"),
        data_pages: ("QUERY_TOO_COSTLY", "costs 28,816"),
        "mutation { a: testChannel(channel: BELL) { status } b: testChannel(channel: BELL) { status } }": (
            "QUERY_TOO_COSTLY",
            "not 2 times",
        ),
    }
    async with httpx.AsyncClient(timeout=10) as client:
        cpu_before = server.cpu_seconds()
        answers = {doc: (await _post(client, server, {"query": doc}, token)).json()["errors"][0] for doc in cases}
        cpu = server.cpu_seconds() - cpu_before
    for doc, (code, text) in cases.items():
        assert answers[doc]["extensions"]["code"] == code, answers[doc]
        assert text in answers[doc]["message"], answers[doc]["message"]
    assert cpu < 0.2, f"{cpu:.2f} s of server CPU to refuse {len(cases)} documents"


async def test_inputs_that_once_were_internal_errors_get_their_codes(server: Served) -> None:
    token = server.token("op-olena")
    huge = "99999999999999999999999"
    http_cases = [
        (b'"hello"', 400, "BAD_USER_INPUT"),
        (b"null", 400, "BAD_USER_INPUT"),
        (b'{"query": "{ unreadCount }", "variables": {"n": ' + b"9" * 5000 + b"}}", 400, "BAD_USER_INPUT"),
        ({"query": 'mutation { markNotificationsRead(ids: ["' + huge + '"]) { unreadCount } }'}, 200, "NOT_FOUND"),
        ({"query": '{ deliveries(notificationId: "' + huge + '") { id } }'}, 200, "NOT_FOUND"),
        ({"query": '{ deliveries(notificationId: "\u0663") { id } }'}, 200, "NOT_FOUND"),
        (
            {"query": '{ notifications(after: "bjo5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OQ") { edges { cursor } } }'},
            200,
            "BAD_USER_INPUT",
        ),
        (
            {"query": "query($s: Boolean!) { unreadCount @include(if: $s) }", "variables": {"s": "yes"}},
            200,
            "BAD_USER_INPUT",
        ),
        ({"query": "query A { unreadCount }", "operationName": "B\nINFO forged line"}, 200, "BAD_USER_INPUT"),
    ]
    async with httpx.AsyncClient(timeout=10) as client:
        for body, status, code in http_cases:
            answer = await _post(client, server, body, token)
            assert (answer.status_code, answer.json()["errors"][0]["extensions"]["code"]) == (status, code), (
                body,
                answer.text,
            )
    ws_messages = [
        {
            "id": "1",
            "type": "subscribe",
            "payload": {"query": "subscription($a: String) { bell(after: $a) { __typename } }", "variables": {"a": 5}},
        },
        {
            "id": "2",
            "type": "subscribe",
            "payload": {
                "query": "subscription($a: String) { bell(after: $a) { __typename } }",
                "variables": {"a": huge},
            },
        },
        {
            "id": "3",
            "type": "subscribe",
            "payload": {"query": "subscription A { bell { __typename } }", "operationName": "B"},
        },
    ]
    async with websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        for message in ws_messages:
            await ws.send(json.dumps(message))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer["type"] == "error" and answer["payload"][0]["extensions"]["code"] == "BAD_USER_INPUT", answer
        await ws.send(json.dumps({"type": "complete", "id": [1]}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, "a malformed message is a protocol error"
    async with websockets.connect(f"ws://{server.host}/graphql", subprotocols=["graphql-ws"]) as legacy:
        await legacy.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
        assert json.loads(await legacy.recv())["type"] == "connection_ack"
        await legacy.send(json.dumps({"type": "stop"}))
        answer = json.loads(await asyncio.wait_for(legacy.recv(), 5))
    assert answer["type"] == "error" and answer["payload"]["extensions"]["code"] == "BAD_USER_INPUT"
    await asyncio.sleep(0.2)
    log = server.log.read_text()
    assert server.tracebacks() == 0 and "Internal server error" not in log
    assert not any(line.startswith("INFO forged line") for line in log.splitlines()), "a client cannot forge log lines"


async def test_documents_that_select_a_field_twice_in_the_usual_ways_are_answered(server: Served) -> None:
    token = server.token("op-olena")
    documents = [
        ("query($full: Boolean!) { viewer { id } ... @include(if: $full) { viewer { email } } }", {"full": True}),
        ("query($s: Boolean!) { viewer { id } viewer @skip(if: $s) { email } }", {"s": False}),
        ("{ notifications { unreadCount } ... on Query { notifications { pageInfo { hasNextPage } } } }", None),
        ("fragment A on Query { viewer { id } } fragment B on Query { viewer { email } } { ...A ...B }", None),
    ]
    async with httpx.AsyncClient(timeout=10) as client:
        for document, variables in documents:
            answer = (await _post(client, server, {"query": document, "variables": variables}, token)).json()
            assert "errors" not in answer, (document, answer)
