"""Inbox parity through the served app: mark unread, archive / unarchive, snooze and its return,
unreadCounts; live in every tab of the operator (real WebSocket clients against uvicorn)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from tests.conftest import Caller, Tenant
from tests.wsclient import GraphQLWS

PUBLISH = "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }"
NOTIFICATION = "id categoryCode title readAt archivedAt snoozedUntil"
BELL = f"""subscription {{ bell {{ __typename
  ... on NotificationAdded {{ unreadCount notification {{ {NOTIFICATION} }} }}
  ... on NotificationsRead {{ ids unreadCount }}
  ... on NotificationsUnread {{ ids unreadCount }}
  ... on NotificationsArchived {{ ids unreadCount }}
  ... on NotificationsSnoozed {{ ids snoozedUntil unreadCount }}
  ... on NotificationsUnarchived {{ notifications {{ {NOTIFICATION} }} unreadCount }}
  ... on NotificationsReturned {{ notifications {{ {NOTIFICATION} }} unreadCount }} }} }}"""
TOASTS = "subscription { toasts { durationSeconds repeat notification { id title readAt } } }"
PAGE = f"""query($after: String, $filter: NotificationFilter) {{
  notifications(first: 100, after: $after, filter: $filter) {{
    edges {{ node {{ {NOTIFICATION} }} }} pageInfo {{ hasNextPage endCursor }} unreadCount }} }}"""
COUNTS = "{ unreadCount unreadCounts { total categories { categoryCode unread } } }"
UNREAD = "mutation($ids: [ID!]!) { markNotificationsUnread(ids: $ids) { ids unreadCount } }"
READ = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) { ids unreadCount } }"
ARCHIVE = "mutation($ids: [ID!]!) { archiveNotifications(ids: $ids) { ids unreadCount } }"
UNARCHIVE = "mutation($ids: [ID!]!) { unarchiveNotifications(ids: $ids) { ids unreadCount } }"
SNOOZE = """mutation($ids: [ID!]!, $until: DateTime!) {
  snoozeNotifications(ids: $ids, until: $until) { ids snoozedUntil unreadCount } }"""

#: A type of each of three categories, with the data their titles need.
KINDS = [
    ("ticket_created", "creation_and_messages", {"ticketNumber": 7, "subject": "Refund"}),
    ("ticket_closed", "changes", {"ticketNumber": 8}),
    ("sla_expired", "sla", {"ticketNumber": 9}),
]


async def publish(tenant: Tenant, event_id: str, kind: int = 0, recipients: tuple[str, ...] = ("alice",)) -> None:
    type_code, _, data = KINDS[kind]
    result = await tenant.service().gql(
        PUBLISH, {"input": {"id": event_id, "type": type_code, "recipients": list(recipients), "data": data}}
    )
    assert result.data["publishEvent"]["notificationCount"] == len(recipients)


async def every_item(caller: Caller, **flt: Any) -> list[dict[str, Any]]:
    """All items of a view, page by page."""
    items: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await caller.gql(PAGE, {"after": after, "filter": flt or None})).data["notifications"]
        items += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return items
        after = page["pageInfo"]["endCursor"]


async def ids_of(caller: Caller) -> list[str]:
    return [item["id"] for item in await every_item(caller)]


async def assert_counts_match_the_pages(caller: Caller) -> int:
    """unreadCount, unreadCounts (total and per category) and the bell's pages agree; the count."""
    items = await every_item(caller)
    unread = [item for item in items if item["readAt"] is None]
    by_category: dict[str, int] = {}
    for item in unread:
        by_category[item["categoryCode"]] = by_category.get(item["categoryCode"], 0) + 1
    data = (await caller.gql(COUNTS)).data
    assert data["unreadCount"] == len(unread), (data, unread)
    assert data["unreadCounts"]["total"] == len(unread)
    assert {c["categoryCode"]: c["unread"] for c in data["unreadCounts"]["categories"]} == by_category
    order = [code for _, code, _ in KINDS]
    listed = [c["categoryCode"] for c in data["unreadCounts"]["categories"]]
    assert listed == sorted(listed, key=order.index)  # catalog order
    assert all(item["archivedAt"] is None and item["snoozedUntil"] is None for item in items)
    return len(unread)


def in_seconds(seconds: float, utc_offset_hours: int = 0) -> str:
    """A time ``seconds`` from now, written with that UTC offset."""
    zone = timezone(timedelta(hours=utc_offset_hours))
    return (datetime.now(UTC) + timedelta(seconds=seconds)).astimezone(zone).isoformat()


async def next_bell(tab: GraphQLWS, typename: str, timeout: float = 5.0) -> dict[str, Any]:
    """The tab's next bell event of ``typename`` (NotificationAdded of the publishing are skipped)."""
    while True:
        event = (await tab.next(timeout))["bell"]
        if event["__typename"] == typename:
            return event
        assert event["__typename"] == "NotificationAdded", event


# -- counts ---------------------------------------------------------------------------------------
async def test_archive_unarchive_and_mark_unread_keep_unread_count_exact(tenant: Tenant) -> None:
    # given nine unread items in three categories
    alice = tenant.operator("alice")
    for i in range(9):
        await publish(tenant, f"c{i}", kind=i % 3)
    ids = await ids_of(alice)
    assert await assert_counts_match_the_pages(alice) == 9
    # when some are read, then marked unread again (twice: the second changes nothing)
    read = (await alice.gql(READ, {"ids": ids[:4]})).data["markNotificationsRead"]
    assert read["unreadCount"] == 5
    again = (await alice.gql(UNREAD, {"ids": ids[:2]})).data["markNotificationsUnread"]
    assert again == {"ids": ids[:2], "unreadCount": 7}
    twice = (await alice.gql(UNREAD, {"ids": ids[:2]})).data["markNotificationsUnread"]
    assert twice == {"ids": [], "unreadCount": 7}
    assert await assert_counts_match_the_pages(alice) == 7
    # when read and unread items are archived (twice: the second changes nothing)
    archived = (await alice.gql(ARCHIVE, {"ids": [ids[0], ids[3], ids[5]]})).data["archiveNotifications"]
    assert archived == {"ids": [ids[0], ids[3], ids[5]], "unreadCount": 5}  # ids[3] was read
    assert (await alice.gql(ARCHIVE, {"ids": [ids[0]]})).data["archiveNotifications"]["ids"] == []
    # then they left the bell, the archive lists them, and the counts agree with the pages
    assert await assert_counts_match_the_pages(alice) == 5
    assert set(await ids_of(alice)) == set(ids) - {ids[0], ids[3], ids[5]}
    archive = await every_item(alice, archived=True)
    assert [item["id"] for item in archive] == [ids[0], ids[3], ids[5]]
    assert all(item["archivedAt"] for item in archive)
    page = (await alice.gql(PAGE, {"filter": {"archived": True}})).data["notifications"]
    assert page["unreadCount"] == 2  # the archive's own unread items
    # when an archived unread item is marked read, and a read one unread, nothing counts while archived
    await alice.gql(READ, {"ids": [ids[0]]})
    await alice.gql(UNREAD, {"ids": [ids[3]]})
    assert await assert_counts_match_the_pages(alice) == 5
    # when they come back
    back = (await alice.gql(UNARCHIVE, {"ids": [ids[0], ids[3], ids[5]]})).data["unarchiveNotifications"]
    assert back == {"ids": [ids[0], ids[3], ids[5]], "unreadCount": 7}  # ids[3], ids[5] unread; ids[0] read
    assert await assert_counts_match_the_pages(alice) == 7
    assert await ids_of(alice) == ids
    # and marking everything read leaves nothing to count
    await alice.gql("mutation { markAllNotificationsRead { unreadCount } }")
    assert await assert_counts_match_the_pages(alice) == 0


async def test_snoozed_items_leave_the_counts_until_they_return(tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    for i in range(4):
        await publish(tenant, f"s{i}", kind=i % 3)
    ids = await ids_of(alice)
    # when one unread, one read and one archived item are snoozed
    await alice.gql(READ, {"ids": [ids[1]]})
    await alice.gql(ARCHIVE, {"ids": [ids[2]]})
    until = in_seconds(600)
    snoozed = (await alice.gql(SNOOZE, {"ids": ids[:3], "until": until})).data["snoozeNotifications"]
    # then they all left the bell and the archive, and only the unread one left the count
    assert snoozed["ids"] == ids[:3] and snoozed["unreadCount"] == 1
    assert datetime.fromisoformat(snoozed["snoozedUntil"]) == datetime.fromisoformat(until)
    assert await ids_of(alice) == [ids[3]]
    assert await every_item(alice, archived=True) == []
    assert [item["id"] for item in await every_item(alice, snoozed=True)] == ids[:3]
    assert await assert_counts_match_the_pages(alice) == 1
    # when a snoozed item is archived, it stays archived (its snooze is cancelled)
    await alice.gql(ARCHIVE, {"ids": [ids[0]]})
    assert [item["id"] for item in await every_item(alice, archived=True)] == [ids[0]]
    assert [item["id"] for item in await every_item(alice, snoozed=True)] == ids[1:3]
    assert await assert_counts_match_the_pages(alice) == 1


async def test_unread_counts_take_one_statement_whatever_the_number_of_items(tenant: Tenant, sql) -> None:
    alice = tenant.operator("alice")
    await publish(tenant, "few-0", kind=0)
    await alice.gql(COUNTS)  # the viewer is cached from here on
    await sql.settled(tenant.id)
    sql.statements.clear()
    few = (await alice.gql("{ unreadCounts { total categories { categoryCode unread } } }")).data
    small = sql.count
    for i in range(30):
        await publish(tenant, f"many-{i}", kind=i % 3)
    await sql.settled(tenant.id)
    sql.statements.clear()
    many = (await alice.gql("{ unreadCounts { total categories { categoryCode unread } } }")).data
    assert few["unreadCounts"]["total"] == 1 and many["unreadCounts"]["total"] == 31
    assert sql.count == small == 1, sql.statements


# -- refusals ------------------------------------------------------------------------------------
async def test_wrong_inputs_are_refused_and_change_nothing(tenant: Tenant, new_tenant) -> None:
    alice, bob = tenant.operator("alice"), tenant.operator("bob")
    await publish(tenant, "w1", recipients=("alice", "bob"))
    [mine] = await ids_of(alice)
    [bobs] = await ids_of(bob)
    elsewhere = new_tenant()
    await publish(elsewhere, "w2")
    [theirs] = await ids_of(elsewhere.operator("alice"))
    for document in (ARCHIVE, UNARCHIVE, UNREAD):
        for foreign in (bobs, theirs, "0", "nope"):
            result = await alice.gql(document, {"ids": [mine, foreign]})
            assert result.error_code == "NOT_FOUND", result.body
        assert (await alice.gql(document, {"ids": []})).error_code == "BAD_USER_INPUT"
        too_many = await alice.gql(document, {"ids": [mine] * 1001})
        assert too_many.error_code == "BAD_USER_INPUT" and "at most 1000" in too_many.error_message
    result = await alice.gql(SNOOZE, {"ids": [mine, bobs], "until": in_seconds(60)})
    assert result.error_code == "NOT_FOUND"
    for until, says in (
        (in_seconds(-1), "future"),
        (in_seconds(31 * 86_400), "at most 2592000 seconds"),
        (datetime.now().isoformat(), "UTC offset"),
    ):
        result = await alice.gql(SNOOZE, {"ids": [mine], "until": until})
        assert result.error_code == "BAD_USER_INPUT" and says in result.error_message, result.body
        assert result.errors[0]["extensions"]["field"] == "until"
    both = await alice.gql(PAGE, {"filter": {"archived": True, "snoozed": True}})
    assert both.error_code == "BAD_USER_INPUT"
    # nothing changed
    [item] = await every_item(alice)
    assert item["id"] == mine and item["readAt"] is None
    assert (await alice.gql(COUNTS)).data["unreadCount"] == 1
    assert (await bob.gql(COUNTS)).data["unreadCount"] == 1
    # a service may not use a bell
    service = await tenant.service().gql(ARCHIVE, {"ids": [mine]})
    assert service.error_code == "FORBIDDEN"


# -- live ------------------------------------------------------------------------------------------
async def test_two_tabs_see_archive_unread_and_snooze_live(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    for i in range(3):
        await publish(tenant, f"t{i}", kind=i)
    ids = await ids_of(alice)
    await alice.gql(READ, {"ids": [ids[2]]})
    async with GraphQLWS(live_server, alice.token) as tab1, GraphQLWS(live_server, alice.token) as tab2:
        tabs = (tab1, tab2)
        for tab in tabs:
            await tab.subscribe(BELL)
        await asyncio.sleep(0.3)
        # archive
        await alice.gql(ARCHIVE, {"ids": [ids[0]]})
        for tab in tabs:
            assert await next_bell(tab, "NotificationsArchived") == {
                "__typename": "NotificationsArchived",
                "ids": [ids[0]],
                "unreadCount": 1,
            }
        # unarchive: the item comes with the event, as it is now
        await alice.gql(UNARCHIVE, {"ids": [ids[0]]})
        for tab in tabs:
            event = await next_bell(tab, "NotificationsUnarchived")
            assert event["unreadCount"] == 2
            [item] = event["notifications"]
            assert item["id"] == ids[0] and item["archivedAt"] is None and item["readAt"] is None
        # mark unread
        await alice.gql(UNREAD, {"ids": [ids[2]]})
        for tab in tabs:
            assert await next_bell(tab, "NotificationsUnread") == {
                "__typename": "NotificationsUnread",
                "ids": [ids[2]],
                "unreadCount": 3,
            }
        # snooze
        until = in_seconds(600)
        await alice.gql(SNOOZE, {"ids": [ids[1]], "until": until})
        for tab in tabs:
            event = await next_bell(tab, "NotificationsSnoozed")
            assert event["ids"] == [ids[1]] and event["unreadCount"] == 2
            assert datetime.fromisoformat(event["snoozedUntil"]) == datetime.fromisoformat(until)
        # nothing else: one message per action
        for tab in tabs:
            await tab.nothing_for(0.3)


async def test_a_snoozed_item_returns_unread_with_a_banner_in_every_tab(live_server: str, tenant: Tenant) -> None:
    alice = tenant.operator("alice")
    await publish(tenant, "z1", kind=0)
    await publish(tenant, "z2", kind=1)
    ids = await ids_of(alice)
    await alice.gql(READ, {"ids": [ids[0]]})
    async with (
        GraphQLWS(live_server, alice.token) as tab1,
        GraphQLWS(live_server, alice.token) as tab2,
        GraphQLWS(live_server, alice.token) as banners,
    ):
        for tab in (tab1, tab2):
            await tab.subscribe(BELL)
        await banners.subscribe(TOASTS)
        await asyncio.sleep(0.3)
        # when a read item is snoozed for 2 s (the time written in Kyiv's winter offset)
        until = in_seconds(2, utc_offset_hours=2)
        snoozed = (await alice.gql(SNOOZE, {"ids": [ids[0]], "until": until})).data["snoozeNotifications"]
        assert datetime.fromisoformat(snoozed["snoozedUntil"]) == datetime.fromisoformat(until)
        assert snoozed["unreadCount"] == 1
        for tab in (tab1, tab2):
            await next_bell(tab, "NotificationsSnoozed")
        assert await ids_of(alice) == [ids[1]]
        # then it is back after 2 s, unread, in both tabs, with a banner
        for tab in (tab1, tab2):
            event = await next_bell(tab, "NotificationsReturned", timeout=5)
            [item] = event["notifications"]
            assert item["id"] == ids[0] and item["readAt"] is None and item["snoozedUntil"] is None
            assert event["unreadCount"] == 2
        toast = (await banners.next(timeout=3))["toasts"]
        assert toast["notification"]["id"] == ids[0] and toast["notification"]["readAt"] is None
        assert toast["repeat"] == 0 and toast["durationSeconds"] > 0
        await tab1.nothing_for(0.5)  # returned once
    assert await ids_of(alice) == ids
    assert await assert_counts_match_the_pages(alice) == 2
    assert await every_item(alice, snoozed=True) == []


async def test_documents_that_name_only_the_contracts_events_get_only_those(live_server: str, tenant: Tenant) -> None:
    # given tabs subscribed as before the inbox events existed (both protocols), and one that names them
    contract = """subscription { bell { __typename ... on NotificationAdded { unreadCount }
      ... on NotificationsRead { ids unreadCount } } }"""
    alice = tenant.operator("alice")
    await publish(tenant, "old-1")
    [item] = await ids_of(alice)
    async with (
        GraphQLWS(live_server, alice.token) as compiled,
        GraphQLWS(live_server, alice.token, protocol="graphql-ws") as executed,
        GraphQLWS(live_server, alice.token) as inbox,
    ):
        await compiled.subscribe(contract)
        await executed.subscribe(contract)
        await inbox.subscribe(BELL)
        await asyncio.sleep(0.3)
        # when the item is archived, brought back, marked unread and snoozed, then read
        await alice.gql(ARCHIVE, {"ids": [item]})
        await alice.gql(UNARCHIVE, {"ids": [item]})
        await alice.gql(SNOOZE, {"ids": [item], "until": in_seconds(600)})
        await alice.gql(READ, {"ids": [item]})
        # then the older documents hear only the read, the newer one everything
        for tab in (compiled, executed):
            event = (await tab.next())["bell"]
            assert event == {"__typename": "NotificationsRead", "ids": [item], "unreadCount": 0}
            await tab.nothing_for(0.2)
        heard = [(await inbox.next())["bell"]["__typename"] for _ in range(4)]
        assert heard == [
            "NotificationsArchived",
            "NotificationsUnarchived",
            "NotificationsSnoozed",
            "NotificationsRead",
        ]


async def test_a_notification_that_never_joined_the_bell_has_no_inbox_actions(tenant: Tenant) -> None:
    from models.notification import Notification

    alice = tenant.operator("alice")
    await alice.gql('mutation { setTypeChannels(typeCode: "ticket_closed", channels: [BANNER]) { code } }')
    await publish(tenant, "banner-only", kind=1)
    [row] = await Notification.filter(instance_id=tenant.id)
    assert not row.in_bell
    for document in (ARCHIVE, UNARCHIVE, UNREAD):
        assert (await alice.gql(document, {"ids": [str(row.id)]})).error_code == "NOT_FOUND"
    result = await alice.gql(SNOOZE, {"ids": [str(row.id)], "until": in_seconds(60)})
    assert result.error_code == "NOT_FOUND" and "in your bell" in result.error_message
