"""The ledger writer for PostgreSQL (``DATABASE_URL=postgresql://…``), through asyncpg.

The same ``requests`` table as the SQLite ledger, its columns derived from ``UsageEvent``
(``shared/events.py``): text, 64-bit integers, double precision; booleans are 0/1 integers and
``failed_attempts`` is JSON text, as in SQLite, so both engines read back identically.

A batch is one transaction: ``COPY`` into a per-connection temporary staging table, then
``INSERT INTO requests SELECT … ORDER BY event_id ON CONFLICT (event_id) DO NOTHING``, so a resent event
is stored once. Statement-level triggers with transition tables keep the two hourly rollups, the same tables
as SQLite's, ``usage_hourly`` and ``usage_attribution_hourly`` (:class:`Rollup`), per batch in the batch's
transaction: one upsert each of the batch's grouped figures over the rows it really inserted (a resent
event is not in the transition table, so it adds nothing), ordered by key, so recorders on several hosts
writing one database take row locks in the same order (a rare deadlock still only fails that batch, which
the batcher retries; nothing is acknowledged before the commit). Another statement trigger appends the
latencies of those rows to the latency lists (schema version 4, ``pg_lists.py``), which the read side's exact
percentiles come from; the insert returns the groups it appended to, and the batch compacts a few lists of
finished hours. Opening the store repairs rollups and lists that disagree with ``requests``.

Migrations: ``MIGRATIONS[i]`` takes ``schema_migrations`` from version ``i`` to ``i + 1``, applied under a
transaction-scoped advisory lock, so recorders starting together apply each step once. After them every
``UsageEvent`` field missing from the table is added (``ADD COLUMN IF NOT EXISTS``, with the field's
default), so a new event field needs no PostgreSQL migration of its own.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.recorder import pg_lists
from services.recorder.written import Written
from shared.events import FIELD_NAMES, UsageEvent
from shared.ledger.params import PG_HOUR_EXPR

log = logging.getLogger("recorder.pg_store")

TABLE = "requests"
STAGE = "requests_stage"
COLUMNS: tuple[str, ...] = FIELD_NAMES
LOCK_KEY = 0x656B6169  # "ekai": the advisory lock that serialises migrations across recorders
Row = tuple[Any, ...]


# --- the table, derived from UsageEvent ---------------------------------------------------------------

_PG_TYPES: dict[Any, str] = {str: "TEXT", int: "BIGINT", float: "DOUBLE PRECISION", bool: "INTEGER"}


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def column_ddl(f: dataclasses.Field[Any], hint: Any) -> str:
    """``name TYPE [NOT NULL] [DEFAULT …]`` for one event field."""
    nullable, default = False, None
    args = typing.get_args(hint)
    if len(args) == 2 and type(None) in args:
        nullable, hint = True, next(a for a in args if a is not type(None))
    if typing.get_origin(hint) is list:
        sql_type, default = "TEXT", "'[]'"  # JSON text, as in SQLite
    elif hint in _PG_TYPES:
        sql_type = _PG_TYPES[hint]
        if f.default is not dataclasses.MISSING and f.default is not None:
            default = _sql_literal(f.default)
    else:
        raise TypeError(f"no PostgreSQL mapping for {f.name}: {hint!r}: extend pg_store.column_ddl")
    parts = [f.name, sql_type]
    if f.name == "event_id":
        parts.append("PRIMARY KEY")
    elif not nullable:
        parts.append("NOT NULL")
    if default is not None:
        parts.append(f"DEFAULT {default}")
    return " ".join(parts)


_HINTS = typing.get_type_hints(UsageEvent)
COLUMN_DDL: dict[str, str] = {f.name: column_ddl(f, _HINTS[f.name]) for f in dataclasses.fields(UsageEvent)}

# The rollups: the same keys and figures as services/recorder/rollups.py (SQLite). The hour is floor(), not
# a cast: PostgreSQL's CAST(double AS integer) rounds.
HOUR_SQL = PG_HOUR_EXPR
DAY_SQL = "floor(started_at / 86400)::bigint"
_KEY_TYPES = {"hour": "BIGINT", "status": "BIGINT"}


@dataclasses.dataclass(frozen=True, slots=True)
class Rollup:
    """An hourly rollup of ``requests``: its key (column -> expression over a ``requests`` row), its figures
    (column -> aggregate over the group's rows), and how a new group's figures merge into a stored one
    (``u`` the stored row, ``excluded`` the new figures; additive unless given)."""

    table: str
    key: dict[str, str]
    sums: dict[str, str]
    types: dict[str, str]
    merge: dict[str, str] = dataclasses.field(default_factory=dict)

    def ddl(self) -> str:
        key = ", ".join(f"{c} {_KEY_TYPES.get(c, 'TEXT')} NOT NULL" for c in self.key)
        figures = ", ".join(f"{c} {self.types.get(c, 'BIGINT')} NOT NULL" for c in self.sums)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.table} ({key}, {figures}, PRIMARY KEY ({', '.join(self.key)}))"
        )

    def grouped(self, source: str, sign: str = "") -> str:
        """The figures of ``source``'s rows per key, negated with ``sign="-"`` (rows deleted), in key order."""
        figures = ", ".join(f"{sign}{expr}" if c in self.summed else expr for c, expr in self.sums.items())
        positions = ", ".join(str(i + 1) for i in range(len(self.key)))
        return (
            f"SELECT {', '.join(self.key.values())}, {figures} FROM {source} "
            f"GROUP BY {positions} ORDER BY {positions}"
        )

    @property
    def summed(self) -> tuple[str, ...]:
        return tuple(c for c in self.sums if c not in self.merge)

    def upsert(self, source: str, sign: str = "") -> str:
        """Add (or, with ``sign="-"``, subtract) ``source``'s rows to the rollup: one statement."""
        sets = ", ".join(f"{c} = {self.merge.get(c, f'u.{c} + excluded.{c}')}" for c in self.sums)
        columns = ", ".join((*self.key, *self.sums))
        return (
            f"INSERT INTO {self.table} AS u ({columns}) {self.grouped(source, sign)} "
            f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {sets}"
        )

    def prune(self) -> str:
        """Delete the groups of ``old_rows`` left with no request."""
        keys = ", ".join(f"{expr} AS {c}" for c, expr in self.key.items())
        match = " AND ".join(f"u.{c} = k.{c}" for c in self.key)
        return (
            f"DELETE FROM {self.table} u USING (SELECT DISTINCT {keys} FROM old_rows) k "
            f"WHERE {match} AND u.requests <= 0"
        )

    def rebuild(self) -> tuple[str, ...]:
        return (f"DELETE FROM {self.table}", self.upsert("requests"))


HOURLY = Rollup(
    "usage_hourly",
    key={"hour": HOUR_SQL, "provider": "coalesce(provider, '')", "model": "model", "status": "status"},
    sums={
        "requests": "count(*)",
        "fallbacks": "count(*) FILTER (WHERE attempts > 1)",
        "input_tokens": "sum(input_tokens)",
        "output_tokens": "sum(output_tokens)",
        "cache_read_tokens": "sum(cache_read_tokens)",
        "cache_write_tokens": "sum(cache_write_tokens)",
        "reasoning_tokens": "sum(reasoning_tokens)",
        "cost_usd": "coalesce(sum(cost_usd), 0)",
        "priced": "count(cost_usd)",
        "latency_ms": "sum(latency_ms)",
        "cache_savings_usd": "coalesce(sum(cache_savings_usd), 0)",
    },
    types={c: "DOUBLE PRECISION" for c in ("cost_usd", "latency_ms", "cache_savings_usd")},
)
# Who spent what, per (hour, gateway key, client, session, provider, model, status); NULL is ''. first_at/last_at
# are the earliest and latest started_at of the hour's rows: they only widen (after a delete they keep their
# bounds, as in SQLite). Keyed by provider, model and status too since schema version 3 (WHO_V2 before), so
# every filter of the dashboard and /usage reads it.
_WHO_SUMS = {
    "requests": "count(*)",
    "tokens": "sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens)",
    "cost_usd": "coalesce(sum(cost_usd), 0)",
    "priced": "count(cost_usd)",
    "first_at": "min(started_at)",
    "last_at": "max(started_at)",
}
_WHO_TYPES = {c: "DOUBLE PRECISION" for c in ("cost_usd", "first_at", "last_at")}
_WHO_MERGE = {
    "first_at": "least(u.first_at, excluded.first_at)",
    "last_at": "greatest(u.last_at, excluded.last_at)",
}
_WHO_KEY_V2 = {
    "hour": HOUR_SQL,
    "api_key_name": "coalesce(api_key_name, '')",
    "client": "coalesce(client, '')",
    "session_id": "coalesce(session_id, '')",
}
WHO_V2 = Rollup("usage_attribution_hourly", _WHO_KEY_V2, _WHO_SUMS, _WHO_TYPES, _WHO_MERGE)
WHO = Rollup(
    "usage_attribution_hourly",
    key={**_WHO_KEY_V2, "provider": "coalesce(provider, '')", "model": "model", "status": "status"},
    sums=_WHO_SUMS,
    types=_WHO_TYPES,
    merge=_WHO_MERGE,
)
ROLLUP_TABLE = HOURLY.ddl()


def _function(name: str, body: Sequence[str]) -> str:
    statements = "".join(f"    {s};\n" for s in body)
    return (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $fn$\nBEGIN\n"
        f"{statements}    RETURN NULL;\nEND\n$fn$"
    )


def _triggers(rollup: Rollup, prefix: str, trigger: str) -> tuple[str, ...]:
    """Statement-level triggers keeping ``rollup`` per statement, from the transition tables: an
    ``INSERT … ON CONFLICT DO NOTHING`` has only the rows it really inserted in ``new_rows``, so a resent
    event adds nothing."""
    events = {
        "insert": ("NEW TABLE AS new_rows", [rollup.upsert("new_rows")]),
        "delete": ("OLD TABLE AS old_rows", [rollup.upsert("old_rows", "-"), rollup.prune()]),
        "update": (
            "OLD TABLE AS old_rows NEW TABLE AS new_rows",
            [rollup.upsert("old_rows", "-"), rollup.upsert("new_rows"), rollup.prune()],
        ),
    }
    return _statement_triggers(events, prefix, trigger)


def _statement_triggers(
    events: dict[str, tuple[str, list[str]]], prefix: str, trigger: str
) -> tuple[str, ...]:
    """``CREATE`` (replacing) a function and an ``AFTER … FOR EACH STATEMENT`` trigger on ``requests`` per
    event (insert, delete, update -> transition tables, statements)."""
    statements: list[str] = []
    for event, (tables, body) in events.items():
        function, name = f"{prefix}_{event}", f"{trigger}_{event}"
        statements += [
            _function(function, body),
            f"DROP TRIGGER IF EXISTS {name} ON requests",
            f"CREATE TRIGGER {name} AFTER {event.upper()} ON requests REFERENCING {tables} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()",
        ]
    return tuple(statements)


ROLLUP_TRIGGERS = _triggers(HOURLY, "ekai_rollup", "requests_rollup")
REBUILD_ROLLUP: tuple[str, ...] = HOURLY.rebuild()

# Version 1: the ledger, its read indexes, the rollup with its triggers.
_V1: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} ({', '.join(COLUMN_DDL.values())})",
    "CREATE INDEX IF NOT EXISTS requests_started_at ON requests (started_at)",
    "CREATE INDEX IF NOT EXISTS requests_provider_started ON requests (provider, started_at)",
    "CREATE INDEX IF NOT EXISTS requests_model_started ON requests (model, started_at)",
    ROLLUP_TABLE,
    *ROLLUP_TRIGGERS,
    *REBUILD_ROLLUP,
)
# Latency-ordered covering indexes of version 2 (index walks of the read side then): version 4 drops all but
# requests_hour_latency, which the latency lists' readers use for the partial hours at a range's edges.
LATENCY_INDEXES: tuple[str, ...] = (
    "CREATE INDEX IF NOT EXISTS requests_latency ON requests (latency_ms, started_at, provider, model, status)",
    "CREATE INDEX IF NOT EXISTS requests_provider_latency "
    "ON requests (provider, latency_ms, started_at, model, status)",
    "CREATE INDEX IF NOT EXISTS requests_model_latency ON requests (model, latency_ms, started_at, provider, status)",
    f"CREATE INDEX IF NOT EXISTS requests_hour_latency "
    f"ON requests (({HOUR_SQL}), latency_ms, started_at, provider, model, status)",
    f"CREATE INDEX IF NOT EXISTS requests_day_latency "
    f"ON requests (({DAY_SQL}), latency_ms, started_at, provider, model, status)",
)
WHO_TRIGGERS = _triggers(WHO, "ekai_who", "requests_who")
# Version 2: the attribution rollup (built from the rows already there) and the latency indexes.
_V2: tuple[str, ...] = (
    WHO_V2.ddl(),
    *_triggers(WHO_V2, "ekai_who", "requests_who"),
    *WHO_V2.rebuild(),
    *LATENCY_INDEXES,
)
# Version 3: the attribution rollup keyed by provider, model and status too, rebuilt from the ledger (its
# trigger functions replaced by those of the new key).
_V3: tuple[str, ...] = (f"DROP TABLE {WHO.table}", WHO.ddl(), *WHO_TRIGGERS, *WHO.rebuild())
# Version 4: latency lists (pg_lists.py) backfilled from the ledger, kept by their own triggers; they replace
# four of the latency-ordered indexes (each slowed every insert).
LISTS_TRIGGERS = _statement_triggers(pg_lists.TRIGGER_EVENTS, "ekai_lists", "requests_lists")
_V4: tuple[str, ...] = (*pg_lists.DDL, *LISTS_TRIGGERS, *pg_lists.DROP_INDEXES, pg_lists.BACKFILL)
MIGRATIONS: tuple[tuple[str, ...], ...] = (_V1, _V2, _V3, _V4)
SCHEMA_VERSION = len(MIGRATIONS)

_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)
_COLS = ", ".join(COLUMNS)
# The group (as the latency lists key it) of each row inserted, the replayed left out.
_GROUP = f"{HOUR_SQL}, coalesce(provider, ''), model, status"
# The batch from the staging table: (hour, provider, model, status, rows inserted) per group of new rows.
_INSERT_FROM_STAGE = (
    f"WITH ins AS (INSERT INTO {TABLE} ({_COLS}) SELECT {_COLS} FROM {STAGE} ORDER BY event_id "
    "ON CONFLICT (event_id) DO NOTHING RETURNING started_at, provider, model, status) "
    f"SELECT {_GROUP}, count(*) FROM ins GROUP BY 1, 2, 3, 4"
)


def _insert_one(columns: Sequence[str]) -> str:
    """One row; returns its group when it was new (no row when it was a replay)."""
    placeholders = ", ".join(f"${i + 1}" for i in range(len(columns)))
    return (
        f"INSERT INTO {TABLE} ({', '.join(columns)}) VALUES ({placeholders}) ON CONFLICT (event_id) DO NOTHING "
        f"RETURNING {_GROUP}"
    )


_INSERT_ONE = _insert_one(COLUMNS)


def redact(url: str) -> str:
    """``url`` without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


async def schema_version(conn: asyncpg.Connection) -> int:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate(conn: asyncpg.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the database to ``len(migrations)``, add missing event columns, check the rollup.

    One transaction under an advisory lock: recorders starting at once wait for each other."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(_VERSION_TABLE)
        current = await schema_version(conn)
        for target in range(current + 1, len(migrations) + 1):
            for statement in migrations[target - 1]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", target)
            log.info("database migrated to schema version %d", target)
        if current > len(migrations):
            log.warning(
                "database schema version %d is newer than this recorder's %d", current, len(migrations)
            )
        present = {
            r["column_name"]
            for r in await conn.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = $1",
                TABLE,
            )
        }
        for name, ddl in COLUMN_DDL.items():
            if name not in present:
                await conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {ddl}")
                log.info("added column %s", name)
        await _check_rollup(conn)
        return max(current, len(migrations))


_HAS_PROVIDER = (
    "SELECT count(*) > 0 FROM information_schema.columns WHERE table_schema = current_schema() "
    "AND table_name = $1 AND column_name = 'provider'"
)


async def _check_rollup(conn: asyncpg.Connection) -> bool:
    """Rebuild each rollup that disagrees with ``requests`` (writers wait meanwhile); True if one was."""
    await conn.execute(f"LOCK TABLE {TABLE} IN SHARE ROW EXCLUSIVE MODE")
    rebuilt = False
    for rollup in (HOURLY, WHO):
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", rollup.table):
            continue  # migrated to a version before the rollup's (a shorter ``migrations`` list)
        if rollup is WHO and not await conn.fetchval(_HAS_PROVIDER, WHO.table):
            rollup = WHO_V2  # migrated to version 2 only (a shorter ``migrations`` list)
        counts = await conn.fetchrow(
            f"SELECT (SELECT count(*) FROM {TABLE}), (SELECT coalesce(sum(requests), 0) FROM {rollup.table})"
        )
        assert counts is not None
        ledger, rolled = counts
        if ledger == rolled:
            continue
        log.warning("%s disagrees with the ledger (%d vs %d rows): rebuilding", rollup.table, rolled, ledger)
        for statement in rollup.rebuild():
            await conn.execute(statement)
        rebuilt = True
    if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", pg_lists.TABLE):
        await _repair_lists(conn)
    return rebuilt


async def _repair_lists(conn: asyncpg.Connection) -> None:
    """Latency lists made to agree with ``usage_hourly`` (exact by now), every group compacted
    (``pg_lists.REPAIR``; the caller holds the lock that keeps writers out)."""
    _, wrong, _ = [await conn.execute(statement) for statement in pg_lists.REPAIR]
    rebuilt = int(wrong.rsplit(" ", 1)[1])
    if rebuilt:
        log.warning("latency lists of %d groups disagreed with usage_hourly: rebuilt", rebuilt)


async def _prepare_connection(conn: asyncpg.Connection) -> None:
    # The staging table lives as long as the connection; its rows only as long as the transaction.
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} (LIKE {TABLE} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )


# The recorder's sessions are named in pg_stat_activity (an operator, or a test, can tell them apart).
APPLICATION_NAME = "ekai-recorder"
_SERVER_SETTINGS = {"application_name": APPLICATION_NAME}


class PgStore:
    """The PostgreSQL ledger writer. Create with ``await PgStore.open(url)``; several may share a database."""

    def __init__(self, pool: asyncpg.Pool, url: str) -> None:
        self._pool = pool
        self.path = redact(url)  # what the logs show
        self.rejected = 0  # rows PostgreSQL refused (constraint or data errors); logged and skipped
        self.commits = 0  # transactions committed: one a batch
        self._split: set[pg_lists.Key] = set()  # latency-list groups this store appended parts to
        self._latest_hour = 0  # the latest hour appended to: earlier hours are finished, compacted

    @classmethod
    async def open(cls, url: str, *, connect_timeout_s: float = 10.0) -> PgStore:
        """Connect and migrate. Raises (``OSError``, ``asyncpg.PostgresError``, ``TimeoutError``) when the
        database is unreachable or refuses us: a clear error at start-up, never a silent fallback."""
        conn = await asyncpg.connect(url, timeout=connect_timeout_s, server_settings=_SERVER_SETTINGS)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        # One connection is all a single writer needs; the pool replaces it after the server went away.
        pool = await asyncpg.create_pool(
            url,
            min_size=1,
            max_size=1,
            timeout=connect_timeout_s,
            init=_prepare_connection,
            command_timeout=60,
            server_settings=_SERVER_SETTINGS,
        )
        return cls(pool, url)

    async def insert_many(self, events: Sequence[UsageEvent]) -> int:
        from services.recorder.store import event_row

        return await self.insert_rows([event_row(e) for e in events])

    async def insert_rows(self, rows: Sequence[Row]) -> int:
        """Insert rows made by ``store.event_row`` in one transaction; returns how many were new.

        Connection errors propagate (the batcher retries the batch, the pool reconnects). A batch that
        PostgreSQL refuses for its data (a NUL character in a text, a constraint) is retried row by row,
        and the rows it still refuses are logged, counted in ``rejected`` and skipped."""
        return (await self.insert_counted(rows)).inserted

    async def insert_counted(self, rows: Sequence[Row]) -> Written:
        """``insert_rows``, returning also how many of THIS batch's rows were refused (``rejected``
        counts them over every batch)."""
        return await self._copy(rows, COLUMNS)

    async def copy_rows(self, rows: Sequence[Row], columns: Sequence[str]) -> int:
        """``insert_rows`` for rows holding only ``columns`` (the others get their defaults): the move of
        a SQLite file written by an older recorder."""
        return (await self._copy(rows, columns)).inserted

    async def _copy(self, rows: Sequence[Row], columns: Sequence[str]) -> Written:
        if not rows:
            return Written(0, 0)
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await conn.copy_records_to_table(STAGE, records=rows, columns=list(columns))
                    groups = await conn.fetch(_INSERT_FROM_STAGE)
                    done = await self._compact(conn, {(g[0], g[1], g[2], g[3]) for g in groups})
                self._split.difference_update(done)  # committed: those groups are one part each now
                self.commits += 1
                return Written(sum(int(g[4]) for g in groups), 0)
            except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError):
                return await self._insert_each(conn, rows, columns)

    async def _compact(
        self, conn: PoolConnectionProxy[asyncpg.Record], touched: set[pg_lists.Key]
    ) -> list[pg_lists.Key]:
        """Note the groups the batch appended latency-list parts to (the insert trigger did); compact a few
        of finished hours (``pg_lists.COMPACT_PER_BATCH``) unless another recorder is compacting. Returns
        the groups compacted, for the caller to forget once the transaction has committed (a rollback
        undoes the compaction: they stay to do)."""
        self._latest_hour = max([self._latest_hour, *(key[0] for key in touched)])
        self._split |= touched
        done = sorted(key for key in self._split if key[0] < self._latest_hour)[: pg_lists.COMPACT_PER_BATCH]
        if not done or not await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock($1)", pg_lists.COMPACT_LOCK_KEY
        ):
            return []
        await conn.execute(pg_lists.COMPACT_GROUPS, *(list(column) for column in zip(*done, strict=True)))
        return done

    async def _insert_each(
        self, conn: PoolConnectionProxy[asyncpg.Record], rows: Sequence[Row], columns: Sequence[str]
    ) -> Written:
        sql = _INSERT_ONE if tuple(columns) == COLUMNS else _insert_one(columns)
        key = list(columns).index("event_id")
        touched: list[pg_lists.Key] = []
        refused = 0
        async with conn.transaction():
            for row in rows:
                try:
                    async with conn.transaction():  # a savepoint: only this row is undone
                        group = await conn.fetchrow(sql, *row)
                except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
                    self.rejected += 1
                    refused += 1
                    log.error("row rejected by PostgreSQL (%s): event_id=%r", exc, row[key])
                    continue
                if group is not None:
                    touched.append((group[0], group[1], group[2], group[3]))
            done = await self._compact(conn, set(touched))
        self._split.difference_update(done)
        self.commits += 1
        return Written(len(touched), refused)

    async def close(self) -> None:
        await self._pool.close()
