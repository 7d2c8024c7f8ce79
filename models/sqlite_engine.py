"""tortoise-orm's SQLite engine, whose transactions take SQLite's write lock when they begin.

tortoise begins a transaction with a plain (deferred) ``BEGIN``: a transaction that reads first and
writes later then asks for the write lock at its first write, and if another connection (a
``worker`` process, the ``sqlite3`` shell) committed since its read, SQLite answers "database is
locked" at once — ``busy_timeout`` does not wait in that case, since the read would be stale. A
``markAllNotificationsRead`` or ``setTypeChannels`` then failed as an internal error. Here a
transaction begins with ``BEGIN IMMEDIATE``: it waits (``busy_timeout``) for another writer before
it reads anything, and never has to give up half-way. In one process nothing changes: tortoise's
lock already lets one transaction at a time use the connection.

    "engine": "models.sqlite_engine"    (tortoise_config; otherwise what "tortoise.backends.sqlite" is)
"""

from __future__ import annotations

import sqlite3
from typing import Any

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient, SqliteTransactionContext, SqliteTransactionWrapper
from tortoise.exceptions import TransactionManagementError


class _ImmediateTransaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class ImmediateSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(_ImmediateTransaction(self), self._lock)


client_class = ImmediateSqliteClient


def get_client_class(db_info: dict[str, Any]) -> type[SqliteClient]:
    return ImmediateSqliteClient
