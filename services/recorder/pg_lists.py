"""Latency lists on PostgreSQL (schema version 4): the design of ``latency_lists.py`` (SQLite), kept in SQL.

Table ``latency_lists (hour, provider, model, status, part, n, latencies bytea)``: every ``requests`` row's
``latency_ms`` per (hour, provider, model, status) group, in one or more parts, as ``float8send`` gives
them: **big-endian** float64 (:data:`DTYPE`; SQLite's blobs are little-endian, the reader picks the byte
order by engine, ``shared/ledger/sql.py``). A group's ``n`` summed over its parts equals its
``usage_hourly.requests``.

* append: a statement-level insert trigger (like the rollups') adds one part per group of ``new_rows``, the
  rows the statement really inserted (``ON CONFLICT DO NOTHING`` leaves a resent event out), so a replay
  adds nothing, whoever inserts. ``part`` comes from the sequence :data:`PART_SEQUENCE`: recorders writing
  one database at once never collide, and nothing is read back.
* compaction: a finished hour's parts merged into one row (the least ``part``) by one statement, a
  ``DELETE … RETURNING`` feeding an ``INSERT``: a part appended meanwhile by another recorder is not in the
  statement's snapshot, so it is neither deleted nor lost. The writer compacts a few groups per batch
  (:data:`COMPACT_PER_BATCH`, under a transaction-scoped advisory lock it only tries: two recorders never
  compact at once), and every group at open (:data:`REPAIR`).
* a delete or update by hand (of the key or the latency) drops the lists of the groups it touches; a reader
  takes those groups from ``requests`` (their counts disagree with ``usage_hourly``), and the writer
  rebuilds them at open (:data:`REPAIR`, run under the lock that keeps writers out).
"""

from __future__ import annotations

from shared.ledger.params import PG_HOUR_EXPR

TABLE = "latency_lists"
PART_SEQUENCE = "latency_lists_part"
DTYPE = ">f8"  # float8send: float64, big-endian
COMPACT_PER_BATCH = 8  # groups of finished hours a batch compacts (bounded work per batch)
COMPACT_LOCK_KEY = 0x656B616C  # "ekal": held by the one recorder compacting in a transaction

Key = tuple[int, str, str, int]  # hour, provider ('' when none was reached), model, status

_KEY = ("hour", "provider", "model", "status")
_OF_ROW = f"{PG_HOUR_EXPR} AS hour, coalesce(provider, '') AS provider, model, status"
_SAME = " AND ".join(f"l.{c} = k.{c}" for c in _KEY)

DDL: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (hour BIGINT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, "
    "status BIGINT NOT NULL, part BIGINT NOT NULL, n BIGINT NOT NULL, latencies BYTEA NOT NULL, "
    "PRIMARY KEY (hour, provider, model, status, part))",
    f"CREATE SEQUENCE IF NOT EXISTS {PART_SEQUENCE}",
)


def appended(source: str, where: str = "true") -> str:
    """Append the latencies of ``source``'s rows (``requests`` rows) matching ``where``: one new part per
    group."""
    return (
        f"INSERT INTO {TABLE} SELECT {_OF_ROW}, nextval('{PART_SEQUENCE}'), count(*), "
        f"string_agg(float8send(latency_ms), ''::bytea) FROM {source} WHERE {where} GROUP BY 1, 2, 3, 4"
    )


def dropped(keys: str) -> str:
    """Delete the lists of the groups ``keys`` selects (columns hour, provider, model, status)."""
    return f"DELETE FROM {TABLE} l USING ({keys}) k WHERE {_SAME}"


def compacted(keys: str) -> str:
    """Merge the parts of each group ``keys`` selects into one row (the least ``part``): one statement."""
    return (
        f"WITH gone AS (DELETE FROM {TABLE} l USING ({keys}) k WHERE {_SAME} RETURNING l.*) "
        f"INSERT INTO {TABLE} SELECT hour, provider, model, status, min(part), sum(n)::bigint, "
        "string_agg(latencies, ''::bytea ORDER BY part) FROM gone GROUP BY 1, 2, 3, 4"
    )


def _split(where: str = "true") -> str:
    return f"SELECT hour, provider, model, status FROM {TABLE} WHERE {where} GROUP BY 1, 2, 3, 4 HAVING count(*) > 1"


_CHANGED = ", ".join(("event_id", _OF_ROW, "latency_ms"))
# The rows an update changed in a way the lists see (the group, the latency): those before and after.
_UPDATED = (
    f"SELECT DISTINCT hour, provider, model, status FROM ((SELECT {_CHANGED} FROM old_rows EXCEPT "
    f"SELECT {_CHANGED} FROM new_rows) UNION ALL (SELECT {_CHANGED} FROM new_rows EXCEPT "
    f"SELECT {_CHANGED} FROM old_rows)) AS changed"
)
# Statement-level trigger bodies by event: (transition tables, statements), for pg_store's trigger builder.
TRIGGER_EVENTS: dict[str, tuple[str, list[str]]] = {
    "insert": ("NEW TABLE AS new_rows", [appended("new_rows")]),
    "delete": ("OLD TABLE AS old_rows", [dropped(f"SELECT DISTINCT {_OF_ROW} FROM old_rows")]),
    "update": ("OLD TABLE AS old_rows NEW TABLE AS new_rows", [dropped(_UPDATED)]),
}

# The writer's compaction of the groups given as four arrays ($1 hours, $2 providers, $3 models,
# $4 statuses), those of them that have more than one part.
COMPACT_GROUPS = compacted(
    _split(
        "(hour, provider, model, status) IN (SELECT * FROM "
        "unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]))"
    )
)

_SUMS = f"SELECT hour, provider, model, status, sum(n) AS n FROM {TABLE} GROUP BY 1, 2, 3, 4"
_WRONG = (
    f"SELECT h.hour, h.provider, h.model, h.status FROM usage_hourly h LEFT JOIN ({_SUMS}) s "
    "USING (hour, provider, model, status) WHERE s.n IS DISTINCT FROM h.requests"
)
# Make the lists agree with usage_hourly (which must be exact): drop lists of groups the rollup does not
# have, rebuild from ``requests`` every group whose count differs (the ``INSERT``'s count: how many were),
# compact every group. Run in order, in one transaction that keeps writers out.
REPAIR: tuple[str, ...] = (
    f"DELETE FROM {TABLE} l WHERE NOT EXISTS (SELECT FROM usage_hourly k WHERE {_SAME})",
    f"WITH wrong AS MATERIALIZED ({_WRONG}), gone AS ({dropped('SELECT * FROM wrong')}) "
    + appended(
        "requests",
        f"({PG_HOUR_EXPR}, coalesce(provider, ''), model, status) IN (SELECT * FROM wrong)",
    ),
    compacted(_split()),
)
# Schema version 4: the lists (backfilled from the ledger in one pass) and their triggers (pg_store adds
# them) replace these latency-ordered indexes; requests_hour_latency stays (partial hours, groups whose
# lists disagree, percentiles by key, client or session read the range along it).
DROP_INDEXES: tuple[str, ...] = tuple(
    f"DROP INDEX IF EXISTS {name}"
    for name in (
        "requests_latency",
        "requests_provider_latency",
        "requests_model_latency",
        "requests_day_latency",
    )
)
BACKFILL = appended("requests")
