"""WHATSAPP end to end: linking through Meta's signed webhook, delivery to a local Cloud API server.

Everything goes through the public surfaces: GraphQL for the panel, the administrator and the
producing service, GET and POST /webhooks/whatsapp/{instance} for Meta's handshake and callbacks,
and the fake Cloud API (tests/fakes/whatsapp_api.py) for what the workers send.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from channels.base import GiveUp, RetryLater
from channels.http_client import Answer
from channels.whatsapp import TEXT_MAX, outcome_for_whatsapp
from models.operator import ChannelLink
from tests.channel_support import CONFIGURE, PUBLISH, SETTINGS, channel_row, latest_delivery, publish
from tests.conftest import Caller, Tenant
from tests.fakes.whatsapp_api import FakeWhatsAppApi, inbound_text, serve_whatsapp_api, signed

PHONE_NUMBER_ID = "109876543210"
NUMBER = "380501234567"  # as Meta reports the sender: digits, no "+"
START_LINK = "mutation { startChannelLink(channel: WHATSAPP) { channel code url expiresAt } }"
TEST_SEND = "mutation { testChannel(channel: WHATSAPP) { channel status attempts lastError } }"
SET_CHANNELS = 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, WHATSAPP]) { code } }'


@pytest.fixture
async def wa_api() -> AsyncIterator[FakeWhatsAppApi]:
    # A token of its own per test, so a leak check cannot match another test's token.
    async with serve_whatsapp_api(f"EAAG{uuid.uuid4().hex}", PHONE_NUMBER_ID) as api:
        yield api


@pytest.fixture
def app_secret() -> str:
    return f"app-secret-{uuid.uuid4().hex}"


async def configure(tenant: Tenant, api: FakeWhatsAppApi, secret: str) -> dict[str, Any]:
    bot = {
        "channel": "WHATSAPP",
        "enabled": True,
        "settings": {"phoneNumberId": PHONE_NUMBER_ID, "apiBaseUrl": api.base_url},
        "secret": secret,
    }
    return (await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [bot]}})).body


def json_secret(api: FakeWhatsAppApi, app_secret: str) -> str:
    return json.dumps({"accessToken": api.token, "appSecret": app_secret})


async def webhook(
    http: httpx.AsyncClient, tenant: Tenant, raw: bytes, headers: dict[str, str] | None
) -> httpx.Response:
    return await http.post(f"/webhooks/whatsapp/{tenant.id}", content=raw, headers=headers or {})


async def linked_operator(http: httpx.AsyncClient, tenant: Tenant, api: FakeWhatsAppApi, app_secret: str) -> Caller:
    assert "errors" not in await configure(tenant, api, json_secret(api, app_secret))
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    raw = inbound_text(PHONE_NUMBER_ID, NUMBER, code)
    assert (await webhook(http, tenant, raw, signed(raw, app_secret))).status_code == 200
    assert (await channel_row(operator, "WHATSAPP"))["status"] == "READY"
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    return operator


async def test_an_operator_links_whatsapp_by_sending_the_code_and_notifications_reach_them(
    http: httpx.AsyncClient,
    tenant: Tenant,
    wa_api: FakeWhatsAppApi,
    app_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    # given an instance whose administrator configured WhatsApp with an access token and app secret
    configured = await configure(tenant, wa_api, json_secret(wa_api, app_secret))
    bodies.append(str(configured))
    assert configured["data"]["updateInstanceSettings"]["botChannels"][0]["hasSecret"] is True
    operator = tenant.operator("olena")

    # when the operator starts linking
    started = await operator.gql(START_LINK)
    bodies.append(str(started.body))
    code = started.data["startChannelLink"]["code"]
    # then the channel waits for the code
    assert code in started.data["startChannelLink"]["url"]
    assert (await channel_row(operator, "WHATSAPP"))["status"] == "PENDING"

    # when a callback with the code arrives unsigned, signed with another key, or for another body
    raw = inbound_text(PHONE_NUMBER_ID, "15550001111", code)
    for headers in (
        None,
        signed(raw, wa_api.token),  # the app secret is given: only it signs
        signed(raw, "not-the-app-secret"),
        {"X-Hub-Signature-256": "sha256="},
        signed(inbound_text(PHONE_NUMBER_ID, "15550001111", "other"), app_secret),
    ):
        refused = await webhook(http, tenant, raw, headers)
        # then it is refused and nothing is linked
        assert refused.status_code == 403
    assert (await channel_row(operator, "WHATSAPP"))["status"] == "PENDING"

    # when Meta reports the operator's message with the code, signed with the app secret
    raw = inbound_text(PHONE_NUMBER_ID, NUMBER, code)
    answer = await webhook(http, tenant, raw, signed(raw, app_secret))
    # then the channel is ready, showing the number masked, and the number got a confirmation
    assert (answer.status_code, answer.json()) == (200, {})
    row = await channel_row(operator, "WHATSAPP")
    assert (row["status"], row["target"], row["lastError"]) == ("READY", "+380*****4567", None)
    stored = await ChannelLink.get(operator__user_id="olena", operator__instance_id=tenant.id, channel="WHATSAPP")
    assert (stored.status, stored.target) == ("LINKED", NUMBER)
    confirmation = wa_api.sent(NUMBER)
    assert len(confirmation) == 1 and confirmation[0]["text"]["body"].startswith("Linked")

    # when the operator wants tickets on WhatsApp and a ticket is created
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    assert (await publish(tenant, "w-1"))["deliveriesQueued"] == 2
    # then the Cloud API got the rendered notification for their number, with the bearer token
    sent = (await wa_api.wait_for(2))[1]
    assert all(r.token_ok and r.phone_number_id == PHONE_NUMBER_ID for r in wa_api.requests)
    assert (sent["messaging_product"], sent["to"], sent["type"]) == ("whatsapp", NUMBER, "text")
    assert sent["text"]["body"].splitlines() == [
        "New ticket #42",
        "Printer on fire",
        "http://127.0.0.1:8000/tickets/42",
    ]
    delivery = await latest_delivery(channel="WHATSAPP", operator=operator)
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 1, None)

    # then neither the access token nor the app secret shows: not in answers, not in any log line
    admin_view = await tenant.admin().gql("{ instanceSettings { botChannels { channel settings hasSecret } } }")
    bodies += [str(admin_view.body), str((await operator.gql(SETTINGS)).body), str(delivery), answer.text]
    for secret in (wa_api.token, app_secret):
        assert all(secret not in body for body in bodies)
        assert secret not in caplog.text


async def test_a_plain_access_token_signs_the_webhook_and_a_spaced_code_still_links(
    http: httpx.AsyncClient, tenant: Tenant, wa_api: FakeWhatsAppApi
) -> None:
    # given an instance whose secret is a plain access token, and a pending link
    assert "errors" not in await configure(tenant, wa_api, wa_api.token)
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]

    # when the operator types the code in groups, and Meta signs with the access token
    spaced = " ".join(code[i : i + 4] for i in range(0, len(code), 4))
    raw = inbound_text(PHONE_NUMBER_ID, NUMBER, f"  {spaced} \n")
    answer = await webhook(http, tenant, raw, signed(raw, wa_api.token))
    # then the number is linked
    assert answer.status_code == 200
    assert (await channel_row(operator, "WHATSAPP"))["status"] == "READY"

    # when the operator tests the channel
    tested = (await operator.gql(TEST_SEND)).data["testChannel"]
    # then the test message reached the number
    assert tested == {"channel": "WHATSAPP", "status": "SENT", "attempts": 1, "lastError": None}
    assert wa_api.sent(NUMBER)[-1]["text"]["body"].startswith("Test notification\nIf you can read this, WhatsApp")


async def test_the_subscription_handshake_answers_only_the_right_verify_token(
    http: httpx.AsyncClient, tenant: Tenant, wa_api: FakeWhatsAppApi, app_secret: str, new_tenant: Any
) -> None:
    # given an instance configured with an access token and an app secret
    await configure(tenant, wa_api, json_secret(wa_api, app_secret))
    url = f"/webhooks/whatsapp/{tenant.id}"

    # when Meta verifies the subscription with the app secret as verify token
    params = {"hub.mode": "subscribe", "hub.verify_token": app_secret, "hub.challenge": "1158201444"}
    ok = await http.get(url, params=params)
    # then the challenge is echoed back
    assert (ok.status_code, ok.text) == (200, "1158201444")

    for wrong in (
        {**params, "hub.verify_token": "guess"},
        {**params, "hub.verify_token": wa_api.token},
        {**params, "hub.mode": "unsubscribe"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
    ):
        # when the verify token or mode is wrong
        refused = await http.get(url, params=wrong)
        # then the handshake is refused
        assert refused.status_code == 403 and "1158201444" not in refused.text
    # and an instance without WhatsApp refuses it too
    assert (await http.get(f"/webhooks/whatsapp/{new_tenant().id}", params=params)).status_code == 403


async def test_a_429_is_honoured_and_throttling_codes_are_retried(
    http: httpx.AsyncClient, tenant: Tenant, wa_api: FakeWhatsAppApi, app_secret: str
) -> None:
    # given a linked operator, and a Cloud API that asks to wait a second, then reports throughput
    operator = await linked_operator(http, tenant, wa_api, app_secret)
    wa_api.fail_next(429, "(#130429) Rate limit hit", 130429, retry_after=1)
    wa_api.fail_next(400, "(#131056) (Business Account, Consumer Account) pair rate limit hit", 131056)
    # when a ticket is created
    await publish(tenant, "w-429")
    # then the worker waits the second it was asked to, retries, and the third attempt delivers
    delivery = await latest_delivery(channel="WHATSAPP", operator=operator)
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 3, None)
    first, second, third = wa_api.requests[1:]
    assert second.at - first.at >= 0.9
    assert first.body == second.body == third.body


async def test_a_client_error_fails_the_delivery_with_metas_message(
    http: httpx.AsyncClient, tenant: Tenant, wa_api: FakeWhatsAppApi, app_secret: str
) -> None:
    # given a linked operator, and a Cloud API refusing the message
    operator = await linked_operator(http, tenant, wa_api, app_secret)
    wa_api.fail_next(400, "(#131047) Re-engagement message", 131047)
    # when a ticket is created
    await publish(tenant, "w-400")
    # then the delivery fails at once with Meta's message, its code and a hint
    delivery = await latest_delivery(channel="WHATSAPP", operator=operator)
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert delivery["lastError"].startswith("WhatsApp: more than 24 hours passed since the operator last wrote")
    assert "(HTTP 400, code 131047)" in delivery["lastError"]
    assert "24 hours" in delivery["lastError"]
    # and the Channels tab shows the channel in error
    row = await channel_row(operator, "WHATSAPP")
    assert row["status"] == "ERROR" and "131047" in row["lastError"]


async def test_a_wrong_access_token_fails_without_showing_it(
    http: httpx.AsyncClient, tenant: Tenant, wa_api: FakeWhatsAppApi, app_secret: str
) -> None:
    # given a linked operator, after which the administrator saved a wrong access token
    operator = await linked_operator(http, tenant, wa_api, app_secret)
    wrong = f"EAAGwrong{uuid.uuid4().hex}"
    assert "errors" not in await configure(tenant, wa_api, json.dumps({"accessToken": wrong, "appSecret": app_secret}))
    # when the operator tests the channel
    tested = await operator.gql(TEST_SEND)
    # then it fails with Meta's reason and a hint, and the token is in no answer
    failed = tested.data["testChannel"]
    assert failed["status"] == "FAILED" and "code 190)" in failed["lastError"]
    assert "access token" in failed["lastError"]
    assert wrong not in json.dumps(tested.body) and wrong not in json.dumps((await operator.gql(SETTINGS)).body)


async def test_other_messages_and_unknown_codes_link_nobody(
    http: httpx.AsyncClient, tenant: Tenant, wa_api: FakeWhatsAppApi, app_secret: str, new_tenant: Any
) -> None:
    # given a pending link
    await configure(tenant, wa_api, json_secret(wa_api, app_secret))
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    status_update = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {"statuses": [{"status": "read"}]}}]}],
    }
    for raw in (
        inbound_text(PHONE_NUMBER_ID, NUMBER, "NoSuchCode123"),
        inbound_text(PHONE_NUMBER_ID, NUMBER, "hello there"),
        json.dumps(status_update).encode(),
    ):
        # when Meta reports a message that is no code, or a status update
        response = await webhook(http, tenant, raw, signed(raw, app_secret))
        # then it is acknowledged, nothing is linked and nobody is messaged
        assert (response.status_code, response.json()) == (200, {})
    assert (await channel_row(operator, "WHATSAPP"))["status"] == "PENDING"
    assert wa_api.requests == []

    # when the right code, correctly signed, is posted to an instance without WhatsApp
    raw = inbound_text(PHONE_NUMBER_ID, NUMBER, code)
    elsewhere = await webhook(http, new_tenant(), raw, signed(raw, app_secret))
    # then it is refused
    assert elsewhere.status_code == 403
    assert (await channel_row(operator, "WHATSAPP"))["status"] == "PENDING"


async def test_a_long_text_is_cut_to_whatsapps_limit_with_an_ellipsis(
    http: httpx.AsyncClient, tenant: Tenant, wa_api: FakeWhatsAppApi, app_secret: str
) -> None:
    # given a linked operator, and a ticket whose title and subject together pass a WhatsApp text
    operator = await linked_operator(http, tenant, wa_api, app_secret)
    event = {
        "id": "w-long",
        "type": "ticket_created",
        "recipients": ["olena"],
        "entity": {"kind": "TICKET", "id": "42"},
        "data": {"ticketNumber": "7" * 200, "subject": "word " * 1_000},
    }
    # when it is published
    assert (await tenant.service().gql(PUBLISH, {"input": event})).data["publishEvent"]["deliveriesQueued"] == 2
    # then WhatsApp took it: the body cut to fill the limit, ending in an ellipsis, and the link kept
    delivery = await latest_delivery(channel="WHATSAPP", operator=operator)
    assert (delivery["status"], delivery["lastError"]) == ("SENT", None)
    text = wa_api.sent(NUMBER)[-1]["text"]["body"]
    title, body, link = text.split("\n")
    assert TEXT_MAX - 10 < len(text) <= TEXT_MAX
    assert (title, link) == ("New ticket #" + "7" * 200, "http://127.0.0.1:8000/tickets/42")
    assert body.startswith("word word") and body.endswith("…")


async def test_a_whatsapp_answer_echoing_the_secrets_never_shows_them(
    http: httpx.AsyncClient,
    tenant: Tenant,
    wa_api: FakeWhatsAppApi,
    app_secret: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = wa_api.token
    # given a linked operator, and a Graph API that quotes the access token and the app secret back
    operator = await linked_operator(http, tenant, wa_api, app_secret)
    wa_api.fail_next(
        400,
        f"(#131009) Parameter value is not valid: Bearer {token}, app secret {app_secret}",
        131009,
        title=f"Token {token} rejected",
    )
    # when a ticket is created
    await publish(tenant, "w-echo")
    # then the delivery fails in the service's words, none of Meta's text in it
    delivery = await latest_delivery(channel="WHATSAPP", operator=operator)
    assert delivery["status"] == "FAILED"
    assert (
        delivery["lastError"]
        == "WhatsApp refused the message (HTTP 400, code 131009): not retried; the log has WhatsApp's reason"
    )
    # and neither secret is in any answer or log line, while Meta's message was logged redacted
    answers = json.dumps([delivery, await channel_row(operator, "WHATSAPP")])
    for secret in (token, app_secret):
        assert secret not in answers and secret not in caplog.text
    assert "Parameter value is not valid: Bearer ***, app secret ***" in caplog.text


@pytest.mark.parametrize(
    ("status", "code", "headers", "reason", "retried"),
    [
        (
            401,
            190,
            {},
            "WhatsApp refused the access token (HTTP 401, code 190): set a new access token in the "
            "WhatsApp bot settings",
            False,
        ),
        (
            400,
            131047,
            {},
            "WhatsApp: more than 24 hours passed since the operator last wrote to the business number "
            "(HTTP 400, code 131047): WhatsApp delivers free-form messages only within that window; not retried",
            False,
        ),
        (
            400,
            130429,
            {"Retry-After": "30"},
            "WhatsApp is rate-limiting (HTTP 400, code 130429): retrying after 30 s",
            True,
        ),
        (500, 2, {}, "WhatsApp answered HTTP 500, code 2: retrying", True),
        (
            400,
            100,
            {},
            "WhatsApp refused the request as invalid (HTTP 400, code 100): check phoneNumberId in the "
            "WhatsApp bot settings",
            False,
        ),
    ],
)
def test_each_class_of_whatsapp_failure_has_its_reason(
    status: int, code: int, headers: dict[str, str], reason: str, retried: bool
) -> None:
    # when Meta's answer is classified
    answer = {"error": {"message": "whatever Meta says", "type": "OAuthException", "code": code}}
    outcome = outcome_for_whatsapp(Answer(status, json.dumps(answer).encode(), headers))
    # then the reason says what failed and what to do, without Meta's message
    assert outcome.reason == reason  # type: ignore[union-attr]
    assert isinstance(outcome, RetryLater if retried else GiveUp)


def test_an_answer_that_is_not_metas_json_is_judged_by_its_status() -> None:
    outcome = outcome_for_whatsapp(Answer(502, b"<html>Bad Gateway</html>"))
    assert outcome == RetryLater("WhatsApp answered HTTP 502: retrying")
