"""``inline_db.InlineConnection``: aiosqlite's shape, each statement run where it is awaited (the writer
process's connection; ``Store`` on it is tested in test_recorder_store.py, every store test on both)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.recorder.inline_db import InlineConnection


async def test_a_statement_runs_when_awaited_and_its_error_is_raised_there(tmp_path: Path) -> None:
    db = InlineConnection.connect(str(tmp_path / "x.db"))
    try:
        await db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
        pending = db.execute("INSERT INTO t VALUES (1, 'a')")
        async with db.execute("SELECT count(*) FROM t") as cursor:
            assert await cursor.fetchone() == (0,)  # not run until awaited
        assert (await pending).rowcount == 1
        assert (await db.executemany("INSERT INTO t VALUES (?, ?)", [(2, "b"), (3, "c")])).rowcount == 2
        failing = db.execute("INSERT INTO t VALUES (4, NULL)")
        with pytest.raises(sqlite3.IntegrityError):
            await failing
        cursor = await db.execute("SELECT k, v FROM t ORDER BY k")
        assert await cursor.fetchall() == [(1, "a"), (2, "b"), (3, "c")]
    finally:
        await db.close()


async def test_the_caller_owns_the_transactions(tmp_path: Path) -> None:
    db = InlineConnection.connect(str(tmp_path / "x.db"))
    try:
        await db.executescript("CREATE TABLE t (k INTEGER);")
        assert not db.in_transaction  # autocommit: nothing begun behind the caller's back
        await db.execute("BEGIN IMMEDIATE")
        await db.execute("INSERT INTO t VALUES (1)")
        assert db.in_transaction
        await db.rollback()
        async with db.execute("SELECT count(*) FROM t") as cursor:
            assert await cursor.fetchone() == (0,)
    finally:
        await db.close()
