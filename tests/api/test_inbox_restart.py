"""A snooze outlives the process: `notification-center serve` stopped while an item is snoozed and
started again on the same data brings the item back, unread, with a banner in the open tabs."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from core.settings import Secret, Settings
from services.auth import TokenCodec
from tests.api.test_inbox import BELL, TOASTS
from tests.conftest import DATABASE_URL
from tests.served import DemoServe, start_demo_serve
from tests.wsclient import GraphQLWS

#: Long enough for the process to stop and start again before it ends (~2-3 s on a busy machine).
SNOOZE_SECONDS = 6


@pytest.fixture
async def served_settings(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The served process's settings: an embedded SQLite file in its data dir, or, in the
    PostgreSQL pass, a database of its own on the same server (dropped afterwards)."""
    settings = {"NC_JWT_SECRET": secrets.token_urlsafe(40), "NC_POLL_SECONDS": "0.1"}
    if not DATABASE_URL:
        yield settings
        return
    name = f"nc_restart_{uuid.uuid4().hex[:10]}"
    admin_url = DATABASE_URL.replace("postgres://", "postgresql://", 1)
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield {**settings, "NC_DATABASE_URL": f"{DATABASE_URL.rsplit('/', 1)[0]}/{name}"}
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


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


async def start(data_dir: Path, settings: dict[str, str]) -> DemoServe:
    """`serve --demo`; on PostgreSQL with ``--with-workers`` (a scaled API process runs no schedules
    unless asked), so the process restarted is the one that brings the item back."""
    args = ("--with-workers",) if "NC_DATABASE_URL" in settings else ()
    return await asyncio.to_thread(lambda: start_demo_serve(data_dir, args=args, **settings))


async def test_a_snooze_survives_a_restart_and_returns_the_item_with_a_banner(
    tmp_path: Path, served_settings: dict[str, str]
) -> None:
    codec = TokenCodec(Settings(jwt_secret=Secret(served_settings["NC_JWT_SECRET"])))
    alice = codec.issue(instance="restart", user="alice", role="operator")
    service = codec.issue(instance="restart", user="producer", role="service")
    served = await start(tmp_path, served_settings)
    try:
        # given an item alice snoozed
        await gql(
            served.base,
            service,
            "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }",
            {"input": {"id": "r1", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 5}}},
        )
        first = await gql(served.base, alice, "{ notifications { edges { node { id } } } unreadCount }")
        [edge] = first["notifications"]["edges"]
        item = edge["node"]["id"]
        until = datetime.now(UTC) + timedelta(seconds=SNOOZE_SECONDS)
        snoozed = await gql(
            served.base,
            alice,
            "mutation($ids: [ID!]!, $until: DateTime!) { snoozeNotifications(ids: $ids, until: $until) { unreadCount } }",
            {"ids": [item], "until": until.isoformat()},
        )
        assert snoozed["snoozeNotifications"]["unreadCount"] == 0
    finally:
        # when the process stops while it is snoozed
        await asyncio.to_thread(served.stop)
    served = await start(tmp_path, served_settings)
    try:
        host = served.base.removeprefix("http://")
        assert time.time() < until.timestamp() - 0.5, "the restart took longer than the snooze"
        still = await gql(served.base, alice, "{ notifications { edges { node { id } } } unreadCount }")
        assert still == {"notifications": {"edges": []}, "unreadCount": 0}
        async with GraphQLWS(host, alice) as tab, GraphQLWS(host, alice) as banners:
            await tab.subscribe(BELL)
            await banners.subscribe(TOASTS)
            # then the started process brings it back when its time comes: live, unread, with a banner
            event = (await tab.next(timeout=SNOOZE_SECONDS + 5))["bell"]
            assert event["__typename"] == "NotificationsReturned" and event["unreadCount"] == 1
            assert [n["id"] for n in event["notifications"]] == [item]
            toast = (await banners.next(timeout=5))["toasts"]
            assert toast["notification"]["id"] == item and toast["notification"]["readAt"] is None
            assert datetime.now(UTC) >= until
        after = await gql(served.base, alice, "{ notifications { edges { node { id readAt } } } unreadCount }")
        assert after == {"notifications": {"edges": [{"node": {"id": item, "readAt": None}}]}, "unreadCount": 1}
    finally:
        await asyncio.to_thread(served.stop)
