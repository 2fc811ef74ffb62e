"""sqlite_mode: the writer process's SQLite without mutexes, in a process of its own (it reconfigures the
process's SQLite library, which pytest's own connections must not see)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Run in a fresh interpreter: switch the mode first, then write a batch through Store on an inline
# connection (the writer process's), read it back, and print what SQLite's memory counter says.
_CHILD = """
import asyncio, ctypes, sqlite3, sys, _sqlite3
from services.recorder import sqlite_mode
from services.recorder.store import Store
from tests.unit.recorder.test_recorder_store import make_event

switched = sqlite_mode.one_thread_per_connection() if sys.argv[1] == "switch" else None
lib = ctypes.CDLL(_sqlite3.__file__)
lib.sqlite3_memory_used.restype = ctypes.c_int64

async def main() -> None:
    store = await Store.open(sys.argv[2], inline=True)
    try:
        inserted = await store.insert_many([make_event(i) for i in range(50)])
        print(switched, inserted, lib.sqlite3_memory_used())
    finally:
        await store.close()

asyncio.run(main())
with sqlite3.connect(sys.argv[2]) as db:
    print(db.execute("SELECT count(*), sum(input_tokens) FROM requests").fetchone())
"""


def _run(mode: str, path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_writer_mode_takes_effect_and_the_ledger_is_written_the_same(tmp_path: Path) -> None:
    # Memory statistics off is what this process can observe of the switch (sqlite3_memory_used reads 0
    # with them off, above 0 with the default); the batch is stored whole either way.
    switched = _run("switch", tmp_path / "switched.db")
    default = _run("default", tmp_path / "default.db")
    assert switched[0].split() == ["True", "50", "0"]
    flag, inserted, used = default[0].split()
    assert (flag, inserted) == ("None", "50") and int(used) > 0
    assert switched[1] == default[1] == str((50, sum(10 + i for i in range(50))))
