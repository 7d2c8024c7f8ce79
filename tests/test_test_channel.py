"""testChannel: one delivery through one channel, now, returned once final."""

from __future__ import annotations

import asyncio

from channels.broker import user_topic
from domain import live
from tests.conftest import Tenant

TEST = "mutation($c: ChannelKind!) { testChannel(channel: $c) { channel status attempts lastError notificationId } }"


async def test_a_banner_test_shows_a_toast_and_reports_sent(app, tenant: Tenant) -> None:
    alice = tenant.operator("alice", locale="uk")
    broker = app.state.services.broker
    async with broker.subscribe(user_topic(tenant.id, "alice", live.TOASTS)) as toasts:
        result = await alice.gql(TEST, {"c": "BANNER"})
        toast = await asyncio.wait_for(toasts.queue.get(), 5)
    assert result.data["testChannel"] == {
        "channel": "BANNER",
        "status": "SENT",
        "attempts": 1,
        "lastError": None,
        "notificationId": None,
    }
    assert toast["notification"]["title"] == "Тестове сповіщення" and toast["durationSeconds"] == 8


async def test_testing_the_bell_or_an_unoffered_channel_says_what_to_do(tenant: Tenant) -> None:
    alice = tenant.operator()
    bell = await alice.gql(TEST, {"c": "BELL"})
    assert bell.error_code == "BAD_USER_INPUT" and "needs no test" in bell.error_message
    telegram = await alice.gql(TEST, {"c": "TELEGRAM"})
    assert telegram.error_code == "BAD_USER_INPUT" and "not offered" in telegram.error_message


async def test_a_test_shows_on_the_channels_tab(tenant: Tenant) -> None:
    alice = tenant.operator()
    await alice.gql(TEST, {"c": "SOUND"})
    rows = (await alice.gql("{ channelSettings { channels { kind status lastTestAt lastError } } }")).data
    sound = {r["kind"]: r for r in rows["channelSettings"]["channels"]}["SOUND"]
    assert sound["status"] == "READY" and sound["lastError"] is None
