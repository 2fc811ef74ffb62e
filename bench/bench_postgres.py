"""Writing the ledger into PostgreSQL: the recorder's store and the SQLite -> PostgreSQL move.

    .venv/bin/python bench/bench_postgres.py [--rows 200000] [--move-rows 1000000] [--writers 4]

Starts a private PostgreSQL cluster (tests/pgserver.py; Debian's postgresql, ``make postgres``) with the
server's default, durable settings (fsync on, synchronous commit), then times:

* one ``PgStore`` writing ``--rows`` synthetic events in batches of 500 (the recorder's default batch);
* ``--writers`` stores writing the same number of rows at once into one database (several recorders);
* ``python -m services.recorder.migrate_to_postgres`` of a ``--move-rows`` SQLite ledger (seeded first).

Every figure is rows committed per second, rollup upkeep included.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.recorder import migrate_to_postgres  # noqa: E402
from services.recorder.pg_store import PgStore  # noqa: E402
from services.recorder.seed import generate, seed  # noqa: E402
from services.recorder.store import event_row  # noqa: E402
from tests.pgserver import PgServer  # noqa: E402

BATCH = 500


def _rows(n: int, seed_value: int) -> list[tuple[object, ...]]:
    end = time.time()
    return [event_row(e) for e in generate(n, end - 30 * 86400, end, np.random.default_rng(seed_value))]


async def _write(url: str, rows: list[tuple[object, ...]]) -> None:
    store = await PgStore.open(url)
    try:
        for i in range(0, len(rows), BATCH):
            await store.insert_rows(rows[i : i + BATCH])
    finally:
        await store.close()


async def _writers(url: str, parts: list[list[tuple[object, ...]]]) -> None:
    await asyncio.gather(*(_write(url, part) for part in parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--move-rows", type=int, default=1_000_000)
    parser.add_argument("--writers", type=int, default=4)
    args = parser.parse_args()
    server = PgServer.start(durable=True)
    try:
        rows = _rows(args.rows, 1)
        server.psql("CREATE DATABASE one")
        t0 = time.perf_counter()
        asyncio.run(_write(server.url("one"), rows))
        one = args.rows / (time.perf_counter() - t0)
        print(f"one recorder's store, batches of {BATCH}: {args.rows} rows, {one:,.0f} rows/s", flush=True)

        parts = [_rows(args.rows // args.writers, 10 + k) for k in range(args.writers)]
        server.psql("CREATE DATABASE many")
        t0 = time.perf_counter()
        asyncio.run(_writers(server.url("many"), parts))
        many = sum(map(len, parts)) / (time.perf_counter() - t0)
        print(
            f"{args.writers} stores into one database at once: {sum(map(len, parts))} rows, {many:,.0f} rows/s",
            flush=True,
        )

        with tempfile.TemporaryDirectory() as tmp:
            path = str(Path(tmp) / "usage.db")
            t0 = time.perf_counter()
            asyncio.run(seed(path, args.move_rows, 30))
            print(f"seeded {args.move_rows} rows into SQLite in {time.perf_counter() - t0:.1f}s", flush=True)
            server.psql("CREATE DATABASE moved")
            moved = asyncio.run(migrate_to_postgres.move(path, server.url("moved")))
            print(f"SQLite -> PostgreSQL move: {moved.summary()}", flush=True)
            ok = moved.inserted == args.move_rows
            count = server.psql("SELECT count(*) FROM requests", "moved")
            rolled = server.psql("SELECT sum(requests) FROM usage_hourly", "moved")
            print(f"rows in PostgreSQL: {count}, in the rollup: {rolled}")
        return 0 if ok and count == rolled == str(args.move_rows) else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
