"""Which ledger the recorder writes: PostgreSQL when ``DATABASE_URL`` is set (written from the
recorder's process, ``pg_store.PgStore``), else the SQLite file at ``DATABASE_PATH`` (default
``data/usage.db``), written by a child process (``writer.WriterProcess``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.recorder.store import Row
from services.recorder.writer import WriterProcess
from services.recorder.written import Written
from shared.settings import Settings

DB_CONNECT_TIMEOUT_S = 10.0  # PostgreSQL: how long connecting may take before start-up fails


class LedgerWriter(Protocol):
    """What the recorder needs of a store (``store.Store`` for SQLite, ``pg_store.PgStore``)."""

    path: str  # for logs (a URL without its password)
    rejected: int  # rows the database refused and that were skipped, over every batch
    commits: int  # transactions committed with batches in them (WriterProcess: merged, fewer than batches)

    async def insert_rows(self, rows: Sequence[Row]) -> int: ...

    async def insert_counted(self, rows: Sequence[Row]) -> Written:
        """Commit one batch; its own counts of new and refused rows."""
        ...

    async def close(self) -> None: ...


async def open_store(settings: Settings) -> LedgerWriter:
    """Open and migrate the configured ledger; raises when it cannot be opened or reached."""
    if settings.database_url:
        from services.recorder.pg_store import PgStore  # asyncpg is only imported when used

        return await PgStore.open(settings.database_url, connect_timeout_s=DB_CONNECT_TIMEOUT_S)
    # SQLite: written by a child process (writer.py), so that inserting never competes for the GIL with
    # the receiving event loop.
    return await WriterProcess.open(settings.database_path, settings.log_level)
