"""SQLite: what publishing reads of its recipients is kept between transactions
(domain.recipients.RecipientCache) until the database's settings version moves, whoever moved it."""

from __future__ import annotations

import asyncio
import importlib
import json
import sqlite3

import pytest

from domain.recipients import RECIPIENT_FIELDS, SETTINGS_COLUMNS, RecipientCache, recipients
from models.db import sqlite_file, transaction
from models.operator import Operator
from tests.api.test_live import ticket  # (no entity: nothing collapses)
from tests.conftest import Tenant

MIGRATION = importlib.import_module("models.migrations.0015_recipient_cache")

PUBLISH = """mutation($input: EventInput!) { publishEvent(input: $input) {
  notificationCount deliveriesQueued } }"""
BELL = "{ notifications { edges { node { title } } unreadCount } }"

#: The tables publishing reads its recipients' settings from.
SETTINGS_TABLES = ("nc_operator", *SETTINGS_COLUMNS)


def test_the_triggers_watch_every_column_publishing_reads() -> None:
    # A column the triggers did not watch would be changed without the cache hearing it.
    assert set(MIGRATION.OPERATOR_COLUMNS) >= set(RECIPIENT_FIELDS) | {"instance_id"}
    assert MIGRATION.SETTINGS_COLUMNS == SETTINGS_COLUMNS


@pytest.mark.sqlite_only
async def test_the_migrated_database_has_a_trigger_on_every_column_publishing_reads(settings, app) -> None:
    # (a later migration that rebuilt one of these tables would have dropped its triggers)
    def read() -> dict[str, str]:
        connection = sqlite3.connect(sqlite_file(settings))
        try:
            return dict(connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall())
        finally:
            connection.close()

    triggers = await asyncio.to_thread(read)
    assert set(MIGRATION.TRIGGERS) <= set(triggers)
    for table, columns in {"nc_operator": (*RECIPIENT_FIELDS, "instance_id"), **SETTINGS_COLUMNS}.items():
        assert f'ON "{table}"' in triggers[f"{table}_inserted"] and f'ON "{table}"' in triggers[f"{table}_deleted"]
        updated = triggers[f"{table}_updated"]
        assert [c for c in columns if f'OLD."{c}" IS NOT NEW."{c}"' not in updated] == [], table


async def _version(settings) -> int:
    def read() -> int:
        connection = sqlite3.connect(sqlite_file(settings))
        try:
            return connection.execute('SELECT "version" FROM "nc_settings_version"').fetchone()[0]
        finally:
            connection.close()

    return await asyncio.to_thread(read)


@pytest.mark.sqlite_only
async def test_what_workers_note_as_they_deliver_leaves_the_cache_alone(settings, tenant: Tenant) -> None:
    # a switch's last error and a push subscription's last success change with every delivery;
    # its first records a switch that is on (publishing reads only those off or routing)
    await tenant.service().gql(PUBLISH, {"input": ticket("made", ["bo"])})
    bo = await Operator.get(instance_id=tenant.id, user_id="bo")
    await _write_beside(
        settings,
        (
            'INSERT INTO "nc_push_subscription" ("instance_id", "operator_id", "endpoint", "endpoint_hash", "p256dh",'
            ' "auth", "created_at") VALUES (?, ?, ?, ?, ?, ?, ?)',
            [tenant.id, bo.id, "https://push.test/bo", f"hash-{tenant.id}", "p", "a", "2026-01-01 00:00:00+00:00"],
        ),
    )
    before = await _version(settings)
    await _write_beside(
        settings,
        ('INSERT INTO "nc_channel_switch" ("operator_id", "channel", "enabled") VALUES (?, ?, 1)', [bo.id, "EMAIL"]),
        (
            'INSERT INTO "nc_channel_switch" ("operator_id", "channel", "enabled", "last_error") VALUES (?, ?, 1, ?)'
            ' ON CONFLICT ("operator_id", "channel") DO UPDATE SET "last_error" = excluded."last_error",'
            ' "enabled" = excluded."enabled"',
            [bo.id, "EMAIL", "mailbox full"],
        ),
        ('UPDATE "nc_push_subscription" SET "last_success_at" = ? WHERE "operator_id" = ?', ["2026-01-02", bo.id]),
    )
    assert await _version(settings) == before
    # ... while switching the channel off counts
    await _write_beside(settings, ('UPDATE "nc_channel_switch" SET "enabled" = 0 WHERE "operator_id" = ?', [bo.id]))
    assert await _version(settings) != before


@pytest.mark.sqlite_only
async def test_a_replace_and_a_restored_backup_still_reach_the_next_publish(settings, tenant: Tenant) -> None:
    service = tenant.service()
    for warm_up in ("w1", "w2"):
        await service.gql(PUBLISH, {"input": ticket(warm_up, ["di"])})
    di = await Operator.get(instance_id=tenant.id, user_id="di")
    off = 'INSERT INTO "nc_channel_switch" ("operator_id", "channel", "enabled") VALUES (?, ?, 0)'
    await _write_beside(settings, (off, [di.id, "BANNER"]))
    result = await service.gql(PUBLISH, {"input": ticket("off", ["di"])})
    assert result.data["publishEvent"]["deliveriesQueued"] == 1  # the bell alone
    # a REPLACE puts an "on" row where the "off" one stood (its delete fires no trigger)
    on_again = 'INSERT OR REPLACE INTO "nc_channel_switch" ("operator_id", "channel", "enabled") VALUES (?, ?, 1)'
    await _write_beside(settings, (on_again, [di.id, "BANNER"]))
    result = await service.gql(PUBLISH, {"input": ticket("on-again", ["di"])})
    assert result.data["publishEvent"]["deliveriesQueued"] == 2  # BELL, BANNER
    # a backup restored: the version as it was before the banner went off, then another change
    # (a version that counted up would now be the one the cache holds, with other settings)
    held = await _version(settings)
    await _write_beside(
        settings,
        ('UPDATE "nc_settings_version" SET "version" = ?', [held - 1]),
        ('UPDATE "nc_channel_switch" SET "enabled" = 0 WHERE "operator_id" = ?', [di.id]),
    )
    assert await _version(settings) != held
    result = await service.gql(PUBLISH, {"input": ticket("restored", ["di"])})
    assert result.data["publishEvent"]["deliveriesQueued"] == 1


@pytest.mark.sqlite_only
async def test_a_warm_publish_reads_none_of_its_recipients_settings(tenant: Tenant, sql) -> None:
    service = tenant.service()
    users = [f"op{i}" for i in range(10)]
    for warm_up in ("w1", "w2"):  # the first creates them, the second reads them, and keeps them
        await service.gql(PUBLISH, {"input": ticket(warm_up, users)})
    await sql.settled(tenant.id)
    sql.statements.clear()
    result = await service.gql(PUBLISH, {"input": ticket("warm", users)})
    assert result.data["publishEvent"] == {"notificationCount": 10, "deliveriesQueued": 20}
    statements = await sql.settled(tenant.id)
    assert not [s for s in statements if s.startswith("SELECT") and any(f'"{t}"' in s for t in SETTINGS_TABLES)]
    assert [s for s in statements if '"nc_settings_version"' in s], statements


async def _write_beside(settings, *statements: tuple[str, list]) -> None:
    """The statements written by a connection of their own, as another process would."""

    def write() -> None:
        connection = sqlite3.connect(sqlite_file(settings), timeout=10)
        try:
            with connection:
                for sql, params in statements:
                    connection.execute(sql, params)
        finally:
            connection.close()

    await asyncio.to_thread(write)


@pytest.mark.sqlite_only
async def test_settings_another_process_writes_reach_the_next_publish(settings, tenant: Tenant) -> None:
    service = tenant.service()
    for warm_up in ("w1", "w2"):
        result = await service.gql(PUBLISH, {"input": ticket(warm_up, ["ana"])})
        assert result.data["publishEvent"] == {"notificationCount": 1, "deliveriesQueued": 2}  # BELL, BANNER
    ana = await Operator.get(instance_id=tenant.id, user_id="ana")

    # another process sets her locale and turns her banners off
    await _write_beside(
        settings,
        ('UPDATE "nc_operator" SET "locale" = ? WHERE "id" = ?', ["uk", ana.id]),
        ('INSERT INTO "nc_channel_switch" ("operator_id", "channel", "enabled") VALUES (?, ?, 0)', [ana.id, "BANNER"]),
    )
    result = await service.gql(PUBLISH, {"input": ticket("after-switch", ["ana"])})
    assert result.data["publishEvent"] == {"notificationCount": 1, "deliveriesQueued": 1}
    bell = (await tenant.operator("ana").gql(BELL)).data["notifications"]
    assert bell["edges"][0]["node"]["title"] == "Новий тікет #7"

    # ... then chooses the bell alone for new tickets, with the banner switched on again
    await _write_beside(
        settings,
        ('DELETE FROM "nc_channel_switch" WHERE "operator_id" = ?', [ana.id]),
        (
            'INSERT INTO "nc_type_choice" ("operator_id", "type_code", "channels", "updated_at") VALUES (?, ?, ?, ?)',
            [ana.id, "ticket_created", json.dumps(["BELL", "SOUND"]), "2026-01-01 00:00:00+00:00"],
        ),
    )
    result = await service.gql(PUBLISH, {"input": ticket("after-choice", ["ana"])})
    assert result.data["publishEvent"] == {"notificationCount": 1, "deliveriesQueued": 2}  # BELL, SOUND

    # ... is put back by REPLACE (its delete fires no trigger) with English again
    await _write_beside(
        settings,
        (
            'REPLACE INTO "nc_operator" ("id", "instance_id", "user_id", "role", "locale", "created_at", "updated_at")'
            " VALUES (?, ?, ?, 'OPERATOR', 'en', ?, ?)",
            [ana.id, tenant.id, "ana", "2026-01-01 00:00:00+00:00", "2026-01-01 00:00:00+00:00"],
        ),
    )
    result = await service.gql(PUBLISH, {"input": ticket("after-replace", ["ana"])})
    bell = (await tenant.operator("ana").gql(BELL)).data["notifications"]
    assert bell["edges"][0]["node"]["title"] == "New ticket #7"

    # ... is renamed: the next event about "ana" makes a new operator of that name
    await _write_beside(settings, ('UPDATE "nc_operator" SET "user_id" = ? WHERE "id" = ?', ["anna", ana.id]))
    result = await service.gql(PUBLISH, {"input": ticket("after-rename", ["ana"])})
    assert (await Operator.get(instance_id=tenant.id, user_id="ana")).id != ana.id
    assert (await tenant.operator("anna").gql(BELL)).data["notifications"]["unreadCount"] == 5  # none since
    assert (await tenant.operator("ana").gql(BELL)).data["notifications"]["unreadCount"] == 1
    await _write_beside(settings, ('DELETE FROM "nc_operator" WHERE "id" = ?', [ana.id]))

    # ... and is deleted: the next event about her makes her anew, and reaches her bell
    await _write_beside(settings, ('DELETE FROM "nc_operator" WHERE "user_id" = ?', ["ana"]))
    result = await service.gql(PUBLISH, {"input": ticket("after-delete", ["ana"])})
    assert result.data["publishEvent"] == {"notificationCount": 1, "deliveriesQueued": 2}
    again = await Operator.get(instance_id=tenant.id, user_id="ana")
    bell = (await tenant.operator("ana").gql(BELL)).data["notifications"]
    assert again.locale == "en" and bell["unreadCount"] == 1
    assert bell["edges"][0]["node"]["title"] == "New ticket #7"


@pytest.mark.sqlite_only
async def test_a_type_first_published_to_a_cached_recipient_reads_their_choice_of_it(tenant: Tenant, sql) -> None:
    # given a choice for closed tickets, and the cache holding her from new tickets alone
    await tenant.operator("cy").gql(
        'mutation { setTypeChannels(typeCode: "ticket_closed", channels: [BELL]) { code } }'
    )
    service = tenant.service()
    for warm_up in ("w1", "w2"):
        await service.gql(PUBLISH, {"input": ticket(warm_up, ["cy"])})
    # when a closed ticket reaches her, her choice for it holds (the bell alone: one delivery)
    closed = {**ticket("closed", ["cy"]), "type": "ticket_closed"}
    result = await service.gql(PUBLISH, {"input": closed})
    assert result.data["publishEvent"] == {"notificationCount": 1, "deliveriesQueued": 1}
    # and both types are held from then on
    await sql.settled(tenant.id)
    sql.statements.clear()
    await service.gql(PUBLISH, {"input": {**closed, "id": "closed-2"}})
    await service.gql(PUBLISH, {"input": ticket("new-2", ["cy"])})
    statements = await sql.settled(tenant.id)
    assert not [s for s in statements if s.startswith("SELECT") and '"nc_type_choice"' in s]


@pytest.mark.sqlite_only
async def test_the_cache_keeps_at_most_its_capacity_and_nothing_a_rolled_back_transaction_made(
    app, tenant: Tenant
) -> None:
    await tenant.service().gql(PUBLISH, {"input": ticket("made", [f"k{i}" for i in range(5)])})
    cache = RecipientCache(3)
    async with transaction():
        held = await cache.current()
        assert held is cache
        read = await recipients(tenant.id, [f"k{i}" for i in range(5)], held)
    assert [r.user_id for r in read] == [f"k{i}" for i in range(5)]
    assert len(cache.recipients) == 3

    class RolledBack(Exception):
        pass

    cache = RecipientCache(10)
    with pytest.raises(RolledBack):
        async with transaction():
            made = await recipients(tenant.id, ["newcomer"], await cache.current())
            assert made[0].created
            raise RolledBack
    assert (tenant.id, "newcomer") not in cache.recipients
    assert not await Operator.filter(instance_id=tenant.id, user_id="newcomer").exists()


@pytest.mark.sqlite_only
async def test_another_database_at_the_same_version_is_not_mistaken_for_this_one(settings, tenant: Tenant) -> None:
    await tenant.service().gql(PUBLISH, {"input": ticket("made", ["k0", "k1"])})
    cache = RecipientCache(10)
    async with transaction():
        await recipients(tenant.id, ["k0", "k1"], await cache.current())
    assert len(cache.recipients) == 2
    name, version = cache.database, cache.version
    # the same version, another database (a file swapped under the process, another test's)
    await _write_beside(settings, ('UPDATE "nc_settings_version" SET "database" = ?', ["another"]))
    try:
        async with transaction():
            assert await cache.current() is cache
        assert (cache.database, cache.version) == ("another", version) and not cache.recipients
    finally:
        await _write_beside(settings, ('UPDATE "nc_settings_version" SET "database" = ?', [name]))
