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
        """Rows the statement changed (``executemany``: summed over its parameter sets; a row skipped by
        ``ON CONFLICT DO NOTHING`` counts 0); -1 for a statement that changes none (a ``SELECT``)."""
        return self._cursor.rowcount

    async def fetchone(self) -> Any:
        """The next result row as a tuple, or None when there is none left."""
        return self._cursor.fetchone()

    async def fetchall(self) -> list[Any]:
        """The remaining result rows, as a list of tuples (empty when there are none)."""
        return self._cursor.fetchall()

    async def close(self) -> None:
        """Close the cursor (its remaining rows are dropped); the connection stays open."""
        self._cursor.close()


class InlineStatement:
    """What ``execute`` returns, as aiosqlite's: awaited, the statement's cursor; or ``async with`` it,
    the cursor closed at the end. The statement runs when it is awaited or entered."""

    __slots__ = ("_run", "_cursor")

    def __init__(self, run: Callable[[], sqlite3.Cursor]) -> None:
        self._run = run
        self._cursor: InlineCursor | None = None

    def __await__(self) -> Generator[Any, None, InlineCursor]:
        """Run the statement; the awaited value is its cursor. Raises sqlite3's error."""
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
        """Whether a transaction is open (a ``BEGIN`` not yet ended by ``COMMIT`` or ``ROLLBACK``)."""
        return self._conn.in_transaction

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> InlineStatement:
        """One statement, ``sql`` with ``parameters`` bound to its ``?`` placeholders in order; it runs
        when the result is awaited (or entered), which then gives its cursor. Raises sqlite3's error
        there (``sqlite3.OperationalError``: busy, locked, disk full, I/O; ``sqlite3.IntegrityError``: a
        constraint; ``sqlite3.ProgrammingError``: wrong number of parameters)."""
        return InlineStatement(lambda: self._conn.execute(sql, parameters))

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> InlineStatement:
        """``sql`` once per parameter sequence in ``parameters`` (one compiled statement), run as
        ``execute``'s; the cursor's ``rowcount`` is the sum. The first failing set raises sqlite3's error,
        and the sets before it stay applied (in the caller's transaction, to commit or roll back)."""
        return InlineStatement(lambda: self._conn.executemany(sql, parameters))

    async def executescript(self, script: str) -> InlineCursor:
        """Run ``script``'s statements (``;``-separated, no parameters) at once. As sqlite3's, it first
        commits a transaction left open. Raises sqlite3's error of the first failing statement."""
        return InlineCursor(self._conn.executescript(script))

    async def commit(self) -> None:
        """Commit the open transaction (nothing happens when none is open). Raises
        ``sqlite3.OperationalError`` when the commit fails (busy, disk full, I/O)."""
        self._conn.commit()

    async def rollback(self) -> None:
        """Undo the open transaction (nothing happens when none is open)."""
        self._conn.rollback()

    async def close(self) -> None:
        """Close the connection; a transaction still open is rolled back (not committed)."""
        self._conn.close()
