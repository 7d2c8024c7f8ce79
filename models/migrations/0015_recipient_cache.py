"""SQLite: a number every change to what publishing reads of its recipients raises
(``nc_settings_version``), so that a process may keep those reads between transactions
(domain.recipients.RecipientCache) and notice any change, whoever wrote it: a mutation, a
``worker`` process, the ``sqlite3`` shell. Triggers raise it; PostgreSQL gets neither (its
publishers read the settings each time: one row every settings write updated would order
the writes of all API processes).

A row counts when publishing would read it (``WHEN``): a switch only when off or routing, a link
only when LINKED; an update only when it changes a column publishing reads (not a switch's last
test or error, a push subscription's last success: workers write those as they deliver). An
operator row inserted counts too: a ``REPLACE`` deletes the row it replaces without a DELETE
trigger. A later migration that rebuilds one of these tables, or has publishing read another
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

_BUMP = 'UPDATE "nc_settings_version" SET "version" = "version" + 1 WHERE "id" = 1;'


def _changed(columns: tuple[str, ...]) -> str:
    return " OR ".join(f'OLD."{c}" IS NOT NEW."{c}"' for c in columns)


def _trigger(name: str, event: str, table: str, when: str | None) -> str:
    condition = f" WHEN {when}" if when else ""
    return f'CREATE TRIGGER "{name}" AFTER {event} ON "{table}" FOR EACH ROW{condition} BEGIN {_BUMP} END'


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
    return out


#: The triggers' names.
TRIGGERS = tuple(
    [f"nc_operator_{change}" for change in ("inserted", "updated", "deleted")]
    + [f"{table}_{change}" for table in SETTINGS_COLUMNS for change in ("inserted", "updated", "deleted")]
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
