"""The bell history: pagination, filters, unread counts, marking read, and delivery logs.

These tests put notifications in the database the way the publisher does (one row per recipient,
with its deliveries, counted into the operator's unread counter), with titles and entities of
their own.
"""

from __future__ import annotations

from domain.panel import add_unread
from models.notification import Delivery, Notification
from models.operator import Operator
from tests.conftest import Caller, Tenant

PAGE = """query($first: Int, $after: String, $filter: NotificationFilter) {
  notifications(first: $first, after: $after, filter: $filter) {
    edges { cursor node { id typeCode categoryCode title body entity { kind id } data readAt } }
    pageInfo { hasNextPage endCursor } unreadCount } }"""


async def give(
    caller: Caller, count: int, type_code: str = "ticket_created", category: str = "creation_and_messages"
) -> list[int]:
    operator, _ = await Operator.get_or_create(instance_id=caller.instance, user_id=caller.user)
    ids = []
    for i in range(count):
        row = await Notification.create(
            instance_id=caller.instance,
            operator_id=operator.id,
            event_id=f"{type_code}-{i}-{id(caller)}",
            type_code=type_code,
            category_code=category,
            title=f"Ticket #{i}",
            body="Printer on fire",
            entity_kind="TICKET",
            entity_id=str(i),
            data={"ticketNumber": i},
            channels=["BELL"],
        )
        await Delivery.create(
            instance_id=caller.instance,
            operator_id=operator.id,
            notification_id=row.id,
            channel="BELL",
            status="SENT",
            attempts=1,
        )
        await add_unread([(row.id, operator.id)])
        ids.append(row.id)
    return ids


async def test_45_items_page_newest_first_with_stable_cursors(tenant: Tenant) -> None:
    operator = tenant.operator()
    ids = await give(operator, 45)
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = (await operator.gql(PAGE, {"first": 20, "after": after})).data["notifications"]
        pages += 1
        seen += [e["node"]["id"] for e in data["edges"]]
        assert data["unreadCount"] == 45
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [str(i) for i in sorted(ids, reverse=True)]
    first = (await operator.gql(PAGE, {"first": 1})).data["notifications"]["edges"][0]["node"]
    assert first["entity"] == {"kind": "TICKET", "id": "44"} and first["data"] == {"ticketNumber": 44}


async def test_page_size_and_cursor_errors(tenant: Tenant) -> None:
    operator = tenant.operator()
    assert (await operator.gql(PAGE, {"first": 0})).error_code == "BAD_USER_INPUT"
    assert (await operator.gql(PAGE, {"first": 101})).error_code == "BAD_USER_INPUT"
    assert (await operator.gql(PAGE, {"after": "garbage!"})).error_code == "BAD_USER_INPUT"


async def test_unread_counts_after_each_mark(tenant: Tenant) -> None:
    operator = tenant.operator()
    tickets = await give(operator, 3)
    ratings = await give(operator, 2, "csat_received", "csat")
    marked = await operator.gql(
        "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids unreadCount } }", {"ids": [str(tickets[0])]}
    )
    assert marked.data["markNotificationsRead"] == {"ids": [str(tickets[0])], "unreadCount": 4}
    again = await operator.gql(
        "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids unreadCount } }", {"ids": [str(tickets[0])]}
    )
    assert again.data["markNotificationsRead"] == {"ids": [], "unreadCount": 4}
    csat = await operator.gql('mutation { markAllNotificationsRead(categoryCode: "csat") { ids unreadCount } }')
    assert csat.data["markAllNotificationsRead"] == {
        "ids": [str(i) for i in sorted(ratings, reverse=True)],
        "unreadCount": 2,
    }
    unread_only = (await operator.gql(PAGE, {"filter": {"unreadOnly": True}})).data["notifications"]
    assert [e["node"]["id"] for e in unread_only["edges"]] == [str(tickets[2]), str(tickets[1])]
    rest = await operator.gql("mutation { markAllNotificationsRead { ids unreadCount } }")
    assert rest.data["markAllNotificationsRead"]["unreadCount"] == 0
    assert (await operator.gql("{ unreadCount }")).data == {"unreadCount": 0}


async def test_filters_by_category_and_type(tenant: Tenant) -> None:
    operator = tenant.operator()
    await give(operator, 2)
    await give(operator, 1, "csat_received", "csat")
    by_cat = (await operator.gql(PAGE, {"filter": {"categoryCodes": ["csat"]}})).data["notifications"]
    assert [e["node"]["typeCode"] for e in by_cat["edges"]] == ["csat_received"]
    by_type = (await operator.gql(PAGE, {"filter": {"typeCodes": ["ticket_created"]}})).data["notifications"]
    assert len(by_type["edges"]) == 2
    assert (await operator.gql(PAGE, {"filter": {"typeCodes": ["nope"]}})).error_code == "BAD_USER_INPUT"


async def test_other_users_and_instances_ids_are_not_found(new_tenant) -> None:
    a, b = new_tenant(), new_tenant()
    owner = a.operator()
    [mine] = await give(owner, 1)
    for stranger in (a.operator(), b.operator()):
        result = await stranger.gql(
            "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids } }", {"ids": [str(mine)]}
        )
        assert result.error_code == "NOT_FOUND"
        assert (await stranger.gql(PAGE)).data["notifications"]["edges"] == []
        assert (
            await stranger.gql("query($id: ID!) { deliveries(notificationId: $id) { id } }", {"id": str(mine)})
        ).error_code == "NOT_FOUND"
    still = (await owner.gql(PAGE)).data["notifications"]
    assert still["unreadCount"] == 1


async def test_delivery_logs_for_the_owner_and_supervisors_of_the_instance(new_tenant) -> None:
    a, b = new_tenant(), new_tenant()
    owner = a.operator()
    [nid] = await give(owner, 1)
    query = "query($id: ID!) { deliveries(notificationId: $id) { notificationId channel status attempts } }"
    expected = [{"notificationId": str(nid), "channel": "BELL", "status": "SENT", "attempts": 1}]
    assert (await owner.gql(query, {"id": str(nid)})).data["deliveries"] == expected
    assert (await a.caller("supervisor").gql(query, {"id": str(nid)})).data["deliveries"] == expected
    assert (await b.caller("supervisor").gql(query, {"id": str(nid)})).error_code == "NOT_FOUND"
    assert (await a.service().gql(query, {"id": str(nid)})).error_code == "FORBIDDEN"


async def test_a_fresh_bell_subscription_starts_after_the_newest_item_found_by_one_index_seek(new_tenant) -> None:
    from domain.bell import newest_id, newest_of
    from models.db import db, is_postgres

    a, b = new_tenant(), new_tenant()
    owner, quiet = a.operator(), a.operator()
    await give(quiet, 1)  # an older item of someone else's
    mine = await give(owner, 3)
    await give(b.operator(), 2)  # newer items of another instance
    await Operator.get_or_create(instance_id=a.id, user_id="nobody-yet")

    assert await newest_id(a.id, owner.user) == mine[-1]
    assert await newest_id(a.id, "nobody-yet") == 0  # an operator with no item
    assert await newest_id(a.id, "never-seen") == 0  # no such operator
    assert await newest_id(b.id, owner.user) == 0  # the same user id in another instance

    if not is_postgres():
        # Through a join on the operator, SQLite walked the whole table from its newest row
        # when the operator had no recent item (3.5 s on 400,000 rows): one seek now.
        operator = await Operator.get(instance_id=a.id, user_id="nobody-yet")
        statement = newest_of(operator.id)
        _, plan = await db().execute_query(f"EXPLAIN QUERY PLAN {statement.sql(params_inline=True)}")
        steps = " | ".join(str(row["detail"]) for row in plan)
        assert "SEARCH" in steps and "SCAN" not in steps, steps
