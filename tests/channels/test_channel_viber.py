"""VIBER end to end: linking through the real signed webhook, delivery to a local Viber API server.

Everything goes through the public surfaces: GraphQL for the panel, the administrator and the
producing service, POST /webhooks/viber/{instance} for Viber's callbacks, and the fake Viber REST
API (tests/fakes/viber_api.py) for what the workers send.
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
from channels.message import Message
from channels.viber import TEXT_MAX, message_text, outcome_for_viber
from models.operator import ChannelLink
from tests.channel_support import CONFIGURE, SETTINGS, channel_row, latest_delivery, publish
from tests.conftest import Caller, Tenant
from tests.fakes.viber_api import FakeViberApi, conversation_started, serve_viber_api, signed

VIBER_USER = "01234567890A="
START_LINK = "mutation { startChannelLink(channel: VIBER) { channel code url expiresAt } }"
TEST_SEND = "mutation { testChannel(channel: VIBER) { channel status attempts lastError } }"
SET_CHANNELS = 'mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, VIBER]) { code } }'


@pytest.fixture
async def viber_api() -> AsyncIterator[FakeViberApi]:
    # A token of its own per test, so a leak check cannot match another test's token.
    async with serve_viber_api(f"viber-token-{uuid.uuid4().hex}") as api:
        yield api


async def configure(tenant: Tenant, api: FakeViberApi, secret: str | None = None) -> dict[str, Any]:
    bot = {
        "channel": "VIBER",
        "enabled": True,
        "settings": {"botUri": "acmebot", "apiBaseUrl": api.base_url},
        "secret": secret or api.token,
    }
    return (await tenant.admin().gql(CONFIGURE, {"input": {"botChannels": [bot]}})).body


async def webhook(
    http: httpx.AsyncClient, tenant: Tenant, raw: bytes, headers: dict[str, str] | None
) -> httpx.Response:
    return await http.post(f"/webhooks/viber/{tenant.id}", content=raw, headers=headers or {})


async def link(http: httpx.AsyncClient, tenant: Tenant, api: FakeViberApi, operator: Caller) -> None:
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    raw = conversation_started(code, VIBER_USER, "Olena K")
    response = await webhook(http, tenant, raw, signed(raw, api.token))
    assert response.status_code == 200 and response.json()["text"].startswith("Linked")


async def linked_operator(http: httpx.AsyncClient, tenant: Tenant, api: FakeViberApi) -> Caller:
    assert "errors" not in await configure(tenant, api)
    operator = tenant.operator("olena")
    await link(http, tenant, api, operator)
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    return operator


async def test_an_operator_links_viber_and_notifications_reach_them(
    http: httpx.AsyncClient, tenant: Tenant, viber_api: FakeViberApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    # given an instance whose administrator configured the Viber bot
    configured = await configure(tenant, viber_api)
    bodies.append(str(configured))
    assert configured["data"]["updateInstanceSettings"]["botChannels"][0]["hasSecret"] is True
    operator = tenant.operator("olena")

    # when the operator starts linking
    started = await operator.gql(START_LINK)
    bodies.append(str(started.body))
    code = started.data["startChannelLink"]["code"]
    # then the panel gets the bot's deep link carrying the code, and the channel waits for it
    assert started.data["startChannelLink"]["url"] == f"viber://pa?chatURI=acmebot&context={code}"
    assert (await channel_row(operator, "VIBER"))["status"] == "PENDING"

    # when someone who does not hold the auth token posts the code
    raw = conversation_started(code, "intruder", "Mallory")
    tampered = conversation_started(code, "intruder", "Mallory", subscribed=True)
    for headers in (
        None,
        signed(raw, "not-the-token"),
        {"X-Viber-Content-Signature": ""},
        signed(tampered, viber_api.token),  # signed, but not this body
    ):
        refused = await webhook(http, tenant, raw, headers)
        # then it is refused and nothing is linked
        assert refused.status_code == 403
    assert (await channel_row(operator, "VIBER"))["status"] == "PENDING"

    # when Viber reports the conversation the user started through the link
    raw = conversation_started(code, VIBER_USER, "Olena K")
    answer = await webhook(http, tenant, raw, signed(raw, viber_api.token))
    # then the webhook answers with the welcome message, and the channel is ready
    assert answer.status_code == 200
    welcome = answer.json()
    assert welcome["sender"] == {"name": "acmebot"} and welcome["type"] == "text"
    assert welcome["text"].startswith("Linked") and "Send any message" in welcome["text"]
    row = await channel_row(operator, "VIBER")
    assert (row["status"], row["target"], row["lastError"]) == ("READY", "Olena K", None)
    stored = await ChannelLink.get(operator__user_id="olena", operator__instance_id=tenant.id, channel="VIBER")
    assert (stored.status, stored.target) == ("LINKED", VIBER_USER)

    # when the operator wants tickets on Viber and a ticket is created
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    assert (await publish(tenant, "v-1"))["deliveriesQueued"] == 2
    # then the bot sent the rendered notification to their Viber user id, with the auth token
    sent = await viber_api.wait_for(1)
    assert len(sent) == 1 and all(r.token_ok for r in viber_api.requests)
    assert sent[0]["receiver"] == VIBER_USER
    assert (sent[0]["type"], sent[0]["sender"]) == ("text", {"name": "acmebot"})
    assert sent[0]["text"].splitlines() == ["New ticket #42", "Printer on fire", "http://127.0.0.1:8000/tickets/42"]
    delivery = await latest_delivery(channel="VIBER", operator=operator)
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 1, None)

    # then the auth token shows nowhere: not in GraphQL answers, not in any log line
    admin_view = await tenant.admin().gql("{ instanceSettings { botChannels { channel settings hasSecret } } }")
    bodies += [str(admin_view.body), str((await operator.gql(SETTINGS)).body), str(delivery), answer.text]
    assert all(viber_api.token not in body for body in bodies)
    assert viber_api.token not in caplog.text


async def test_a_viber_error_status_fails_the_delivery_with_its_reason(
    http: httpx.AsyncClient, tenant: Tenant, viber_api: FakeViberApi
) -> None:
    # given a linked operator who then unsubscribed from the bot
    operator = await linked_operator(http, tenant, viber_api)
    viber_api.fail_next(6, "notSubscribed")
    # when a ticket is created
    await publish(tenant, "v-6")
    # then the delivery fails at once (retrying cannot help), saying what Viber said
    delivery = await latest_delivery(channel="VIBER", operator=operator)
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert delivery["lastError"] == (
        "Viber: the operator is not subscribed to the bot (status 6 notSubscribed): "
        "they must open the bot in Viber and link it again"
    )
    # and the Channels tab shows the channel in error, and why
    row = await channel_row(operator, "VIBER")
    assert row["status"] == "ERROR" and "notSubscribed" in row["lastError"]

    # when the operator tests the channel again
    tested = (await operator.gql(TEST_SEND)).data["testChannel"]
    # then the test gets through and the error is gone
    assert (tested["status"], tested["lastError"]) == ("SENT", None)
    assert (await channel_row(operator, "VIBER"))["status"] == "READY"


async def test_a_server_error_and_too_many_requests_are_retried_then_sent(
    http: httpx.AsyncClient, tenant: Tenant, viber_api: FakeViberApi
) -> None:
    # given a linked operator, and a Viber API that fails with HTTP 500, then asks to slow down
    operator = await linked_operator(http, tenant, viber_api)
    viber_api.fail_http(500)
    viber_api.fail_next(12, "tooManyRequests")
    # when a ticket is created
    await publish(tenant, "v-5xx")
    # then the third attempt delivers it, the same message each time
    delivery = await latest_delivery(channel="VIBER", operator=operator)
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 3, None)
    bodies = viber_api.sent(VIBER_USER)
    assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]


async def test_test_channel_sends_a_test_message(
    http: httpx.AsyncClient, tenant: Tenant, viber_api: FakeViberApi
) -> None:
    # given a linked operator
    operator = await linked_operator(http, tenant, viber_api)
    # when they test the channel
    tested = (await operator.gql(TEST_SEND)).data["testChannel"]
    # then the test message reached them
    assert tested == {"channel": "VIBER", "status": "SENT", "attempts": 1, "lastError": None}
    assert viber_api.sent(VIBER_USER)[0]["text"].startswith("Test notification\nIf you can read this, Viber")


async def test_a_wrong_auth_token_fails_without_showing_the_token(
    http: httpx.AsyncClient, tenant: Tenant, viber_api: FakeViberApi
) -> None:
    # given a linked operator, after which the administrator saved a wrong auth token
    operator = await linked_operator(http, tenant, viber_api)
    wrong = f"wrong-token-{uuid.uuid4().hex}"
    assert "errors" not in await configure(tenant, viber_api, secret=wrong)
    # when the operator tests the channel
    tested = await operator.gql(TEST_SEND)
    # then the test fails with Viber's reason and a hint, and the token is in no answer
    failed = tested.data["testChannel"]
    assert failed["status"] == "FAILED"
    assert failed["lastError"].startswith("Viber refused the auth token (status 2 invalidAuthToken)")
    assert "auth token" in failed["lastError"]
    assert wrong not in json.dumps(tested.body) and wrong not in json.dumps((await operator.gql(SETTINGS)).body)


async def test_unknown_codes_other_events_and_unconfigured_instances(
    http: httpx.AsyncClient, tenant: Tenant, viber_api: FakeViberApi, new_tenant: Any
) -> None:
    # given a pending link
    await configure(tenant, viber_api)
    operator = tenant.operator("olena")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]

    # when a conversation starts with a code nobody issued
    raw = conversation_started("NoSuchCode123", VIBER_USER, "Olena K")
    unknown = await webhook(http, tenant, raw, signed(raw, viber_api.token))
    # then the user is told the code is not valid, and nothing is linked
    assert unknown.status_code == 200 and "not valid" in unknown.json()["text"]
    assert (await channel_row(operator, "VIBER"))["status"] == "PENDING"

    # when a conversation starts without any code (the bot opened directly)
    raw = conversation_started(None, VIBER_USER, "Olena K")
    bare = await webhook(http, tenant, raw, signed(raw, viber_api.token))
    # then the user gets a hint rather than silence
    assert "Channels tab" in bare.json()["text"]

    for event in (
        {"event": "webhook", "timestamp": 1457764197627, "message_token": 241256543215},
        {"event": "subscribed", "timestamp": 1457764197627, "user": {"id": VIBER_USER, "name": "Olena K"}},
        {"event": "message", "sender": {"id": VIBER_USER}, "message": {"type": "text", "text": code}},
    ):
        # when Viber sends any other signed event
        raw = json.dumps(event).encode()
        response = await webhook(http, tenant, raw, signed(raw, viber_api.token))
        # then it is acknowledged with nothing to do
        assert (response.status_code, response.json()) == (200, {})
    assert (await channel_row(operator, "VIBER"))["status"] == "PENDING"

    # when a correctly signed callback reaches an instance without a Viber bot
    raw = conversation_started(code, VIBER_USER, "Olena K")
    elsewhere = await webhook(http, new_tenant(), raw, signed(raw, viber_api.token))
    # then it is refused
    assert elsewhere.status_code == 403
    assert (await channel_row(operator, "VIBER"))["status"] == "PENDING"


def test_a_long_text_is_cut_to_vibers_limit_with_an_ellipsis() -> None:
    # given a message longer than Viber takes (beyond what a notification holds today)
    message = Message(None, "ticket_created", "New ticket #42", "word " * 2_000, "https://panel.example.com/tickets/42")
    # when it is put in a Viber text
    text = message_text(message)
    # then the body is cut to fill the limit, ending in an ellipsis, and the link kept
    title, body, link = text.split("\n")
    assert TEXT_MAX - 10 < len(text) <= TEXT_MAX
    assert (title, link) == ("New ticket #42", "https://panel.example.com/tickets/42")
    assert body.startswith("word word") and body.endswith("…")
    assert message_text(Message(None, "t", "Title", "Body", "https://x")) == "Title\nBody\nhttps://x"


async def test_a_viber_answer_echoing_the_auth_token_never_shows_it(
    http: httpx.AsyncClient, tenant: Tenant, viber_api: FakeViberApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = viber_api.token
    # given a linked operator, and a Viber API that quotes the auth token back: in an HTTP error, then in a status
    operator = await linked_operator(http, tenant, viber_api)
    viber_api.fail_http(503, f"upstream refused X-Viber-Auth-Token: {token}")
    viber_api.fail_next(3, f"badData: the request with token {token} has no text")
    # when a ticket is created
    await publish(tenant, "v-echo")
    # then the delivery was retried after the 503, then failed on the status, in the service's words
    delivery = await latest_delivery(channel="VIBER", operator=operator)
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 2)
    assert delivery["lastError"] == "Viber refused the message (status 3 badData): not retried"
    # and the token is in no answer and no log line, while Viber's answers were logged redacted
    answers = json.dumps([delivery, await channel_row(operator, "VIBER")])
    assert token not in answers and token not in caplog.text
    assert "upstream refused X-Viber-Auth-Token: ***" in caplog.text
    assert "the request with token *** has no text" in caplog.text


@pytest.mark.parametrize(
    ("status", "answer", "headers", "reason", "retried"),
    [
        (
            200,
            {"status": 2, "status_message": "invalidAuthToken"},
            {},
            "Viber refused the auth token (status 2 invalidAuthToken): check the auth token in the Viber bot settings",
            False,
        ),
        (
            200,
            {"status": 7, "status_message": "publicAccountBlocked"},
            {},
            "Viber: the bot account is blocked (status 7 publicAccountBlocked): check the bot in the Viber admin panel",
            False,
        ),
        (
            200,
            {"status": 12, "status_message": "tooManyRequests"},
            {},
            "Viber is rate-limiting (status 12 tooManyRequests): retrying",
            True,
        ),
        (
            429,
            {"error": "slow down"},
            {"Retry-After": "30"},
            "Viber is rate-limiting (HTTP 429): retrying after 30 s",
            True,
        ),
        (500, {"error": "oops"}, {}, "Viber answered HTTP 500: retrying", True),
        (
            401,
            {"error": "who are you"},
            {},
            "Viber refused the auth token (HTTP 401): check the auth token in the Viber bot settings",
            False,
        ),
    ],
)
def test_each_class_of_viber_failure_has_its_reason(
    status: int, answer: dict[str, Any], headers: dict[str, str], reason: str, retried: bool
) -> None:
    # when Viber's answer is classified
    outcome = outcome_for_viber(Answer(status, json.dumps(answer).encode(), headers))
    # then the reason says what failed and what to do
    assert outcome.reason == reason  # type: ignore[union-attr]
    assert isinstance(outcome, RetryLater if retried else GiveUp)
