"""Compiled subscriptions answer exactly what GraphQL execution answers.

graphql-transport-ws takes the compiled path; the legacy graphql-ws protocol executes every
message; the same documents through both must give the same data.
"""

from __future__ import annotations

import asyncio

import pytest

from api.settings import Limits
from resolvers.compiled import compile_subscription
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
TOASTS = "subscription { toasts { durationSeconds sound repeat notification { id title entity { id } } __typename } }"


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_bell_documents_give_the_same_data_both_ways(live_server: str, tenant: Tenant, document: str) -> None:
    alice = tenant.operator("alice")
    assert compile_subscription(build_schema()._schema, document, None, None, Limits()) is not None
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


async def test_toasts_give_the_same_data_both_ways(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    async with (
        GraphQLWS(live_server, alice.token) as compiled,
        GraphQLWS(live_server, alice.token, protocol="graphql-ws") as executed,
    ):
        await compiled.subscribe(TOASTS)
        await executed.subscribe(TOASTS)
        await asyncio.sleep(0.1)
        await tenant.service().gql(
            PUBLISH, {"input": {"id": "toast-1", "type": "ticket_created", "recipients": ["alice"]}}
        )
        first, second = await compiled.next(), await executed.next()
    assert first == second and first["toasts"]["notification"]["entity"] is None


def test_documents_the_compiler_leaves_to_the_executor() -> None:
    schema = build_schema()._schema
    for document in (
        "subscription($x: Boolean!) { bell { __typename @include(if: $x) } }",  # directives
        "subscription { bell { nope } }",  # invalid: the executor reports the error
        "query { unreadCount }",  # not a subscription
        "subscription { toasts { repeat } } subscription Other { reminders { kind } }",  # which one?
    ):
        assert compile_subscription(schema, document, {"x": True}, None, Limits()) is None


def test_limits_apply_to_compiled_documents() -> None:
    deep = "subscription { toasts { notification { entity { id } } } }"
    assert compile_subscription(build_schema()._schema, deep, None, None, Limits(query_depth=3)) is None
    aliased = "subscription { toasts { " + " ".join(f"a{i}: repeat" for i in range(5)) + " } }"
    assert compile_subscription(build_schema()._schema, aliased, None, None, Limits(query_aliases=4)) is None
