"""The ledger writer: the only code that writes the SQLite database.

``Store.open`` prepares the file (WAL, schema migrations); ``insert_many`` writes a batch in one
transaction. Rows are keyed by ``event_id`` and inserted with ``ON CONFLICT (event_id) DO NOTHING``, so
an event that arrives twice (a replay after a restart) is stored once. (Not ``INSERT OR IGNORE``: that
would also silently skip rows breaking NOT NULL, and count them as replays.) The same transaction adds
the rows it really inserted to the hourly rollups (``rollups.BATCH_STATEMENTS``), so a replay is not
counted twice either.

Migrations: ``MIGRATIONS[i]`` is the SQL script that takes ``PRAGMA user_version`` from ``i`` to ``i + 1``;
version 1 is ``schema.sql``. A later version appends columns for new ``UsageEvent`` fields, e.g.
``"ALTER TABLE requests ADD COLUMN region TEXT;"`` (nullable or with a DEFAULT, so older writers still work).
"""

from __future__ import annotations

import logging
import math
import operator
import sqlite3
import typing
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from services.recorder.batch_rollup import (
    HOURLY_UPSERT,
    WHO_UPSERT,
    BatchGroups,
    batch_groups,
    merge_groups,
)
from services.recorder.inline_db import InlineConnection
from services.recorder.latency_lists import (
    COMPACT_PER_BATCH,
    DROP_INDEXES_SQL,
    LISTS_SQL,
    Key,
    append_plan,
    compact_plan,
    repair_plan,
    run_async,
)
from services.recorder.rollups import (
    BATCH_STATEMENTS,
    DROP_DERIVED_SQL,
    DROP_HOUR_INDEX_SQL,
    DROP_INSERT_TRIGGERS_SQL,
    DROP_WHO_SQL,
    LAST_ROWID_SQL,
    MAX_ROWID,
    REBUILD_STATEMENTS,
    ensure_rollups,
)
from services.recorder.written import Written
from shared.events import FIELD_NAMES, UsageEvent

log = logging.getLogger("recorder.store")

TABLE = "requests"
COLUMNS: tuple[str, ...] = FIELD_NAMES
_HINTS = typing.get_type_hints(UsageEvent)
_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL", bool: "INTEGER"}


def add_columns(*names: str) -> str:
    """``ALTER TABLE … ADD COLUMN`` for new (nullable) ``UsageEvent`` fields, typed from their annotations."""

    def sql_type(name: str) -> str:
        tp = _HINTS[name]
        inner = next((a for a in typing.get_args(tp) if a is not type(None)), tp)
        return _SQL_TYPES[inner]

    return "".join(f"ALTER TABLE {TABLE} ADD COLUMN {n} {sql_type(n)};\n" for n in names)


DROP_FILTER_INDEXES_SQL = (
    "DROP INDEX IF EXISTS requests_provider_started;\nDROP INDEX IF EXISTS requests_model_started;\n"
)
# The gateways' start-up read of each key's spend (shared/ledger/queries.py key_spend) and the dashboard's
# newest requests filtered by key (recent) read along it. Schema version 2 made it; Store.open makes it
# again where the first schema 8 (dd9478d, which dropped it too) left a ledger without it.
# Partial (schema version 9, issue 13): only rows with a gateway key are in it. Its readers all name a key
# (``api_key_name = ?`` or ``IN (...)``, which imply ``IS NOT NULL``, so SQLite's planner uses a partial
# index: sqlite.org/partialindex.html, section 3); a ``''`` key filter is ``IN ('')`` too, which matches no
# NULL (as on PostgreSQL). A ledger without gateway keys (none configured: the default) then
# keeps no entry of a row in it: about 4,800 of the insert's 71,000 CPU instructions a row, callgrind
# (docs/benchmarks.md "Session 17: the recorder").
KEY_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS requests_key_started ON requests (api_key_name, started_at, cost_usd) "
    "WHERE api_key_name IS NOT NULL;\n"
)

DROP_STARTED_INDEX_SQL = "DROP INDEX IF EXISTS requests_started_at;\n"

MIGRATIONS: tuple[str, ...] = (
    (Path(__file__).with_name("schema.sql")).read_text(encoding="utf-8"),
    # 2: attribution (gateway key, session, agent, client, request class) and budget alerts. The index
    # serves the gateway's start-up read of each key's spend in the current budget period.
    add_columns("api_key_name", "session_id", "agent_id", "client", "request_class", "budget_alert")
    + KEY_INDEX_SQL,
    # 3 (issue 10): every billed token class, and what prompt caching saved (cache_savings_usd NULL when the
    # price is unknown).
    "ALTER TABLE requests ADD COLUMN cache_write_1h_tokens INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE requests ADD COLUMN web_search_requests INTEGER NOT NULL DEFAULT 0;\n"
    "ALTER TABLE requests ADD COLUMN cache_savings_usd REAL;\n" + DROP_DERIVED_SQL,
    # the hourly rollup gains a cache_savings_usd sum: Store.open rebuilds it from the ledger
    # 4 (issue 13): the rollups are kept per batch by insert_rows, no longer by per-row insert triggers.
    DROP_INSERT_TRIGGERS_SQL,
    # 5 (issue 14): the attribution rollup keyed by provider, model and status too, so that every filter reads
    # it: Store.open creates it and rebuilds it from the ledger.
    DROP_WHO_SQL,
    # 6: latency lists per (hour, provider, model, status) replace four latency-ordered indexes: Store.open
    # backfills them from the ledger (ensure_rollups).
    LISTS_SQL + DROP_INDEXES_SQL,
    # 7 (issue 13): requests_hour_latency in time order within the hour (inserts at its end): Store.open
    # makes it again (ensure_rollups).
    DROP_HOUR_INDEX_SQL,
    # 8 (issue 13): no per-provider or per-model index. Each commit rewrote the tail page of every
    # (provider, started_at) and (model, started_at) section its batch touched: about a sixth of the
    # writer's time a row. Their one reader, the dashboard's newest requests filtered by provider or model,
    # reads the attribution rollup's spans instead (shared/ledger/queries.py recent; docs/benchmarks.md
    # "Recorder, session 10"). The per-key index stays (KEY_INDEX_SQL).
    DROP_FILTER_INDEXES_SQL,
    # 9 (issue 13, session 17): the per-key index holds only rows with a gateway key (KEY_INDEX_SQL).
    "DROP INDEX IF EXISTS requests_key_started;\n" + KEY_INDEX_SQL,
    # 10 (issue 13, session 18): no index on started_at alone. Every read of a time range also bounds the
    # hour expression (shared/ledger/queries.py ``in_range``; the newest requests order by the hour
    # first), so it reads along requests_hour_latency, which begins (hour, started_at): the same order.
    # The index cost the writer about 4,000 CPU instructions a row (docs/benchmarks.md "Session 18:
    # recorder cost").
    DROP_STARTED_INDEX_SQL,
)
SCHEMA_VERSION = len(MIGRATIONS)

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers (dashboard, /usage) never block the writer
    "PRAGMA synchronous=NORMAL",  # in WAL: durable across process crashes, fsync only at checkpoints
    # Each row goes into ten indexes at random places (event ids, latencies): with SQLite's default 2 MB
    # page cache every insert re-reads evicted index pages. 64 MB of cache, and a checkpoint every
    # 10,000 pages (about 40 MB of WAL) instead of 1,000, so a hot index page is copied back once per
    # checkpoint rather than ten times: about 35% less CPU a row (bench/bench_recorder.py).
    "PRAGMA cache_size=-65536",
    "PRAGMA wal_autocheckpoint=10000",
)
_INSERT = (
    f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (event_id) DO NOTHING"
)

Row = tuple[Any, ...]

# The optional columns (a ``X | None`` field): nullable and without a DEFAULT in every schema version
# (schema.sql and the ADD COLUMNs above; tests/unit/recorder/test_recorder_store.py checks it), so an INSERT
# that does not name one stores NULL there, as binding None does.
_OPTIONAL: tuple[int, ...] = tuple(
    i for i, name in enumerate(COLUMNS) if type(None) in typing.get_args(_HINTS[name])
)
_INSERTS: dict[tuple[int, ...], tuple[str, tuple[Callable[[Row], Row], ...]]] = {}
_INSERTS_MAX = 64  # distinct sets of omitted columns remembered (normally one or two)


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending ``indexes`` as ``(start, stop)`` runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


def _all_none(rows: Sequence[Row], start: int, stop: int) -> bool:
    """Whether columns ``start`` to ``stop - 1`` are None in every row (C loops: one slice a row; one
    column: its values, stopping at the first that is true)."""
    if stop - start == 1:
        column = operator.itemgetter(start)
        return not any(map(column, rows)) and list(map(column, rows)).count(None) == len(rows)
    part = operator.itemgetter(slice(start, stop))
    return list(map(part, rows)).count((None,) * (stop - start)) == len(rows)


def _omitted(rows: Sequence[Row]) -> tuple[int, ...]:
    """The optional columns that are None in every row (at least one row)."""
    first, last = rows[0], rows[-1]
    candidates = [i for i in _OPTIONAL if first[i] is None and last[i] is None]
    omitted: list[int] = []
    for start, stop in _runs(candidates):
        if _all_none(rows, start, stop):
            omitted.extend(range(start, stop))
        elif stop - start > 1:
            omitted.extend(i for i in range(start, stop) if _all_none(rows, i, i + 1))
    return tuple(omitted)


def _insert_omitting(omitted: tuple[int, ...]) -> tuple[str, tuple[Callable[[Row], Row], ...]]:
    kept = [i for i in range(len(COLUMNS)) if i not in omitted]
    sql = (
        f"INSERT INTO {TABLE} ({', '.join(COLUMNS[i] for i in kept)}) VALUES ({', '.join('?' * len(kept))}) "
        "ON CONFLICT (event_id) DO NOTHING"
    )
    return sql, tuple(operator.itemgetter(slice(a, b)) for a, b in _runs(kept))


def insert_for(rows: Sequence[Row]) -> tuple[str, Iterable[Row]]:
    """The ``INSERT`` for a batch of ``event_row`` rows and its parameters, one tuple a row, in order.

    An optional column that is None in every row of the batch is left out of the statement and of the
    parameters (SQLite stores NULL there: the column's default), so none of those Nones is bound:
    ``sqlite3`` adapts every None it binds (``bind_none_cheaply``: still ~1,190 CPU instructions each), and
    most rows carry six or seven (no gateway key, no attribution headers: six neighbouring columns). A row's
    parameters are slices of it joined (C calls: an ``itemgetter`` of each kept column cost about as much
    as the Nones it saved). The rows keep their order (one statement for the whole batch), so rowids still
    follow arrival order. Source: docs/benchmarks.md "Session 22: the recorder's cost per event"."""
    omitted = _omitted(rows) if rows else ()
    if not omitted:
        return _INSERT, rows
    try:
        sql, parts = _INSERTS[omitted]
    except KeyError:
        sql, parts = _INSERTS[omitted] = _insert_omitting(omitted)
        if len(_INSERTS) > _INSERTS_MAX:
            _INSERTS.clear()
    joined: Iterable[Row] = map(parts[0], rows)
    for part in parts[1:]:
        joined = map(operator.add, joined, map(part, rows))
    return sql, joined


def bind_none_cheaply() -> None:
    """Make ``sqlite3`` bind ``None`` (SQL NULL) without its failed adapter search; idempotent, and the
    same NULL is stored (process-wide: a ``sqlite3.register_adapter`` of ``NoneType``).

    CPython 3.11's ``sqlite3`` adapts every parameter that is not exactly int, float, str or bytearray
    (``Modules/_sqlite/cursor.c`` ``_need_adapt``), None included: for each it looks up the adapter
    registry, then ``__adapt__`` on the ``PrepareProtocol`` type (a failed type attribute lookup, which
    builds and clears an ``AttributeError`` with its message), then ``__conform__`` on None, and finally
    binds None itself (``Modules/_sqlite/microprotocols.c``). A ledger row holds about seven Nones (the
    optional columns): ~3,300 CPU instructions each, about a third of the writer's work a row (callgrind,
    docs/benchmarks.md "Session 21: the recorder's cost per event"). With an adapter registered for
    ``NoneType`` the registry lookup finds it and returns at once: the adapter is ``{}.get``, a C call that
    returns None for None, which ``bind_param`` binds as NULL (``sqlite3_bind_null``), as before. Only the
    basic types int, float, str and bytearray switch adaptation on for every parameter; None does not."""
    sqlite3.register_adapter(type(None), _NULL)


_NOTHING: dict[None, None] = {}
_NULL = _NOTHING.get  # None for None, in C (see bind_none_cheaply)


# --- UsageEvent -> row ------------------------------------------------------------------------------
# Each field gets a converter chosen from its annotation. They reject what SQLite would store wrongly
# or refuse (None in a NOT NULL column, text in a number column), so one bad event cannot fail a batch.


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    raise ValueError(f"expected text, got {type(v).__name__}")


def _integer(v: Any) -> int:
    if isinstance(v, int) and -(2**63) <= v < 2**63:
        return int(v)
    raise ValueError(f"expected a 64-bit integer, got {v!r:.40}")


def _real(v: Any) -> float:
    # SQLite stores NaN as NULL, which a NOT NULL column then refuses.
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    raise ValueError(f"expected a finite number, got {v!r:.40}")


def _flag(v: Any) -> int:
    if isinstance(v, int) and v in (0, 1):
        return int(v)
    raise ValueError(f"expected a boolean, got {v!r:.40}")


def _json_list(v: Any) -> str:
    if isinstance(v, list):
        return orjson.dumps(v).decode()  # orjson serialises the FailedAttempt dataclasses natively
    raise ValueError(f"expected a list, got {type(v).__name__}")


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else convert(v)


_BY_TYPE: dict[Any, Callable[[Any], Any]] = {str: _text, int: _integer, float: _real, bool: _flag}


def _converter(tp: Any) -> Callable[[Any], Any]:
    if tp in _BY_TYPE:
        return _BY_TYPE[tp]
    args = typing.get_args(tp)
    if len(args) == 2 and type(None) in args:
        return _optional(_converter(next(a for a in args if a is not type(None))))
    if typing.get_origin(tp) is list:
        return _json_list
    raise TypeError(f"no SQLite mapping for {tp!r}: extend store._converter")


_CONVERTERS = tuple(_converter(_HINTS[name]) for name in COLUMNS)
_VALUES = operator.attrgetter(*COLUMNS)


def event_row(event: UsageEvent) -> Row:
    """The event as a row in column order (``COLUMNS`` == ``FIELD_NAMES``): booleans as 0/1,
    ``failed_attempts`` as JSON text. Raises ``ValueError`` naming the first field SQLite cannot store."""
    row = []
    for name, convert, value in zip(COLUMNS, _CONVERTERS, _VALUES(event), strict=True):
        try:
            row.append(convert(value))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return tuple(row)


# --- migrations -------------------------------------------------------------------------------------


def split_statements(script: str) -> list[str]:
    """Split an SQL script into statements (sqlite3.complete_statement knows about quotes and comments)."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip() and not all(ln.strip().startswith("--") for ln in buf.splitlines() if ln.strip()):
        raise ValueError(f"incomplete SQL statement: {buf.strip()[:80]!r}")
    return statements


async def user_version(db: aiosqlite.Connection | InlineConnection) -> int:
    """The schema version recorded in the database file (0 for a new file)."""
    async with db.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def migrate(db: aiosqlite.Connection | InlineConnection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the database to ``len(migrations)``, one transaction per step. Returns the final version.

    The version is re-read under the write lock, so two processes opening a new file at once (the
    recorder and the seeding command) do not both apply a step."""
    for target in range(1, len(migrations) + 1):
        await db.execute("BEGIN IMMEDIATE")
        try:
            current = await user_version(db)
            if current == target - 1:
                for statement in split_statements(migrations[target - 1]):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {target}")
                log.info("database migrated to schema version %d", target)
            await db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                await db.execute("ROLLBACK")
            raise
    version = await user_version(db)
    if version > len(migrations):
        # Later versions only append columns, and inserts name their columns: keep writing.
        log.warning("database schema version %d is newer than this recorder's %d", version, len(migrations))
    return version


# --- the store --------------------------------------------------------------------------------------


class Store:
    """The ledger's single writer. Create with ``await Store.open(path)``."""

    def __init__(self, db: aiosqlite.Connection | InlineConnection, path: str) -> None:
        self._db = db
        self.path = path
        self.rejected = 0  # rows SQLite refused (constraint errors); logged and skipped
        self.commits = 0  # transactions committed (insert_rows: one a batch; insert_batches: one for all)
        self._split: set[Key] = set()  # latency-list groups this store appended parts to, not yet compacted
        self._latest_hour = 0  # the latest hour appended to: earlier hours are finished, compacted

    @classmethod
    async def open(cls, path: str, *, busy_timeout_ms: int = 5000, inline: bool = False) -> Store:
        """Open (creating the file and its directory if needed) and migrate the database at ``path``.

        ``busy_timeout_ms``: how long a write waits for a lock held elsewhere before failing with
        SQLITE_BUSY (the batcher then retries the batch). ``inline``: every statement runs on this thread,
        blocking the event loop while it runs (``inline_db.InlineConnection``: the writer process, whose
        loop has nothing else to do), instead of on aiosqlite's thread."""
        bind_none_cheaply()
        if path != ":memory:" and not path.startswith("file:"):
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per batch.
        uri = path.startswith("file:")
        db: aiosqlite.Connection | InlineConnection = (
            InlineConnection.connect(path, uri=uri)
            if inline
            else await aiosqlite.connect(path, isolation_level=None, uri=uri)
        )
        try:
            for pragma in (*_PRAGMAS, f"PRAGMA busy_timeout={int(busy_timeout_ms)}"):
                await db.execute(pragma)
            await migrate(db)
            await db.execute(KEY_INDEX_SQL)  # a no-op unless the first schema 8 dropped it
            # Hourly rollups and latency lists (kept per batch by insert_rows), and the hour's latency
            # index: what makes the dashboard and /usage answer in milliseconds at a million rows
            # (services/recorder/rollups.py, latency_lists.py).
            await ensure_rollups(db)
        except BaseException:
            await db.close()
            raise
        return cls(db, path)

    async def insert_many(self, events: Sequence[UsageEvent]) -> int:
        """Insert ``events`` in one transaction; returns how many were new (replayed event_ids are skipped).
        Raises ``ValueError`` (before writing anything) if an event has a value SQLite cannot store."""
        return await self.insert_rows([event_row(e) for e in events])

    async def insert_rows(self, rows: Sequence[Row], groups: BatchGroups | None = None) -> int:
        """Insert rows made by ``event_row`` in one transaction; returns how many were new.

        ``groups``: ``batch_rollup.batch_groups(rows)`` when the caller made it already (the writer
        process's parent does, to share the work between the two processes); else made here when needed.

        The same transaction adds the new rows (not the replayed ones) to the hourly rollups, so they always
        equal a GROUP BY over ``requests``: summed in Python when every row was new (``batch_rollup``), else
        by ``rollups.BATCH_STATEMENTS`` over the rows the batch really inserted; and their latencies to the
        latency lists (``latency_lists.py``: one part per group, grouped in Python when every row was new,
        else read from the rows above the batch's rowid).
        Operational errors (busy, disk full, I/O) roll back and propagate, so the caller can retry the
        whole batch. A row that breaks a constraint is logged and skipped, so it cannot block the rest."""
        return (await self.insert_counted(rows, groups)).inserted

    async def insert_counted(self, rows: Sequence[Row], groups: BatchGroups | None = None) -> Written:
        """``insert_rows``, returning also how many of THIS batch's rows were refused (``rejected``
        counts them over every batch)."""
        if not rows:
            return Written(0, 0)
        try:
            return Written((await self.insert_batches([(rows, groups)]))[0], 0)
        except sqlite3.IntegrityError:
            refused: list[Row] = []

            async def each(batch: Sequence[Row]) -> int:
                return await self._insert_each(batch, refused)

            inserted = (await self._in_transaction(each, [(rows, groups)]))[0]
            return Written(inserted, len(refused))

    async def insert_batches(self, batches: Sequence[tuple[Sequence[Row], BatchGroups | None]]) -> list[int]:
        """Insert several batches (each ``(rows, groups)`` as ``insert_rows`` takes them) in ONE
        transaction; returns how many rows of each batch were new, in order.

        The ledger, rollups and latency lists end as after ``insert_rows`` of each batch in turn, with one
        commit, one ``executemany`` of rollup upserts (a key still gets one upsert per batch that has it)
        and one latency-list part per group instead of one per batch: a commit writes each touched page
        once (the tails of the indexes, the rollup and list pages), so it costs per page, not per row (the
        writer process merges the batches waiting for it: ``writer.py``). Operational errors roll
        everything back and propagate. Unlike ``insert_rows``, a row that breaks a constraint rolls
        everything back and raises ``sqlite3.IntegrityError``: then insert each batch with ``insert_rows``."""
        return await self._in_transaction(self._insert_all, batches)

    async def _in_transaction(
        self,
        work: Callable[[Sequence[Row]], typing.Awaitable[int]],
        batches: Sequence[tuple[Sequence[Row], BatchGroups | None]],
    ) -> list[int]:
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            last_rowid = await self._last_rowid()
            counts = [await work(rows) for rows, _ in batches]
            if all(n == len(rows) for n, (rows, _) in zip(counts, batches, strict=True)):
                # every row is new: summed in Python, whatever the rowids
                groups = merge_groups([batch_groups(r) if g is None else g for r, g in batches])
                if groups.hourly:
                    await self._add_to_rollups(groups)
                    await self._add_to_lists(last_rowid, groups.latencies)
            elif any(counts):
                await self._roll_up(last_rowid)
            await self._db.execute("COMMIT")
            self.commits += 1
        except BaseException:
            if self._db.in_transaction:
                await self._db.execute("ROLLBACK")
            raise
        return counts

    async def _last_rowid(self) -> int:
        async with self._db.execute(LAST_ROWID_SQL) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _add_to_rollups(self, groups: BatchGroups) -> None:
        """Add a batch's groups (its rows all just inserted, summed in Python: batch_rollup.py) to the rollups."""
        await self._db.executemany(HOURLY_UPSERT, groups.hourly)
        await self._db.executemany(WHO_UPSERT, groups.who)

    async def _roll_up(self, last_rowid: int) -> None:
        """Add the rows above ``last_rowid`` (this transaction's) to the rollups."""
        if last_rowid < MAX_ROWID:
            for statement in BATCH_STATEMENTS:
                await self._db.execute(statement, (last_rowid,))
        else:  # rowids exhausted: new rows got random rowids, so recount everything (slow, exact)
            for statement in REBUILD_STATEMENTS:
                await self._db.execute(statement)
        await self._add_to_lists(last_rowid)

    async def _add_to_lists(self, last_rowid: int, groups: dict[Key, list[float]] | None = None) -> None:
        """Add the latencies of the rows above ``last_rowid`` (this transaction's) to the latency lists
        (``groups``: theirs by group, when every row was new; else read back); with rowids exhausted,
        rebuild the lists that no longer match."""
        if last_rowid < MAX_ROWID:
            await self._append_latencies(last_rowid, groups)
        else:
            await run_async(self._db, repair_plan())

    async def _append_latencies(self, last_rowid: int, groups: dict[Key, list[float]] | None) -> None:
        """The batch's latencies as new parts of the latency lists, then a few finished hours compacted."""
        touched = await run_async(self._db, append_plan(last_rowid, groups))
        self._latest_hour = max([self._latest_hour, *(key[0] for key in touched)])
        self._split |= touched
        done = sorted(key for key in self._split if key[0] < self._latest_hour)[:COMPACT_PER_BATCH]
        if done:
            await run_async(self._db, compact_plan(done))
            self._split.difference_update(done)

    async def _insert_all(self, rows: Sequence[Row]) -> int:
        cursor = await self._db.executemany(*insert_for(rows))
        return cursor.rowcount  # summed over the rows; an ignored duplicate counts 0

    async def _insert_each(self, rows: Sequence[Row], refused: list[Row]) -> int:
        """Insert ``rows`` one statement each; those breaking a constraint are appended to ``refused``."""
        inserted = 0
        for row in rows:
            try:
                cursor = await self._db.execute(_INSERT, row)
            except sqlite3.IntegrityError as exc:  # only this statement is undone, not the transaction
                self.rejected += 1
                refused.append(row)
                log.error("row rejected by SQLite (%s): event_id=%r", exc, row[COLUMNS.index("event_id")])
                continue
            inserted += cursor.rowcount
        return inserted

    async def close(self) -> None:
        """Close the database (after letting SQLite refresh its query-planner statistics)."""
        try:
            await self._db.execute("PRAGMA optimize")
        finally:
            await self._db.close()
