"""The real command: `notification-center serve` in a subprocess, its tokens, HTTP and WebSocket."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.cluster import CLI
from tests.served import start_demo_serve


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    demo = start_demo_serve(tmp_path_factory.mktemp("served"), NC_ALLOWED_ORIGINS="https://panel.example.com")
    try:
        yield {"base": demo.base, "env": demo.env, "port": demo.port, "log": demo.log_path}
    finally:
        demo.stop()


def cli_token(served: dict, *args: str) -> str:
    out = subprocess.run([*CLI, "token", *args], env=served["env"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_demo_prints_tokens_and_a_printed_token_answers(served: dict) -> None:
    printed = served["log"].read_text()
    assert "GraphiQL: http://127.0.0.1:" in printed
    line = next(row for row in printed.splitlines() if " op-olena " in row)
    token = line.split()[-1]
    response = httpx.post(
        f"{served['base']}/graphql",
        json={"query": "{ notificationTypes { code channels editable } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    rows = response.json()["data"]["notificationTypes"]
    assert rows[0] == {"code": "ticket_created", "channels": ["BELL", "BANNER"], "editable": True}


def test_the_token_command_and_serve_share_the_embedded_secret(served: dict) -> None:
    token = cli_token(served, "--instance", "demo", "--user", "op-taras", "--role", "operator", "--locale", "uk")
    response = httpx.post(
        f"{served['base']}/graphql",
        json={"query": "{ viewer { id locale displayName } }"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.json()["data"]["viewer"] == {"id": "op-taras", "locale": "uk", "displayName": "Taras Melnyk"}


def test_graphiql_is_served_to_browsers(served: dict) -> None:
    page = httpx.get(f"{served['base']}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_websocket_without_a_token_is_closed_with_4401(served: dict) -> None:
    url = f"ws://127.0.0.1:{served['port']}/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4401


async def test_websocket_with_a_bad_token_is_closed_with_4401_on_legacy_protocol_too(served: dict) -> None:
    url = f"ws://127.0.0.1:{served['port']}/graphql"
    async with websockets.connect(url, subprotocols=["graphql-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer nope"}}))
        error = json.loads(await ws.recv())
        assert error["type"] == "connection_error"
        assert error["payload"]["extensions"]["code"] == "UNAUTHENTICATED"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4401


async def test_websocket_service_tokens_are_forbidden_and_operators_are_acknowledged(served: dict) -> None:
    url = f"ws://127.0.0.1:{served['port']}/graphql"
    service = cli_token(served, "--instance", "demo", "--user", "svc", "--role", "service")
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {service}"}}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4403
    operator = cli_token(served, "--instance", "demo", "--user", "op-olena", "--role", "operator")
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin="https://panel.example.com") as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {operator}"}}))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}


async def test_websocket_from_a_foreign_origin_is_refused(served: dict) -> None:
    url = f"ws://127.0.0.1:{served['port']}/graphql"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin="https://evil.example.net"):
            pass


def test_export_schema_prints_the_checked_in_schema() -> None:
    out = subprocess.run([*CLI, "export-schema"], capture_output=True, text=True, check=True)
    assert out.stdout == (Path(__file__).resolve().parent.parent / "schema.graphql").read_text()
