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

    "engine": "models.sqlite_engine"    (tortoise_config; otherwise what "tortoise.backends.sqlite" is)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
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

    async def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.failed is not None:
            raise TransactionManagementError(self.failed)
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
        await super().create_connection(with_db)
        if self._connection is not None and self.begins is None:
            self.begins = _FirstStatementBegins(self._connection)
            self._connection._execute = self.begins  # type: ignore[method-assign]

    async def close(self) -> None:
        await super().close()
        self.begins = None

    def _in_transaction(self) -> TransactionContext:
        return _ImmediateTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    return ImmediateSqliteClient
