"""The SQLite -> PostgreSQL move (``python -m services.recorder.migrate_to_postgres``), against a real server."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from services.recorder import migrate_to_postgres
from services.recorder.store import Store
from tests.ledger_db import query
from tests.unit.recorder.test_recorder_store import make_event

ROOT = Path(__file__).resolve().parents[3]
ROLLUP = "SELECT * FROM usage_hourly ORDER BY hour, provider, model, status"


async def _sqlite_ledger(path: Path, n: int) -> None:
    store = await Store.open(str(path))
    events = [
        make_event(
            i,
            started_at=1_700_000_000.0 + i * 97.0,
            provider=None if i % 11 == 0 else "anthropic",
            cost_usd=None if i % 7 == 0 else 0.001 * i,
            status=200 if i % 5 else 429,
            failed_attempts=[] if i % 3 else make_event(0).failed_attempts,
        )
        for i in range(n)
    ]
    assert await store.insert_many(events) == n
    await store.close()


def test_move_copies_every_row_and_the_rollup_agrees(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "usage.db"
    asyncio.run(_sqlite_ledger(path, 1234))
    assert migrate_to_postgres.main(["--from", str(path), "--to", pg_url, "--batch", "100"]) == 0
    order = "SELECT * FROM requests ORDER BY event_id"
    assert query(pg_url, order) == query(path, order)  # every column of every row, same values and types
    assert _same_rollup(path, pg_url)
    # Idempotent: a second run adds nothing and still succeeds.
    moved = asyncio.run(migrate_to_postgres.move(str(path), pg_url))
    assert (moved.read, moved.inserted, moved.already_there) == (1234, 0, 1234)
    assert query(pg_url, "SELECT count(*) AS n FROM requests") == [{"n": 1234}]


def _same_rollup(sqlite_path: Path, pg_url: str) -> bool:
    a, b = query(sqlite_path, ROLLUP), query(pg_url, ROLLUP)
    assert len(a) == len(b) > 10
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float):  # sums in another order
                assert x[k] == pytest.approx(y[k], rel=1e-12), (k, x, y)
            else:
                assert x[k] == y[k], (k, x, y)
    return True


async def test_move_resumes_after_new_rows_and_an_older_file_gets_defaults(
    tmp_path: Path, pg_url: str
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:  # an older recorder's table: fewer columns, an integer in a REAL column
        db.execute(
            "CREATE TABLE requests (request_id TEXT, endpoint TEXT, client_format TEXT, model TEXT, "
            "event_id TEXT PRIMARY KEY, schema_version INTEGER, started_at REAL, finished_at REAL, "
            "status INTEGER, latency_ms REAL)"
        )
        db.executemany(
            "INSERT INTO requests VALUES (?, '/v1/messages', 'anthropic', 'm', ?, 1, ?, ?, 200, ?)",
            [(f"old-{i}", f"e{i}", 1_700_000_000 + i, 1_700_000_001.0 + i, 250) for i in range(50)],
        )
    moved = await migrate_to_postgres.move(str(path), pg_url, batch=20)
    assert (moved.read, moved.inserted) == (50, 50)
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO requests VALUES ('new', '/v1/messages', 'anthropic', 'm', 'e-new', 1, 1.7e9, "
            "1.7e9, 200, 9.5)"
        )
    moved = await migrate_to_postgres.move(str(path), pg_url)
    assert (moved.read, moved.inserted, moved.already_there) == (51, 1, 50)
    [row] = query(pg_url, "SELECT * FROM requests WHERE event_id = 'e3'")
    assert row["latency_ms"] == 250.0 and row["input_tokens"] == 0 and row["failed_attempts"] == "[]"
    assert row["provider"] is None and row["cost_usd"] is None and row["translated"] == 0
    assert query(pg_url, "SELECT sum(requests) AS n FROM usage_hourly") == [{"n": 51}]
    assert await migrate_to_postgres.missing_in_postgres(str(path), pg_url) == 0


def test_the_command_line(tmp_path: Path, pg_url: str) -> None:
    path = tmp_path / "usage.db"
    asyncio.run(_sqlite_ledger(path, 20))
    run = subprocess.run(
        [sys.executable, "-m", "services.recorder.migrate_to_postgres", "--from", str(path), "--to", pg_url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "read=20 inserted=20" in run.stderr and "missing afterwards: 0" in run.stderr
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.recorder.migrate_to_postgres",
            "--from",
            str(tmp_path / "nope.db"),
            "--to",
            pg_url,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        missing.returncode == 1 and "no SQLite ledger" in missing.stderr and "Traceback" not in missing.stderr
    )
    with pytest.raises(SystemExit) as bad:
        migrate_to_postgres.main(["--from", str(path), "--to", "mysql://x@y/z"])
    assert bad.value.code == 2
