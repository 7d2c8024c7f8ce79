"""SQLite's checkpoints beside the service's connection (models.db.WalCheckpointer): what was
committed reaches the database file without the writing connection copying it, and the WAL file
stays bounded while transactions follow each other with no pause."""

from __future__ import annotations

import itertools
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from models.db import WalCheckpointer

pytestmark = pytest.mark.sqlite_only


def _writer(path: Path, own_checkpoint_pages: int) -> sqlite3.Connection:
    """A connection set up as the service's (WAL; its own checkpoints at ``own_checkpoint_pages``,
    0: none; the WAL file cut back to nothing when it starts over)."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(f"PRAGMA wal_autocheckpoint={own_checkpoint_pages}")
    connection.execute("PRAGMA journal_size_limit=0")
    connection.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, body TEXT)")
    return connection


def _write_back_to_back(connection: sqlite3.Connection, seconds: float, sizes: list[int], wal: Path) -> int:
    """Transactions of 50 rows, one right after the other, for ``seconds``; the WAL file's size
    after each goes to ``sizes``. Returns the rows written."""
    written = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany("INSERT INTO item (body) VALUES (?)", [("x" * 400,)] * 50)
        connection.execute("COMMIT")
        written += 50
        sizes.append(wal.stat().st_size)
    return written


def test_committed_pages_reach_the_database_file_from_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "nc.sqlite3"
    writer = _writer(path, 1_000_000)
    before = path.stat().st_size
    writer.execute("BEGIN IMMEDIATE")
    writer.executemany("INSERT INTO item (body) VALUES (?)", [("x" * 400,)] * 2_000)
    writer.execute("COMMIT")
    assert path.stat().st_size == before  # the writer itself copies nothing back

    checkpointer = WalCheckpointer(str(path), interval=0.05).start()
    try:
        deadline = time.monotonic() + 5
        while path.stat().st_size < 2_000 * 400 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        checkpointer.stop()
    assert path.stat().st_size >= 2_000 * 400
    # Read without the WAL: a fresh connection after the writer closed sees every row.
    writer.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM item").fetchone() == (2_000,)


def test_the_wal_starts_over_while_transactions_follow_each_other(tmp_path: Path) -> None:
    """The writer's own checkpoint at its threshold finds the pages copied already, and its next
    transaction writes the WAL from the start: the file (cut back to nothing then) stays about
    the threshold's size (more while the checkpointer's own checkpoint holds the writer's off),
    where without any checkpoint it only grows."""
    path = tmp_path / "nc.sqlite3"
    wal = Path(f"{path}-wal")
    writer = _writer(path, 0)
    unchecked: list[int] = []
    _write_back_to_back(writer, 1.0, unchecked, wal)
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    writer.execute("PRAGMA wal_autocheckpoint=500")  # ~2 MiB
    sizes: list[int] = []
    checkpointer = WalCheckpointer(str(path), interval=0.05).start()
    try:
        written = _write_back_to_back(writer, 2.0, sizes, wal)
    finally:
        checkpointer.stop()
    # Twice as long as without, and it never reached that one's size.
    assert max(sizes) < unchecked[-1], (max(sizes), unchecked[-1])
    assert sum(1 for a, b in itertools.pairwise(sizes) if b < a) >= 3  # started over, again and again
    writer.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM item").fetchone()[0] > written


def test_connecting_to_another_database_moves_the_checkpoints_with_it(tmp_path: Path) -> None:
    """init_db for a second database without close_db between (a test process, a start-up that
    failed after connecting): the checkpoints follow the new file, and close_db ends them."""
    script = f"""
import asyncio, threading
from core.settings import Settings
import models.db as db

def settings(name):
    return Settings.from_env({{"NC_JWT_SECRET": "x" * 40, "NC_DATA_DIR": {str(tmp_path)!r} + "/" + name}})

def threads():
    return sum(t.name == "nc-sqlite-checkpoint" for t in threading.enumerate())

async def main():
    await db.init_db(settings("a"))
    await db.init_db(settings("b"))
    print(db._checkpointer.path, threads())
    await db.close_db()
    print(threads())

asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2]
    )
    assert out.returncode == 0, out.stderr[-2000:]
    checkpointing, after_close = out.stdout.splitlines()
    path, running = checkpointing.rsplit(" ", 1)
    assert Path(path).parent == tmp_path / "b"
    assert (running, after_close) == ("1", "0")


def _in_a_service_process(tmp_path: Path, body: str) -> list[str]:
    """The lines ``body`` prints, run as the body of ``async def main()`` in a fresh Python process
    whose service database (in ``tmp_path``) has a table ``probe (who TEXT)``; ``path`` is its file."""
    script = f"""
import asyncio, sqlite3, threading
from tortoise.exceptions import TransactionManagementError
from core.settings import Settings
import models.db as db

async def main():
    settings = Settings.from_env({{"NC_JWT_SECRET": "x" * 40, "NC_DATA_DIR": {str(tmp_path)!r}}})
    await db.init_db(settings)
    path = str(settings.data_dir / "notification-center.sqlite3")
    await db.db().execute_script("CREATE TABLE probe (who TEXT)")
{body}
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2]
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.splitlines()


def test_a_transaction_that_reads_first_survives_another_connections_write(tmp_path: Path) -> None:
    """A write transaction that reads before it writes, while another connection (a worker
    process, say) writes the same file: it waits for that writer instead of failing with
    "database is locked" at its first write (models/sqlite_engine.py: BEGIN IMMEDIATE)."""
    body = """

    def other_connection():
        other = sqlite3.connect(path, timeout=10, isolation_level=None)
        other.execute("INSERT INTO probe VALUES ('other')")
        other.close()

    writer = threading.Thread(target=other_connection)
    try:
        async with db.transaction() as conn:
            await conn.execute_query("SELECT count(*) FROM probe")
            writer.start()
            await asyncio.sleep(0.3)  # the other connection writes now, or waits for this one
            await conn.execute_query("INSERT INTO probe VALUES ('service')")
        print("committed")
    except Exception as exc:
        print(type(exc).__name__, exc)
    writer.join()
    rows = await db.db().execute_query_dict("SELECT who FROM probe ORDER BY rowid")
    print(",".join(r["who"] for r in rows))
    await db.close_db()
"""
    assert _in_a_service_process(tmp_path, body) == ["committed", "service,other"]


def test_a_transaction_that_cannot_take_the_write_lock_runs_nothing_outside_it(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE goes with a transaction's first statement (models/sqlite_engine.py). When
    another connection holds the write lock past ``busy_timeout``, that statement fails as BEGIN
    did (TransactionManagementError), and so does any the transaction tries after it: none runs
    on its own, in autocommit. The next transaction, and one that makes no statement, are fine."""
    body = """
    await db.db().execute_script("PRAGMA busy_timeout = 200")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO probe VALUES ('other')")
    try:
        async with db.transaction() as conn:
            try:
                await conn.execute_query("INSERT INTO probe VALUES ('first')")
            except TransactionManagementError:
                print("first refused")
            await conn.execute_query("INSERT INTO probe VALUES ('second')")
    except TransactionManagementError:
        print("second refused")
    other.execute("COMMIT")
    async with db.transaction():
        pass
    async with db.transaction() as conn:
        await conn.execute_query("INSERT INTO probe VALUES ('after')")
    rows = await db.db().execute_query_dict("SELECT who FROM probe ORDER BY rowid")
    print(",".join(r["who"] for r in rows))
    other.close()
    await db.close_db()
"""
    assert _in_a_service_process(tmp_path, body) == ["first refused", "second refused", "other,after"]
