"""models.bulk: rows written by the bulk paths hold the values the ORM would write for them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from models.bulk import upsert
from models.db import db, is_postgres
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
