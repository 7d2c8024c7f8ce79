"""Database setup: the tortoise-orm config built from settings, migrations, and the lifecycle."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from typing import Any

import aiosqlite
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.migrations.api import migrate as tortoise_migrate

from core.settings import Settings, SettingsError
from models import MODEL_MODULES

log = logging.getLogger(__name__)

#: The tortoise engine for SQLite.
SQLITE_ENGINE = "models.sqlite_engine"
#: SQLite's page cache for the service's connection, KiB.
CACHE_KIB = 64 * 1024
#: WAL pages (4 KiB) at which the service's connection checkpoints what WalCheckpointer has not
#: copied yet (little), after which its next transaction writes the WAL from its start again.
WAL_RESTART_PAGES = 20_000
#: The WAL file's size kept once it starts over, bytes: above what it reaches before it does (the
#: threshold and the transaction that crosses it), so it is neither cut back nor grown again.
WAL_KEPT_BYTES = (WAL_RESTART_PAGES + 4_096) * 4_096


def sqlite_file(settings: Settings) -> str | None:
    """The SQLite database's file path (``:memory:`` for one in memory); None on PostgreSQL."""
    url = settings.effective_database_url
    return url.removeprefix("sqlite://") if url.startswith("sqlite://") else None


def tortoise_config(settings: Settings) -> dict[str, Any]:
    file_path = sqlite_file(settings)
    if file_path is not None:
        connection: dict[str, Any] | str = {
            # tortoise's SQLite engine, its transactions beginning IMMEDIATE (models/sqlite_engine.py).
            "engine": SQLITE_ENGINE,
            "credentials": {
                "file_path": file_path,
                # WAL lets readers go on while a writer commits; busy_timeout waits out writers.
                "journal_mode": "WAL",
                # The WAL file is kept once grown, not cut back after each checkpoint: a commit
                # that has to grow the file again cost ~45 % more CPU (100 notifications: 1.39 ->
                # 0.95 ms per commit).
                "journal_size_limit": WAL_KEPT_BYTES,
                "foreign_keys": "ON",
                "busy_timeout": 5_000,
                "synchronous": "NORMAL",
                # The indexes a publishing transaction touches stay in memory (SQLite's default,
                # 2 MiB, read pages back from the file with a pread each once the notifications
                # outgrew it), and statement journals and sorts stay off the disk (they were
                # temporary files in /var/tmp, a pwrite per page).
                "cache_size": -CACHE_KIB,
                "temp_store": "MEMORY",
                # Checkpoints run beside, on WalCheckpointer's thread; this connection checkpoints
                # (what is left) only once the WAL is this long, so that it starts over.
                "wal_autocheckpoint": WAL_RESTART_PAGES,
            },
        }
    else:
        connection = {
            "engine": "tortoise.backends.asyncpg",
            "credentials": _postgres_credentials(settings.effective_database_url, settings.db_pool_size),
        }
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": list(MODEL_MODULES),
                "migrations": "models.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _postgres_credentials(url: str, pool_size: int) -> dict[str, Any]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "asyncpg"):
        raise ValueError(
            f"NC_DATABASE_URL must be postgres://user@host:port/db or unset for SQLite, got scheme {parts.scheme!r}"
        )
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "database": (parts.path or "/postgres").lstrip("/"),
        # Opened at start, not as load comes: a connection made on a request's path (a backend
        # forked, authenticated, every statement prepared again) held up the calls behind it
        # (bench 1c: publish→bell p99 52-65 ms with 1 at start, 34-46 ms with the whole pool).
        "minsize": pool_size,
        "maxsize": pool_size,
    }


def is_postgres() -> bool:
    return connections.get("default").capabilities.dialect == "postgres"


def in_transaction_now() -> bool:
    """True inside ``transaction()``: what runs now uses that transaction's connection."""
    from tortoise.backends.base.client import TransactionalDBClient

    return isinstance(connections.get("default"), TransactionalDBClient)


def db() -> BaseDBAsyncClient:
    return connections.get("default")


class WalCheckpointer:
    """SQLite's checkpoints (the WAL's pages copied back into the database file, and the file's
    fsyncs) on a thread and a connection of their own, off the path of the transactions.

    Left to the writing connection, a checkpoint ran inside a commit every 1,000 WAL pages:
    with a publishing transaction writing about that many, nearly every commit also read its
    pages back from the WAL, wrote them into the database file and synced both, while the next
    transaction waited. Here a PASSIVE checkpoint runs every ``interval`` seconds: it waits for
    no reader or writer, and copies a page that many transactions wrote once. A checkpoint can
    start the WAL over only in a pause between write transactions, which back-to-back
    transactions do not leave (a RESTART checkpoint waiting for one starves); so the writing
    connection keeps its own checkpoint at ``WAL_RESTART_PAGES``, which finds the WAL copied but
    for its last pages, and its next transaction starts it over. SQLite's file locks keep it
    correct beside any other connection."""

    def __init__(self, path: str, interval: float = 0.5, busy_timeout: int = 5_000) -> None:
        self.path, self.interval, self.busy_timeout = path, interval, busy_timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nc-sqlite-checkpoint", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops after the checkpoint under way (closing the service's connection copies the rest)."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self.path, timeout=self.busy_timeout / 1000, isolation_level=None)
        except sqlite3.Error:
            log.exception("no SQLite checkpoints beside the service: its connection makes them at commits")
            return
        try:
            connection.execute("PRAGMA synchronous=NORMAL")
            while not self._stop.wait(self.interval):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as exc:  # the disk, say: the next round tries again
                    log.warning("a SQLite checkpoint failed (%s); the next one tries again", exc)
        finally:
            connection.close()


_checkpointer: WalCheckpointer | None = None
#: SQLite (a database file): the connection ``read_beside`` reads through.
_reader: aiosqlite.Connection | None = None


async def read_beside(sql: str, params: list[Any]) -> list[Any] | None:
    """The rows of ``sql`` (a read) from a SQLite connection of its own beside the service's (WAL:
    as of the last commit), so it neither waits for the service's transaction nor holds up the
    next one; None where there is none (PostgreSQL, whose pool already gives each caller a
    connection; an in-memory database): read through ``db()`` then. For the workers' polls:
    under a publishing load, an empty poll on the service's connection waited its turn, and then
    made the next publishing transaction wait, up to ~50 ms (the event loop slow to resume it)."""
    if _reader is None:
        return None
    async with _reader.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


async def _open_reader(file_path: str) -> None:
    """``read_beside``'s connection; should it fail to open, the polls read through ``db()``."""
    global _reader
    await _close_reader()
    try:
        reader = await aiosqlite.connect(file_path, isolation_level=None)
    except (sqlite3.Error, OSError) as exc:
        log.warning("no SQLite connection beside the service's (%s): the workers poll through it", exc)
        return
    try:
        for pragma in ("PRAGMA query_only = ON", "PRAGMA busy_timeout = 5000"):
            async with reader.execute(pragma):
                pass
    except sqlite3.Error as exc:
        await reader.close()  # (its thread would keep the process from exiting)
        log.warning("no SQLite connection beside the service's (%s): the workers poll through it", exc)
        return
    _reader = reader


async def _close_reader() -> None:
    global _reader
    if _reader is not None:
        reader, _reader = _reader, None
        await reader.close()


#: The oldest SQLite library the embedded database works with: its reads and batch writes use the
#: JSON operators ``->`` and ``->>`` (3.38.0, 2022-02).
SQLITE_AT_LEAST = (3, 38, 0)


def check_sqlite(settings: Settings, version: tuple[int, int, int] = sqlite3.sqlite_version_info) -> None:
    """Raises SettingsError when the database is SQLite and Python's SQLite library is older than
    ``SQLITE_AT_LEAST`` (statements would fail at their first use, not at start)."""
    if sqlite_file(settings) is not None and version < SQLITE_AT_LEAST:
        found, least = ".".join(map(str, version)), ".".join(map(str, SQLITE_AT_LEAST))
        raise SettingsError(
            f"the embedded database needs SQLite {least} or newer, and this Python has SQLite {found}: "
            "use a Python built with a newer SQLite, or PostgreSQL (NC_DATABASE_URL)"
        )


async def init_db(settings: Settings, *, run_migrations: bool = True) -> None:
    """Connect, and (embedded default) bring the schema up to date first. On SQLite, its
    checkpoints start on a thread of their own (WalCheckpointer), and ``read_beside`` has its
    connection, until ``close_db``; connecting again without ``close_db`` stops those of the
    database before. Raises what the migrations or the connection raised, with nothing left open."""
    global _checkpointer
    check_sqlite(settings)
    await _close_reader()
    if _checkpointer is not None:
        checkpointer, _checkpointer = _checkpointer, None
        await asyncio.to_thread(checkpointer.stop)
    config = tortoise_config(settings)
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        if run_migrations:
            await apply_migrations(settings)
            await Tortoise.close_connections()
        await Tortoise.init(config=config, _enable_global_fallback=True)
    except BaseException:
        # A connection left open (its thread) would keep the process from exiting.
        await Tortoise.close_connections()
        raise
    path = config["connections"]["default"]
    if isinstance(path, dict) and path["engine"] == SQLITE_ENGINE:
        file_path = path["credentials"]["file_path"]
        if file_path != ":memory:":
            _checkpointer = WalCheckpointer(file_path).start()
            await _open_reader(file_path)


async def apply_migrations(settings: Settings) -> None:
    if settings.embedded:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await tortoise_migrate(config=tortoise_config(settings))


async def close_db() -> None:
    global _checkpointer
    await _close_reader()
    if _checkpointer is not None:
        checkpointer, _checkpointer = _checkpointer, None
        await asyncio.to_thread(checkpointer.stop)
    await Tortoise.close_connections()


def transaction():
    """One transaction on the default connection: everything a mutation writes, or nothing."""
    from tortoise.transactions import in_transaction

    return in_transaction("default")
