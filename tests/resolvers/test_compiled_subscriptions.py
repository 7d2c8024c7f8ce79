"""Compiled subscriptions answer exactly what GraphQL execution answers.

graphql-transport-ws takes the compiled path; the legacy graphql-ws protocol executes every
message; the same documents through both must give the same data.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.settings import Limits
from domain.errors import BadUserInput, QueryTooCostly
from resolvers.compiled_subscriptions import compile_subscription
from resolvers.documents import InvalidDocument
from resolvers.schema import build_schema
from tests.conftest import Tenant
from tests.wsclient import GraphQLWS

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
DOCUMENTS = [
    """subscription { bell { __typename ... on NotificationAdded { unreadCount
         notification { id typeCode categoryCode title body entity { kind id } data createdAt readAt } } } }""",
    """subscription Named { feed: bell { ...added ... on NotificationsRead { ids } } }
       fragment added on NotificationAdded { count: unreadCount n: notification { t: title __typename } }""",
    """subscription { bell { ... on BellEvent { __typename } ... on NotificationAdded { unreadCount unreadCount } } }""",
]
MERGED = [  # one object selected twice: GraphQL merges the sub-fields (the compiler leaves it to the executor)
    "subscription { bell { ... on NotificationAdded { notification { id } ...more } } }"
    " fragment more on NotificationAdded { notification { title entity { kind } } }",
    "subscription { toasts { notification { id } notification { title } } }",
]
TOASTS = "subscription { toasts { durationSeconds sound repeat notification { id title entity { id } } __typename } }"


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_bell_documents_give_the_same_data_both_ways(live_server: str, tenant: Tenant, document: str) -> None:
    alice = tenant.operator("alice")
    schema = build_schema()
    assert compile_subscription(schema.documents.admit(document), None, None, Limits()) is not None
    async with (
        GraphQLWS(live_server, alice.token) as compiled,
        GraphQLWS(live_server, alice.token, protocol="graphql-ws") as executed,
    ):
        await compiled.subscribe(document)
        await executed.subscribe(document)
        await asyncio.sleep(0.1)
        await tenant.service().gql(
            PUBLISH,
            {
                "input": {
                    "id": f"c-{abs(hash(document))}",
                    "type": "ticket_created",
                    "recipients": ["alice"],
                    "entity": {"kind": "TICKET", "id": "77"},
                    "data": {"ticketNumber": 77, "nested": {"a": [1, 2]}},
                }
            },
        )
        assert await compiled.next() == await executed.next()


async def both_ways(live_server: str, tenant: Tenant, document: str, event: dict[str, Any]) -> tuple[Any, Any]:
    """Alice's first message for ``document`` once ``event`` is published: compiled, then executed."""
    alice = tenant.operator("alice")
    async with (
        GraphQLWS(live_server, alice.token) as compiled,
        GraphQLWS(live_server, alice.token, protocol="graphql-ws") as executed,
    ):
        await compiled.subscribe(document)
        await executed.subscribe(document)
        await asyncio.sleep(0.1)
        await tenant.service().gql(PUBLISH, {"input": event})
        return await compiled.next(), await executed.next()


async def test_toasts_give_the_same_data_both_ways(live_server: str, tenant: Tenant) -> None:
    event = {"id": "toast-1", "type": "ticket_created", "recipients": ["alice"]}
    first, second = await both_ways(live_server, tenant, TOASTS, event)
    assert first == second and first["toasts"]["notification"]["entity"] is None


async def test_collapsed_items_and_taken_back_banners_give_the_same_data_both_ways(
    live_server: str, tenant: Tenant
) -> None:
    alice = tenant.operator("alice")
    bell = """subscription { bell { __typename ... on NotificationCollapsed { unreadCount
        notification { id title body count updatedAt createdAt entity { kind id } } }
        ... on NotificationAdded { notification { count updatedAt } } } }"""
    toasts = "subscription { toasts { dismissed durationSeconds notification { id count readAt } } }"
    message = {"type": "chat_message", "recipients": ["alice"], "data": {"chatId": 5, "text": "hi"}}
    async with (
        GraphQLWS(live_server, alice.token) as compiled,
        GraphQLWS(live_server, alice.token, protocol="graphql-ws") as executed,
        GraphQLWS(live_server, alice.token) as compiled_toasts,
        GraphQLWS(live_server, alice.token, protocol="graphql-ws") as executed_toasts,
    ):
        for client, document in (
            (compiled, bell),
            (executed, bell),
            (compiled_toasts, toasts),
            (executed_toasts, toasts),
        ):
            await client.subscribe(document)
        await asyncio.sleep(0.1)
        for event_id in ("chat-1", "chat-2"):
            await tenant.service().gql(PUBLISH, {"input": {**message, "id": event_id}})
        assert await compiled.next() == await executed.next()  # added
        collapsed = await compiled.next()
        assert collapsed == await executed.next() and collapsed["bell"]["notification"]["count"] == 2
        assert await compiled_toasts.next() == await executed_toasts.next()  # the banner, once per window
        await alice.gql('mutation { markEntityRead(entity: {kind: "CHAT", id: "5"}) { ids } }')
        taken_back = await compiled_toasts.next()
        assert taken_back == await executed_toasts.next() and taken_back["toasts"]["dismissed"] is True


def test_documents_the_compiler_leaves_to_the_executor() -> None:
    schema = build_schema()
    for document in (
        "subscription($x: Boolean!) { bell { __typename @include(if: $x) } }",  # directives
        "query { unreadCount }",  # not a subscription
    ):
        assert compile_subscription(schema.documents.admit(document), {"x": True}, None, Limits()) is None
    with pytest.raises(InvalidDocument):  # invalid: never reaches a compiler
        schema.documents.admit("subscription { bell { nope } }")
    two = "subscription One { toasts { repeat } } subscription Other { reminders { kind } }"
    with pytest.raises(BadUserInput, match="defines 2 operations"):  # which one? the client must say
        schema.documents.admit(two)
    assert compile_subscription(schema.documents.admit(two, None, "Other"), None, "Other", Limits()) is not None


def test_limits_apply_before_compiling() -> None:
    deep = "subscription { toasts { notification { entity { id } } } }"
    with pytest.raises(QueryTooCostly, match="4 fields deep; the most is 3"):
        build_schema(Limits(query_depth=3)).documents.admit(deep)
    aliased = "subscription { toasts { " + " ".join(f"a{i}: repeat" for i in range(5)) + " } }"
    with pytest.raises(QueryTooCostly, match="5 aliases"):
        build_schema(Limits(query_aliases=4)).documents.admit(aliased)


INBOX = """subscription { bell { __typename
  ... on NotificationsUnread { ids unreadCount }
  ... on NotificationsArchived { ids count: unreadCount }
  ... on NotificationsSnoozed { ids snoozedUntil unreadCount }
  ... on NotificationsUnarchived { unreadCount notifications { id title readAt archivedAt snoozedUntil entity { id } } }
  ... on NotificationsReturned { unreadCount notifications { id readAt snoozedUntil __typename } } } }"""


async def test_inbox_events_give_the_same_data_both_ways(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    assert compile_subscription(build_schema().documents.admit(INBOX), None, None, Limits()) is not None
    await tenant.service().gql(
        PUBLISH,
        {"input": {"id": "inbox-1", "type": "ticket_created", "recipients": ["alice"], "data": {"ticketNumber": 3}}},
    )
    [edge] = (await alice.gql("{ notifications { edges { node { id } } } }")).data["notifications"]["edges"]
    ids = {"ids": [edge["node"]["id"]]}
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    async with (
        GraphQLWS(live_server, alice.token) as compiled,
        GraphQLWS(live_server, alice.token, protocol="graphql-ws") as executed,
    ):
        await compiled.subscribe(INBOX)
        await executed.subscribe(INBOX)
        await asyncio.sleep(0.1)
        for mutation, variables in (
            ("mutation($ids: [ID!]!) { archiveNotifications(ids: $ids) { ids } }", ids),
            ("mutation($ids: [ID!]!) { unarchiveNotifications(ids: $ids) { ids } }", ids),
            ("mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids } }", ids),
            ("mutation($ids: [ID!]!) { markNotificationsUnread(ids: $ids) { ids } }", ids),
            (
                "mutation($ids: [ID!]!, $u: DateTime!) { snoozeNotifications(ids: $ids, until: $u) { ids } }",
                {**ids, "u": until},
            ),
        ):
            assert (await alice.gql(mutation, variables)).data
        seen = []
        for _ in range(6):  # five actions, then the snooze's return
            first, second = await compiled.next(), await executed.next()
            assert first == second
            seen.append(first["bell"]["__typename"])
    assert seen == [
        "NotificationsArchived",
        "NotificationsUnarchived",
        "NotificationsRead",
        "NotificationsUnread",
        "NotificationsSnoozed",
        "NotificationsReturned",
    ]


def test_subscriptions_of_one_document_share_its_plan_and_keep_their_own_cursor() -> None:
    # given one bell document that takes its resume cursor from a variable
    schema = build_schema()
    document = "subscription($after: String) { bell(after: $after) { __typename } }"
    admitted = schema.documents.admit(document)
    # when two panels subscribe with it, one resuming and one fresh, and a third with a bad cursor type
    first = compile_subscription(admitted, {"after": "41"}, None, Limits())
    second = compile_subscription(schema.documents.admit(document), {}, None, Limits())
    wrong = compile_subscription(admitted, {"after": 41}, None, Limits())
    # then the plan is made once and shared (every idle panel holds one), the cursors are their own,
    # and the bad one goes to the executor, which says what is wrong
    assert first is not None and second is not None
    assert first.plan is second.plan and first.next_message is second.next_message  # compiled once
    assert first.arguments == {"after": "41"} and second.arguments == {"after": None}
    assert wrong is None


def test_a_cursor_variable_left_out_takes_its_default_from_the_document() -> None:
    schema = build_schema()
    with_default = schema.documents.admit('subscription($after: String = "41") { bell(after: $after) { __typename } }')
    given = compile_subscription(with_default, {"after": "7"}, None, Limits())
    left_out = compile_subscription(with_default, None, None, Limits())
    assert given is not None and given.arguments == {"after": "7"}
    assert left_out is not None and left_out.arguments == {"after": "41"}
    null_default = schema.documents.admit("subscription($after: String = null) { bell(after: $after) { __typename } }")
    compiled = compile_subscription(null_default, {}, None, Limits())
    assert compiled is not None and compiled.arguments == {"after": None}


@pytest.mark.parametrize("document", MERGED)
async def test_an_object_selected_twice_gets_its_merged_fields(live_server: str, tenant: Tenant, document: str) -> None:
    # (found by a reviewer: the compiled path kept the first selection's fields only)
    event = {"id": "merged-1", "type": "ticket_created", "recipients": ["alice"]}
    event |= {"entity": {"kind": "TICKET", "id": "7"}, "data": {"ticketNumber": 7}}
    first, second = await both_ways(live_server, tenant, document, event)
    assert first == second
    assert first[next(iter(first))]["notification"]["title"] == "New ticket #7"
