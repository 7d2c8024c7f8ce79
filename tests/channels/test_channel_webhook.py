"""ECHAT and CUSTOM: signed webhook POSTs to a real receiver, and the retry rules (SPEC section 5).

The receiver (tests/fakes/webhook_receiver.py) verifies each request with the recipe published in
docs/receiving-webhooks.md and answers what the test scripts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import uuid
from dataclasses import replace
from typing import Any

import pytest

from channels.base import DeliveryRow, GiveUp, Job, RetryLater
from channels.deps import ChannelDeps
from channels.http import outcome_for
from channels.http_client import Answer, ProviderClient
from channels.webhook import WebhookChannel
from core import urls
from core.settings import Settings
from models.notification import Delivery
from models.operator import Operator
from tests.channel_support import FINAL, PUBLISH, SET_CHANNELS, TEST_CHANNEL
from tests.conftest import Caller, Tenant
from tests.fakes.dns import FixedResolver
from tests.fakes.webhook_receiver import verify_webhook, webhook_receiver
from tests.polling import eventually

CONFIGURE = """mutation($input: InstanceSettingsInput!) { updateInstanceSettings(input: $input) {
  botScenario botChannels { channel enabled settings hasSecret } } }"""
LATEST = "{ notifications { edges { node { id } } } }"
DELIVERIES = """query($id: ID!) { deliveries(notificationId: $id) { id channel status attempts lastError } }"""
CHANNELS_TAB = "{ channelSettings { channels { kind status lastError } } }"


def new_secret() -> str:
    return "whsec-" + uuid.uuid4().hex


async def configure(tenant: Tenant, channel: str, url: str, secret: str, scenario: str | None = "night-shift") -> Any:
    bot = {"channel": channel, "enabled": True, "settings": {"url": url}, "secret": secret}
    result = await tenant.admin().gql(CONFIGURE, {"input": {"botScenario": scenario, "botChannels": [bot]}})
    return result.data["updateInstanceSettings"]


async def operator_on(tenant: Tenant, channel: str, user: str = "alice") -> Caller:
    operator = tenant.operator(user, email=f"{user}@example.com", name=user.title(), locale="en")
    result = await operator.gql(SET_CHANNELS, {"channels": ["BELL", channel]})
    assert not result.errors, result.errors
    return operator


async def publish(tenant: Tenant, operator: Caller, event_id: str = "t-1") -> str:
    """Publish a ticket_created for the operator; the id of the notification it got."""
    event = {
        "id": event_id,
        "type": "ticket_created",
        "recipients": [operator.user],
        "entity": {"kind": "TICKET", "id": "42"},
        "data": {"ticketNumber": 42, "subject": "Printer on fire"},
    }
    assert (await tenant.service().gql(PUBLISH, {"input": event})).data["publishEvent"]["notificationCount"] == 1
    return (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]["id"]


async def settled(operator: Caller, notification_id: str, channel: str, seconds: float = 10.0) -> dict[str, Any]:
    """The channel's delivery of the notification once final (or as it stands after ``seconds``)."""

    async def read() -> dict[str, Any]:
        rows = (await operator.gql(DELIVERIES, {"id": notification_id})).data["deliveries"]
        return next(r for r in rows if r["channel"] == channel)

    return await eventually(read, lambda row: row["status"] in FINAL, seconds=seconds)


async def channel_row(operator: Caller, kind: str) -> dict[str, Any]:
    channels = (await operator.gql(CHANNELS_TAB)).data["channelSettings"]["channels"]
    return next(c for c in channels if c["kind"] == kind)


async def test_a_custom_delivery_arrives_signed_with_the_scenario_in_the_body(tenant: Tenant) -> None:
    # given a CUSTOM webhook with a scenario, and an operator who chose CUSTOM for new tickets
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        await configure(tenant, "CUSTOM", hook.url, secret, scenario="night-shift")
        operator = await operator_on(tenant, "CUSTOM")

        # when a ticket_created event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "CUSTOM")

    # then one signed request arrived, verified by the documented recipe, and the delivery is SENT
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 1, None)
    [request] = hook.requests
    assert request.verified and request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["x-nc-timestamp"]) - time.time()) < 30
    assert request.delivery == delivery["id"]
    assert request.raw == json.dumps(request.json, separators=(",", ":"), ensure_ascii=False).encode()
    body = request.json
    assert {k: body[k] for k in ("event", "channel", "scenario", "instance")} == {
        "event": "notification",
        "channel": "CUSTOM",
        "scenario": "night-shift",
        "instance": tenant.id,
    }
    assert body["operator"] == {"id": "alice", "email": "alice@example.com", "name": "Alice", "locale": "en"}
    notification = body["notification"]
    assert {k: v for k, v in notification.items() if k != "createdAt"} == {
        "id": notification_id,
        "type": "ticket_created",
        "category": "creation_and_messages",
        "title": "New ticket #42",
        "body": "Printer on fire",
        "link": "http://127.0.0.1:8000/tickets/42",
        "entity": {"kind": "TICKET", "id": "42"},
    }
    assert notification["createdAt"].endswith("Z")


async def test_a_new_bot_scenario_is_in_the_next_body_at_once(tenant: Tenant) -> None:
    # given a CUSTOM webhook whose configuration a delivery has just read (and the worker keeps)
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        await configure(tenant, "CUSTOM", hook.url, secret, scenario="night-shift")
        operator = await operator_on(tenant, "CUSTOM")
        await settled(operator, await publish(tenant, operator), "CUSTOM")
        # when the administrator changes only the scenario, and the next ticket comes
        changed = await tenant.admin().gql(CONFIGURE, {"input": {"botScenario": "day-shift"}})
        assert "errors" not in changed.body
        await settled(operator, await publish(tenant, operator, "t-day"), "CUSTOM")
    # then its body carries the new scenario
    assert [r.json["scenario"] for r in hook.requests] == ["night-shift", "day-shift"]


async def test_an_echat_delivery_arrives_signed_likewise(tenant: Tenant) -> None:
    # given an ECHAT webhook (no scenario set) and an operator who chose ECHAT
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        await configure(tenant, "ECHAT", hook.url, secret, scenario=None)
        operator = await operator_on(tenant, "ECHAT")

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "ECHAT")

    # then it arrived signed for ECHAT, with a null scenario
    assert delivery["status"] == "SENT"
    [request] = hook.requests
    assert request.verified
    assert (request.json["channel"], request.json["scenario"]) == ("ECHAT", None)
    assert request.json["notification"]["id"] == notification_id


async def test_server_errors_are_retried_until_the_receiver_accepts(tenant: Tenant) -> None:
    # given a receiver that answers 500, 500, then 200
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        hook.answer(500)
        hook.answer(500)
        await configure(tenant, "CUSTOM", hook.url, secret)
        operator = await operator_on(tenant, "CUSTOM")

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "CUSTOM")

    # then the third attempt delivered it, each attempt signed, with the same delivery id and body
    assert (delivery["status"], delivery["attempts"], delivery["lastError"]) == ("SENT", 3, None)
    assert [r.status for r in hook.requests] == [500, 500, 200]
    assert all(r.verified for r in hook.requests)
    assert {r.delivery for r in hook.requests} == {delivery["id"]}
    assert len({r.raw for r in hook.requests}) == 1


async def test_too_many_requests_waits_for_retry_after(tenant: Tenant) -> None:
    # given a receiver that answers 429 with Retry-After: 1, then 200
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        hook.answer(429, {"Retry-After": "1"})
        await configure(tenant, "CUSTOM", hook.url, secret)
        operator = await operator_on(tenant, "CUSTOM")

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "CUSTOM")

    # then the second request came at least a second after the first, and was accepted
    assert (delivery["status"], delivery["attempts"]) == ("SENT", 2)
    first, second = hook.requests
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0


async def test_a_client_error_fails_at_once(tenant: Tenant) -> None:
    # given a receiver that answers 400
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        hook.answer(400)
        await configure(tenant, "CUSTOM", hook.url, secret)
        operator = await operator_on(tenant, "CUSTOM")

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "CUSTOM")
        await asyncio.sleep(0.3)  # time enough for a retry that must not come

    # then it failed on the first attempt, with the status in the reason
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert "HTTP 400" in delivery["lastError"]
    assert len(hook.requests) == 1


async def test_a_receiver_with_another_secret_rejects_the_signature_and_the_delivery_fails(tenant: Tenant) -> None:
    # given a receiver that knows another secret than the one the instance signs with
    async with webhook_receiver(new_secret()) as hook:
        await configure(tenant, "CUSTOM", hook.url, new_secret())
        operator = await operator_on(tenant, "CUSTOM")

        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "CUSTOM")

    # then the receiver detected the bad signature (401) and the delivery failed, shown on the Channels tab
    [request] = hook.requests
    assert (request.verified, request.status) == (False, 401)
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert "HTTP 401" in delivery["lastError"]
    row = await channel_row(operator, "CUSTOM")
    assert row["status"] == "ERROR" and "HTTP 401" in row["lastError"]


async def test_the_signing_secret_never_shows_in_settings_or_logs(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    # given every log line captured, and a CUSTOM webhook configured with a secret
    caplog.set_level(logging.DEBUG)
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        configured = await configure(tenant, "CUSTOM", hook.url, secret)
        operator = await operator_on(tenant, "CUSTOM")

        # when a notification is delivered and an administrator reads the settings
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "CUSTOM")
        settings = (
            await tenant.admin().gql("{ instanceSettings { botChannels { channel enabled settings hasSecret } } }")
        ).data

    # then the settings say a secret is set, and the secret is in no response and no log line
    assert delivery["status"] == "SENT"
    assert settings["instanceSettings"]["botChannels"] == [
        {"channel": "CUSTOM", "enabled": True, "settings": {"url": hook.url}, "hasSecret": True}
    ]
    assert secret not in json.dumps([configured, settings, delivery])
    assert caplog.records, "nothing was logged at DEBUG: the check would prove nothing"
    assert secret not in caplog.text
    assert not [r for r in caplog.records if secret in r.getMessage()]


async def test_a_test_send_posts_a_test_event(tenant: Tenant) -> None:
    # given a CUSTOM webhook and an operator
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        await configure(tenant, "CUSTOM", hook.url, secret)
        operator = tenant.operator("alice", email="alice@example.com")

        # when the operator presses Test for CUSTOM
        result = (await operator.gql(TEST_CHANNEL, {"channel": "CUSTOM"})).data["testChannel"]

    # then the delivery is SENT and the receiver got a signed "test" event
    assert (result["status"], result["notificationId"], result["lastError"]) == ("SENT", None, None)
    [request] = hook.requests
    assert request.verified and request.delivery == result["id"]
    assert request.json["event"] == "test"
    assert request.json["notification"]["type"] == "test"
    assert request.json["notification"]["title"] == "Test notification"


async def test_the_documented_recipe_refuses_a_replay_after_five_minutes(tenant: Tenant) -> None:
    # given a signed request the receiver verified
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        await configure(tenant, "CUSTOM", hook.url, secret)
        await tenant.operator("alice").gql(TEST_CHANNEL, {"channel": "CUSTOM"})
    [request] = hook.requests
    timestamp, signature = request.headers["x-nc-timestamp"], request.headers["x-nc-signature"]

    # when the same request is checked again more than five minutes later
    replayed = verify_webhook(secret, timestamp, signature, request.raw, now=int(timestamp) + 301)

    # then the recipe refuses it, while it accepted it in time
    assert request.verified and verify_webhook(secret, timestamp, signature, request.raw, now=int(timestamp) + 299)
    assert replayed is False


async def test_a_receiver_answer_echoing_the_signing_secret_never_shows_it(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = new_secret()
    async with webhook_receiver(secret) as hook:
        # given a receiver that refuses with a page quoting the signing secret, as it is and URL-encoded
        hook.answer(422, body=f"<html><p>rejected: secret={secret}</p><p>{secret.replace('-', '%2D')}</p></html>")
        await configure(tenant, "ECHAT", hook.url, secret)
        operator = await operator_on(tenant, "ECHAT")
        # when an event is published
        notification_id = await publish(tenant, operator)
        delivery = await settled(operator, notification_id, "ECHAT")

    # then the delivery failed in the service's words, without the page
    assert (delivery["status"], delivery["attempts"]) == ("FAILED", 1)
    assert delivery["lastError"] == (
        "the ECHAT webhook refused the request (HTTP 422): not retried; "
        "check the receiver and the ECHAT bot settings (url, signing secret)"
    )
    # and the secret is in no answer and no log line, while the page was logged redacted
    assert secret not in json.dumps([delivery, await channel_row(operator, "ECHAT")])
    assert secret not in caplog.text and "%2D" not in caplog.text
    assert "<html><p>rejected: secret=***</p><p>***</p></html>" in caplog.text


async def test_a_name_that_resolves_inside_the_network_when_connecting_is_refused(
    tenant: Tenant, app: Any, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a CUSTOM webhook on a name the check before the send finds public (https-only settings)
    await configure(tenant, "CUSTOM", "https://hooks.example.com/nc", new_secret())
    caller = await operator_on(tenant, "CUSTOM")

    async def public(host: str, port: int) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]

    monkeypatch.setattr(urls, "resolve", public)
    # and a DNS answer that has changed to a loopback address by the time the connection is made
    resolver = FixedResolver("127.0.0.1")
    strict = replace(settings, allow_http_endpoints=False)
    operator = await Operator.get(instance_id=tenant.id, user_id=caller.user)
    row = await Delivery.create(
        instance_id=operator.instance_id, operator_id=operator.id, channel="CUSTOM", next_attempt_at=None
    )
    async with ProviderClient(allow_private=False, resolver=resolver) as http:
        channel = WebhookChannel(ChannelDeps(strict, app.state.services.secret_box, http))
        # when the channel sends a test event
        outcome = await channel.send(
            Job(DeliveryRow(row.id, operator.instance_id, operator.id, None, "CUSTOM", 1), None, operator)
        )
    # then the connection is refused, and the delivery gives up saying why
    assert resolver.asked == ["hooks.example.com"]
    assert outcome == GiveUp("CUSTOM url the host hooks.example.com resolves to a non-public address (127.0.0.1)")


@pytest.mark.parametrize(
    ("status", "headers", "reason", "retried"),
    [
        (500, {}, "the CUSTOM webhook answered HTTP 500: retrying", True),
        (503, {"Retry-After": "30"}, "the CUSTOM webhook answered HTTP 503: retrying after 30 s", True),
        (429, {"Retry-After": "5"}, "the CUSTOM webhook is rate-limiting (HTTP 429): retrying after 5 s", True),
        (
            401,
            {},
            "the CUSTOM webhook refused the signed request (HTTP 401): check the signed request in the "
            "receiver and the CUSTOM bot settings (url, signing secret)",
            False,
        ),
        (
            404,
            {},
            "the CUSTOM webhook answered HTTP 404 (nothing at that address): check the URL in the receiver "
            "and the CUSTOM bot settings (url, signing secret)",
            False,
        ),
        (
            302,
            {"Location": "https://elsewhere.example.com"},
            "the CUSTOM webhook answered with a redirect (HTTP 302), "
            "which is not followed: set the final URL in the receiver and the CUSTOM bot settings (url, signing secret)",
            False,
        ),
    ],
)
def test_each_class_of_webhook_failure_has_its_reason(
    status: int, headers: dict[str, str], reason: str, retried: bool
) -> None:
    # when a receiver's answer is classified
    response = Answer(status, b"<html>anything at all</html>", headers)
    outcome = outcome_for(
        response,
        "the CUSTOM webhook",
        credential="signed request",
        where="the receiver and the CUSTOM bot settings (url, signing secret)",
    )
    # then the reason says what failed and what to do, without the body
    assert outcome.reason == reason  # type: ignore[union-attr]
    assert isinstance(outcome, RetryLater if retried else GiveUp)
