"""SQLite: a number every change to what publishing reads of its recipients raises
(``nc_settings_version``), so that a process may keep those reads between transactions
(domain.recipients.RecipientCache) and notice any change, whoever wrote it: a mutation, a
``worker`` process, the ``sqlite3`` shell. Triggers raise it; PostgreSQL gets neither (its
publishers read the settings each time: one row every settings write updated would order
the writes of all API processes)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

#: The operator columns publishing reads (domain.recipients.RECIPIENT_FIELDS but the id and
#: user id, which never change; tests/test_recipient_cache.py keeps the two lists equal).
OPERATOR_COLUMNS = (
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

#: The settings tables, and the columns of theirs publishing reads: their rows inserted or
#: deleted, or these columns updated (not a switch's last test, a push subscription's last
#: success: a worker writes those as it delivers), count (domain.recipients.SETTINGS_COLUMNS).
SETTINGS_COLUMNS = {
    "nc_channel_switch": ("operator_id", "channel", "enabled", "routing_mode", "escalate_after_minutes"),
    "nc_type_choice": ("operator_id", "type_code", "channels", "melody"),
    "nc_push_subscription": ("operator_id",),
    "nc_channel_link": ("operator_id", "channel", "target", "status"),
}

#: Each row change, and the suffix of its trigger's name.
_CHANGES = (("INSERT", "inserted"), ("UPDATE OF {columns}", "updated"), ("DELETE", "deleted"))

_BUMP = 'UPDATE "nc_settings_version" SET "version" = "version" + 1 WHERE "id" = 1;'


def _quoted(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


def _statements() -> list[str]:
    columns = _quoted(OPERATOR_COLUMNS)
    out = [
        'CREATE TABLE "nc_settings_version" ("id" INTEGER PRIMARY KEY CHECK ("id" = 1), '
        '"database" TEXT NOT NULL, "version" INTEGER NOT NULL)',
        # The database's own name: two databases at the same version are not mistaken for each other.
        """INSERT INTO "nc_settings_version" VALUES (1, lower(hex(randomblob(16))), 0)""",
        f'CREATE TRIGGER "nc_operator_changed" AFTER UPDATE OF {columns} ON "nc_operator" BEGIN {_BUMP} END',
        f'CREATE TRIGGER "nc_operator_deleted" AFTER DELETE ON "nc_operator" BEGIN {_BUMP} END',
    ]
    for table, watched in SETTINGS_COLUMNS.items():
        for change, name in _CHANGES:
            change = change.format(columns=_quoted(watched))
            out.append(f'CREATE TRIGGER "{table}_{name}" AFTER {change} ON "{table}" BEGIN {_BUMP} END')
    return out


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
    for table in SETTINGS_COLUMNS:
        for _, name in _CHANGES:
            await client.execute_script(f'DROP TRIGGER IF EXISTS "{table}_{name}"')
    await client.execute_script('DROP TRIGGER IF EXISTS "nc_operator_changed"')
    await client.execute_script('DROP TRIGGER IF EXISTS "nc_operator_deleted"')
    await client.execute_script('DROP TABLE IF EXISTS "nc_settings_version"')


class Migration(migrations.Migration):
    dependencies = [("models", "0014_attention_routing")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
