"""TELEGRAM end to end: linking through the real webhook, delivery to a local Bot API server.

Everything goes through the public surfaces: GraphQL for the panel, the administrator and the
producing service, POST /webhooks/telegram/{instance} for Telegram's updates, and the fake Bot API
(tests/fakes/telegram_bot_api.py) for what the workers send.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from tortoise.timezone import now

from channels.base import GiveUp, RetryLater
from channels.http_client import Answer
from channels.telegram import outcome_of
from domain.policy import load_policy
from models.enums import ChannelKind
from models.instance import BotChannelConfig
from models.operator import ChannelLink
from tests.channel_support import CONFIGURE, PUBLISH, SETTINGS, channel_row, latest_delivery, publish
from tests.conftest import Caller, Tenant
from tests.fakes.telegram_bot_api import FakeBotApi, serve_bot_api
from tests.polling import eventually

WEBHOOK_SECRET = "s3cret"
START_LINK = "mutation { startChannelLink(channel: TELEGRAM) { channel code url expiresAt } }"
UNLINK = "mutation { unlinkChannel(channel: TELEGRAM) { kind status target lastError } }"
TEST_SEND = "mutation { testChannel(channel: TELEGRAM) { channel status attempts lastError } }"
BOTS = "{ instanceSettings { botChannels { channel enabled settings hasSecret hasWebhookSecretToken } } }"
SAVE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
  botChannels { channel enabled settings hasSecret hasWebhookSecretToken } } }"""
SET_CHANNELS = 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, TELEGRAM]) { code } }'


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    # A token of its own per test, so a leak check cannot match another test's token.
    async with serve_bot_api(f"123:TOKEN{uuid.uuid4().hex}") as api:
        yield api


async def configure(tenant: Tenant, api: FakeBotApi, **settings: Any) -> dict[str, Any]:
    values = {"botUsername": "acme_bot", "apiBaseUrl": api.base_url, "webhookSecretToken": WEBHOOK_SECRET}
    values.update(settings)
    bot = {"channel": "TELEGRAM", "enabled": True, "settings": {k: v for k, v in values.items() if v}}
    result = await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [{**bot, "secret": api.token}]}})
    return result.body


async def webhook(http: httpx.AsyncClient, tenant: Tenant, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return await http.post(f"/webhooks/telegram/{tenant.id}", json=update, headers=headers)


def start_update(text: str, chat_id: int = 555001, username: str | None = "olena_k", **chat: Any) -> dict[str, Any]:
    sender = {"id": chat_id, "is_bot": False, "first_name": "Olena", "language_code": "en"}
    if username:
        sender["username"] = username
    return {
        "update_id": 1000,
        "message": {
            "message_id": 1,
            "date": 0,
            "from": sender,
            "chat": {"id": chat_id, "type": "private", "first_name": "Olena", **chat},
            "text": text,
        },
    }


async def link(http: httpx.AsyncClient, tenant: Tenant, operator: Caller, chat_id: int = 555001) -> None:
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    response = await webhook(http, tenant, start_update(f"/start {code}", chat_id))
    assert response.status_code == 200 and response.json()["text"].startswith("Linked")


async def linked_operator(http: httpx.AsyncClient, tenant: Tenant, api: FakeBotApi, user: str = "olena") -> Caller:
    assert "errors" not in await configure(tenant, api)
    operator = tenant.operator(user)
    await link(http, tenant, operator)
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    return operator


async def test_an_operator_links_telegram_and_notifications_reach_the_chat(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    # given an instance whose administrator configured the Telegram bot
    configured = await configure(tenant, bot_api)
    bodies.append(str(configured))
    assert configured["data"]["updateInstanceSettings"]["botChannels"][0]["hasSecret"] is True
    operator = tenant.operator("olena")

    # when the operator starts linking
    started = await operator.gql(START_LINK)
    bodies.append(str(started.body))
    link_start = started.data["startChannelLink"]
    code = link_start["code"]
    # then the panel gets the bot's deep link, and the channel waits for the code
    assert link_start["url"] == f"https://t.me/acme_bot?start={code}"
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "PENDING"

    # when someone who does not know the webhook secret posts the code
    for secret in (None, "wrong", ""):
        refused = await webhook(http, tenant, start_update(f"/start {code}"), secret=secret)
        # then it is refused and nothing is linked
        assert refused.status_code == 403
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "PENDING"

    # when Telegram delivers the user's "/start <code>"
    answer = await webhook(http, tenant, start_update(f"/start {code}"))
    # then the bot answers in the chat through the webhook response, and the channel is ready
    assert answer.status_code == 200
    assert answer.json() == {"method": "sendMessage", "chat_id": 555001, "text": answer.json()["text"]}
    assert answer.json()["text"].startswith("Linked")
    row = await channel_row(operator, "TELEGRAM")
    assert (row["status"], row["target"], row["lastError"]) == ("READY", "@olena_k", None)

    # when the operator wants tickets on Telegram and a ticket is created
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    assert (await publish(tenant, "t-1", "olena"))["deliveriesQueued"] == 2
    # then the bot sent the rendered notification to the linked chat
    sent = await bot_api.wait_for(1)
    assert len(sent) == 1
    assert sent[0]["chat_id"] == "555001" and sent[0]["disable_web_page_preview"] is True
    assert sent[0]["text"].splitlines() == ["New ticket #42", "Printer on fire", "http://127.0.0.1:8000/tickets/42"]
    delivery = await latest_delivery(channel="TELEGRAM", operator=operator)
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 1, None)

    # then the bot token shows nowhere: not in GraphQL answers, not in any log line
    admin_view = await tenant.admin().gql("{ instanceSettings { botChannels { channel settings hasSecret } } }")
    bodies += [str(admin_view.body), str((await operator.gql(SETTINGS)).body), str(delivery)]
    secret_part = bot_api.token.split(":", 1)[1]
    assert all(secret_part not in body for body in bodies)
    assert caplog.records, "nothing was logged at DEBUG: the check would prove nothing"
    assert "sendMessage" not in caplog.text  # no request line: the HTTP client (aiohttp) logs no URL
    assert secret_part not in caplog.text


async def test_a_429_with_retry_after_is_honoured_then_the_message_is_sent(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a linked operator, and a Bot API that asks to slow down once
    operator = await linked_operator(http, tenant, bot_api)
    bot_api.fail_next(429, "Too Many Requests: retry after 1", retry_after=1)
    # when a ticket is created
    await publish(tenant, "t-429", "olena")
    # then the worker waits the second Telegram asked for, and the retry gets through
    delivery = await latest_delivery(channel="TELEGRAM", operator=operator)
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 2, None)
    first, second = [r for r in bot_api.requests if r.method == "sendMessage"]
    assert second.at - first.at >= 0.9
    assert first.body == second.body


async def test_a_server_error_is_retried(http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi) -> None:
    # given a linked operator, and a Bot API failing twice
    operator = await linked_operator(http, tenant, bot_api)
    bot_api.fail_next(500, "Internal Server Error")
    bot_api.fail_next(502, "Bad Gateway")
    # when a ticket is created
    await publish(tenant, "t-5xx", "olena")
    # then the third attempt delivers it
    delivery = await latest_delivery(channel="TELEGRAM", operator=operator)
    assert (delivery["status"], delivery["attempts"]) == ("SENT", 3)
    assert len(bot_api.sent("555001")) == 3


async def test_a_blocked_bot_fails_the_delivery_and_shows_on_the_channels_tab(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a linked operator who then blocked the bot
    operator = await linked_operator(http, tenant, bot_api)
    bot_api.fail_next(403, "Forbidden: bot was blocked by the user")
    # when a ticket is created
    await publish(tenant, "t-403", "olena")
    # then the delivery fails at once (retrying cannot help) with Telegram's reason
    delivery = await latest_delivery(channel="TELEGRAM", operator=operator)
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert delivery["lastError"] == "Telegram: the operator blocked the bot (HTTP 403): they must link Telegram again"
    # and the Channels tab says the channel is in error, and why
    row = await channel_row(operator, "TELEGRAM")
    assert row["status"] == "ERROR" and "blocked the bot" in row["lastError"]

    # when the operator unblocks the bot and tests the channel
    tested = (await operator.gql(TEST_SEND)).data["testChannel"]
    # then the test message gets through and the error is gone
    assert (tested["status"], tested["lastError"]) == ("SENT", None)
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "READY"


async def test_test_channel_sends_a_test_message_and_unlinking_stops_delivery(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a linked operator
    operator = await linked_operator(http, tenant, bot_api)
    # when they test the channel
    tested = (await operator.gql(TEST_SEND)).data["testChannel"]
    # then the test message reached their chat
    assert tested == {"channel": "TELEGRAM", "status": "SENT", "attempts": 1, "lastError": None}
    assert bot_api.sent("555001")[0]["text"].startswith("Test notification\nIf you can read this, Telegram")

    # when they unlink Telegram
    unlinked = (await operator.gql(UNLINK)).data["unlinkChannel"]
    # then the channel is no longer linked, and a test cannot reach anybody
    assert (unlinked["status"], unlinked["target"]) == ("NOT_LINKED", None)
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "NOT_LINKED"
    failed = (await operator.gql(TEST_SEND)).data["testChannel"]
    assert failed["status"] == "FAILED" and failed["lastError"].startswith("not linked")
    assert len(bot_api.sent()) == 1


async def waiting_for_a_retry(tenant: Tenant, operator: Caller, bot_api: FakeBotApi, event_id: str) -> None:
    """Publish a ticket whose first try Telegram answers with "retry after 2 s", and return once
    the delivery waits for its second try."""
    bot_api.fail_next(429, "Too Many Requests: retry after 2", retry_after=2)
    await publish(tenant, event_id, "olena")
    await eventually(
        lambda: latest_delivery(operator, "TELEGRAM", final=False), lambda row: row["status"] == "RETRYING"
    )


async def test_a_queued_message_goes_to_the_chat_linked_last(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a linked operator whose ticket waits for a retry
    operator = await linked_operator(http, tenant, bot_api)
    await waiting_for_a_retry(tenant, operator, bot_api, "t-relink")
    # when they link Telegram to another chat meanwhile
    await link(http, tenant, operator, chat_id=555002)
    # then the retry goes to the new chat (the first try, answered 429, went to the old one)
    delivery = await latest_delivery(operator, "TELEGRAM")
    assert (delivery["status"], delivery["attempts"]) == ("SENT", 2)
    assert [m["chat_id"] for m in bot_api.sent()] == ["555001", "555002"]


async def test_unlinking_skips_the_messages_not_yet_sent(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a linked operator whose ticket waits for a retry
    operator = await linked_operator(http, tenant, bot_api)
    await waiting_for_a_retry(tenant, operator, bot_api, "t-unlink")
    # when they unlink Telegram meanwhile
    assert "errors" not in (await operator.gql(UNLINK)).body
    # then the delivery is skipped with the reason, and the chat never gets it
    delivery = await latest_delivery(operator, "TELEGRAM", final=False)
    assert delivery["status"] == "SKIPPED"
    assert delivery["lastError"] == "not linked: the channel was unlinked before it was sent"
    await asyncio.sleep(2.5)  # past the retry Telegram asked for
    assert [m["chat_id"] for m in bot_api.sent()] == ["555001"]  # the try answered 429 only


async def test_unknown_used_and_expired_codes_link_nobody(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a pending link
    await configure(tenant, bot_api)
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]

    # when a code nobody issued arrives
    unknown = await webhook(http, tenant, start_update("/start NoSuchCode123"))
    # then the user is told to start again, and nothing is linked
    assert unknown.status_code == 200
    assert "not valid" in unknown.json()["text"] and "again" in unknown.json()["text"]
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "PENDING"

    # when the code arrives after its 15 minutes
    await ChannelLink.filter(code=code).update(code_expires_at=now() - timedelta(seconds=1))
    expired = await webhook(http, tenant, start_update(f"/start {code}"))
    # then it links nobody either
    assert "not valid" in expired.json()["text"]
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "NOT_LINKED"

    # when a fresh code is used twice (Telegram redelivering the update)
    fresh = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    assert fresh != code
    first = await webhook(http, tenant, start_update(f"/start {fresh}"))
    again = await webhook(http, tenant, start_update(f"/start {fresh}", chat_id=999))
    # then only the first links, to its chat
    assert first.json()["text"].startswith("Linked") and "not valid" in again.json()["text"]
    assert (await channel_row(operator, "TELEGRAM"))["target"] == "@olena_k"
    assert (await ChannelLink.get(operator__user_id="olena", operator__instance_id=tenant.id)).target == "555001"


async def test_other_updates_are_acknowledged_and_ignored(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a pending link
    await configure(tenant, bot_api)
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    group = start_update(f"/start {code}", chat_id=-100777)
    group["message"]["chat"]["type"] = "group"
    for update in (
        start_update("hello"),
        {"update_id": 7, "edited_message": start_update(f"/start {code}")["message"]},
        {"update_id": 8, "my_chat_member": {"chat": {"id": 1}}},
        group,  # a group's members would all read the operator's notifications
    ):
        # when Telegram sends an update that is not a private "/start <code>"
        response = await webhook(http, tenant, update)
        # then it is acknowledged with nothing to do
        assert (response.status_code, response.json()) == (200, {})
    # and a bare /start gets a hint rather than silence
    bare = await webhook(http, tenant, start_update("/start"))
    assert "Channels tab" in bare.json()["text"]
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "PENDING"


async def test_a_user_without_a_username_is_shown_by_first_name(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a pending link
    await configure(tenant, bot_api)
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    # when a user without a Telegram username sends the code
    await webhook(http, tenant, start_update(f"/start {code}", username=None))
    # then the Channels tab names them by their first name
    assert (await channel_row(operator, "TELEGRAM"))["target"] == "Olena"


async def test_the_webhook_refuses_everything_when_no_secret_token_is_configured(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, new_tenant: Any
) -> None:
    # given an instance whose Telegram bot has no webhookSecretToken, and one with no bot at all
    await configure(tenant, bot_api, webhookSecretToken=None)
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    for target, secret in ((tenant, ""), (tenant, WEBHOOK_SECRET), (tenant, None), (new_tenant(), WEBHOOK_SECRET)):
        # when anything is posted to its webhook
        response = await webhook(http, target, start_update(f"/start {code}"), secret=secret)
        # then it is refused: nobody can tell Telegram from anyone else
        assert response.status_code == 403
    assert (await channel_row(operator, "TELEGRAM"))["status"] == "PENDING"


async def stored_row(tenant: Tenant) -> BotChannelConfig:
    return await BotChannelConfig.get(instance_id=tenant.id, channel="TELEGRAM")


async def save_settings(tenant: Tenant, settings: dict[str, Any] | None) -> dict[str, Any]:
    """The administrator saves the TELEGRAM bot with these settings (None: settings left out)."""
    bot: dict[str, Any] = {"channel": "TELEGRAM", "enabled": True}
    if settings is not None:
        bot["settings"] = settings
    return (await tenant.admin().gql(SAVE, {"input": {"botChannels": [bot]}})).body


async def test_the_webhook_secret_token_is_write_only_yet_authenticates_the_webhook(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = f"hook-{uuid.uuid4().hex}"
    # given an administrator who sets the webhook secret token in the bot's settings
    configured = await configure(tenant, bot_api, webhookSecretToken=token)
    # when an administrator reads the bot channels
    read = await tenant.admin().gql(BOTS)
    # then the settings do not hold the token, a flag says it is set
    [bot] = read.data["instanceSettings"]["botChannels"]
    assert bot["settings"] == {"botUsername": "acme_bot", "apiBaseUrl": bot_api.base_url}
    assert (bot["hasSecret"], bot["hasWebhookSecretToken"]) == (True, True)
    # and it is stored sealed, apart from the settings
    row = await stored_row(tenant)
    assert "webhookSecretToken" not in row.settings
    assert row.webhook_secret_sealed and token not in row.webhook_secret_sealed

    # when Telegram posts an update, with the token and without it
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    refused = await webhook(http, tenant, start_update(f"/start {code}"), secret=WEBHOOK_SECRET)
    answer = await webhook(http, tenant, start_update(f"/start {code}"), secret=token)
    # then only the sealed token opens the webhook
    assert refused.status_code == 403
    assert answer.status_code == 200 and answer.json()["text"].startswith("Linked")
    # and the token is in no answer and no log line (not even the SQL debug log: it is sealed)
    assert token not in json.dumps([configured, read.body, answer.json()])
    assert caplog.records and token not in caplog.text


async def test_leaving_the_webhook_secret_token_out_keeps_it_and_null_clears_it(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a Telegram bot with a webhook secret token
    token = f"hook-{uuid.uuid4().hex}"
    await configure(tenant, bot_api, webhookSecretToken=token)
    [bot] = (await tenant.admin().gql(BOTS)).data["instanceSettings"]["botChannels"]

    # when the administrator saves back the settings they read (which never hold the token), then
    # saves with the settings left out
    for settings in ({**bot["settings"], "botUsername": "other_bot"}, None):
        saved = await save_settings(tenant, settings)
        # then the token is kept: Telegram still gets in
        assert saved["data"]["updateInstanceSettings"]["botChannels"][0]["hasWebhookSecretToken"] is True
        assert (await webhook(http, tenant, start_update("/start"), secret=token)).status_code == 200

    # when the administrator sets webhookSecretToken to null
    cleared = await save_settings(tenant, {**bot["settings"], "webhookSecretToken": None})
    # then it is gone, and the webhook refuses everything
    assert cleared["data"]["updateInstanceSettings"]["botChannels"][0]["hasWebhookSecretToken"] is False
    assert (await stored_row(tenant)).webhook_secret_sealed is None
    assert (await webhook(http, tenant, start_update("/start"), secret=token)).status_code == 403


async def test_a_webhook_secret_token_telegram_would_refuse_is_bad_input(tenant: Tenant, bot_api: FakeBotApi) -> None:
    for bad in ("has spaces", "x" * 257, 42):
        # when an administrator sets a token Telegram's setWebhook does not take
        result = await tenant.admin().gql(
            SAVE,
            {
                "input": {
                    "botChannels": [
                        {
                            "channel": "TELEGRAM",
                            "enabled": True,
                            "settings": {"botUsername": "acme_bot", "webhookSecretToken": bad},
                            "secret": bot_api.token,
                        }
                    ]
                }
            },
        )
        # then it is refused, saying what to send, and nothing is written
        assert result.error_code == "BAD_USER_INPUT"
        assert "webhookSecretToken must be 1-256 characters" in result.error_message
        assert await BotChannelConfig.get_or_none(instance_id=tenant.id, channel="TELEGRAM") is None


async def test_a_legacy_plain_webhook_secret_token_is_honoured_hidden_and_sealed_on_the_next_save(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a row written before tokens were sealed: the token in plain settings
    legacy = f"legacy-{uuid.uuid4().hex}"
    await configure(tenant, bot_api, webhookSecretToken=None)
    row = await stored_row(tenant)
    await BotChannelConfig.filter(id=row.id).update(
        settings={**row.settings, "webhookSecretToken": legacy}, webhook_secret_sealed=None
    )
    # then Telegram still gets in with it
    assert (await webhook(http, tenant, start_update("/start"), secret=legacy)).status_code == 200
    # and it is never returned, while the policy knows it is set
    bot = (await load_policy(tenant.id)).bot_channels[ChannelKind.TELEGRAM]
    assert "webhookSecretToken" not in bot.settings and bot.has_webhook_secret_token
    read = await tenant.admin().gql(BOTS)
    assert legacy not in json.dumps(read.body)

    # when the administrator saves the bot again, with the settings they read
    saved = await save_settings(tenant, read.data["instanceSettings"]["botChannels"][0]["settings"])
    # then the token moved to the sealed column, and still opens the webhook
    row = await stored_row(tenant)
    assert "webhookSecretToken" not in row.settings
    assert row.webhook_secret_sealed and legacy not in row.webhook_secret_sealed
    assert saved["data"]["updateInstanceSettings"]["botChannels"][0]["hasWebhookSecretToken"] is True
    assert legacy not in json.dumps(saved)
    assert (await webhook(http, tenant, start_update("/start"), secret=legacy)).status_code == 200


async def test_a_telegram_answer_echoing_the_bot_token_never_shows_it(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token, encoded = bot_api.token, quote(bot_api.token, safe="")
    # given a linked operator, and a Bot API that quotes the request, token and all, as it is and URL-encoded
    operator = await linked_operator(http, tenant, bot_api)
    bot_api.fail_next(400, f"Bad Request: wrong URL /bot{token}/sendMessage?token={encoded}")
    # when a ticket is created
    await publish(tenant, "t-echo", "olena")
    # then the delivery fails in the service's words (Telegram's description only in the log, redacted)
    delivery = await latest_delivery(channel="TELEGRAM", operator=operator)
    assert delivery["status"] == "FAILED"
    assert (
        delivery["lastError"] == "Telegram refused the message (HTTP 400): not retried; the log has Telegram's reason"
    )
    assert "wrong URL /bot***/sendMessage?token=***" in caplog.text

    # when a proxy answers a test with an HTML page quoting the URL-encoded token
    bot_api.fail_raw(400, f"<html><body><h1>400 Bad Request</h1><p>POST /bot{encoded}/sendMessage</p></body></html>")
    tested = (await operator.gql(TEST_SEND)).data["testChannel"]
    # then the reason is the service's own, without the page
    assert (
        tested["lastError"] == "Telegram refused the request (HTTP 400): not retried; check the Telegram bot settings"
    )

    # and no form of the token is in any answer or log line, while the redacted page was logged
    answers = json.dumps(
        [delivery, tested, await channel_row(operator, "TELEGRAM"), (await tenant.admin().gql(BOTS)).body]
    )
    for form in (token, token.split(":", 1)[1], encoded, WEBHOOK_SECRET):
        assert form not in answers
        assert form not in caplog.text
    assert "POST /bot***/sendMessage" in caplog.text


@pytest.mark.parametrize(
    ("status", "answer", "reason", "after"),
    [
        (
            401,
            {"error_code": 401, "description": "Unauthorized"},
            "Telegram refused the bot token (HTTP 401): check the bot token in the Telegram bot settings",
            None,
        ),
        (
            403,
            {"error_code": 403, "description": "Forbidden: bot was blocked by the user"},
            "Telegram: the operator blocked the bot (HTTP 403): they must link Telegram again",
            None,
        ),
        (
            403,
            {"error_code": 403, "description": "Forbidden: user is deactivated"},
            "Telegram: the operator's Telegram account is deleted (HTTP 403): they must link Telegram again",
            None,
        ),
        (
            400,
            {"error_code": 400, "description": "Bad Request: chat not found"},
            "Telegram: the linked chat no longer exists (HTTP 400): they must link Telegram again",
            None,
        ),
        (
            400,
            {"error_code": 400, "description": "Bad Request: message is too long"},
            "Telegram refused the message as too long (HTTP 400): not retried",
            None,
        ),
        (
            429,
            {"error_code": 429, "description": "Too Many Requests: retry after 30", "parameters": {"retry_after": 30}},
            "Telegram is rate-limiting (HTTP 429): retrying after 30 s",
            30.0,
        ),
        (
            500,
            {"error_code": 500, "description": "Internal Server Error"},
            "Telegram answered HTTP 500: retrying",
            None,
        ),
        (502, "<html><body>502 Bad Gateway</body></html>", "Telegram answered HTTP 502: retrying", None),
    ],
)
def test_each_class_of_telegram_failure_has_its_reason(
    status: int, answer: dict[str, Any] | str, reason: str, after: float | None
) -> None:
    # given Telegram's answer
    if isinstance(answer, dict):
        response = Answer(status, json.dumps({"ok": False, **answer}).encode())
    else:
        response = Answer(status, answer.encode())
    # when it is classified
    outcome = outcome_of(response)
    # then the reason says what failed and what to do, and only the retryable are retried
    assert outcome.reason == reason  # type: ignore[union-attr]
    if status in (429, 500, 502):
        assert isinstance(outcome, RetryLater) and outcome.after_seconds == after
    else:
        assert isinstance(outcome, GiveUp)


@pytest.mark.parametrize(
    ("retry_after", "honoured", "reason"),
    [
        ("5", 5.0, "retrying after 5 s"),
        ("1000000000000", 3600.0, "retrying after 3600 s"),
        ("1" + "0" * 400, 3600.0, "retrying after 3600 s"),  # past a float: capped, not an OverflowError
        ("1e999", None, "retrying"),  # Infinity once parsed: the backoff applies
        ("Infinity", None, "retrying"),
        ("-3", None, "retrying"),
        ('"soon"', None, "retrying"),
    ],
)
def test_telegrams_retry_after_is_honoured_up_to_an_hour_whatever_it_holds(
    retry_after: str, honoured: float | None, reason: str
) -> None:
    body = f'{{"ok":false,"error_code":429,"description":"Too Many Requests","parameters":{{"retry_after":{retry_after}}}}}'
    outcome = outcome_of(Answer(429, body.encode()))
    assert outcome == RetryLater(f"Telegram is rate-limiting (HTTP 429): {reason}", honoured)


async def test_a_text_of_emoji_reaches_telegram_within_4096_utf16_units_with_an_ellipsis(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a linked operator, and a ticket whose subject is 3,900 emoji (7,800 UTF-16 units)
    operator = await linked_operator(http, tenant, bot_api)
    event = {
        "id": "t-emoji",
        "type": "ticket_created",
        "recipients": ["olena"],
        "entity": {"kind": "TICKET", "id": "42"},
        "data": {"ticketNumber": 42, "subject": "😀" * 3_900},
    }
    assert (await tenant.service().gql(PUBLISH, {"input": event})).data["publishEvent"]["notificationCount"] == 1
    # then the Bot API (which counts UTF-16 units, as Telegram does) accepts one message, cut with "…"
    delivery = await latest_delivery(channel="TELEGRAM", operator=operator)
    assert (delivery["status"], delivery["attempts"]) == ("SENT", 1)
    [sent] = [r for r in bot_api.requests if r.method == "sendMessage"]
    text = sent.body["text"]
    assert 4_000 < len(text.encode("utf-16-le")) // 2 <= 4_096
    assert "…" in text and "😀" in text
