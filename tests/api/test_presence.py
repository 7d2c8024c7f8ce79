"""Presence through the served app: live bell and toasts subscriptions open the operator's panel,
the page's activity signal (reportPanelActivity) and the idle time decide whether they are active,
and at scale every API process sees the same presence through Redis."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from core.settings import Secret, Settings
from services.auth import TokenCodec
from tests.cluster import IN_CI, Cluster
from tests.conftest import Caller, Tenant
from tests.polling import eventually
from tests.served import DemoServe, start_demo_serve
from tests.wsclient import GraphQLWS

BELL = "subscription { bell { __typename } }"
TOASTS = "subscription { toasts { durationSeconds } }"
PRESENCE = "{ panelPresence { panelOpen active lastActivityAt } }"
REPORT = "mutation($active: Boolean!) { reportPanelActivity(active: $active) { panelOpen active lastActivityAt } }"
REPORT_TAB = """mutation($active: Boolean!, $tab: String) {
  reportPanelActivity(active: $active, tab: $tab) { panelOpen active lastActivityAt } }"""


async def presence_of(caller: Caller) -> dict[str, Any]:
    return (await caller.gql(PRESENCE)).data["panelPresence"]


async def until_open(caller: Caller, is_open: bool = True) -> dict[str, Any]:
    """The presence once panelOpen is ``is_open`` (a subscription opens its panel as it starts)."""
    return await eventually(lambda: presence_of(caller), lambda p: p["panelOpen"] is is_open)


async def test_an_open_bell_makes_the_operator_active_until_it_closes(live_server: str, tenant: Tenant) -> None:
    alice, bob = tenant.operator("alice"), tenant.operator("bob")
    # given alice without a panel
    assert await presence_of(alice) == {"panelOpen": False, "active": False, "lastActivityAt": None}
    async with GraphQLWS(live_server, alice.token) as tab:
        # when she opens the bell
        await tab.subscribe(BELL)
        # then she is present and active (opening counts as activity), and bob is not
        opened = await until_open(alice)
        assert opened["active"] is True and opened["lastActivityAt"] is not None
        assert (await presence_of(bob))["panelOpen"] is False
    # when the tab closes, she is not present any more
    closed = await until_open(alice, False)
    assert closed["active"] is False
    assert closed["lastActivityAt"] == opened["lastActivityAt"]


async def test_a_hidden_page_makes_the_operator_inactive_until_the_next_activity(
    live_server: str, tenant: Tenant
) -> None:
    alice = tenant.operator("alice")
    async with GraphQLWS(live_server, alice.token) as tab:
        await tab.subscribe(TOASTS)
        await until_open(alice)
        # when the page goes hidden
        hidden = (await alice.gql(REPORT, {"active": False})).data["reportPanelActivity"]
        # then she is inactive at once, with the panel still open
        assert (hidden["panelOpen"], hidden["active"]) == (True, False)
        assert (await presence_of(alice))["active"] is False
        # when she uses the page again
        back = (await alice.gql("mutation { reportPanelActivity { active lastActivityAt } }")).data
        # then she is active again
        assert back["reportPanelActivity"]["active"] is True
        assert back["reportPanelActivity"]["lastActivityAt"] >= hidden["lastActivityAt"]


async def test_closing_one_tab_keeps_the_operator_present_while_another_is_open(
    live_server: str, tenant: Tenant
) -> None:
    alice = tenant.operator("alice")
    # given two tabs: the bell over graphql-transport-ws (the compiled path), banners over the
    # legacy graphql-ws protocol (GraphQL execution)
    async with GraphQLWS(live_server, alice.token, protocol="graphql-ws") as legacy:
        await legacy.subscribe(TOASTS)
        async with GraphQLWS(live_server, alice.token) as tab:
            await tab.subscribe(BELL)
            await until_open(alice)
        # when the first tab closes, then she is still present
        await asyncio.sleep(0.3)
        still = await presence_of(alice)
        assert (still["panelOpen"], still["active"]) == (True, True)
    # when the last one closes too, then she is not
    await until_open(alice, False)


async def report(caller: Caller, active: bool, tab: str) -> dict[str, Any]:
    return (await caller.gql(REPORT_TAB, {"active": active, "tab": tab})).data["reportPanelActivity"]


async def test_a_hidden_tab_does_not_make_the_operator_away_while_another_tab_is_in_use(
    live_server: str, tenant: Tenant
) -> None:
    alice = tenant.operator("alice")
    # given alice's tab A open, and hidden
    async with GraphQLWS(live_server, alice.token, params={"tab": "tab-a"}) as a:
        await a.subscribe(BELL)
        await until_open(alice)
        assert (await report(alice, False, "tab-a"))["active"] is False
        # when she opens a second tab B (a page loaded), she is active
        async with GraphQLWS(live_server, alice.token, protocol="graphql-ws", params={"tab": "tab-b"}) as b:
            await b.subscribe(TOASTS)
            await eventually(lambda: presence_of(alice), lambda p: p["active"])
            # when B goes hidden too, she is not
            both = await report(alice, False, "tab-b")
            assert (both["panelOpen"], both["active"]) == (True, False)
            # when she uses A again with B hidden, she is active
            assert (await report(alice, True, "tab-a"))["active"] is True
            assert (await presence_of(alice))["active"] is True
            # and when A goes hidden and B is back in view, too
            assert (await report(alice, False, "tab-a"))["active"] is False
            assert (await report(alice, True, "tab-b"))["active"] is True
        # when tab B closes, only the hidden A is left: she is away
        left = await eventually(lambda: presence_of(alice), lambda p: not p["active"])
        assert left["panelOpen"] is True


async def test_a_hidden_tab_whose_websocket_reconnects_stays_away(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    # given alice's tab open, then hidden
    async with GraphQLWS(live_server, alice.token, params={"tab": "t1"}) as tab:
        await tab.subscribe(BELL)
        await until_open(alice)
        hidden = await report(alice, False, "t1")
        assert (hidden["panelOpen"], hidden["active"]) == (True, False)
    await until_open(alice, False)
    # when its WebSocket reconnects (a deploy, a network blip) and subscribes again
    async with GraphQLWS(live_server, alice.token, params={"tab": "t1"}) as again:
        await again.subscribe(BELL)
        await again.subscribe(TOASTS)
        reopened = await until_open(alice)
        # then she is still away, with no new activity
        assert reopened["active"] is False
        assert reopened["lastActivityAt"] == hidden["lastActivityAt"]
        # while a page loaded anew (a tab never seen) is activity
        async with GraphQLWS(live_server, alice.token, params={"tab": "t2"}) as fresh:
            await fresh.subscribe(BELL)
            await eventually(lambda: presence_of(alice), lambda p: p["active"])


async def test_a_client_without_a_tab_id_that_reconnects_hidden_stays_away(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    async with GraphQLWS(live_server, alice.token) as tab:
        await tab.subscribe(BELL)
        await until_open(alice)
        await alice.gql(REPORT, {"active": False})
    await until_open(alice, False)
    async with GraphQLWS(live_server, alice.token) as again:
        await again.subscribe(BELL)
        assert (await until_open(alice))["active"] is False


async def test_a_tab_id_that_is_not_one_is_refused(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    for wrong in ("a tab", "x" * 65, "tab/1"):
        refused = await alice.gql(REPORT_TAB, {"active": True, "tab": wrong})
        assert refused.error_code == "BAD_USER_INPUT"
        assert "tab must be" in refused.error_message and "64 characters" in refused.error_message
    assert (await report(alice, True, "x" * 64))["panelOpen"] is False
    # and on a WebSocket: closed with 4400 (no retry), the reason saying what to change
    async with websockets.connect(f"ws://{live_server}/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        payload = {"authorization": f"Bearer {alice.token}", "tab": 12}
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert closed.value.rcvd.reason.startswith("tab must be")


async def test_activity_reported_without_an_open_panel_is_not_presence(tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    reported = (await alice.gql(REPORT, {"active": True})).data["reportPanelActivity"]
    assert (reported["panelOpen"], reported["active"]) == (False, False)
    assert reported["lastActivityAt"] is not None


async def test_presence_is_a_signed_in_users_own(tenant: Tenant, http: httpx.AsyncClient) -> None:
    assert (await tenant.service().gql(PRESENCE)).error_code == "FORBIDDEN"
    assert (await tenant.service().gql(REPORT, {"active": True})).error_code == "FORBIDDEN"
    anonymous = await http.post("/graphql", json={"query": PRESENCE})
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# -- with short presence settings, in a `serve` process of their own ------------------------------


async def gql(base: str, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]


async def served_presence(base: str, token: str) -> dict[str, Any]:
    return (await gql(base, token, PRESENCE))["panelPresence"]


async def start(data_dir: Path, **settings: str) -> DemoServe:
    return await asyncio.to_thread(lambda: start_demo_serve(data_dir, **settings))


#: A panel lapses 1.5 s after its last refresh (every 0.5 s); an operator idle for 2 s is inactive.
SHORT = {"NC_PRESENCE_TTL_SECONDS": "1.5", "NC_PRESENCE_IDLE_SECONDS": "2"}


async def test_an_operator_idle_longer_than_the_idle_time_is_inactive_with_the_panel_still_open(
    tmp_path: Path,
) -> None:
    secret = secrets.token_urlsafe(40)
    alice = TokenCodec(Settings(jwt_secret=Secret(secret))).issue(instance="idle", user="alice", role="operator")
    served = await start(tmp_path, NC_JWT_SECRET=secret, **SHORT)
    try:
        host = served.base.removeprefix("http://")
        async with GraphQLWS(host, alice) as tab:
            await tab.subscribe(BELL)
            opened = await eventually(lambda: served_presence(served.base, alice), lambda p: p["panelOpen"])
            assert opened["active"] is True
            # when she does nothing for longer than the idle time (and the TTL: the open
            # subscription keeps refreshing her panel)
            await asyncio.sleep(2.5)
            # then the panel is open but she is not active
            idle = await served_presence(served.base, alice)
            assert (idle["panelOpen"], idle["active"]) == (True, False)
            # and her next activity makes her active again
            report = await gql(served.base, alice, REPORT, {"active": True})
            assert report["reportPanelActivity"]["active"] is True
    finally:
        await asyncio.to_thread(served.stop)


# -- two API processes on one Redis ---------------------------------------------------------------------


@pytest.fixture
async def redis_cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A private redis-server for API processes of this test (skipped, failed under CI=true,
    when redis-server is missing)."""
    if shutil.which("redis-server") is None:
        if IN_CI:
            pytest.fail("redis-server is not installed; under CI=true this test must run")
        pytest.skip("redis-server is not installed: this test starts a private Redis")
    cluster = Cluster(tmp_path)
    await cluster.start_redis()
    try:
        yield cluster
    finally:
        cluster.kill_redis()


@pytest.mark.scaled
async def test_presence_crosses_api_processes_and_a_killed_process_leaves_nobody_present(
    tmp_path: Path, redis_cluster: Cluster
) -> None:
    secret = secrets.token_urlsafe(40)
    alice = TokenCodec(Settings(jwt_secret=Secret(secret))).issue(instance="scaled", user="alice", role="operator")
    settings = {"NC_JWT_SECRET": secret, "NC_REDIS_URL": f"redis://127.0.0.1:{redis_cluster.redis_port}/0", **SHORT}
    (tmp_path / "one").mkdir()
    (tmp_path / "other").mkdir()
    one = await start(tmp_path / "one", **settings)
    other = await start(tmp_path / "other", **settings)
    try:
        host = one.base.removeprefix("http://")
        # given alice's tab served by one process
        async with GraphQLWS(host, alice, params={"tab": "t1"}) as tab:
            await tab.subscribe(BELL)
            # then the other process sees her present and active
            seen = await eventually(lambda: served_presence(other.base, alice), lambda p: p["panelOpen"])
            assert seen["active"] is True
            # and a hidden page reported to the other process is seen by the first
            await gql(other.base, alice, REPORT_TAB, {"active": False, "tab": "t1"})
            assert (await served_presence(one.base, alice))["active"] is False
        # when the tab reconnects to the other process, it is still hidden
        async with GraphQLWS(other.base.removeprefix("http://"), alice, params={"tab": "t1"}) as moved:
            await moved.subscribe(BELL)
            moved_seen = await eventually(lambda: served_presence(one.base, alice), lambda p: p["panelOpen"])
            assert moved_seen["active"] is False
        # when the tab closes, the other process sees it at once
        closed = await eventually(lambda: served_presence(other.base, alice), lambda p: not p["panelOpen"])
        assert closed["panelOpen"] is False

        # given a tab open on the first process again
        async with GraphQLWS(host, alice) as tab:
            await tab.subscribe(BELL)
            await eventually(lambda: served_presence(other.base, alice), lambda p: p["panelOpen"])
            # when that process is killed, with no chance to close the connection
            one.proc.kill()
            await asyncio.to_thread(one.proc.wait)
            # then alice is still seen present for at most the TTL, and not after it
            assert (await served_presence(other.base, alice))["panelOpen"] is True
            lapsed = await eventually(
                lambda: served_presence(other.base, alice), lambda p: not p["panelOpen"], seconds=3
            )
            assert (lapsed["panelOpen"], lapsed["active"]) == (False, False)
    finally:
        await asyncio.to_thread(one.stop)
        await asyncio.to_thread(other.stop)
