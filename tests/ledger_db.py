"""Read a ledger from a test, whichever engine holds it: a SQLite file (a path) or PostgreSQL (a URL)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg

Ledger = Path | str  # a SQLite file, or a postgresql:// URL


def is_postgres(ledger: Ledger) -> bool:
    return isinstance(ledger, str) and ledger.startswith(("postgresql://", "postgres://"))


def _numbered(sql: str) -> str:
    """SQLite's ``?`` placeholders as PostgreSQL's ``$1, $2, …`` (the tests' SQL has no ``?`` in literals)."""
    counter = iter(range(1, 1000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


async def _pg_fetch(url: str, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return [dict(r) for r in await conn.fetch(_numbered(sql), *params)]
    finally:
        await conn.close()


def _run(coro: Any) -> Any:
    """``asyncio.run`` that also works when called from a coroutine (in a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def query(ledger: Ledger, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts; an empty list while the database or its table does not exist yet."""
    if is_postgres(ledger):
        try:
            return list(_run(_pg_fetch(str(ledger), sql, params)))
        except asyncpg.UndefinedTableError:
            return []
    if not Path(ledger).exists():
        return []
    con = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    except sqlite3.OperationalError:  # table not created yet
        return []
    finally:
        con.close()
