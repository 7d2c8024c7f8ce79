"""A publish and an unlink at the same moment (PostgreSQL: concurrent transactions): the chat a
queued delivery carries is never one the operator has unlinked."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import domain.events
from tests.channel_support import publish
from tests.channels.test_channel_telegram import UNLINK, bot_api, linked_operator  # noqa: F401 - a fixture
from tests.conftest import Tenant
from tests.fakes.telegram_bot_api import FakeBotApi

pytestmark = pytest.mark.postgres_only  # concurrent transactions: run in the PostgreSQL pass


async def test_an_unlink_during_a_publish_skips_its_telegram_delivery(
    http: httpx.AsyncClient,
    tenant: Tenant,
    bot_api: FakeBotApi,  # noqa: F811 - the fixture
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given olena with Telegram linked, and a ticket being published to her whose transaction has
    # read her links and not yet committed
    operator = await linked_operator(http, tenant, bot_api)
    read, go = asyncio.Event(), asyncio.Event()
    original = domain.events.recipient_prefs

    async def held_after_reading(*args, **kwargs):
        answer = await original(*args, **kwargs)
        read.set()
        await go.wait()
        return answer

    monkeypatch.setattr(domain.events, "recipient_prefs", held_after_reading)
    publishing = asyncio.create_task(publish(tenant, "t-race", "olena"))
    await asyncio.wait_for(read.wait(), 10)
    # when she unlinks Telegram meanwhile (her unlink waits for the publish to commit)
    unlinking = asyncio.create_task(operator.gql(UNLINK))
    await asyncio.sleep(0.3)
    go.set()
    await publishing
    unlinked = (await unlinking).data["unlinkChannel"]
    # then the channel is unlinked, the ticket's Telegram delivery is skipped, and the chat gets nothing
    assert unlinked["status"] == "NOT_LINKED"
    await asyncio.sleep(1.5)  # the worker's polls
    assert bot_api.sent("555001") == []
