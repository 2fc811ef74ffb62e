"""Move a SQLite ledger into PostgreSQL.

    python -m services.recorder.migrate_to_postgres --from data/usage.db --to postgresql://user:pw@host/db

Reads the SQLite file read-only (a running recorder may keep writing it) in ``rowid`` order and writes
through the PostgreSQL store's path: the same migrations, ``COPY`` batches, ``ON CONFLICT (event_id) DO
NOTHING`` and per-batch rollup upkeep. So the command is idempotent and resumable: run it again after an
interruption, or after events recorded meanwhile, and only the missing rows are added. A file written by
an older recorder, lacking newer columns, gets their defaults.

The order that loses nothing (docs/deployment.md): point the recorder at PostgreSQL (``DATABASE_URL``) and
restart it, so new events go there (the gateways hold theirs meanwhile), then run this command.

Exit 0 when every SQLite row is in PostgreSQL afterwards, 1 otherwise (rows PostgreSQL refused are logged
and counted), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

from services.recorder.pg_store import COLUMNS, PgStore, redact
from shared.events import UsageEvent
from shared.settings import POSTGRES_SCHEMES

log = logging.getLogger("recorder.migrate")


@dataclass(slots=True)
class Moved:
    read: int = 0
    inserted: int = 0
    already_there: int = 0
    rejected: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.read / self.seconds if self.seconds else 0.0
        return (
            f"read={self.read} inserted={self.inserted} already_there={self.already_there} "
            f"rejected={self.rejected} in {self.seconds:.1f}s ({rate:,.0f} rows/s)"
        )


def _coercer(hint: Any) -> Callable[[Any], Any]:
    """SQLite's dynamic types into what the PostgreSQL column takes (a REAL column may hold an integer)."""
    args = typing.get_args(hint)
    if len(args) == 2 and type(None) in args:
        hint = next(a for a in args if a is not type(None))
    kind: Callable[[Any], Any] = {int: int, float: float, bool: int}.get(hint, lambda v: v)
    return lambda v: None if v is None else kind(v)


_HINTS = typing.get_type_hints(UsageEvent)


def sqlite_columns(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The ledger columns this file has, in ``COLUMNS`` order (an older file may lack newer ones)."""
    present = {r[1] for r in conn.execute("PRAGMA table_info(requests)")}
    if "event_id" not in present:
        raise ValueError("no ledger table (requests with event_id) in this file")
    return tuple(c for c in COLUMNS if c in present)


def read_batches(
    conn: sqlite3.Connection, columns: tuple[str, ...], size: int
) -> Iterator[list[tuple[Any, ...]]]:
    coerce = [_coercer(_HINTS[c]) for c in columns]
    cursor = conn.execute(f"SELECT {', '.join(columns)} FROM requests ORDER BY rowid")
    while rows := cursor.fetchmany(size):
        yield [tuple(f(v) for f, v in zip(coerce, row, strict=True)) for row in rows]


def open_sqlite(path: str) -> sqlite3.Connection:
    if not Path(path).is_file():
        raise FileNotFoundError(f"no SQLite ledger at {path}")
    return sqlite3.connect(f"file:{quote(str(Path(path).resolve()))}?mode=ro", uri=True)


async def move(sqlite_path: str, url: str, *, batch: int = 5000) -> Moved:
    """Copy every row of the SQLite ledger at ``sqlite_path`` into the PostgreSQL ledger at ``url``."""
    moved = Moved()
    started = time.perf_counter()
    store = await PgStore.open(url)
    try:
        with closing(open_sqlite(sqlite_path)) as conn:
            columns = sqlite_columns(conn)
            for rows in read_batches(conn, columns, batch):
                inserted = await store.copy_rows(rows, columns)
                moved.read += len(rows)
                moved.inserted += inserted
                log.info("moved %d rows (%d new)", moved.read, moved.inserted)
        moved.rejected = store.rejected
        moved.already_there = moved.read - moved.inserted - moved.rejected
    finally:
        await store.close()
    moved.seconds = time.perf_counter() - started
    return moved


async def missing_in_postgres(sqlite_path: str, url: str, chunk: int = 20_000) -> int:
    """How many of the SQLite file's event ids are not in PostgreSQL (0 after a complete move)."""
    missing = 0
    conn = await asyncpg.connect(url)
    try:
        with closing(open_sqlite(sqlite_path)) as db:
            cursor = db.execute("SELECT event_id FROM requests ORDER BY rowid")
            while ids := [r[0] for r in cursor.fetchmany(chunk)]:
                found = await conn.fetchval(
                    "SELECT count(*) FROM requests WHERE event_id = ANY($1::text[])", ids
                )
                missing += len(ids) - int(found)
    finally:
        await conn.close()
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.recorder.migrate_to_postgres",
        description="Move a SQLite usage ledger into PostgreSQL (idempotent).",
    )
    parser.add_argument("--from", dest="source", required=True, help="the SQLite ledger, e.g. data/usage.db")
    parser.add_argument("--to", dest="target", required=True, help="postgresql://user:password@host:port/db")
    parser.add_argument("--batch", type=int, default=5000, help="rows per transaction (default 5000)")
    args = parser.parse_args(argv)
    if args.target.split("://", 1)[0].lower() not in POSTGRES_SCHEMES or "://" not in args.target:
        parser.error("--to must be a postgresql:// URL")
    if args.batch < 1:
        parser.error("--batch must be at least 1")
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        moved = asyncio.run(move(args.source, args.target, batch=args.batch))
        missing = asyncio.run(missing_in_postgres(args.source, args.target))
    except (OSError, ValueError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.error("move failed: %s: %s (to %s)", type(exc).__name__, exc, redact(args.target))
        return 1
    log.info(
        "moved %s into %s: %s; missing afterwards: %d",
        args.source,
        redact(args.target),
        moved.summary(),
        missing,
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
