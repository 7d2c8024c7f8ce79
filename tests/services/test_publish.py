"""publishEvent / publishEvents (SPEC section 4): what recipients get, idempotency, CSAT rules."""

from __future__ import annotations

import asyncio

from models.notification import Delivery, Notification, PanelHandOff, ProcessedEvent
from tests import polling
from tests.conftest import Tenant

PUBLISH = """mutation($input: EventInput!) { publishEvent(input: $input) {
  eventId duplicate notificationCount deliveriesQueued } }"""
PUBLISH_MANY = """mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) {
  eventId duplicate notificationCount deliveriesQueued } }"""


async def eventually(read, expected, seconds: float = 5.0):
    """Poll ``read()`` until it returns ``expected`` (workers run beside the test)."""
    return await polling.eventually(read, lambda value: value == expected, seconds=seconds)


BELL = "{ notifications { edges { node { id typeCode title body entity { kind id } } } unreadCount } }"


def ticket(event_id: str, recipients: list[str], **extra) -> dict:
    return {
        "id": event_id,
        "type": "ticket_created",
        "recipients": recipients,
        "entity": {"kind": "TICKET", "id": "42"},
        "data": {"ticketNumber": 42, "subject": "Printer on fire"},
        **extra,
    }


async def test_a_published_event_reaches_each_recipients_bell_in_their_locale(tenant: Tenant) -> None:
    service = tenant.service()
    await service.gql('mutation { upsertOperators(inputs: [{id: "olena", locale: "uk"}]) }')
    result = await service.gql(PUBLISH, {"input": ticket("e1", ["olena", "taras", "actor"], actorId="actor")})
    assert result.data["publishEvent"] == {
        "eventId": "e1",
        "duplicate": False,
        "notificationCount": 2,
        "deliveriesQueued": 4,
    }
    olena = (await tenant.operator("olena").gql(BELL)).data["notifications"]
    assert olena["unreadCount"] == 1
    node = olena["edges"][0]["node"]
    assert (node["typeCode"], node["title"], node["body"]) == ("ticket_created", "Новий тікет #42", "Printer on fire")
    assert node["entity"] == {"kind": "TICKET", "id": "42"}
    taras = (await tenant.operator("taras").gql(BELL)).data["notifications"]["edges"][0]["node"]
    assert taras["title"] == "New ticket #42"
    # the actor gets nothing
    assert (await tenant.operator("actor").gql(BELL)).data["notifications"]["unreadCount"] == 0

    # each channel has a delivery row, the job queue's entry, which the panel worker settles
    async def deliveries() -> list[dict]:
        return (
            await tenant.operator("taras").gql(
                "query($id: ID!) { deliveries(notificationId: $id) { channel status attempts } }", {"id": taras["id"]}
            )
        ).data["deliveries"]

    sent = [
        {"channel": "BELL", "status": "SENT", "attempts": 1},
        {"channel": "BANNER", "status": "SENT", "attempts": 1},
    ]
    assert await eventually(deliveries, sent) == sent


async def test_the_same_id_again_is_a_duplicate_and_creates_nothing(tenant: Tenant) -> None:
    service = tenant.service()
    first = (await service.gql(PUBLISH, {"input": ticket("dup", ["a"])})).data["publishEvent"]
    again = (await service.gql(PUBLISH, {"input": ticket("dup", ["a", "b"])})).data["publishEvent"]
    assert first["duplicate"] is False and again == {**first, "duplicate": True}
    assert (await tenant.operator("b").gql("{ unreadCount }")).data == {"unreadCount": 0}


async def test_a_batch_reaches_the_bell_in_the_order_the_producer_sent_it(tenant: Tenant) -> None:
    # given event ids whose sort order differs from the order they are sent in
    events = [
        {**ticket(event_id, ["ordered"]), "data": {"ticketNumber": n, "subject": "s"}}
        for n, event_id in enumerate(["zzz", "aaa", "mmm"])
    ]
    await tenant.service().gql(PUBLISH_MANY, {"inputs": events})
    page = await tenant.operator("ordered").gql("{ notifications(first: 5) { edges { node { data } } } }")
    newest_first = [edge["node"]["data"]["ticketNumber"] for edge in page.data["notifications"]["edges"]]
    assert newest_first == [2, 1, 0]


async def test_twenty_racing_identical_publishes_create_one_set(tenant: Tenant) -> None:
    service = tenant.service()
    results = await asyncio.gather(*(service.gql(PUBLISH, {"input": ticket("race", ["r1", "r2"])}) for _ in range(20)))
    flags = [r.data["publishEvent"]["duplicate"] for r in results]
    assert flags.count(False) == 1 and flags.count(True) == 19
    assert await Notification.filter(instance_id=tenant.id).count() == 2
    assert await ProcessedEvent.filter(instance_id=tenant.id, event_id="race").count() == 1


async def test_an_unknown_type_is_rejected_with_nothing_written(tenant: Tenant) -> None:
    service = tenant.service()
    result = await service.gql(
        PUBLISH_MANY, {"inputs": [ticket("ok-1", ["a"]), {"id": "bad", "type": "ticket_exploded", "recipients": ["a"]}]}
    )
    assert result.error_code == "BAD_USER_INPUT" and "ticket_exploded" in result.error_message
    assert await ProcessedEvent.filter(instance_id=tenant.id).count() == 0
    assert (await service.gql(PUBLISH, {"input": ticket("ok-1", ["a"])})).data["publishEvent"]["duplicate"] is False


async def test_bad_events_say_what_to_change(tenant: Tenant) -> None:
    service = tenant.service()
    for event, words in (
        ({"id": "x", "type": "ticket_created", "recipients": []}, "recipients is empty"),
        ({"id": "x", "type": "ticket_created", "recipients": ["a"], "data": {"pad": "x" * 20000}}, "bytes"),
        ({"id": "x", "type": "ticket_created", "recipients": ["a"], "data": [1, 2]}, "JSON object"),
        ({"id": "x", "type": "csat_received", "recipients": ["a"], "data": {"score": 9}}, "score"),
    ):
        result = await service.gql(PUBLISH, {"input": event})
        assert result.error_code == "BAD_USER_INPUT", event
        assert words in result.error_message
    assert (await tenant.operator().gql(PUBLISH, {"input": ticket("x", ["a"])})).error_code == "FORBIDDEN"


async def test_csat_negative_replaces_csat_received_when_available(tenant: Tenant) -> None:
    service = tenant.service()
    rating = {
        "id": "rate-1",
        "type": "csat_received",
        "recipients": ["o1"],
        "data": {"score": 2, "ratingId": "R1", "clientName": "Ivan"},
    }
    # extended types off: csat_negative is VIEW_ONLY, still delivered with the defaults
    await tenant.admin().gql(
        "mutation { updateInstanceSettings(input: {extendedTypesEnabled: true}) { extendedTypesEnabled } }"
    )
    assert (await service.gql(PUBLISH, {"input": rating})).data["publishEvent"]["notificationCount"] == 1
    node = (await tenant.operator("o1").gql(BELL)).data["notifications"]["edges"][0]["node"]
    assert (node["typeCode"], node["title"]) == ("csat_negative", "Negative rating: 2/5")
    # the same rating published again as csat_negative is a duplicate for that recipient
    again = await service.gql(PUBLISH, {"input": {**rating, "id": "rate-1-neg", "type": "csat_negative"}})
    assert again.data["publishEvent"] == {
        "eventId": "rate-1-neg",
        "duplicate": False,
        "notificationCount": 0,
        "deliveriesQueued": 0,
    }
    assert (await tenant.operator("o1").gql("{ unreadCount }")).data == {"unreadCount": 1}


async def test_csat_received_when_negative_is_unavailable_or_off_for_the_recipient(tenant: Tenant) -> None:
    service, admin = tenant.service(), tenant.admin()
    await admin.gql("mutation { updateInstanceSettings(input: {extendedTypesEnabled: true}) { extendedTypesEnabled } }")
    quiet = tenant.operator("quiet")
    await quiet.gql('mutation { setTypeChannels(typeCode: "csat_negative", channels: []) { code } }')
    await service.gql(
        PUBLISH,
        {
            "input": {
                "id": "r2",
                "type": "csat_received",
                "recipients": ["quiet", "loud"],
                "data": {"score": 1, "ratingId": "R2"},
            }
        },
    )
    assert (await quiet.gql(BELL)).data["notifications"]["edges"][0]["node"]["typeCode"] == "csat_received"
    assert (await tenant.operator("loud").gql(BELL)).data["notifications"]["edges"][0]["node"][
        "typeCode"
    ] == "csat_negative"
    await admin.gql(
        'mutation { setTypePolicy(input: {typeCode: "csat_negative", availability: UNAVAILABLE}) { typeCode } }'
    )
    await service.gql(
        PUBLISH,
        {
            "input": {
                "id": "r3",
                "type": "csat_received",
                "recipients": ["loud"],
                "data": {"score": 1, "ratingId": "R3"},
            }
        },
    )
    assert (await tenant.operator("loud").gql(BELL)).data["notifications"]["edges"][0]["node"][
        "typeCode"
    ] == "csat_received"
    positive = await service.gql(
        PUBLISH,
        {
            "input": {
                "id": "r4",
                "type": "csat_received",
                "recipients": ["quiet"],
                "data": {"score": 5, "ratingId": "R4"},
            }
        },
    )
    assert positive.data["publishEvent"]["notificationCount"] == 1


async def test_unavailable_types_are_accepted_and_not_delivered(tenant: Tenant) -> None:
    service = tenant.service()
    result = await service.gql(PUBLISH, {"input": {"id": "w1", "type": "sla_warning", "recipients": ["a"]}})
    assert result.data["publishEvent"] == {
        "eventId": "w1",
        "duplicate": False,
        "notificationCount": 0,
        "deliveriesQueued": 0,
    }
    status = await service.gql(
        PUBLISH,
        {
            "input": {
                "id": "s1",
                "type": "operator_status_changed",
                "recipients": ["a"],
                "data": {"status": "not_ready"},
            }
        },
    )
    assert status.data["publishEvent"]["notificationCount"] == 0


async def test_unlisted_types_are_delivered_with_the_defaults(tenant: Tenant) -> None:
    service = tenant.service()
    result = await service.gql(
        PUBLISH,
        {
            "input": {
                "id": "m1",
                "type": "operator_mentioned",
                "recipients": ["a"],
                "data": {"authorName": "Taras", "text": "look"},
            }
        },
    )
    assert result.data["publishEvent"]["notificationCount"] == 1
    node = (await tenant.operator("a").gql(BELL)).data["notifications"]["edges"][0]["node"]
    assert (node["title"], node["body"]) == ("Taras mentioned you", "look")


async def test_a_template_never_fails_on_missing_fields(tenant: Tenant) -> None:
    await tenant.service().gql(
        PUBLISH, {"input": {"id": "t1", "type": "ticket_status_name_changed", "recipients": ["a"]}}
    )
    node = (await tenant.operator("a").gql(BELL)).data["notifications"]["edges"][0]["node"]
    assert node["title"].startswith("Ticket #")


async def test_a_chosen_channel_that_cannot_deliver_is_skipped_with_the_reason(tenant: Tenant) -> None:
    operator = tenant.operator("p")
    await operator.gql('mutation { setTypeChannels(typeCode: "ticket_created", channels: [BELL, BROWSER]) { code } }')
    result = await tenant.service().gql(PUBLISH, {"input": ticket("sk1", ["p"])})
    assert result.data["publishEvent"]["deliveriesQueued"] == 1
    browser = await Delivery.get(instance_id=tenant.id, channel="BROWSER")
    assert browser.status == "SKIPPED" and "push subscription" in browser.last_error


async def test_a_1000_recipient_event_is_a_handful_of_statements(tenant: Tenant, sql) -> None:
    service = tenant.service()
    # the first call writes the instance's row; the policy is read as stored, and cached, for the second
    for warm_up in ("warm-up", "warm-up-2"):
        await service.gql(PUBLISH, {"input": ticket(warm_up, ["w"])})
    await sql.settled(tenant.id)
    sql.statements.clear()
    await service.gql(PUBLISH, {"input": ticket("small", [f"u{i}" for i in range(10)])})
    small = await sql.settled(tenant.id)
    sql.statements.clear()
    result = await service.gql(PUBLISH, {"input": ticket("big", [f"v{i}" for i in range(1000)])})
    assert result.data["publishEvent"]["notificationCount"] == 1000
    big = await sql.settled(tenant.id)
    assert len(big) == len(small), big
    assert len(big) <= 16, [s[:80] for s in big]
    # BELL and BANNER: no job rows (the publisher sent them), and no hand-off row left
    assert await Delivery.filter(instance_id=tenant.id).count() == 0
    assert await PanelHandOff.filter(instance_id=tenant.id).count() == 0


async def test_a_batch_reports_each_event_and_counts_repeats_once(tenant: Tenant) -> None:
    service = tenant.service()
    await service.gql(PUBLISH, {"input": ticket("old", ["a"])})
    result = await service.gql(
        PUBLISH_MANY, {"inputs": [ticket("new", ["a", "b"]), ticket("new", ["a", "b"]), ticket("old", ["a"])]}
    )
    assert result.data["publishEvents"] == [
        {"eventId": "new", "duplicate": False, "notificationCount": 2, "deliveriesQueued": 4},
        {"eventId": "new", "duplicate": True, "notificationCount": 2, "deliveriesQueued": 4},
        {"eventId": "old", "duplicate": True, "notificationCount": 1, "deliveriesQueued": 2},
    ]
    assert (await tenant.operator("b").gql("{ unreadCount }")).data == {"unreadCount": 1}


async def test_a_batch_of_single_recipient_events_is_a_handful_of_statements(tenant: Tenant, sql) -> None:
    service = tenant.service()
    # the first call writes the instance's row; the policy is read as stored, and cached, for the second
    for warm_up in ("warm-up", "warm-up-2"):
        await service.gql(PUBLISH, {"input": ticket(warm_up, ["w"])})
    await sql.settled(tenant.id)
    sql.statements.clear()
    await service.gql(PUBLISH_MANY, {"inputs": [ticket(f"s{i}", [f"u{i}"]) for i in range(10)]})
    small = await sql.settled(tenant.id)
    sql.statements.clear()
    result = await service.gql(PUBLISH_MANY, {"inputs": [ticket(f"b{i}", [f"v{i}"]) for i in range(300)]})
    assert all(r["notificationCount"] == 1 for r in result.data["publishEvents"])
    big = await sql.settled(tenant.id)
    assert len(big) == len(small), [s[:80] for s in big]


async def test_integers_beyond_64_bits_in_data_are_kept_whole(tenant: Tenant) -> None:
    # valid JSON a producer may send: stored and read back as the number it was, not a 500
    alice = tenant.operator("alice")
    big = 123456789012345678901234567890
    result = await tenant.service().gql(
        "mutation($input: EventInput!) { publishEvent(input: $input) { notificationCount } }",
        {
            "input": {
                "id": "big",
                "type": "ticket_created",
                "recipients": ["alice"],
                "data": {"n": big, "m": -(2**63) - 1},
            }
        },
    )
    assert result.data == {"publishEvent": {"notificationCount": 1}}
    data = (await alice.gql("{ notifications(first: 1) { edges { node { data } } } }")).data
    assert data["notifications"]["edges"][0]["node"]["data"] == {"n": big, "m": -(2**63) - 1}


async def test_occurred_at_with_any_utc_offset_is_the_same_instant(app, tenant: Tenant) -> None:
    # A not-ready status two minutes ahead, written with +03:00, -05:00 and Z: each operator's
    # reminder (after 60 "minutes") is due at the same instant, as the database compares it. Stored
    # with its offset, "+03:00" sorted 3 h late on SQLite (it compares timestamps as text), and
    # its reminder came hours late ("-05:00": at once).
    from datetime import UTC, datetime, timedelta, timezone

    from models.notification import OperatorPresence

    at = datetime.now(UTC) + timedelta(minutes=2)  # (its reminder not due while the test runs)
    offsets = {"msk": timezone(timedelta(hours=3)), "nyc": timezone(timedelta(hours=-5)), "utc": UTC}
    for user, zone in offsets.items():
        await tenant.operator(user).gql(
            "mutation { updateReminderSettings(input: {notReadyAfterMinutes: 60, notReadyRepeatMinutes: 0})"
            " { notReadyAfterMinutes } }"
        )
        event = {
            "id": f"status-{user}",
            "type": "operator_status_changed",
            "recipients": [user],
            "data": {"status": "not_ready"},
            "occurredAt": at.astimezone(zone).isoformat(),
        }
        assert not (await tenant.service().gql(PUBLISH, {"input": event})).errors
    due = at + timedelta(seconds=60 * app.state.services.settings.reminder_minute_seconds)
    presences = OperatorPresence.filter(instance_id=tenant.id)
    assert await presences.filter(next_reminder_at__gte=due - timedelta(seconds=1)).count() == 3
    assert await presences.filter(next_reminder_at__lte=due + timedelta(seconds=1)).count() == 3
    stored = await presences.values_list("not_ready_since", flat=True)
    assert {abs((since - at).total_seconds()) < 1e-3 for since in stored} == {True}


async def test_an_occurred_at_out_of_range_is_refused_with_nothing_written(tenant: Tenant) -> None:
    service = tenant.service()
    for occurred_at in ("9999-12-31T23:59:59+00:00", "9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+03:00"):
        event = {
            "id": "far",
            "type": "operator_status_changed",
            "recipients": ["a"],
            "data": {"status": "not_ready"},
            "occurredAt": occurred_at,
        }
        result = await service.gql(PUBLISH, {"input": event})
        assert result.error_code == "BAD_USER_INPUT", (occurred_at, result.errors)
        assert "occurredAt" in result.error_message
    assert await ProcessedEvent.filter(instance_id=tenant.id).count() == 0
