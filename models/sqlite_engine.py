"""tortoise-orm's SQLite engine, whose transactions take SQLite's write lock when they begin.

tortoise begins a transaction with a plain (deferred) ``BEGIN``: a transaction that reads first and
writes later then asks for the write lock at its first write, and if another connection (a
``worker`` process, the ``sqlite3`` shell) committed since its read, SQLite answers "database is
locked" at once — ``busy_timeout`` does not wait in that case, since the read would be stale. A
``markAllNotificationsRead`` or ``setTypeChannels`` then failed as an internal error. Here a
transaction begins with ``BEGIN IMMEDIATE``: it waits (``busy_timeout``) for another writer before
it reads anything, and never has to give up half-way. In one process nothing changes: tortoise's
lock already lets one transaction at a time use the connection.

``BEGIN IMMEDIATE`` goes to SQLite's thread with the transaction's first statement, in one hop
(``_FirstStatementBegins``), not as a round trip of its own. Under the publishing load each BEGIN
took ~14 ms (queued on SQLite's thread, then waiting there for the GIL) for ~0.15 ms of work, the
event loop idle for most of it (0.33 of a 4.7 s run); a one-statement transaction on an idle
process takes ~190 µs instead of ~250. Should it fail (another process held the write lock past ``busy_timeout``),
that statement does not run and raises TransactionManagementError, as BEGIN did, and so does any
other the transaction tries after it: nothing runs outside the transaction it meant. A transaction
that made no statement ends without a word to SQLite.

Inside ``statements_on_loop()`` (the publishing lane's transactions), once the transaction began,
a statement (and its COMMIT) runs on the event loop's own thread whenever SQLite's thread has
nothing queued — else it queues behind what is, so the connection's order holds and no two threads
use it at once (hence ``check_same_thread=False``). A hop to SQLite's thread costs two thread
wake-ups and, while the loop sends the previous group's messages, a wait for the GIL of up to the
5 ms switch interval each time SQLite's thread needs it back (a BEGIN waited ~20 ms so, bench 1e):
run in line, the statements cost only their work (bench 1e: +3-4 % messages/s, 13 of 14 alternated
rounds). The loop gets a turn between statements; a statement itself holds it for its time (the
largest, a 1,600-row INSERT, ~10 ms). Everything else, the BEGIN and ROLLBACK included, goes to
SQLite's thread: a BEGIN that waits for another process's write lock never holds the loop.

    "engine": "models.sqlite_engine"    (tortoise_config; otherwise what "tortoise.backends.sqlite" is)
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiosqlite
from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError


class _BeginFailed(Exception):
    """BEGIN IMMEDIATE failed on SQLite's thread (its OperationalError is the cause)."""


class _FirstStatementBegins:
    """The aiosqlite connection's ``_execute`` (every statement, commit and cursor call goes to
    SQLite's thread through it): while a BEGIN is ``pending``, the next call runs it first, in the
    same hop. One transaction at a time uses the connection (tortoise's lock), so one state."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection
        self.queue: Callable[..., Any] = connection._execute
        self.pending = False
        #: Why the transaction's BEGIN failed: its later statements are refused too.
        self.failed: BaseException | None = None
        #: Calls queued on SQLite's thread and not yet returned: while any is, none runs in line.
        self.outstanding = 0

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.failed is not None:
            raise TransactionManagementError(self.failed)
        if (
            self.outstanding == 0
            and not self.pending
            and _ON_LOOP.get()
            and getattr(fn, "__name__", None) in _ON_LOOP_CALLS
            and self.connection._connection is not None
        ):
            result = fn(*args, **kwargs)
            await asyncio.sleep(0)  # (the loop's other tasks run between a transaction's statements)
            return result
        self.outstanding += 1
        try:
            return await self._queued(fn, *args, **kwargs)
        finally:
            self.outstanding -= 1

    async def _queued(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self.pending:
            return await self.queue(fn, *args, **kwargs)
        self.pending = False
        sqlite = self.connection._conn

        def begun() -> Any:
            try:
                sqlite.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise _BeginFailed from exc
            return fn(*args, **kwargs)

        try:
            return await self.queue(begun)
        except _BeginFailed as exc:
            self.failed = exc.__cause__
            raise TransactionManagementError(exc.__cause__) from exc.__cause__

    def end(self) -> bool:
        """The transaction ends: whether it began at SQLite (else there is nothing to end)."""
        begun = not self.pending and self.failed is None
        self.pending, self.failed = False, None
        return begun


class _ImmediateTransaction(SqliteTransactionWrapper):
    _parent: ImmediateSqliteClient

    @property
    def _begins(self) -> _FirstStatementBegins:
        # (the client's connection, made by the transaction's context when it had none yet)
        begins = self._parent.begins
        if begins is None:
            raise TransactionManagementError("the SQLite connection is closed")
        return begins

    async def begin(self) -> None:
        self._begins.end()  # (a transaction before that never got to its end: nothing of it stays)
        self._begins.pending = True

    async def commit(self) -> None:
        await self._end(self._connection.commit)

    async def rollback(self) -> None:
        await self._end(self._connection.rollback)

    async def _end(self, statement: Callable[[], Awaitable[None]]) -> None:
        """COMMIT or ROLLBACK, sent only when the transaction began at SQLite."""
        if self._finalized:
            raise TransactionManagementError("Transaction already finalised")
        if self._begins.end():
            await statement()
        self._finalized = True


class _ImmediateTransactionContext(SqliteTransactionContext):
    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            await super().__aexit__(exc_type, exc_val, exc_tb)
        finally:
            # A failed BEGIN is not rolled back (tortoise skips it): its state ends here.
            begins = self.connection._parent.begins
            if begins is not None:
                begins.end()


class ImmediateSqliteClient(SqliteClient):
    begins: _FirstStatementBegins | None = None

    async def create_connection(self, with_db: bool) -> None:
        # tortoise's, but for ``check_same_thread=False`` (statements_on_loop).
        if not self._connection:
            self._connection = await aiosqlite.connect(self.filename, isolation_level=None, check_same_thread=False)
            self._connection._conn.row_factory = sqlite3.Row
            for pragma, val in self.pragmas.items():
                cursor = await self._connection.execute(f"PRAGMA {pragma}={val}")
                await cursor.close()
            await self._post_connect()
        if self._connection is not None and self.begins is None:
            self.begins = _FirstStatementBegins(self._connection)
            self._connection._execute = self.begins  # type: ignore[method-assign]

    async def close(self) -> None:
        await super().close()
        self.begins = None

    def _in_transaction(self) -> TransactionContext:
        return _ImmediateTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient

#: True in a transaction whose statements run on the event loop's thread (``statements_on_loop``).
_ON_LOOP: ContextVar[bool] = ContextVar("nc_sqlite_statements_on_loop", default=False)
#: The connection's calls that may run there: statements, their rows and COMMIT (never BEGIN or ROLLBACK).
_ON_LOOP_CALLS = frozenset(
    {"execute", "executemany", "_execute_fetchall", "_execute_insert", "fetchall", "fetchone", "commit"}
)


@contextmanager
def statements_on_loop(on: bool = True) -> Iterator[None]:
    """Within the block (``on``): once its transaction began, a statement runs on the event
    loop's thread when SQLite's thread has nothing queued (else behind what is, in order). For
    transactions whose statements are bounded (the publishing lane's: by NC_LIMIT_*)."""
    token = _ON_LOOP.set(on)
    try:
        yield
    finally:
        _ON_LOOP.reset(token)


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    return ImmediateSqliteClient
