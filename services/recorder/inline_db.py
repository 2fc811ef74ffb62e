"""An aiosqlite-shaped SQLite connection that runs each statement at once, on the caller's thread.

For the ledger writer process (``writer.py``), whose event loop has nothing else to do while it writes a
batch: aiosqlite runs every statement on a thread of its own and wakes the loop with the result, a thread
hand-over and back per statement, and a batch takes 7 to 31 statements (begin, last rowid, insert, two
rollup upserts, latency-list parts and compactions, commit). Here ``await conn.execute(...)`` runs the
statement in place and never suspends, so ``store.Store`` runs unchanged on either
(``Store.open(path, inline=True)``). The figures are in docs/benchmarks.md (recorder, session 8).

Only what ``Store``, ``store.migrate``, ``rollups.ensure_rollups`` and ``latency_lists.run_async`` use
is here; errors are sqlite3's own, raised where the statement is awaited.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any


class InlineCursor:
    """A finished statement's cursor (``rowcount``, ``fetchone``, ``fetchall``)."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineStatement:
    """What ``execute`` returns, as aiosqlite's: awaited, the statement's cursor; or ``async with`` it,
    the cursor closed at the end. The statement runs when it is awaited or entered."""

    __slots__ = ("_run", "_cursor")

    def __init__(self, run: Callable[[], sqlite3.Cursor]) -> None:
        self._run = run
        self._cursor: InlineCursor | None = None

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        return self._start().__await__()

    async def _start(self) -> InlineCursor:
        return InlineCursor(self._run())

    async def __aenter__(self) -> InlineCursor:
        self._cursor = InlineCursor(self._run())
        return self._cursor

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class InlineConnection:
    """A ``sqlite3.Connection`` behind aiosqlite's coroutine methods (``connect`` opens one)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @classmethod
    def connect(cls, path: str, *, uri: bool = False) -> InlineConnection:
        """Open ``path`` as ``sqlite3.connect`` does, in autocommit mode (``isolation_level=None``): the
        caller issues BEGIN and COMMIT, as ``Store`` does."""
        return cls(sqlite3.connect(path, isolation_level=None, uri=uri))

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineStatement:
        return InlineStatement(lambda: self._conn.execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineStatement:
        return InlineStatement(lambda: self._conn.executemany(sql, parameters))

    async def executescript(self, script: str) -> InlineCursor:
        return InlineCursor(self._conn.executescript(script))

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self._conn.close()
