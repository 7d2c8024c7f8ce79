"""SQLite: a number every change to what publishing reads of its recipients sets anew
(``nc_settings_version``: a random one, so that a restored backup's, or a number reached again,
never passes for one a process holds), so that a process may keep those reads between transactions
(domain.recipients.RecipientCache) and notice any change, whoever wrote it: a mutation, a
``worker`` process, the ``sqlite3`` shell. Triggers raise it; PostgreSQL gets neither (its
publishers read the settings each time: one row every settings write updated would order
the writes of all API processes).

A row counts when publishing would read it (``WHEN``): a switch only when off or routing, a link
only when LINKED; an update only when it changes a column publishing reads (not a switch's last
test or error, a push subscription's last success: workers write those as they deliver). A
``REPLACE`` (``INSERT OR REPLACE``, ``UPDATE OR REPLACE``) deletes the rows it clashes with
without a DELETE trigger: any operator, type choice or push subscription inserted counts, and a
switch or link written where one publishing reads stands counts before it is written. A later migration that rebuilds one of these tables, or has publishing read another
column, must create its triggers anew: tests/services/test_recipient_cache.py checks the
migrated database's triggers against what publishing reads."""

from tortoise import migrations
from tortoise.migrations import operations as ops

#: The operator columns publishing reads (domain.recipients.RECIPIENT_FIELDS), with the
#: instance, by which (and the user id) the cache finds an operator.
OPERATOR_COLUMNS = (
    "id",
    "instance_id",
    "user_id",
    "locale",
    "email",
    "default_melody",
    "banner_duration_seconds",
    "banner_repeat_count",
    "banner_repeat_interval_seconds",
    "classic_browser_enabled",
    "classic_sound_enabled",
    "reminder_not_ready_enabled",
    "reminder_not_ready_after_minutes",
    "timezone",
    "working_hours",
)

#: The settings tables: the columns of theirs publishing reads (domain.recipients.SETTINGS_COLUMNS),
#: and which of their rows it reads (None: all).
SETTINGS_COLUMNS = {
    "nc_channel_switch": ("operator_id", "channel", "enabled", "routing_mode", "escalate_after_minutes"),
    "nc_type_choice": ("operator_id", "type_code", "channels", "melody"),
    "nc_push_subscription": ("operator_id",),
    "nc_channel_link": ("operator_id", "channel", "target", "status"),
}
READ_ROWS = {
    "nc_channel_switch": '(NOT {row}."enabled" OR {row}."routing_mode" IS NOT NULL)',
    "nc_type_choice": None,
    "nc_push_subscription": None,
    "nc_channel_link": "{row}.\"status\" = 'LINKED'",
}

#: Their unique keys, whose clash a REPLACE resolves by deleting the row that stood there.
UNIQUE_KEYS = {
    "nc_channel_switch": (("operator_id", "channel"),),
    "nc_channel_link": (("operator_id", "channel"), ("code",)),
}

_BUMP = 'UPDATE "nc_settings_version" SET "version" = random() WHERE "id" = 1;'


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in columns)


def _trigger(name: str, event: str, table: str, when: str | None, *, before: bool = False) -> str:
    condition = f" WHEN {when}" if when else ""
    time = "BEFORE" if before else "AFTER"
    return f'CREATE TRIGGER "{name}" {time} {event} ON "{table}" FOR EACH ROW{condition} BEGIN {_BUMP} END'


def _statements() -> list[str]:
    out = [
        'CREATE TABLE "nc_settings_version" ("id" INTEGER PRIMARY KEY CHECK ("id" = 1), '
        '"database" TEXT NOT NULL, "version" INTEGER NOT NULL)',
        # The database's own name: two databases at the same version are not mistaken for each other.
        """INSERT INTO "nc_settings_version" VALUES (1, lower(hex(randomblob(16))), 0)""",
        _trigger("nc_operator_inserted", "INSERT", "nc_operator", None),
        _trigger("nc_operator_updated", "UPDATE", "nc_operator", _changed(OPERATOR_COLUMNS)),
        _trigger("nc_operator_deleted", "DELETE", "nc_operator", None),
    ]
    for table, columns in SETTINGS_COLUMNS.items():
        rows = READ_ROWS[table]
        new, old = (rows.format(row="NEW"), rows.format(row="OLD")) if rows else (None, None)
        out.append(_trigger(f"{table}_inserted", "INSERT", table, new))
        either = f"({old} OR {new}) AND " if rows else ""
        out.append(_trigger(f"{table}_updated", "UPDATE", table, f"{either}({_changed(columns)})"))
        out.append(_trigger(f"{table}_deleted", "DELETE", table, old))
        if rows:
            # A row publishing reads that a REPLACE of this one would delete (its key clashes).
            clash = " OR ".join(
                "(" + " AND ".join(f'r."{c}" = NEW."{c}"' for c in key) + ")" for key in UNIQUE_KEYS[table]
            )
            stands = f'EXISTS (SELECT 1 FROM "{table}" AS r WHERE ({clash}) AND {rows.format(row="r")}'
            out.append(_trigger(f"{table}_replacing", "INSERT", table, f"{stands})", before=True))
            out.append(
                _trigger(
                    f"{table}_replacing_by_update",
                    "UPDATE",
                    table,
                    f'{stands} AND r."id" IS NOT OLD."id")',
                    before=True,
                )
            )
    return out


#: The triggers' names.
TRIGGERS = tuple(
    [f"nc_operator_{change}" for change in ("inserted", "updated", "deleted")]
    + [f"{table}_{change}" for table in SETTINGS_COLUMNS for change in ("inserted", "updated", "deleted")]
    + [f"{table}_{change}" for table in UNIQUE_KEYS for change in ("replacing", "replacing_by_update")]
)


async def forward(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    if client.capabilities.dialect != "sqlite":
        return
    for sql in _statements():
        await client.execute_script(sql)


async def backward(apps: object, schema_editor: object) -> None:
    client = schema_editor.client  # type: ignore[attr-defined]
    if client.capabilities.dialect != "sqlite":
        return
    for name in TRIGGERS:
        await client.execute_script(f'DROP TRIGGER IF EXISTS "{name}"')
    await client.execute_script('DROP TABLE IF EXISTS "nc_settings_version"')


class Migration(migrations.Migration):
    dependencies = [("models", "0014_attention_routing")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
