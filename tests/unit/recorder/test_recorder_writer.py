"""The SQLite writer process (``services/recorder/writer.py``): rows cross the process boundary exactly, a
dead writer fails its batch and the next call starts another, nothing is committed for a batch whose
writer died before answering, a parent that goes away ends the writer, start-up errors come back."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.recorder.store import COLUMNS, Row, event_row
from services.recorder.writer import WriterDied, WriterProcess
from tests.unit.recorder.test_recorder_store import make_event

ROLLUPS = (
    "SELECT (SELECT count(*) FROM requests), (SELECT sum(requests) FROM usage_hourly), "
    "(SELECT sum(requests) FROM usage_attribution_hourly), (SELECT sum(n) FROM latency_lists), "
    "(SELECT sum(input_tokens) FROM usage_hourly), (SELECT sum(input_tokens) FROM requests)"
)


def rows(start: int, n: int, **overrides: object) -> list[Row]:
    return [event_row(make_event(i, **overrides)) for i in range(start, start + n)]


def stored(path: Path) -> list[Row]:
    with sqlite3.connect(path) as db:
        return db.execute(f"SELECT {', '.join(COLUMNS)} FROM requests ORDER BY rowid").fetchall()


def rollups(path: Path) -> tuple[object, ...]:
    with sqlite3.connect(path) as db:
        return tuple(db.execute(ROLLUPS).fetchone())


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[WriterProcess]:
    w = await WriterProcess.open(str(tmp_path / "usage.db"))
    yield w
    await w.close()


async def test_rows_cross_exactly_and_the_rollups_count_them(writer: WriterProcess, tmp_path: Path) -> None:
    batch = rows(0, 50) + rows(50, 5, cost_usd=None, cache_savings_usd=0.1 + 0.2, input_tokens=2**40)
    assert await writer.insert_rows(batch) == 55
    assert stored(tmp_path / "usage.db") == batch  # every value, floats to the last bit
    more = rows(55, 5)
    assert await writer.insert_rows(batch[:10] + more) == 5  # replays skipped
    in_tokens = sum(r[COLUMNS.index("input_tokens")] for r in batch + more)
    assert rollups(tmp_path / "usage.db") == (60, 60, 60, 60, in_tokens, in_tokens)


async def test_an_integer_sqlite_cannot_bind_fails_the_batch_as_in_process(
    writer: WriterProcess, tmp_path: Path
) -> None:
    batch = rows(0, 3, cache_read_tokens=2**62)  # each fits 64 bits, their rollup sum does not
    with pytest.raises(OverflowError):  # as in the recorder's process before: SQLite binds 64-bit integers
        await writer.insert_rows(batch)
    assert stored(tmp_path / "usage.db") == []  # rolled back whole


async def test_a_row_sqlite_refuses_is_counted_and_the_rest_stored(
    writer: WriterProcess, tmp_path: Path
) -> None:
    bad = list(rows(100, 1)[0])
    bad[COLUMNS.index("model")] = None  # NOT NULL
    assert await writer.insert_rows([*rows(0, 3), tuple(bad)]) == 3
    assert writer.rejected == 1
    assert rollups(tmp_path / "usage.db")[:2] == (3, 3)


async def test_a_killed_writer_fails_its_batch_and_the_retry_starts_another(
    writer: WriterProcess, tmp_path: Path
) -> None:
    assert await writer.insert_rows(rows(0, 20)) == 20
    first = writer.pid
    holder = sqlite3.connect(tmp_path / "usage.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the writer's insert waits on this lock: it is mid-batch
    batch = rows(20, 30)
    attempt = asyncio.create_task(writer.insert_rows(batch))
    await asyncio.sleep(0)  # the batch is sent (one write; the reply cannot come while the lock is held)
    os.kill(first, signal.SIGKILL)
    with pytest.raises(WriterDied):
        await attempt
    holder.execute("COMMIT")
    holder.close()
    assert len(stored(tmp_path / "usage.db")) == 20  # nothing of the unanswered batch
    assert await writer.insert_rows(batch) == 30  # the batcher's retry
    assert writer.pid != first and writer.restarts == 1
    assert await writer.insert_rows(batch) == 0  # resent once more: stored once
    assert rollups(tmp_path / "usage.db")[:4] == (50, 50, 50, 50)


async def test_the_writer_exits_when_its_parent_goes_away(writer: WriterProcess) -> None:
    child = writer._child
    assert child is not None and child.poll() is None
    assert writer._writer is not None
    writer._writer.transport.abort()  # what the kernel does to the socket of a killed recorder
    assert await asyncio.to_thread(child.wait, 10) == 0


async def test_the_writer_ignores_the_terminals_signals_until_closed(
    writer: WriterProcess, tmp_path: Path
) -> None:
    child = writer._child
    assert child is not None
    child.send_signal(signal.SIGINT)  # Ctrl-C reaches the whole process group; the recorder drains first
    child.send_signal(signal.SIGTERM)
    assert await writer.insert_rows(rows(0, 5)) == 5
    assert writer.pid == child.pid and writer.restarts == 0
    await writer.close()
    assert child.poll() == 0  # closed by its parent, not by a signal


async def test_a_database_that_cannot_be_opened_fails_open(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(sqlite3.OperationalError, match="ledger writer: unable to open database file"):
        await WriterProcess.open(str(tmp_path / "dir.db"))
