"""The npm graphql-ws client, run by node, receives bell items from the served app."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import Tenant

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"


@pytest.fixture(scope="session")
def node_client() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the npm graphql-ws client test needs Node.js")
    if not (NODE_DIR / "node_modules" / "graphql-ws").exists():
        pytest.fail("run `npm ci --prefix tests/node` first (make test does)")
    return NODE_DIR / "bell.mjs"


async def test_the_npm_graphql_ws_client_gets_bell_items(live_server: str, tenant: Tenant, node_client: Path) -> None:
    alice = tenant.operator("alice")
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(node_client),
        f"ws://{live_server}/graphql",
        alice.token,
        "2",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        connected = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        assert connected == {"connected": True}
        await asyncio.sleep(0.3)  # the subscribe message follows the ack
        for i in range(2):
            await tenant.service().gql(
                PUBLISH,
                {
                    "input": {
                        "id": f"node-{i}",
                        "type": "ticket_created",
                        "recipients": ["alice"],
                        "data": {"ticketNumber": i},
                    }
                },
            )
        lines = [json.loads(await asyncio.wait_for(proc.stdout.readline(), 10)) for _ in range(2)]
        assert await asyncio.wait_for(proc.wait(), 10) == 0, (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert [line["data"]["bell"]["unreadCount"] for line in lines] == [1, 2]
    assert lines[0]["data"]["bell"]["notification"]["title"] == "New ticket #0"
