"""Hourly rollups of the ledger, kept exact per batch by the writer, plus the read-side indexes.

``usage_hourly`` has one row per (hour, provider, model, status) with additive figures only, so any
range of whole hours, grouped by any of those keys or by day, is a small GROUP BY over it.
``usage_attribution_hourly`` does the same per (hour, gateway key, client, session, provider, model, status),
so the cost by key, client and session reads it under any provider, model or status filter too.
Percentiles are not additive: whole hours read them from the latency lists
(``services/recorder/latency_lists.py``, schema version 6: each group's latencies as float64 blobs, kept per
batch like the rollups), partial hours and attribution groups from ``requests`` along the one hour index left in
:data:`INDEX_SQL` (schema 7: in time order within the hour, so each new row goes at its end; the
latencies it covers are sorted by the reader; see ``shared/ledger/queries.py``).

Inserts: the writer (``services/recorder/store.py``) adds each batch to the rollups in the batch's own
transaction, with one ``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`` per rollup over the rows the
batch really inserted (:data:`BATCH_STATEMENTS`: the rows whose rowid is above the largest one before the
batch, since SQLite gives a new row ``max(rowid) + 1``). A replayed event inserts no row and so adds nothing.
A batch whose rows were all new is summed in Python instead (``batch_rollup.py``: the same groups and
figures, one upsert per group, without reading the rows back).
Per-row insert triggers cost about twice the insert itself; a batch's upsert touches each group once.
(Until schema version 4 the rollups were kept by insert triggers: :data:`DROP_INSERT_TRIGGERS_SQL`.)

Deletes and updates (retention jobs, manual fixes with the sqlite3 shell) are rare and still kept exact by
triggers (the latency lists: their groups' lists are dropped, and rebuilt at open). A writer other than the
store that inserts rows leaves the rollups behind; :func:`ensure_rollups` notices (row counts differ) and
rebuilds them, and the lists of groups whose counts differ, when the store next opens the database.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from services.recorder.latency_lists import LISTS_SQL, repair_plan, run_async, run_sync
from shared.events import TOKEN_FIELDS
from shared.ledger.params import HOUR_EXPR  # the readers' expressions: must match exactly

_SUMS = (
    "requests",
    "fallbacks",
    *TOKEN_FIELDS,
    "cost_usd",
    "priced",
    "latency_ms",
    "cache_savings_usd",
)
HOURLY_FIGURES = _SUMS  # usage_hourly's figures in table order (also batch_rollup.py's sums)


def _values(row: str) -> str:
    """The rollup key and figures of one ``requests`` row (``NEW`` or ``OLD``) as a VALUES list."""
    return (
        f"CAST({row}.started_at / 3600 AS INTEGER), COALESCE({row}.provider, ''), {row}.model, {row}.status, "
        f"1, {row}.attempts > 1, {row}.input_tokens, {row}.output_tokens, {row}.cache_read_tokens, "
        f"{row}.cache_write_tokens, {row}.reasoning_tokens, COALESCE({row}.cost_usd, 0), "
        f"{row}.cost_usd IS NOT NULL, {row}.latency_ms, COALESCE({row}.cache_savings_usd, 0)"
    )


_ADD = ", ".join(f"{c} = {c} + excluded.{c}" for c in _SUMS)
_KEY = "(hour, provider, model, status)"


def _upsert(row: str) -> str:
    return f"INSERT INTO usage_hourly VALUES ({_values(row)}) ON CONFLICT {_KEY} DO UPDATE SET {_ADD};"


_SUBTRACT = (
    "UPDATE usage_hourly SET requests = requests - 1, fallbacks = fallbacks - (OLD.attempts > 1), "
    "input_tokens = input_tokens - OLD.input_tokens, output_tokens = output_tokens - OLD.output_tokens, "
    "cache_read_tokens = cache_read_tokens - OLD.cache_read_tokens, "
    "cache_write_tokens = cache_write_tokens - OLD.cache_write_tokens, "
    "reasoning_tokens = reasoning_tokens - OLD.reasoning_tokens, "
    "cost_usd = cost_usd - COALESCE(OLD.cost_usd, 0), priced = priced - (OLD.cost_usd IS NOT NULL), "
    "latency_ms = latency_ms - OLD.latency_ms, "
    "cache_savings_usd = cache_savings_usd - COALESCE(OLD.cache_savings_usd, 0) "
    "WHERE hour = CAST(OLD.started_at / 3600 AS INTEGER) AND provider = COALESCE(OLD.provider, '') "
    "AND model = OLD.model AND status = OLD.status; "
    "DELETE FROM usage_hourly WHERE requests <= 0 AND hour = CAST(OLD.started_at / 3600 AS INTEGER);"
)

ROLLUP_SQL = f"""
CREATE TABLE IF NOT EXISTS usage_hourly (
    hour               INTEGER NOT NULL,   -- CAST(started_at / 3600 AS INTEGER), UTC
    provider           TEXT NOT NULL,      -- '' when no provider was reached
    model              TEXT NOT NULL,
    status             INTEGER NOT NULL,
    requests           INTEGER NOT NULL,
    fallbacks          INTEGER NOT NULL,   -- rows with attempts > 1
    input_tokens       INTEGER NOT NULL,
    output_tokens      INTEGER NOT NULL,
    cache_read_tokens  INTEGER NOT NULL,
    cache_write_tokens INTEGER NOT NULL,
    reasoning_tokens   INTEGER NOT NULL,
    cost_usd           REAL NOT NULL,      -- sum over rows with a known cost
    priced             INTEGER NOT NULL,   -- rows with a known cost
    latency_ms         REAL NOT NULL,      -- sum, for means
    cache_savings_usd  REAL NOT NULL,      -- sum over rows with a known saving
    PRIMARY KEY {_KEY}
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS requests_rollup_delete AFTER DELETE ON requests BEGIN
    {_SUBTRACT}
END;
CREATE TRIGGER IF NOT EXISTS requests_rollup_update AFTER UPDATE OF started_at, provider, model, status,
    attempts, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    cost_usd, latency_ms, cache_savings_usd ON requests BEGIN
    {_SUBTRACT}
    {_upsert("NEW")}
END;
"""

# Who spent what: (hour, key, client, session, provider, model, status) with requests, tokens, cost and the
# first and last request of the hour, for the dashboard's cost by key and client and its sessions table, under
# any of the page's and /usage's filters (provider, model, status too: schema version 5). NULL reads as ''.
# After a delete, first_at/last_at keep their old bounds (they only widen); the figures stay exact.
WHO = "usage_attribution_hourly"
_WHO_KEY = "(hour, api_key_name, client, session_id, provider, model, status)"


def _who_values(row: str) -> str:
    return (
        f"CAST({row}.started_at / 3600 AS INTEGER), COALESCE({row}.api_key_name, ''), COALESCE({row}.client, ''), "
        f"COALESCE({row}.session_id, ''), COALESCE({row}.provider, ''), {row}.model, {row}.status, 1, "
        f"{row}.input_tokens + {row}.output_tokens + {row}.cache_read_tokens + {row}.cache_write_tokens, "
        f"COALESCE({row}.cost_usd, 0), {row}.cost_usd IS NOT NULL, {row}.started_at, {row}.started_at"
    )


def _who_upsert(row: str) -> str:
    return (
        f"INSERT INTO {WHO} VALUES ({_who_values(row)}) ON CONFLICT {_WHO_KEY} DO UPDATE SET "
        "requests = requests + 1, tokens = tokens + excluded.tokens, cost_usd = cost_usd + excluded.cost_usd, "
        "priced = priced + excluded.priced, first_at = min(first_at, excluded.first_at), "
        "last_at = max(last_at, excluded.last_at);"
    )


_WHO_SUBTRACT = (
    f"UPDATE {WHO} SET requests = requests - 1, tokens = tokens - (OLD.input_tokens + OLD.output_tokens "
    "+ OLD.cache_read_tokens + OLD.cache_write_tokens), cost_usd = cost_usd - COALESCE(OLD.cost_usd, 0), "
    "priced = priced - (OLD.cost_usd IS NOT NULL) "
    "WHERE hour = CAST(OLD.started_at / 3600 AS INTEGER) AND api_key_name = COALESCE(OLD.api_key_name, '') "
    "AND client = COALESCE(OLD.client, '') AND session_id = COALESCE(OLD.session_id, '') "
    "AND provider = COALESCE(OLD.provider, '') AND model = OLD.model AND status = OLD.status; "
    f"DELETE FROM {WHO} WHERE requests <= 0 AND hour = CAST(OLD.started_at / 3600 AS INTEGER);"
)

WHO_SQL = f"""
CREATE TABLE IF NOT EXISTS {WHO} (
    hour          INTEGER NOT NULL,   -- CAST(started_at / 3600 AS INTEGER), UTC
    api_key_name  TEXT NOT NULL,      -- '' when the request had no gateway key
    client        TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    provider      TEXT NOT NULL,      -- '' when no provider was reached
    model         TEXT NOT NULL,
    status        INTEGER NOT NULL,
    requests      INTEGER NOT NULL,
    tokens        INTEGER NOT NULL,   -- input + output + cache read + cache write
    cost_usd      REAL NOT NULL,      -- sum over rows with a known cost
    priced        INTEGER NOT NULL,   -- rows with a known cost
    first_at      REAL NOT NULL,      -- earliest started_at of the hour's rows
    last_at       REAL NOT NULL,      -- latest
    PRIMARY KEY {_WHO_KEY}
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS requests_who_delete AFTER DELETE ON requests BEGIN
    {_WHO_SUBTRACT}
END;
CREATE TRIGGER IF NOT EXISTS requests_who_update AFTER UPDATE OF started_at, api_key_name, client, session_id,
    provider, model, status, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd
    ON requests BEGIN
    {_WHO_SUBTRACT}
    {_who_upsert("NEW")}
END;
"""
# Schema version 5: the attribution rollup of versions 2 to 4 (keyed by hour, key, client and session only)
# and its triggers dropped; ensure_rollups creates the new one and rebuilds it from the ledger. Also run by
# ensure_rollups on a file whose rollup still has the old shape (an older recorder, or no migration run).
DROP_WHO_SQL = (
    "DROP TRIGGER IF EXISTS requests_who_delete;\nDROP TRIGGER IF EXISTS requests_who_update;\n"
    f"DROP TABLE IF EXISTS {WHO};\n"
)
_WHO_SHAPE = f"SELECT count(*) FROM pragma_table_info('{WHO}') WHERE name = 'provider'"
_WHO_EXISTS = f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{WHO}'"

# The hour's covering index (schema version 6: the latency lists replaced the latency-ordered ones): the
# partial hours at a range's edges, groups whose lists disagree with the rollup, and percentiles by gateway
# key, client or session read the range's latencies along it, filtered on the trailing columns, and take
# their quantiles themselves (no reader needs the latencies in order). Within the hour it is in time order
# (schema version 7; it was in latency order): new rows go at its end, where in latency order each row of a
# batch went to a random page of the hour, about 2 us a row more and twice the WAL pages each commit
# writes (docs/benchmarks.md, recorder, session 8).
INDEX_SQL = f"""
CREATE INDEX IF NOT EXISTS requests_hour_latency
    ON requests ({HOUR_EXPR}, started_at, latency_ms, provider, model, status);
"""
# Schema version 7: the index in latency order within the hour is dropped; ensure_rollups makes it again in
# time order (INDEX_SQL).
DROP_HOUR_INDEX_SQL = "DROP INDEX IF EXISTS requests_hour_latency;\n"

# Each rollup's figures grouped from the ``requests`` rows that match ``{where}``.
_HOURLY_SELECT = f"""SELECT {HOUR_EXPR}, COALESCE(provider, ''), model, status, count(*), sum(attempts > 1), sum(input_tokens),
       sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens),
       total(cost_usd), count(cost_usd), total(latency_ms), total(cache_savings_usd)
FROM requests WHERE {{where}} GROUP BY 1, 2, 3, 4"""
_WHO_SELECT = f"""SELECT {HOUR_EXPR}, COALESCE(api_key_name, ''), COALESCE(client, ''), COALESCE(session_id, ''),
       COALESCE(provider, ''), model, status, count(*),
       sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens), total(cost_usd), count(cost_usd),
       min(started_at), max(started_at)
FROM requests WHERE {{where}} GROUP BY 1, 2, 3, 4, 5, 6, 7"""

# Separate statements: executescript() would COMMIT first and break the single transaction.
REBUILD_STATEMENTS = (
    f"DELETE FROM {WHO}",
    f"INSERT INTO {WHO}\n" + _WHO_SELECT.format(where="true"),
    "DELETE FROM usage_hourly",
    "INSERT INTO usage_hourly\n" + _HOURLY_SELECT.format(where="true"),
)

# A batch's rows added to both rollups: one parameter, the largest rowid of ``requests`` before the batch
# (0 for an empty table). SQLite needs the WHERE clause to parse an upsert from a SELECT.
_WHO_MERGE = (
    "requests = requests + excluded.requests, tokens = tokens + excluded.tokens, "
    "cost_usd = cost_usd + excluded.cost_usd, priced = priced + excluded.priced, "
    "first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at)"
)
BATCH_STATEMENTS = (
    "INSERT INTO usage_hourly\n"
    + _HOURLY_SELECT.format(where="rowid > ?1")
    + f"\nON CONFLICT {_KEY} DO UPDATE SET {_ADD}",
    f"INSERT INTO {WHO}\n"
    + _WHO_SELECT.format(where="rowid > ?1")
    + f"\nON CONFLICT {_WHO_KEY} DO UPDATE SET {_WHO_MERGE}",
)
# The largest rowid before a batch. A new row gets max(rowid) + 1 (no AUTOINCREMENT), unless the largest
# rowid is already the largest possible: then SQLite picks unused rowids at random, and the writer rebuilds.
LAST_ROWID_SQL = "SELECT coalesce(max(rowid), 0) FROM requests"
MAX_ROWID = 2**63 - 1

# Schema version 4: the per-row insert triggers of earlier versions, replaced by BATCH_STATEMENTS. Also run
# by ensure_rollups, so a database an older recorder opened again (and re-created them in) is never
# counted twice.
DROP_INSERT_TRIGGERS_SQL = (
    "DROP TRIGGER IF EXISTS requests_rollup_insert;\nDROP TRIGGER IF EXISTS requests_who_insert;\n"
)


_DERIVED = (
    ("TRIGGER", "requests_rollup_insert"),
    ("TRIGGER", "requests_rollup_delete"),
    ("TRIGGER", "requests_rollup_update"),
    ("TRIGGER", "requests_who_insert"),
    ("TRIGGER", "requests_who_delete"),
    ("TRIGGER", "requests_who_update"),
    ("INDEX", "requests_latency"),
    ("INDEX", "requests_provider_latency"),
    ("INDEX", "requests_model_latency"),
    ("INDEX", "requests_hour_latency"),
    ("INDEX", "requests_day_latency"),
)


def suspend_sync(conn: sqlite3.Connection) -> None:
    """Drop the triggers and read indexes before a bulk load (the seeding command); the rollup tables
    stay (the store keeps them per batch). :func:`ensure_rollups_sync` afterwards recreates the triggers
    and indexes, which is about three times faster than maintaining the indexes row by row."""
    conn.executescript(
        "BEGIN IMMEDIATE;" + "".join(f"DROP {kind} IF EXISTS {name};" for kind, name in _DERIVED) + "COMMIT;"
    )


# A migration that changes the rollup's columns drops the derived objects; ensure_rollups then recreates
# them and rebuilds the rollup from the ledger.
DROP_DERIVED_SQL = "".join(f"DROP {kind} IF EXISTS {name};\n" for kind, name in _DERIVED[:3]) + (
    "DROP TABLE IF EXISTS usage_hourly;\n"
)

# For the recorder's migration list (store.MIGRATIONS): everything above plus a rebuild from the ledger.
MIGRATION_SQL = ROLLUP_SQL + WHO_SQL + LISTS_SQL + INDEX_SQL + ";\n".join(REBUILD_STATEMENTS) + ";\n"

# The ledger's rows, and those each rollup holds: a rollup that disagrees is rebuilt (both, in one go).
_COUNTS = (
    "SELECT (SELECT count(*) FROM requests), (SELECT coalesce(sum(requests), 0) FROM usage_hourly), "
    f"(SELECT coalesce(sum(requests), 0) FROM {WHO})"
)


def _setup_script(indexes: bool, old_who: bool) -> str:
    """``old_who``: the attribution rollup has the shape of schema versions 2 to 4 (drop it first)."""
    return (
        "BEGIN IMMEDIATE;"
        + DROP_INSERT_TRIGGERS_SQL
        + (DROP_WHO_SQL if old_who else "")
        + ROLLUP_SQL
        + WHO_SQL
        + LISTS_SQL
        + (INDEX_SQL if indexes else "")
    )


def _old_who(exists: int, has_provider: int) -> bool:
    return bool(exists) and not has_provider


def ensure_rollups_sync(conn: sqlite3.Connection, *, indexes: bool = True) -> bool:
    """Create the rollup tables, the latency lists, delete/update triggers and (optionally) indexes, drop the
    insert triggers of schema versions before 4; rebuild the rollups if they are off, then the latency lists
    of the groups whose counts are off, and compact the lists (``latency_lists.repair_plan``).

    An attribution rollup of the shape before schema version 5 is replaced. Idempotent, one transaction
    (a reader never sees a half-built rollup). Returns True when the rollups had to be rebuilt, which takes
    about four seconds for 1M ledger rows.
    """
    old = _old_who(conn.execute(_WHO_EXISTS).fetchone()[0], conn.execute(_WHO_SHAPE).fetchone()[0])
    conn.executescript(_setup_script(indexes, old))
    try:
        ledger, rolled, who = conn.execute(_COUNTS).fetchone()
        stale = bool(ledger != rolled or ledger != who)
        if stale:
            for statement in REBUILD_STATEMENTS:
                conn.execute(statement)
        run_sync(conn, repair_plan())
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return stale


async def ensure_rollups(conn: Any, *, indexes: bool = True) -> bool:
    """The same for an ``aiosqlite.Connection`` (an alternative to adding :data:`MIGRATION_SQL` to the
    recorder's migrations): call it once in ``Store.open``, after ``migrate``, before the first insert."""
    found = []
    for sql in (_WHO_EXISTS, _WHO_SHAPE):
        cursor = await conn.execute(sql)
        found.append((await cursor.fetchone())[0])
    await conn.executescript(_setup_script(indexes, _old_who(*found)))
    try:
        cursor = await conn.execute(_COUNTS)
        ledger, rolled, who = await cursor.fetchone()
        stale = bool(ledger != rolled or ledger != who)
        if stale:
            for statement in REBUILD_STATEMENTS:
                await conn.execute(statement)
        await run_async(conn, repair_plan())
        await conn.commit()
    except BaseException:
        await conn.rollback()
        raise
    return stale
