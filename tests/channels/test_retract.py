"""What reading takes back from the external channels (issue 14): unsent deliveries are CANCELLED and
never reach the provider; a push names its ticket or chat as its Topic, so a newer one replaces it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

from channels.runtime import Runtime
from tests.channel_support import DELIVERIES, LATEST, PUBLISH
from tests.channels.test_channel_telegram import (
    SET_CHANNELS,
    START_LINK,
    bot_api,
    configure,
    linked_operator,
    start_update,
    waiting_for_a_retry,
    webhook,
)
from tests.channels.test_channel_webpush import CHOOSE, push, subscribe, topic
from tests.conftest import Caller, Tenant
from tests.fakes.push_service import FakePushService
from tests.fakes.telegram_bot_api import FakeBotApi
from tests.polling import eventually

__all__ = ["bot_api", "push"]

MARK_ENTITY = "mutation($e: EntityRefInput!) { markEntityRead(entity: $e) { ids unreadCount } }"
MARK = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids } }"


async def telegram_delivery(operator: Caller) -> dict[str, Any]:
    node = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]
    rows = (await operator.gql(DELIVERIES, {"id": node["id"]})).data["deliveries"]
    return next(r for r in rows if r["channel"] == "TELEGRAM")


async def test_a_queued_telegram_message_is_cancelled_by_mark_entity_read_and_never_sent(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi, worker: Callable[..., Runtime]
) -> None:
    # given a linked operator whose ticket's Telegram message is queued (the app's workers are
    # stopped by the `worker` fixture: no worker has taken it)
    operator = await linked_operator(http, tenant, bot_api)
    event = {
        "id": "q-1",
        "type": "ticket_created",
        "recipients": ["olena"],
        "data": {"ticketNumber": 42, "subject": "Printer on fire"},
    }
    assert "errors" not in (await tenant.service().gql(PUBLISH, {"input": event})).body
    assert (await telegram_delivery(operator))["status"] == "QUEUED"
    # when she marks the ticket read (its entity derived from data.ticketNumber)
    result = (await operator.gql(MARK_ENTITY, {"e": {"kind": "ticket", "id": "42"}})).data["markEntityRead"]
    assert len(result["ids"]) == 1
    # then the delivery is CANCELLED with the reason
    delivery = await telegram_delivery(operator)
    assert delivery["status"] == "CANCELLED" and "read before it was sent" in delivery["lastError"]
    # and once a worker runs, nothing reaches the chat
    runtime = worker()
    await runtime.start()
    await asyncio.sleep(0.5)
    assert bot_api.sent() == []
    assert (await telegram_delivery(operator))["status"] == "CANCELLED"


async def test_a_message_waiting_for_its_retry_is_cancelled_when_read(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a linked operator whose ticket waits for a retry (Telegram said "retry after 2 s")
    operator = await linked_operator(http, tenant, bot_api)
    await waiting_for_a_retry(tenant, operator, bot_api, "t-read")
    # when she reads it in the panel
    node = (await operator.gql(LATEST)).data["notifications"]["edges"][0]["node"]
    assert (await operator.gql(MARK, {"ids": [node["id"]]})).data["markNotificationsRead"]["ids"] == [node["id"]]
    # then the retry never comes: CANCELLED, and the chat got only the refused first try
    assert (await telegram_delivery(operator))["status"] == "CANCELLED"
    await asyncio.sleep(2.5)
    assert len(bot_api.sent()) == 1 and (await telegram_delivery(operator))["status"] == "CANCELLED"


async def test_pushes_about_one_ticket_share_a_topic_so_the_newer_replaces_the_older(
    tenant: Tenant, push: FakePushService
) -> None:
    # given an operator with a browser who chose BROWSER for reassigned tickets
    alice = tenant.operator("alice")
    laptop = await subscribe(alice, push, "laptop")
    await alice.gql(CHOOSE, {"type": "ticket_reassign"})
    reassigned = {"type": "ticket_reassign", "recipients": ["alice"]}
    # when ticket 42 is reassigned twice and ticket 43 once
    for event_id, number in (("p1", 42), ("p2", 42), ("p3", 43)):
        await tenant.service().gql(PUBLISH, {"input": {**reassigned, "id": event_id, "data": {"ticketNumber": number}}})
    pushes = await eventually(lambda: _received(push, laptop.name), lambda got: len(got) == 3)
    # then the push service saw one Topic per ticket (it keeps only the newest of a topic for an
    # offline browser), and the service worker gets the same value as the notification's tag
    topics = {p.message["link"].rsplit("/", 1)[1]: p.topic for p in pushes}
    assert topics == {"42": topic("TICKET:42"), "43": topic("TICKET:43")}
    assert [p.topic for p in pushes].count(topic("TICKET:42")) == 2
    assert all(p.message["tag"] == p.topic for p in pushes)


async def _received(push: FakePushService, browser: str) -> list[Any]:
    return push.received(browser)


async def test_a_sent_telegram_message_is_edited_to_say_it_was_handled(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    # given a bot that edits the messages of handled notifications, and a linked operator
    assert "errors" not in await configure(tenant, bot_api, editWhenHandled=True)
    operator = tenant.operator("olena", locale="uk")
    code = (await operator.gql(START_LINK)).data["startChannelLink"]["code"]
    assert (await webhook(http, tenant, start_update(f"/start {code}"))).status_code == 200
    assert "errors" not in (await operator.gql(SET_CHANNELS)).body
    event = {"type": "ticket_created", "recipients": ["olena"], "data": {"ticketNumber": 77, "subject": "Paper jam"}}
    await tenant.service().gql(PUBLISH, {"input": {**event, "id": "e-1"}})
    await tenant.service().gql(PUBLISH, {"input": {**event, "id": "e-2", "data": {"ticketNumber": 78}}})
    await bot_api.wait_for(2)
    # when the producer says ticket 77 was handled
    resolved = {"id": "e-3", "type": "entity_resolved", "recipients": [], "entity": {"kind": "TICKET", "id": "77"}}
    await tenant.service().gql(PUBLISH, {"input": resolved})
    # then its message (only its) is edited in her language, keeping the rest of the text
    [edited] = await eventually(lambda: _edits(bot_api), lambda got: len(got) == 1)
    first = bot_api.sent()[0]
    assert (edited["chat_id"], edited["text"].splitlines()[0]) == (first["chat_id"], "✓ Опрацьовано: Новий тікет #77")
    assert edited["text"].splitlines()[1:] == first["text"].splitlines()[1:]
    await asyncio.sleep(0.5)
    assert len(bot_api.edited()) == 1


async def test_a_bot_without_edit_when_handled_leaves_sent_messages_alone(
    http: httpx.AsyncClient, tenant: Tenant, bot_api: FakeBotApi
) -> None:
    operator = await linked_operator(http, tenant, bot_api)
    event = {"id": "n-1", "type": "ticket_created", "recipients": ["olena"], "data": {"ticketNumber": 90}}
    await tenant.service().gql(PUBLISH, {"input": event})
    await bot_api.wait_for(1)
    await operator.gql(MARK_ENTITY, {"e": {"kind": "TICKET", "id": "90"}})
    await asyncio.sleep(0.6)
    assert bot_api.edited() == []
    # and the setting takes only true or false
    wrong = await configure(tenant, bot_api, editWhenHandled="yes")
    assert (
        wrong["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        and "editWhenHandled" in wrong["errors"][0]["message"]
    )


async def _edits(bot_api: FakeBotApi) -> list[dict[str, Any]]:
    return bot_api.edited()
