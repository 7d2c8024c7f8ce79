"""models.bulk: rows written by the bulk paths hold the values the ORM would write for them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

from models.bulk import upsert
from models.db import db, is_postgres
from models.notification import Notification
from models.operator import Operator


async def test_bulk_written_timestamps_are_stored_as_the_orm_stores_them(app) -> None:
    # SQLite compares timestamps as text (retention's cut-off, "since" filters): a row the bulk
    # path wrote must hold the same text for the same instant as one the ORM wrote.
    instance = f"bulk-{uuid.uuid4().hex[:8]}"
    at = datetime(2026, 12, 2, 10, 20, 30, 123456, tzinfo=UTC)
    await upsert(
        db(),
        Operator,
        [
            {
                "instance_id": instance,
                "user_id": f"bulk-{i}",
                "role": "OPERATOR",
                "locale": "en",
                "created_at": at,
                "updated_at": at,
            }
            for i in range(3)
        ],
        conflict=["instance_id", "user_id"],
    )
    orm = await Operator.create(instance_id=instance, user_id="orm", created_at=at)
    await Operator.filter(id=orm.id).update(created_at=at)

    assert await Operator.filter(instance_id=instance, created_at=at).count() == 4
    assert await Operator.filter(instance_id=instance, created_at__lt=at).count() == 0
    rows = await Operator.filter(instance_id=instance).order_by("user_id").values_list("user_id", "created_at")
    assert [(user, stamp) for user, stamp in rows] == [(f"bulk-{i}", at) for i in range(3)] + [("orm", at)]
    if not is_postgres():
        _, stored = await db().execute_query(
            'SELECT DISTINCT "created_at" FROM "nc_operator" WHERE "instance_id" = ?', [instance]
        )
        assert [tuple(r) for r in stored] == [("2026-12-02 10:20:30.123456+00:00",)]


async def test_bulk_written_notifications_read_back_as_the_orm_wrote_them(app) -> None:
    # PostgreSQL takes the rows as one JSON parameter (json_to_recordset): text that looks like
    # JSON or holds quotes, backslashes, newlines and emoji, JSON data with integers beyond 64 bits
    # and nested nulls, a SQL NULL beside JSON null, booleans and timestamps must come back as the
    # ORM's own write of the same values gives them.
    instance = f"bulk-{uuid.uuid4().hex[:8]}"
    operator = await Operator.create(instance_id=instance, user_id="op", created_at=datetime.now(UTC))
    at = datetime(2026, 12, 4, 9, 8, 7, 654321, tzinfo=UTC)
    values = {
        "instance_id": instance,
        "operator_id": operator.id,
        "type_code": "ticket_created",
        "category_code": "tickets",
        "title": 'Ticket "#1" \\ {"looks": "like JSON"}',
        "body": "line one\nline two\t\u00e9\u4e2d\U0001f600",
        "entity_kind": None,
        "entity_id": "{}",
        "data": {"big": 2**70, "nested": {"none": None, "list": [1, "two", False]}, "quote": '"'},
        "channels": ["BELL", "BANNER"],
        "in_bell": False,
        "melody": None,
        "created_at": at,
        "count": 3,
    }
    written = await upsert(
        db(),
        Notification,
        [{**values, "event_id": f"bulk-{i}"} for i in range(2)],
        conflict=["operator_id", "event_id"],
        returning=["id", "event_id"],
    )
    assert sorted(r["event_id"] for r in written) == ["bulk-0", "bulk-1"]
    await Notification.create(**{**values, "event_id": "orm"})

    fields_read = [*values.keys(), "read_at"]
    rows = await Notification.filter(instance_id=instance).order_by("event_id").values(*fields_read)
    assert [r["title"] for r in rows] == [values["title"]] * 3
    assert rows[0] == rows[1] == rows[2]
    assert rows[0]["data"] == values["data"] and rows[0]["created_at"] == at and rows[0]["read_at"] is None
    assert rows[0]["in_bell"] is False and rows[0]["entity_kind"] is None and rows[0]["entity_id"] == "{}"


class _StampSubclass(datetime):
    """A datetime subclass, as freezegun's and pendulum's are."""


async def test_bulk_written_timestamps_keep_an_offsets_seconds_and_take_datetime_subclasses(app) -> None:
    # Amsterdam's offset in 1900 was +00:19:32: an instant written with it is the same instant read
    # back, to the second (orjson's own datetimes drop an offset's seconds), and a datetime
    # subclass is written as the instant it holds.
    instance = f"bulk-{uuid.uuid4().hex[:8]}"
    odd = datetime(1900, 1, 1, 8, 6, 7, tzinfo=timezone(timedelta(hours=1, minutes=2, seconds=3)))
    sub = _StampSubclass(2026, 12, 4, 9, 8, 7, 654321, tzinfo=UTC)
    await upsert(
        db(),
        Operator,
        [
            {
                "instance_id": instance,
                "user_id": user,
                "role": "OPERATOR",
                "locale": "en",
                "created_at": at,
                "updated_at": at,
            }
            # (SQLite keeps the text, which tortoise's ISO 8601 parser cannot read back: PostgreSQL only)
            for user, at in ((("odd", odd),) if is_postgres() else ()) + (("sub", sub),)
        ],
        conflict=["instance_id", "user_id"],
    )
    rows = await Operator.filter(instance_id=instance).order_by("user_id").values_list("user_id", "created_at")
    assert [(user, stamp.astimezone(UTC)) for user, stamp in rows] == [
        *([("odd", datetime(1900, 1, 1, 7, 4, 4, tzinfo=UTC))] if is_postgres() else []),
        ("sub", datetime(2026, 12, 4, 9, 8, 7, 654321, tzinfo=UTC)),
    ]
