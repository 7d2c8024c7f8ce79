"""testChannel: one delivery through one channel, now, returned once final."""

from __future__ import annotations

import asyncio
import time

from core.broker import user_topic
from domain import live
from tests.conftest import Tenant
from tests.fakes.webhook_receiver import webhook_receiver

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


async def test_a_test_right_after_a_settings_change_reaches_the_new_address(tenant: Tenant) -> None:
    # given CUSTOM pointed at one receiver, and a test through it (the worker now has it cached)
    configure = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
      botChannels { channel } } }"""
    admin, alice = tenant.admin(), tenant.operator("alice")

    def custom(url: str) -> dict[str, object]:
        bot = {"channel": "CUSTOM", "enabled": True, "settings": {"url": url}, "secret": "whsec-1"}
        return {"input": {"botChannels": [bot]}}

    async with webhook_receiver("whsec-1") as old, webhook_receiver("whsec-1") as new:
        assert not (await admin.gql(configure, custom(old.url))).errors
        first = (await alice.gql(TEST, {"c": "CUSTOM"})).data["testChannel"]
        assert first["status"] == "SENT" and len(old.requests) == 1

        # when the administrator points it at another receiver and the operator tests at once
        assert not (await admin.gql(configure, custom(new.url))).errors
        second = (await alice.gql(TEST, {"c": "CUSTOM"})).data["testChannel"]

    # then the test went to the new address, not to the one cached a moment ago
    assert second["status"] == "SENT"
    assert (len(old.requests), len(new.requests)) == (1, 1)


async def test_a_change_announced_by_another_process_is_forgotten_at_once() -> None:
    # given a worker's bot cache listening on the broker, holding an instance's config
    from core.broker import InProcessBroker
    from domain.bots import BOTS_TOPIC, BotCache, BotConfig
    from models.enums import ChannelKind

    broker, cache = InProcessBroker(), BotCache(ttl_seconds=3600)
    cache._entries[("i-1", ChannelKind.CUSTOM)] = (time.monotonic(), BotConfig(ChannelKind.CUSTOM, {"url": "x"}, "s"))
    cache._entries[("i-2", ChannelKind.CUSTOM)] = (time.monotonic(), None)
    listener = asyncio.create_task(cache.listen_for_changes(broker))
    await asyncio.sleep(0.01)

    # when another process announces a change to instance i-1
    await broker.publish(BOTS_TOPIC, {"instance": "i-1"})
    await asyncio.sleep(0.01)
    listener.cancel()

    # then i-1 is read again on next use, i-2 is kept
    assert set(cache._entries) == {("i-2", ChannelKind.CUSTOM)}
