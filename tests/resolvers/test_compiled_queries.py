"""Compiled queries answer exactly what GraphQL execution answers, errors included."""

from __future__ import annotations

from dataclasses import replace

import pytest

from resolvers.context import Context
from resolvers.schema import build_schema
from tests.conftest import Tenant

DOCUMENTS = [
    "{ notificationCategories { code title position types { code categoryCode title description availability "
    "mandatory mandatoryChannels selectableChannels channels melody editable } } }",
    '{ a: notificationTypes(search: "ticket") { code channels } b: notificationTypes(categoryCode: "csat") { code } }',
    "query($first: Int, $f: NotificationFilter) { notifications(first: $first, filter: $f) { edges { cursor "
    "node { id typeCode title body entity { kind id } data createdAt readAt __typename } } "
    "pageInfo { hasNextPage endCursor } unreadCount } unreadCount }",
    "{ viewer { id instanceId role locale email displayName } notificationCenter { enabled availableChannels "
    "mandatoryChannels unavailableTypesNotice } melodies { id title waveform notes { frequencyHz startMs durationMs } } }",
    "fragment s on ChannelSetting { kind status target } { channelSettings { channels { ...s enabled } "
    "banner { durationSeconds maxVisible } sound { defaultMelody } pushSubscriptions { id endpoint createdAt } } }",
    '{ channelDecisions(typeCode: "chat_created") { channel enabled reason deliverable explanation } }',
    "{ systemMessageSettings { code title enabled } reminderSettings { notReadyEnabled } classicSettings { soundEnabled } }",
    "{ unreadCounts { total categories { categoryCode unread } } a: notifications(filter: {archived: true}) { "
    "edges { node { id archivedAt snoozedUntil } } unreadCount } s: notifications(filter: {snoozed: true}) { "
    "unreadCount } n: notifications { edges { node { id readAt archivedAt snoozedUntil } } } }",
    '{ notificationTypes(categoryCode: "nope") { code } }',  # an error
    '{ channelDecisions(typeCode: "nope") { channel } unreadCount }',  # an error beside a good field
]


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_same_answer_compiled_or_executed(app, tenant: Tenant, document: str) -> None:
    # given an operator with some history and choices
    operator = tenant.operator("alice", locale="uk", email="alice@example.com")
    await operator.gql(
        'mutation { setTypeChannels(typeCode: "chat_created", channels: [BELL, SOUND], melody: "ping") { code } }'
    )
    await tenant.service().gql(
        'mutation { publishEvent(input: {id: "q1", type: "ticket_created", recipients: ["alice"], '
        'entity: {kind: "TICKET", id: "5"}, data: {ticketNumber: 5}}) { notificationCount } }'
    )
    await tenant.service().gql(
        'mutation { publishEvent(input: {id: "q2", type: "sla_expired", recipients: ["alice"], '
        "data: {ticketNumber: 6}}) { notificationCount } }"
    )
    newest = (await operator.gql("{ notifications(first: 1) { edges { node { id } } } }")).data
    archived = {"ids": [newest["notifications"]["edges"][0]["node"]["id"]]}
    await operator.gql("mutation($ids: [ID!]!) { archiveNotifications(ids: $ids) { ids } }", archived)
    services = app.state.services
    executed_services = replace(services, settings=replace(services.settings, compiled_queries=False))
    schema = build_schema(services.settings.limits)
    variables = {"first": 5, "f": {"unreadOnly": True, "categoryCodes": ["creation_and_messages"]}}
    # when the same document runs both ways
    compiled_ctx = Context(services, f"Bearer {operator.token}")
    plan = schema.compiler.compile(schema.documents.admit(document, variables), variables, None)
    assert plan is not None, "the compiler should take this document"
    compiled = await schema.execute(document, variables, context_value=compiled_ctx)
    executed = await schema.execute(
        document, variables, context_value=Context(executed_services, f"Bearer {operator.token}")
    )
    # then data and errors agree
    assert compiled.data == executed.data
    assert [e.formatted for e in compiled.errors or []] == [e.formatted for e in executed.errors or []]


def test_documents_left_to_the_executor() -> None:
    schema = build_schema()
    for document in (
        "{ instanceSettings { negativeCsatThreshold } }",  # not a viewer's read query
        "query($x: Boolean!) { unreadCount @include(if: $x) }",  # directives
        "mutation { markAllNotificationsRead { unreadCount } }",
        "{ __typename unreadCount }",
    ):
        admitted = schema.documents.admit(document, {"x": True})
        assert schema.compiler.compile(admitted, {"x": True}, None) is None, document


BELL_PAGE = (
    "query($first: Int, $f: NotificationFilter) { notifications(first: $first, filter: $f) { edges { cursor } } }"
)


@pytest.mark.parametrize(
    "variables",
    [
        {"first": True},  # not an Int
        {"f": {"unreadOnly": "no"}},  # not a Boolean
        {"f": {"nope": True}},  # no such field
        {"f": {"typeCodes": "ticket_created"}},  # one value where a list goes: coerced to a list
        {"first": 10**30},  # beyond Int
    ],
)
async def test_variables_are_coerced_the_same_way_compiled_or_executed(app, tenant: Tenant, variables: dict) -> None:
    operator = tenant.operator()
    services = app.state.services
    schema = build_schema(services.settings.limits)
    executed_services = replace(services, settings=replace(services.settings, compiled_queries=False))
    compiled = await schema.execute(BELL_PAGE, variables, context_value=Context(services, f"Bearer {operator.token}"))
    executed = await schema.execute(
        BELL_PAGE, variables, context_value=Context(executed_services, f"Bearer {operator.token}")
    )
    assert compiled.data == executed.data
    assert [e.formatted for e in compiled.errors or []] == [e.formatted for e in executed.errors or []]
