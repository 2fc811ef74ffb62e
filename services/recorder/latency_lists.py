"""Latency lists: every ledger row's ``latency_ms`` per (hour, provider, model, status), for exact percentiles.

Percentiles are not additive, so the hourly rollup cannot hold them; these lists hold the latencies
themselves, packed as little-endian float64 in BLOB rows of ``latency_lists`` (SQLite schema version 6;
PostgreSQL keeps the same table in SQL, big-endian: ``pg_lists.py``). A read over whole hours selects the blobs of the matching groups and computes
``numpy.percentile`` over them (``shared/ledger/queries.py``): exact, and no index walk.

Writes (``services/recorder/store.py``), in the batch's transaction, like the hourly rollups:

* append: the latencies of the rows the batch really inserted (rowid above the largest before it, so a
  replayed event adds nothing), one row ("part") per group and batch; ``part`` is the batch's first
  rowid, so parts never collide and nothing is read back or rewritten;
* compaction: a finished hour's parts merged into one row (the smallest ``part``), for a few groups per
  batch, and for all at open (:func:`repair_plan`).

Integrity: a group's ``n`` summed over its parts equals its ``usage_hourly.requests``. A delete or update
of ``requests`` by hand (triggers keep the rollup exact but cannot edit a blob) drops the lists of the
groups it touches; a reader then takes those groups from ``requests`` (any group whose counts disagree),
and the writer rebuilds them at open (:func:`repair_plan`, run by ``rollups.ensure_rollups``).

The logic is written as plans: generators that yield ``(sql, params)`` and receive the statement's rows
(``params`` a list of tuples: ``executemany``, no rows), driven by :func:`run_sync` or :func:`run_async`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np

from shared.ledger.params import HOUR_EXPR

TABLE = "latency_lists"
DTYPE = "<f8"  # float64, little-endian, whatever the machine
COMPACT_PER_BATCH = 8  # groups of finished hours a batch compacts (bounded work per batch)
_FULL_SCAN = 256  # more mismatched groups than this: rebuild from one scan of the ledger, not per group

Key = tuple[int, str, str, int]  # hour, provider ('' when none was reached), model, status
Rows = list[tuple[Any, ...]]
T = TypeVar("T")
Plan = Generator[tuple[str, Any], Rows, T]

_GROUP = "hour = ?1 AND provider = ?2 AND model = ?3 AND status = ?4"
_OLD = (
    f"DELETE FROM {TABLE} WHERE hour = CAST(OLD.started_at / 3600 AS INTEGER) "
    "AND provider = COALESCE(OLD.provider, '') AND model = OLD.model AND status = OLD.status;"
)

LISTS_SQL = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    hour      INTEGER NOT NULL,   -- CAST(started_at / 3600 AS INTEGER), UTC
    provider  TEXT NOT NULL,      -- '' when no provider was reached
    model     TEXT NOT NULL,
    status    INTEGER NOT NULL,
    part      INTEGER NOT NULL,   -- first rowid of the batch that appended it (compaction keeps the least)
    n         INTEGER NOT NULL,   -- latencies in the blob
    latencies BLOB NOT NULL,      -- latency_ms of the part's rows, little-endian float64, in no order
    PRIMARY KEY (hour, provider, model, status, part)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS requests_lists_delete AFTER DELETE ON requests BEGIN
    {_OLD}
END;
CREATE TRIGGER IF NOT EXISTS requests_lists_update AFTER UPDATE OF started_at, provider, model, status, latency_ms
    ON requests BEGIN
    {_OLD}
    {_OLD.replace("OLD.", "NEW.")}
END;
"""
# Schema version 6: the lists replace these latency-ordered indexes (each cost the writer ~8 us a row);
# requests_hour_latency stays (partial hours, mismatched groups, attribution groups read along it).
DROP_INDEXES_SQL = (
    "DROP INDEX IF EXISTS requests_latency;\nDROP INDEX IF EXISTS requests_provider_latency;\n"
    "DROP INDEX IF EXISTS requests_model_latency;\nDROP INDEX IF EXISTS requests_day_latency;\n"
)
_INSERT = f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?)"
_ROWS = f"SELECT {HOUR_EXPR}, COALESCE(provider, ''), model, status, latency_ms FROM requests"


def pack(latencies: Sequence[float] | np.ndarray[Any, Any]) -> bytes:
    """Latencies (ms) as a blob: little-endian float64."""
    return np.asarray(latencies, dtype=DTYPE).tobytes()


def unpack(blob: bytes) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A blob of :func:`pack` as a float64 array (read-only, no copy)."""
    return np.frombuffer(blob, dtype=DTYPE)


def group_rows(rows: Iterable[tuple[Any, ...]]) -> dict[Key, list[float]]:
    """``(hour, provider, model, status, latency_ms)`` rows -> the latencies of each group."""
    groups: dict[Key, list[float]] = {}
    for hour, provider, model, status, latency in rows:
        groups.setdefault((hour, provider, model, status), []).append(latency)
    return groups


def append_plan(last_rowid: int, groups: dict[Key, list[float]] | None = None) -> Plan[set[Key]]:
    """Append the rows above ``last_rowid`` (the batch's) as one part per group; returns the groups.

    ``groups``: those rows' latencies by group when the caller has them (every row of the batch was new:
    ``batch_rollup.batch_groups``), so they are not read back."""
    if groups is None:
        groups = group_rows((yield (f"{_ROWS} WHERE rowid > ?", (last_rowid,))))
    part = last_rowid + 1
    yield (_INSERT, [(*key, part, len(v), pack(v)) for key, v in groups.items()])
    return set(groups)


def compact_plan(keys: Iterable[Key]) -> Plan[int]:
    """Merge each group's parts into one row; returns how many groups had more than one part."""
    merged = 0
    for key in keys:
        parts = yield (f"SELECT part, n, latencies FROM {TABLE} WHERE {_GROUP}", key)
        if len(parts) < 2:
            continue
        blob = b"".join(p[2] for p in parts)  # concatenated float64 arrays are one float64 array
        yield (f"DELETE FROM {TABLE} WHERE {_GROUP}", key)
        yield (_INSERT, [(*key, min(p[0] for p in parts), sum(p[1] for p in parts), blob)])
        merged += 1
    return merged


_MISMATCHED = f"""SELECT h.hour, h.provider, h.model, h.status FROM usage_hourly AS h
LEFT JOIN (SELECT hour, provider, model, status, sum(n) AS n FROM {TABLE} GROUP BY 1, 2, 3, 4) AS l
    ON l.hour = h.hour AND l.provider = h.provider AND l.model = h.model AND l.status = h.status
WHERE l.n IS NOT h.requests"""
_ORPHANS = f"""SELECT hour, provider, model, status FROM {TABLE}
EXCEPT SELECT hour, provider, model, status FROM usage_hourly"""
_SPLIT = f"SELECT hour, provider, model, status FROM {TABLE} GROUP BY 1, 2, 3, 4 HAVING count(*) > 1"


def repair_plan() -> Plan[int]:
    """Make the lists agree with ``usage_hourly`` (which must be exact): rebuild every group whose count
    differs from the ledger's, drop lists of groups the ledger no longer has, compact every group.
    Returns how many groups were rebuilt (all of them on a ledger that had no lists: the backfill)."""
    for key in (yield (_ORPHANS, ())):
        yield (f"DELETE FROM {TABLE} WHERE {_GROUP}", tuple(key))
    wrong: list[Key] = [(r[0], r[1], r[2], r[3]) for r in (yield (_MISMATCHED, ()))]
    if wrong:
        yield (f"DELETE FROM {TABLE} WHERE {_GROUP}", [tuple(k) for k in wrong])
    if len(wrong) > _FULL_SCAN:
        wanted = set(wrong)
        groups = group_rows(r for r in (yield (_ROWS, ())) if tuple(r[:4]) in wanted)
    else:
        groups = {}
        for key in wrong:
            where = f"{HOUR_EXPR} = ?1 AND COALESCE(provider, '') = ?2 AND model = ?3 AND status = ?4"
            groups.update(group_rows((yield (f"{_ROWS} WHERE {where}", key))))
    yield (_INSERT, [(*key, 0, len(v), pack(v)) for key, v in groups.items()])
    yield from compact_plan(tuple(r) for r in (yield (_SPLIT, ())))
    return len(wrong)


def run_sync(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """Drive ``plan`` on a ``sqlite3`` connection (inside the caller's transaction)."""
    try:
        sql, params = next(plan)
        while True:
            if isinstance(params, list):
                conn.executemany(sql, params)
                rows: Rows = []
            else:
                rows = conn.execute(sql, params).fetchall()
            sql, params = plan.send(rows)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def run_async(conn: Any, plan: Plan[T]) -> T:
    """Drive ``plan`` on an ``aiosqlite.Connection`` (inside the caller's transaction)."""
    try:
        sql, params = next(plan)
        while True:
            if isinstance(params, list):
                await conn.executemany(sql, params)
                rows: Rows = []
            else:
                async with conn.execute(sql, params) as cursor:
                    rows = list(await cursor.fetchall())
            sql, params = plan.send(rows)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
