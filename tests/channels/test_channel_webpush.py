"""The BROWSER channel: Web Push with VAPID and aes128gcm, against a local push service.

Deliveries go through the real API and workers: subscriptions are registered with
registerPushSubscription, events published with publishEvent, tests sent with testChannel. The fake
push service verifies the VAPID signature and decrypts every push with the browser's own keys.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from tortoise.timezone import now

from channels.base import DeliveryRow, GiveUp, Job, RetryLater
from channels.deps import ChannelDeps, http_client
from channels.message import Message
from channels.runtime import Runtime
from channels.webpush import LOST_LEASE, MAX_PAYLOAD_BYTES, MAX_TITLE_CHARS, WebPushChannel, payload
from core.settings import Settings
from domain.keys import SecretBox
from models.notification import Delivery, PushTarget
from models.operator import Operator, PushSubscription
from tests.conftest import Caller, Tenant
from tests.fakes.push_service import Answer, Browser, FakePushService, serve_push_service
from tests.fakes.serve import serve_asgi
from tests.polling import eventually

REGISTER = "mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }"
CHOOSE = "mutation($type: ID!) { setTypeChannels(typeCode: $type, channels: [BELL, BROWSER]) { code } }"
PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
NEWEST = "{ notifications { edges { node { id } } } }"
DELIVERIES = "query($id: ID!) { deliveries(notificationId: $id) { channel status attempts lastError } }"
TEST_SEND = "mutation { testChannel(channel: BROWSER) { status lastError notificationId } }"
SUBSCRIPTIONS = "{ channelSettings { pushSubscriptions { endpoint } } }"
SUBSCRIPTION_IDS = "{ channelSettings { pushSubscriptions { id endpoint } } }"
TARGETS = """query($id: ID!) {
  deliveries(notificationId: $id) {
    id channel status attempts lastError
    targets { subscriptionId pushService status attempts lastError }
  }
}"""


@pytest.fixture
async def push(tenant: Tenant) -> AsyncIterator[FakePushService]:
    async with serve_push_service() as service:
        service.vapid_public_key = (await tenant.operator().gql("{ webPushPublicKey }")).data["webPushPublicKey"]
        yield service


async def subscribe(operator: Caller, push: FakePushService, name: str) -> Browser:
    browser = push.new_browser(f"{name}-{uuid.uuid4().hex[:6]}")
    assert (await operator.gql(REGISTER, {"input": browser.subscription})).data
    return browser


async def publish(tenant: Tenant, operator: Caller, type_code: str = "ticket_created", subject: str = "Printer") -> str:
    """Publish one event to ``operator``; the id of the notification it got."""
    event = {
        "id": uuid.uuid4().hex,
        "type": type_code,
        "recipients": [operator.user],
        "entity": {"kind": "TICKET", "id": "42"},
        "data": {"ticketNumber": 42, "subject": subject},
    }
    assert (await tenant.service().gql(PUBLISH, {"input": event})).data["publishEvent"]["notificationCount"] == 1
    return (await operator.gql(NEWEST)).data["notifications"]["edges"][0]["node"]["id"]


async def until(read: Callable[[], Awaitable[Any]], done: Callable[[Any], bool], seconds: float = 5.0) -> Any:
    """Poll ``read()`` until ``done(value)``; the last value either way (workers run beside the test)."""
    return await eventually(read, done, seconds=seconds)


def browser_delivery(
    operator: Caller, notification_id: str, query: str = DELIVERIES
) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def read() -> dict[str, Any]:
        rows = (await operator.gql(query, {"id": notification_id})).data["deliveries"]
        return next(r for r in rows if r["channel"] == "BROWSER")

    return read


def topic(entity_key: str) -> str:
    """A push Topic as the BROWSER channel derives it: 32 base64url characters of SHA-256."""
    return base64.urlsafe_b64encode(hashlib.sha256(entity_key.encode()).digest()).decode()[:32]


async def subscription_ids(operator: Caller) -> dict[str, str]:
    """Each of the operator's browser endpoints, and its subscription id."""
    rows = (await operator.gql(SUBSCRIPTION_IDS)).data["channelSettings"]["pushSubscriptions"]
    return {r["endpoint"]: r["id"] for r in rows}


def by_browser(delivery: dict[str, Any], ids: dict[str, str], *browsers: Browser) -> dict[str, tuple[str, int]]:
    """The delivery's targets as {browser name: (status, attempts)}."""
    names = {ids[b.endpoint]: b.name for b in browsers}
    return {names[t["subscriptionId"]]: (t["status"], t["attempts"]) for t in delivery["targets"]}


async def test_a_notification_reaches_the_browser_encrypted_as_the_expected_json(
    tenant: Tenant, push: FakePushService, settings: Settings
) -> None:
    # given an operator with one browser who chose BROWSER for new tickets
    alice = tenant.operator("alice")
    laptop = await subscribe(alice, push, "laptop")
    await alice.gql(CHOOSE, {"type": "ticket_created"})
    # when a ticket is published to her
    nid = await publish(tenant, alice)
    # then the delivery is SENT and the browser decrypts the notification
    delivery = await until(browser_delivery(alice, nid), lambda d: d["status"] != "QUEUED")
    assert delivery["status"] == "SENT", (delivery, push.refusals)
    [received] = push.received(laptop.name)
    assert received.message == {
        "id": nid,
        "type": "ticket_created",
        "title": "New ticket #42",
        "body": "Printer",
        "link": f"{settings.panel_url}/tickets/42",
        # The ticket's topic: the service worker's tag, so a newer push about it replaces this one.
        "tag": topic("TICKET:42"),
    }
    assert (received.ttl, received.urgency, received.topic) == (24 * 3600, "normal", topic("TICKET:42"))


async def test_pushes_are_signed_with_the_servers_vapid_key_for_the_push_services_origin(
    tenant: Tenant, push: FakePushService
) -> None:
    # given a subscribed operator
    bob = tenant.operator()
    phone = await subscribe(bob, push, "phone")
    # when a test is sent
    result = (await bob.gql(TEST_SEND)).data["testChannel"]
    # then the push service verified the JWT with webPushPublicKey, for its own origin
    assert result["status"] == "SENT", (result, push.refusals)
    [received] = push.received(phone.name)
    assert received.claims["aud"] == push.base_url
    assert received.claims["sub"] == "mailto:notifications@127.0.0.1"
    assert push.refusals == []


async def test_urgent_types_are_pushed_with_high_urgency_and_a_short_ttl(tenant: Tenant, push: FakePushService) -> None:
    # given extended types enabled and an operator who chose BROWSER for SLA breaches
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {extendedTypesEnabled: true}) { extendedTypesEnabled } }"
    )
    carol = tenant.operator()
    desktop = await subscribe(carol, push, "desktop")
    assert (await carol.gql(CHOOSE, {"type": "sla_expired"})).data
    # when an SLA breach is published
    await publish(tenant, carol, "sla_expired")
    # then it is pushed with Urgency: high and a one-hour TTL
    [received] = await push.wait_for(desktop.name)
    assert (received.message["type"], received.urgency, received.ttl) == ("sla_expired", "high", 3600)


async def test_a_gone_subscription_is_removed_and_the_others_still_receive(
    tenant: Tenant, push: FakePushService
) -> None:
    # given two browsers, one of which the push service says is gone
    dan = tenant.operator()
    old = await subscribe(dan, push, "old")
    new = await subscribe(dan, push, "new")
    push.answer(old.name, 410)
    await dan.gql(CHOOSE, {"type": "ticket_created"})
    # when a ticket is published
    nid = await publish(tenant, dan)
    # then the other browser got it, the delivery is SENT, and only the gone subscription was removed
    delivery = await until(browser_delivery(dan, nid), lambda d: d["status"] != "QUEUED")
    assert delivery["status"] == "SENT", delivery
    assert len(push.received(new.name)) == 1 and len(push.attempts(old.name)) == 1
    remaining = (await dan.gql(SUBSCRIPTIONS)).data["channelSettings"]["pushSubscriptions"]
    assert remaining == [{"endpoint": new.endpoint}]


async def test_a_failing_push_service_is_retried_until_it_accepts(tenant: Tenant, push: FakePushService) -> None:
    # given a push service answering 500
    erin = tenant.operator()
    tablet = await subscribe(erin, push, "tablet")
    push.answer(tablet.name, 500)
    await erin.gql(CHOOSE, {"type": "ticket_created"})
    # when a ticket is published
    nid = await publish(tenant, erin)
    # then the delivery waits to be retried, with a reason that keeps the endpoint's token out
    retrying = await until(browser_delivery(erin, nid), lambda d: d["status"] == "RETRYING")
    assert retrying["status"] == "RETRYING", retrying
    assert "push service 127.0.0.1 answered HTTP 500" in retrying["lastError"]
    assert "/push/" not in retrying["lastError"]
    # and once the push service recovers, the retry is SENT
    push.answer(tablet.name, 201)
    sent = await until(browser_delivery(erin, nid), lambda d: d["status"] == "SENT")
    assert sent["status"] == "SENT" and sent["attempts"] >= 2
    assert len(push.received(tablet.name)) == 1


async def test_retry_after_from_the_push_service_is_honoured(tenant: Tenant, push: FakePushService) -> None:
    # given a push service that is rate limiting for a second
    fay = tenant.operator()
    pc = await subscribe(fay, push, "pc")
    push.answer(pc.name, 429, retry_after="1")
    await fay.gql(CHOOSE, {"type": "ticket_created"})
    nid = await publish(tenant, fay)
    await until(browser_delivery(fay, nid), lambda d: d["status"] == "RETRYING")
    # when it accepts again
    push.answer(pc.name, 201)
    # then the retry came after the second it asked for, not after the 0.05 s backoff
    sent = await until(browser_delivery(fay, nid), lambda d: d["status"] == "SENT")
    assert sent["status"] == "SENT"
    first, retry = push.attempts(pc.name)
    assert retry.at - first.at >= 0.9


async def test_a_permanent_refusal_fails_the_delivery_with_the_status(tenant: Tenant, push: FakePushService) -> None:
    # given a push service refusing the subscription's pushes for good
    gus = tenant.operator()
    kiosk = await subscribe(gus, push, "kiosk")
    push.answer(kiosk.name, 403)
    # when a test is sent
    result = (await gus.gql(TEST_SEND)).data["testChannel"]
    # then it failed at once, saying what the push service answered, and the subscription is kept
    assert result["status"] == "FAILED"
    assert result["lastError"] == (
        "push service 127.0.0.1 refused the VAPID signature (HTTP 403): the browser must subscribe again "
        "with the server's current webPushPublicKey"
    )
    assert kiosk.name not in result["lastError"]
    assert len((await gus.gql(SUBSCRIPTIONS)).data["channelSettings"]["pushSubscriptions"]) == 1


async def test_a_redirect_from_the_push_service_is_not_followed(tenant: Tenant, push: FakePushService) -> None:
    # given a push service that redirects to another address
    lee = tenant.operator()
    laptop = await subscribe(lee, push, "laptop")
    elsewhere = push.new_browser("elsewhere")
    push.answer(laptop.name, 307, location=elsewhere.endpoint)
    # when a test is sent
    result = (await lee.gql(TEST_SEND)).data["testChannel"]
    # then it fails without the push going anywhere else
    assert result["status"] == "FAILED"
    assert result["lastError"] == "push service 127.0.0.1 answered a redirect (HTTP 307), which is refused"
    assert push.attempts(elsewhere.name) == [] and push.refusals == []


async def test_the_channel_test_pushes_a_test_message_with_a_null_id(tenant: Tenant, push: FakePushService) -> None:
    # given a subscribed operator
    hana = tenant.operator()
    browser = await subscribe(hana, push, "browser")
    # when she tests the channel
    result = (await hana.gql(TEST_SEND)).data["testChannel"]
    # then the delivery is SENT and the browser got a test message
    assert result == {"status": "SENT", "lastError": None, "notificationId": None}
    [received] = push.received(browser.name)
    assert received.message["id"] is None and received.message["type"] == "test"
    assert received.message["title"] == "Test notification"
    assert received.ttl == 600


async def test_the_channel_test_without_a_subscription_fails_saying_so(tenant: Tenant) -> None:
    # given an operator who never allowed browser notifications
    ivan = tenant.operator()
    # when he tests the channel
    result = (await ivan.gql(TEST_SEND)).data["testChannel"]
    # then it fails, naming the missing subscription
    assert result["status"] == "FAILED"
    assert result["lastError"] == "not linked: no browser push subscription"


async def test_a_long_body_is_shortened_to_fit_one_push_record(tenant: Tenant, push: FakePushService) -> None:
    # given an operator with a browser, and a ticket whose subject is far longer than a push holds
    jana = tenant.operator()
    browser = await subscribe(jana, push, "browser")
    await jana.gql(CHOOSE, {"type": "ticket_created"})
    # when it is published
    await publish(tenant, jana, subject="Принтер горить. " * 150)
    # then the push is accepted, its body cut with an ellipsis to fit
    [received] = await push.wait_for(browser.name)
    assert received.size <= MAX_PAYLOAD_BYTES
    assert received.message["body"].startswith("Принтер горить.") and received.message["body"].endswith("…")


async def test_an_endpoint_on_a_private_address_is_refused_at_send_time(
    tenant: Tenant, push: FakePushService, settings: Settings
) -> None:
    # given a subscription pointing inside the network, and https-only settings
    kate = tenant.operator()
    await kate.gql(CHOOSE, {"type": "ticket_created"})
    browser = push.new_browser("inside")
    inside = {**browser.subscription, "endpoint": "https://10.0.0.1/push/inside"}
    assert (await kate.gql(REGISTER, {"input": inside})).data
    operator = await Operator.get(instance_id=tenant.id, user_id=kate.user)
    # a test delivery this test sends itself (never due for the workers)
    row = await Delivery.create(
        instance_id=operator.instance_id, operator_id=operator.id, channel="BROWSER", next_attempt_at=None
    )
    strict = replace(settings, allow_http_endpoints=False)
    async with http_client(allow_private=False) as http:
        channel = WebPushChannel(ChannelDeps(strict, SecretBox("test"), http))
        # when the channel sends to it
        job = Job(DeliveryRow(row.id, operator.instance_id, operator.id, None, "BROWSER", 0), None, operator)
        outcome = await channel.send(job)
    # then nothing is sent and the delivery gives up, saying why
    assert outcome == GiveUp("push endpoint refused: points to a non-public address (10.0.0.1)")
    [target] = await PushTarget.filter(delivery_id=row.id)
    assert (target.status, target.push_service, target.attempts) == ("FAILED", "10.0.0.1", 1)


async def test_each_subscription_gets_its_own_outcome_and_only_transient_failures_are_pushed_again(
    tenant: Tenant, push: FakePushService
) -> None:
    # given six browsers whose push services answer differently, two of them only for a while
    mia = tenant.operator()
    ok, expired, unknown, big, limited, flaky = [
        await subscribe(mia, push, name) for name in ("ok", "expired", "unknown", "big", "limited", "flaky")
    ]
    push.answer(expired.name, 410)
    push.answer(unknown.name, 404)
    push.answer(big.name, 413)
    push.script(limited.name, Answer(429, retry_after="1"), 201)
    push.script(flaky.name, 503, 201)
    ids = await subscription_ids(mia)
    browsers = (ok, expired, unknown, big, limited, flaky)
    await mia.gql(CHOOSE, {"type": "ticket_created"})
    # when a ticket is published
    nid = await publish(tenant, mia)
    # then the first try leaves the delivery RETRYING with each target's outcome shown
    read = browser_delivery(mia, nid, TARGETS)
    first = await until(read, lambda d: d["status"] != "QUEUED")
    assert first["status"] == "RETRYING", first
    assert "2 of 6 browsers to try again (1 accepted)" in first["lastError"]
    assert by_browser(first, ids, *browsers) == {
        ok.name: ("SENT", 1),
        expired.name: ("GONE", 1),
        unknown.name: ("GONE", 1),
        big.name: ("FAILED", 1),
        limited.name: ("RETRYING", 1),
        flaky.name: ("RETRYING", 1),
    }
    # and the retry, after the largest Retry-After, pushes only to the two that failed transiently
    sent = await until(read, lambda d: d["status"] == "SENT")
    assert (sent["status"], sent["attempts"], sent["lastError"]) == ("SENT", 2, None)
    assert by_browser(sent, ids, *browsers) == {
        ok.name: ("SENT", 1),
        expired.name: ("GONE", 1),
        unknown.name: ("GONE", 1),
        big.name: ("FAILED", 1),
        limited.name: ("SENT", 2),
        flaky.name: ("SENT", 2),
    }
    targets = {t["subscriptionId"]: t for t in sent["targets"]}
    assert targets[ids[big.endpoint]]["lastError"] == (
        "push service 127.0.0.1 refused the push as too large (HTTP 413): not retried"
    )
    assert targets[ids[expired.endpoint]]["lastError"] == "subscription expired (HTTP 410)"
    assert {t["pushService"] for t in sent["targets"]} == {"127.0.0.1"}
    # each live browser decrypted exactly one push; the refused ones were not pushed again
    for browser in (ok, limited, flaky):
        assert len(push.received(browser.name)) == 1, browser.name
    for browser in (expired, unknown, big):
        assert len(push.attempts(browser.name)) == 1, browser.name
    first_flaky, retry_flaky = push.attempts(flaky.name)
    assert retry_flaky.at - first_flaky.at >= 0.9
    # and only the expired subscriptions were removed
    assert set(await subscription_ids(mia)) == {ok.endpoint, big.endpoint, limited.endpoint, flaky.endpoint}


async def test_a_browser_that_registers_again_while_its_410_is_on_the_way_keeps_its_fresh_subscription(
    tenant: Tenant, push: FakePushService
) -> None:
    # given a browser whose push service answers 410, slowly
    noa = tenant.operator()
    phone = await subscribe(noa, push, "phone")
    answered = asyncio.Event()
    push.script(phone.name, Answer(410, hold=answered), 201)
    await noa.gql(CHOOSE, {"type": "ticket_created"})
    nid = await publish(tenant, noa)
    assert await push.wait_for(phone.name, accepted=False)
    # when the browser registers the same endpoint with new keys before the 410 arrives
    fresh = push.renew(phone.name)
    assert (await noa.gql(REGISTER, {"input": fresh.subscription})).data
    answered.set()
    # then the fresh subscription is kept, and the retry reaches it with its new keys
    sent = await until(browser_delivery(noa, nid, TARGETS), lambda d: d["status"] == "SENT")
    assert sent["status"] == "SENT", sent
    [row] = await PushSubscription.filter(endpoint=phone.endpoint)
    assert (row.p256dh, row.auth) == (fresh.subscription["p256dh"], fresh.subscription["auth"])
    [target] = sent["targets"]
    assert (target["subscriptionId"], target["status"], target["attempts"]) == (str(row.id), "SENT", 2)
    assert [p.status for p in push.attempts(phone.name)] == [410, 201]


async def test_a_delivery_whose_browsers_all_fail_transiently_is_retried_only_to_those_still_failing(
    tenant: Tenant, push: FakePushService
) -> None:
    # given two browsers whose push services fail for a while: one for two tries, one for one
    olga = tenant.operator()
    slow = await subscribe(olga, push, "slow")
    quick = await subscribe(olga, push, "quick")
    push.script(slow.name, 500, 500, 201)
    push.script(quick.name, 503, 201)
    ids = await subscription_ids(olga)
    await olga.gql(CHOOSE, {"type": "ticket_created"})
    # when a ticket is published
    nid = await publish(tenant, olga)
    # then the delivery is retried until both accepted, each browser pushed until it accepted
    sent = await until(browser_delivery(olga, nid, TARGETS), lambda d: d["status"] == "SENT")
    assert (sent["status"], sent["attempts"]) == ("SENT", 3), sent
    assert by_browser(sent, ids, slow, quick) == {slow.name: ("SENT", 3), quick.name: ("SENT", 2)}
    assert [p.status for p in push.attempts(slow.name)] == [500, 500, 201]
    assert [p.status for p in push.attempts(quick.name)] == [503, 201]


async def test_a_browser_subscribed_between_tries_is_a_target_of_the_retry(
    tenant: Tenant, push: FakePushService
) -> None:
    # given a delivery waiting a second to retry one browser
    pia = tenant.operator()
    laptop = await subscribe(pia, push, "laptop")
    push.script(laptop.name, Answer(429, retry_after="1"), 201)
    await pia.gql(CHOOSE, {"type": "ticket_created"})
    nid = await publish(tenant, pia)
    read = browser_delivery(pia, nid, TARGETS)
    assert (await until(read, lambda d: d["status"] == "RETRYING"))["status"] == "RETRYING"
    # when she allows notifications in another browser meanwhile
    phone = await subscribe(pia, push, "phone")
    # then the retry pushes to both
    sent = await until(read, lambda d: d["status"] == "SENT")
    ids = await subscription_ids(pia)
    assert by_browser(sent, ids, laptop, phone) == {laptop.name: ("SENT", 2), phone.name: ("SENT", 1)}
    assert len(push.received(phone.name)) == 1 and len(push.received(laptop.name)) == 1


async def test_on_the_last_try_a_delivery_some_browser_accepted_ends_sent(
    tenant: Tenant, push: FakePushService, settings: Settings
) -> None:
    # given a delivery one browser accepted while the other's push service asks to wait a minute
    quinn = tenant.operator()
    desk = await subscribe(quinn, push, "desk")
    down = await subscribe(quinn, push, "down")
    push.answer(down.name, 503, retry_after="60")
    ids = await subscription_ids(quinn)
    await quinn.gql(CHOOSE, {"type": "ticket_created"})
    nid = await publish(tenant, quinn)
    read = browser_delivery(quinn, nid, TARGETS)
    retrying = await until(read, lambda d: d["status"] == "RETRYING")
    assert retrying["status"] == "RETRYING", retrying
    # when its last try comes (all but one attempt spent, and due now)
    await Delivery.filter(id=int(retrying["id"])).update(
        attempts=settings.retry_max_attempts - 1, next_attempt_at=now()
    )
    # then the delivery is SENT, the target still failing is FAILED, and the accepted one not pushed again
    sent = await until(read, lambda d: d["status"] != "RETRYING")
    assert (sent["status"], sent["attempts"]) == ("SENT", settings.retry_max_attempts), sent
    assert by_browser(sent, ids, desk, down) == {desk.name: ("SENT", 1), down.name: ("FAILED", 2)}
    assert len(push.attempts(desk.name)) == 1


async def test_a_delivery_log_reads_its_push_targets_with_one_query(
    tenant: Tenant, push: FakePushService, sql: Any
) -> None:
    # given a notification delivered to the bell and pushed to two browsers
    rosa = tenant.operator()
    await subscribe(rosa, push, "laptop")
    await subscribe(rosa, push, "phone")
    await rosa.gql(CHOOSE, {"type": "ticket_created"})
    nid = await publish(tenant, rosa)
    await until(browser_delivery(rosa, nid), lambda d: d["status"] == "SENT")
    # when its delivery log is read with the targets
    sql.statements.clear()
    log = (await rosa.gql(TARGETS, {"id": nid})).data["deliveries"]
    # then the BROWSER delivery shows both targets, the bell's none, and the targets took one query
    assert {d["channel"]: [t["status"] for t in d["targets"]] for d in log} == {
        "BELL": [],
        "BROWSER": ["SENT", "SENT"],
    }
    assert sum("nc_push_target" in s for s in sql.statements) == 1, sql.statements


async def test_a_channel_test_is_sent_when_one_browser_accepts_and_shows_the_other_failed(
    tenant: Tenant, push: FakePushService
) -> None:
    # given two browsers, one behind a failing push service
    sam = tenant.operator()
    await subscribe(sam, push, "working")
    broken = await subscribe(sam, push, "broken")
    push.answer(broken.name, 500)
    # when she tests the channel (a test is never retried)
    result = (await sam.gql("mutation { testChannel(channel: BROWSER) { status targets { status lastError } } }")).data
    # then it is SENT at once, and its targets show which browser never got it
    targets = result["testChannel"]["targets"]
    assert result["testChannel"]["status"] == "SENT"
    assert sorted(t["status"] for t in targets) == ["FAILED", "SENT"]
    assert any((t["lastError"] or "").startswith("push service 127.0.0.1 answered HTTP 500") for t in targets)
    assert len(push.attempts(broken.name)) == 1


async def test_a_browser_answering_after_the_send_deadline_leaves_the_other_browsers_pushed_once(
    tenant: Tenant, push: FakePushService, worker: Callable[..., Runtime]
) -> None:
    # given a worker with a 4 s lease (a try is abandoned 3 s after its claim) allowed two tries,
    # and an operator with a browser answering at once and one answering only after 3.3 s
    runtime = worker(concurrency=4, lease_seconds=4.0, retry_max_attempts=2, retry_base_seconds=0.05)
    await runtime.start()
    ola = tenant.operator()
    fast = await subscribe(ola, push, "fast")
    slow = await subscribe(ola, push, "slow")
    loop = asyncio.get_running_loop()
    answers = [asyncio.Event() for _ in range(2)]
    push.script(slow.name, *(Answer(201, hold=answer) for answer in answers))
    await ola.gql(CHOOSE, {"type": "ticket_created"})
    nid = await publish(tenant, ola)
    for number, answer in enumerate(answers, 1):
        await push.wait_for(slow.name, number, accepted=False)
        loop.call_later(3.3, answer.set)
    # then each try stops waiting for the slow browser before the deadline and records both
    # targets: the fast browser is pushed once, the slow one on each try
    delivery = await until(browser_delivery(ola, nid, TARGETS), lambda d: d["status"] in ("SENT", "FAILED"), 15)
    assert (delivery["status"], delivery["attempts"]) == ("SENT", 2), delivery
    ids = await subscription_ids(ola)
    assert by_browser(delivery, ids, fast, slow) == {fast.name: ("SENT", 1), slow.name: ("FAILED", 2)}
    late = next(t for t in delivery["targets"] if t["subscriptionId"] == ids[slow.endpoint])
    assert re.fullmatch(r"push service 127\.0\.0\.1 did not answer within 2\.\d s", late["lastError"]), late
    assert len(push.received(fast.name)) == 1
    assert len(push.attempts(slow.name)) == 2


async def test_push_targets_are_not_written_for_a_delivery_another_worker_holds(
    tenant: Tenant, push: FakePushService, settings: Settings
) -> None:
    # given a subscribed operator, and a delivery leased to another worker
    rob = tenant.operator()
    laptop = await subscribe(rob, push, "laptop")
    operator = await Operator.get(instance_id=tenant.id, user_id=rob.user)
    row = await Delivery.create(
        instance_id=operator.instance_id,
        operator_id=operator.id,
        channel="BROWSER",
        next_attempt_at=None,
        locked_by="another-worker",
    )
    async with http_client(allow_private=settings.allow_http_endpoints) as http:
        channel = WebPushChannel(ChannelDeps(settings, SecretBox("test"), http))
        # when this worker's try of it comes to push
        job = Job(
            DeliveryRow(row.id, operator.instance_id, operator.id, None, "BROWSER", 1), None, operator, owner="me"
        )
        outcome = await channel.send(job)
    # then it pushes nothing and writes no target
    assert outcome == RetryLater(LOST_LEASE)
    assert push.attempts(laptop.name) == []
    assert await PushTarget.filter(delivery_id=row.id).count() == 0


async def test_the_push_services_answer_is_not_shown_only_a_classified_reason(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    # given a push service whose refusal quotes the endpoint's path (the subscription's bearer token)
    async def refuse(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"invalid token for subscription {request.url.path}", status_code=400)

    token = f"SECRETBEARER{uuid.uuid4().hex}"
    pia = tenant.operator()
    app = Starlette(routes=[Route("/wpush/{token}", refuse, methods=["POST"])])
    async with serve_push_service() as fake, serve_asgi(app) as base:
        browser = fake.new_browser("echo")
        assert (await pia.gql(REGISTER, {"input": {**browser.subscription, "endpoint": f"{base}/wpush/{token}"}})).data
        with caplog.at_level(logging.INFO, logger="channels.webpush"):
            # when a test is sent
            result = (await pia.gql(TEST_SEND)).data["testChannel"]
    # then the delivery, its target and the Channels tab say what failed and what to do
    reason = "push service 127.0.0.1 refused the subscription (HTTP 400): the browser must subscribe again"
    assert (result["status"], result["lastError"]) == ("FAILED", reason)
    [subscription] = (await subscription_ids(pia)).values()
    assert [t.last_error for t in await PushTarget.filter(subscription_id=subscription)] == [reason]
    channels = (await pia.gql("{ channelSettings { channels { kind lastError } } }")).data["channelSettings"]
    assert {c["kind"]: c["lastError"] for c in channels["channels"]}["BROWSER"] == reason
    # and the answer itself is only logged, without the token
    assert "push service 127.0.0.1 answered HTTP 400: invalid token for subscription ***" in caplog.text
    assert token not in caplog.text


async def test_a_rate_limiting_push_service_is_retried_after_its_retry_after_at_most_an_hour(
    tenant: Tenant, push: FakePushService
) -> None:
    # given a browser whose push service rate-limits, asking for a retry in 10^12 s
    uma = tenant.operator()
    tablet = await subscribe(uma, push, "tablet")
    push.answer(tablet.name, 429, retry_after="1e12")
    await uma.gql(CHOOSE, {"type": "ticket_created"})
    before = now()
    nid = await publish(tenant, uma)
    # then the delivery waits an hour, saying why
    delivery = await until(browser_delivery(uma, nid, TARGETS), lambda d: d["status"] != "QUEUED")
    reason = "push service 127.0.0.1 is rate-limiting (HTTP 429): retrying after 3600 s"
    assert (delivery["status"], delivery["lastError"]) == ("RETRYING", reason), delivery
    row = await Delivery.get(id=delivery["id"])
    assert row.next_attempt_at is not None
    assert 3590 <= (row.next_attempt_at - before).total_seconds() <= 3610
    await Delivery.filter(id=row.id).update(status="FAILED", next_attempt_at=None)


async def test_a_browser_that_unregisters_and_registers_again_while_its_410_is_on_the_way_gets_the_push(
    tenant: Tenant, push: FakePushService
) -> None:
    # given a browser whose push service answers 410, slowly
    val = tenant.operator()
    laptop = await subscribe(val, push, "laptop")
    answered = asyncio.Event()
    push.script(laptop.name, Answer(410, hold=answered), 201)
    await val.gql(CHOOSE, {"type": "ticket_created"})
    nid = await publish(tenant, val)
    assert await push.wait_for(laptop.name, accepted=False)
    # when the browser unsubscribes and subscribes again (a new row: same endpoint, new keys)
    # before the 410 arrives
    unregister = "mutation($e: String!) { unregisterPushSubscription(endpoint: $e) }"
    assert (await val.gql(unregister, {"e": laptop.endpoint})).data
    fresh = push.renew(laptop.name)
    assert (await val.gql(REGISTER, {"input": fresh.subscription})).data
    answered.set()
    # then the fresh subscription is a target too: it gets the push, and the delivery is SENT
    delivery = await until(browser_delivery(val, nid, TARGETS), lambda d: d["status"] in ("SENT", "FAILED"))
    assert delivery["status"] == "SENT", delivery
    ids = await subscription_ids(val)
    statuses = {t["subscriptionId"]: t["status"] for t in delivery["targets"]}
    assert statuses[ids[laptop.endpoint]] == "SENT"
    assert sorted(statuses.values()) == ["GONE", "SENT"]
    assert [p.status for p in push.attempts(laptop.name)] == [410, 201]
    assert len(push.received(laptop.name)) == 1


def test_a_long_title_is_cut_with_an_ellipsis() -> None:
    message = Message("1", "ticket_created", "Заголовок " * 40, "body", "https://panel.example/tickets/1")
    title = json.loads(payload(message))["title"]
    assert len(title) <= MAX_TITLE_CHARS
    assert title.endswith("…")
    assert message.title.startswith(title[:-1])
