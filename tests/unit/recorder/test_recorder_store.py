"""Store: schema, inserts, idempotent replays, migrations, row conversion, error handling."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import aiosqlite
import orjson
import pytest

from services.recorder import store as store_module
from services.recorder.batcher import Backoff, Batcher
from services.recorder.store import (
    COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Store,
    event_row,
    migrate,
    split_statements,
)
from shared.events import FIELD_NAMES, FailedAttempt, UsageEvent, from_dict


def make_event(n: int = 0, **overrides: object) -> UsageEvent:
    event = UsageEvent(
        request_id=f"req-{n}",
        endpoint="/v1/messages",
        client_format="anthropic",
        model="claude-x",
        started_at=1_700_000_000.0 + n,
        finished_at=1_700_000_001.5 + n,
        provider="anthropic",
        provider_format="anthropic",
        translated=True,
        served_model="claude-x-2025",
        status=200,
        streamed=True,
        input_tokens=10 + n,
        output_tokens=20,
        cache_read_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=5,
        cost_usd=0.00123456,
        latency_ms=1500.5,
        ttft_ms=210.0,
        attempts=2,
        failed_attempts=[
            FailedAttempt(provider="openai", status=429, error_type="rate_limit", message="slow")
        ],
    )
    return replace(event, **overrides) if overrides else event


def rows(path: Path, sql: str = "SELECT * FROM requests ORDER BY rowid") -> list[sqlite3.Row]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        return db.execute(sql).fetchall()


def pragma(path: Path, name: str) -> object:
    with sqlite3.connect(path) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def row_to_event(row: sqlite3.Row) -> UsageEvent:
    data = dict(row)
    data["failed_attempts"] = orjson.loads(data["failed_attempts"])
    for flag in ("translated", "streamed", "client_disconnected"):
        data[flag] = bool(data[flag])
    return from_dict(data)


@pytest.fixture(params=[False, True], ids=["aiosqlite", "inline"])
async def store(tmp_path: Path, request: pytest.FixtureRequest):
    # inline: the writer process's connection (inline_db.InlineConnection), same behaviour expected
    s = await Store.open(str(tmp_path / "data" / "usage.db"), inline=request.param)
    yield s
    await s.close()


def db_file(store: Store) -> Path:
    return Path(store.path)


async def test_open_creates_directory_schema_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "usage.db"
    s = await Store.open(str(path))
    await s.close()
    assert path.exists()
    assert pragma(path, "user_version") == SCHEMA_VERSION == len(MIGRATIONS)
    assert pragma(path, "journal_mode") == "wal"


async def test_table_columns_are_the_event_fields_in_order(store: Store) -> None:
    with sqlite3.connect(db_file(store)) as db:
        names = [r[1] for r in db.execute("PRAGMA table_info(requests)")]
    assert names == list(FIELD_NAMES) == list(COLUMNS)


async def test_insert_round_trips_every_field(store: Store) -> None:
    events = [
        make_event(1),
        make_event(
            2,
            cost_usd=None,
            ttft_ms=None,
            provider=None,
            failed_attempts=[],
            translated=False,
            streamed=False,
            client_disconnected=True,
        ),
    ]
    assert await store.insert_many(events) == 2
    stored = rows(db_file(store))
    assert [row_to_event(r) for r in stored] == events
    first, second = stored
    assert first["translated"] == 1 and second["client_disconnected"] == 1  # booleans as 0/1
    assert second["cost_usd"] is None  # unknown price stays NULL, never 0
    assert orjson.loads(first["failed_attempts"]) == [
        {"provider": "openai", "status": 429, "error_type": "rate_limit", "message": "slow"}
    ]


async def test_nones_are_bound_as_null_through_the_registered_adapter(store: Store) -> None:
    # Store.open registers a NoneType adapter (store.bind_none_cheaply): CPython 3.11's sqlite3 then finds
    # it in its registry instead of searching __adapt__ / __conform__ for each None (about a third of the
    # writer's instructions a row). Without it this lookup fails. The stored values must stay SQL NULL.
    assert sqlite3.adapters.get((type(None), sqlite3.PrepareProtocol)) is store_module._NULL
    nullable = [
        f.name
        for f in dataclasses.fields(UsageEvent)
        if f.name not in ("failed_attempts",) and f.default is None
    ]
    assert {"provider", "served_model", "cost_usd", "ttft_ms", "api_key_name", "cache_savings_usd"} <= set(
        nullable
    )
    event = make_event(3, **{name: None for name in nullable})
    assert await store.insert_many([event]) == 1
    with sqlite3.connect(db_file(store)) as db:
        types = db.execute(
            f"SELECT {', '.join(f'typeof({n})' for n in nullable)} FROM requests WHERE event_id = ?",
            (event.event_id,),
        ).fetchone()
    assert list(types) == ["null"] * len(nullable)
    assert [row_to_event(r) for r in rows(db_file(store))] == [event]


async def test_replayed_events_are_stored_once(store: Store) -> None:
    a, b, c = make_event(1), make_event(2), make_event(3)
    assert await store.insert_many([a, b]) == 2
    assert await store.insert_many([a, b]) == 0
    assert await store.insert_many([b, c, c]) == 1
    assert len(rows(db_file(store))) == 3
    assert store.rejected == 0  # a replay is not an error


async def test_insert_nothing(store: Store) -> None:
    assert await store.insert_many([]) == 0


async def test_unstorable_event_is_refused_before_writing(store: Store) -> None:
    with pytest.raises(ValueError, match="status"):
        await store.insert_many([make_event(1), make_event(2, status=None)])
    assert rows(db_file(store)) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", None),
        ("event_id", None),
        ("input_tokens", "12"),
        ("input_tokens", 2**70),
        ("latency_ms", math.nan),
        ("latency_ms", "fast"),
        ("cost_usd", math.inf),
        ("translated", 2),
        ("failed_attempts", "x"),
        ("model", 7),
    ],
)
def test_event_row_names_the_bad_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        event_row(make_event(1, **{field: value}))


def test_event_row_converts_types() -> None:
    row = dict(zip(COLUMNS, event_row(make_event(1, latency_ms=7, translated=True)), strict=True))
    assert row["latency_ms"] == 7.0 and isinstance(row["latency_ms"], float)
    assert row["translated"] == 1 and row["streamed"] == 1 and row["client_disconnected"] == 0
    assert isinstance(row["failed_attempts"], str)


async def test_constraint_violation_skips_only_that_row(store: Store) -> None:
    good = [event_row(make_event(i)) for i in range(3)]
    bad = list(event_row(make_event(9)))
    bad[COLUMNS.index("status")] = None  # bypasses event_row's checks, as a future constraint might
    assert await store.insert_rows([good[0], tuple(bad), good[1], good[2]]) == 3
    assert store.rejected == 1
    assert len(rows(db_file(store))) == 3


async def test_migrates_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    s = await Store.open(str(path))
    assert await s.insert_many([make_event(1)]) == 1
    await s.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION


async def test_reopens_a_version_1_database_without_touching_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    first = make_event(1)
    s = await Store.open(path)
    await s.insert_many([first])
    await s.close()
    s = await Store.open(path)
    assert await s.insert_many([first, make_event(2)]) == 1
    await s.close()
    assert pragma(Path(path), "user_version") == SCHEMA_VERSION
    assert [r["request_id"] for r in rows(Path(path))] == ["req-1", "req-2"]


async def test_a_version_1_ledger_gains_the_attribution_columns(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, MIGRATIONS[:1]) == 1
        v1_columns = FIELD_NAMES[: FIELD_NAMES.index("failed_attempts") + 1]
        await db.execute(
            f"INSERT INTO requests ({', '.join(v1_columns)}) VALUES ({', '.join('?' * len(v1_columns))})",
            event_row(make_event(1))[: len(v1_columns)],
        )
    s = await Store.open(str(path))
    assert (
        await s.insert_many([make_event(2, api_key_name="ci", session_id="s-1", client="claude-cli/2.1.1")])
        == 1
    )
    await s.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION == len(MIGRATIONS)
    old, new = rows(path)
    assert old["request_id"] == "req-1" and old["api_key_name"] is None and old["session_id"] is None
    assert (new["api_key_name"], new["session_id"], new["client"]) == ("ci", "s-1", "claude-cli/2.1.1")
    with sqlite3.connect(path) as db:  # version 2 made it; version 8 keeps it (key_spend reads along it)
        assert db.execute("SELECT 1 FROM sqlite_master WHERE name = 'requests_key_started'").fetchone()


async def test_a_version_8_ledger_without_the_key_index_gets_it_back(tmp_path: Path) -> None:
    """The first schema 8 (dd9478d) dropped ``requests_key_started``; Store.open makes it again, and the
    gateways' budget read (``key_spend``) and the key-filtered newest requests read along it."""
    path = tmp_path / "usage.db"
    s = await Store.open(str(path))
    await s.insert_many([make_event(1, api_key_name="ci", cost_usd=0.25)])
    await s.close()
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP INDEX requests_key_started")
        db.commit()
    s = await Store.open(str(path))
    await s.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION == 10
    with closing(sqlite3.connect(path)) as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT total(cost_usd) FROM requests WHERE api_key_name = 'ci' AND started_at >= 0"
        ).fetchall()
    assert "requests_key_started" in str(plan)


def key_index_entries(path: Path) -> int:
    """The entries of ``requests_key_started`` (ANALYZE's count of the index's rows, sqlite_stat1)."""
    with closing(sqlite3.connect(path)) as db:
        db.execute("ANALYZE")
        (stat,) = db.execute("SELECT stat FROM sqlite_stat1 WHERE idx = 'requests_key_started'").fetchone()
    return int(stat.split()[0])


async def test_a_version_8_ledger_gets_a_key_index_of_the_keyed_rows_only(tmp_path: Path) -> None:
    """Schema version 9: ``requests_key_started`` holds only the rows with a gateway key (rows without one
    cost the writer no entry); a version-8 ledger's full index is replaced, and the budget read and the
    key-filtered newest requests still read along it."""
    path = tmp_path / "usage.db"
    s = await Store.open(str(path))
    keyed = [make_event(n, api_key_name="ci", cost_usd=0.25) for n in range(3)]
    await s.insert_many([*keyed, *(make_event(n) for n in range(3, 10))])
    await s.close()
    assert key_index_entries(path) == 3
    with closing(sqlite3.connect(path)) as db:  # the version-8 index: every row
        db.executescript(
            "DROP INDEX requests_key_started; PRAGMA user_version = 8;"
            "CREATE INDEX requests_key_started ON requests (api_key_name, started_at, cost_usd);"
        )
    assert key_index_entries(path) == 10
    s = await Store.open(str(path))
    await s.insert_many([make_event(10), make_event(11, api_key_name="ops")])
    await s.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION == 10
    assert key_index_entries(path) == 4
    with closing(sqlite3.connect(path)) as db:
        for sql in (
            "SELECT total(cost_usd) FROM requests WHERE api_key_name = 'ci' AND started_at >= 0",
            "SELECT * FROM requests WHERE api_key_name IN ('ci', 'ops') AND started_at BETWEEN 0 AND 2e9",
        ):
            assert "requests_key_started" in str(db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()), sql


async def test_a_later_version_adds_columns_to_a_version_1_database(tmp_path: Path, caplog) -> None:
    path = tmp_path / "usage.db"
    s = await Store.open(str(path))
    await s.insert_many([make_event(1)])
    await s.close()
    v2 = (*MIGRATIONS, "ALTER TABLE requests ADD COLUMN region TEXT;\nCREATE INDEX r ON requests (region);")
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, v2) == len(v2)
        assert await migrate(db, v2) == len(v2)  # idempotent
    assert pragma(path, "user_version") == len(v2)
    assert [r["region"] for r in rows(path)] == [None]
    # This (version 1) recorder keeps writing to the newer file: its inserts name their columns.
    with caplog.at_level(logging.WARNING, logger="recorder.store"):
        s = await Store.open(str(path))
    assert "newer" in caplog.text
    assert await s.insert_many([make_event(2)]) == 1
    await s.close()


async def test_a_failing_migration_rolls_back_entirely(tmp_path: Path) -> None:
    path = tmp_path / "usage.db"
    await (await Store.open(str(path))).close()
    bad = (*MIGRATIONS, "ALTER TABLE requests ADD COLUMN a TEXT;\nALTER TABLE nope ADD COLUMN b TEXT;")
    async with aiosqlite.connect(path, isolation_level=None) as db:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(db, bad)
    assert pragma(path, "user_version") == SCHEMA_VERSION
    with sqlite3.connect(path) as db:
        assert "a" not in [r[1] for r in db.execute("PRAGMA table_info(requests)")]


def test_split_statements_respects_quotes_and_comments() -> None:
    script = "-- one; two\nCREATE TABLE t (a TEXT DEFAULT ';');\nINSERT INTO t VALUES ('x;y'); -- done;\n"
    assert split_statements(script) == [
        "-- one; two\nCREATE TABLE t (a TEXT DEFAULT ';');",
        "INSERT INTO t VALUES ('x;y'); -- done;",
    ]
    with pytest.raises(ValueError):
        split_statements("CREATE TABLE t (a TEXT")


async def test_busy_database_is_retried_by_the_batcher_without_loss(tmp_path: Path) -> None:
    """A real SQLITE_BUSY: another connection holds the write lock for a while."""
    path = tmp_path / "usage.db"
    store = await Store.open(str(path), busy_timeout_ms=20)
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    batcher = Batcher(
        store.insert_rows, max_rows=10, flush_interval_s=0.01, backoff=Backoff(initial_s=0.02, max_s=0.05)
    )
    batcher.start()
    for i in range(25):
        await batcher.put(event_row(make_event(i)))
    async with asyncio.timeout(30):  # a deadline only a hang reaches
        while batcher.failures == 0:  # handshake: a flush met the lock
            await asyncio.sleep(0.01)
    assert rows(path) == []
    blocker.execute("COMMIT")
    blocker.close()
    assert await batcher.close() == 0
    await store.close()
    assert [r["request_id"] for r in rows(path)] == [f"req-{i}" for i in range(25)]


async def test_a_version_1_ledger_gains_the_cache_columns_and_its_rollup_the_savings(tmp_path: Path) -> None:
    """Issue 10's migration: an existing (version 1) database keeps its rows, gains cache_write_1h_tokens,
    web_search_requests (0 for old rows) and cache_savings_usd (NULL: unknown for old rows), and its hourly
    rollup is rebuilt with a cache_savings_usd sum that new rows then add to."""
    path = tmp_path / "usage.db"
    async with aiosqlite.connect(path, isolation_level=None) as db:
        assert await migrate(db, MIGRATIONS[:1]) == 1
        v1 = FIELD_NAMES[: FIELD_NAMES.index("failed_attempts") + 1]  # the columns of schema version 1
        old = [f for f in FIELD_NAMES if f in v1]
        await db.execute(
            f"INSERT INTO requests ({', '.join(old)}) VALUES ({', '.join('?' * len(old))})",
            [v for f, v in zip(FIELD_NAMES, event_row(make_event(1)), strict=True) if f in old],
        )
    from services.recorder.rollups import ensure_rollups_sync

    with sqlite3.connect(path) as conn:  # a version-1 recorder had built its rollup
        conn.executescript(
            "CREATE TABLE usage_hourly (hour INTEGER NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL, "
            "status INTEGER NOT NULL, requests INTEGER NOT NULL, PRIMARY KEY (hour, provider, model, status));"
        )
    s = await Store.open(str(path))
    await s.insert_many(
        [make_event(2, cache_write_1h_tokens=4, web_search_requests=2, cache_savings_usd=-0.25)]
    )
    await s.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION
    got = [
        (r["request_id"], r["cache_write_1h_tokens"], r["web_search_requests"], r["cache_savings_usd"])
        for r in rows(path)
    ]
    assert got == [("req-1", 0, 0, None), ("req-2", 4, 2, -0.25)]
    assert rows(path, "SELECT sum(requests) AS n, sum(cache_savings_usd) AS s FROM usage_hourly")[0][:] == (
        2,
        -0.25,
    )
    with sqlite3.connect(path) as conn:
        assert ensure_rollups_sync(conn) is False  # the rollup agrees with the ledger


async def test_a_version_9_ledger_loses_the_started_at_index(tmp_path: Path) -> None:
    """Schema version 10: no index on ``started_at`` alone (range reads bound the hour and seek
    ``requests_hour_latency``: test_ledger_recent.py); a version-9 ledger's is dropped, and a new
    ledger never keeps one. Rows and rollups stay."""
    path = tmp_path / "usage.db"
    s = await Store.open(str(path))
    await s.insert_many([make_event(n) for n in range(5)])
    await s.close()
    with closing(sqlite3.connect(path)) as db:
        assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'requests_started_at'").fetchone()
        db.executescript(  # the version-9 ledger: its started_at index
            "PRAGMA user_version = 9; CREATE INDEX requests_started_at ON requests (started_at);"
        )
    s = await Store.open(str(path))
    await s.insert_many([make_event(5)])
    await s.close()
    assert pragma(path, "user_version") == SCHEMA_VERSION == 10
    with closing(sqlite3.connect(path)) as db:
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert db.execute("SELECT count(*) FROM requests").fetchone() == (6,)
        assert db.execute("SELECT sum(requests) FROM usage_hourly").fetchone() == (6,)
    assert "requests_started_at" not in names
    assert {"requests_hour_latency", "requests_key_started"} <= names


def _nullable_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(UsageEvent) if f.default is None]


@pytest.mark.parametrize("start", ["new", "version_1"])
async def test_optional_columns_are_nullable_without_a_default(tmp_path: Path, start: str) -> None:
    # store.insert_for leaves out of its INSERT an optional column that is None in every row of a batch:
    # that stores NULL only if the column has no DEFAULT and accepts NULL, in a new ledger and in one
    # migrated from version 1 (its columns added by ALTER TABLE).
    path = tmp_path / "usage.db"
    if start == "version_1":
        async with aiosqlite.connect(path, isolation_level=None) as db:
            assert await migrate(db, MIGRATIONS[:1]) == 1
    s = await Store.open(str(path))
    await s.close()
    with sqlite3.connect(path) as db:
        info = {r[1]: (r[3], r[4]) for r in db.execute("PRAGMA table_info(requests)")}
    optional = [COLUMNS[i] for i in store_module._OPTIONAL]
    assert optional == _nullable_fields()
    assert {"api_key_name", "session_id", "budget_alert", "cache_savings_usd", "error_type"} <= set(optional)
    assert {name: info[name] for name in optional} == {name: (0, None) for name in optional}


def _reference_rows(path: Path, batches: list[list[tuple[object, ...]]]) -> list[tuple[object, ...]]:
    """The batches inserted by the one full INSERT (every column bound), read back with types."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        for sql in split_statements(MIGRATIONS[0]):
            db.execute(sql)
        for script in MIGRATIONS[1:]:
            for sql in split_statements(script):
                db.execute(sql)
        for batch in batches:
            db.executemany(store_module._INSERT, batch)
        return _typed(db)


def _typed(db: sqlite3.Connection) -> list[tuple[object, ...]]:
    typeofs = ", ".join(f"typeof({c})" for c in COLUMNS)
    return db.execute(f"SELECT rowid, *, {typeofs} FROM requests ORDER BY rowid").fetchall()


async def test_batches_leaving_out_all_none_columns_store_exactly_what_binding_every_column_does(
    tmp_path: Path,
) -> None:
    # Random batches (seeded) with each optional column None in all, some or none of their rows, in runs
    # of neighbouring columns and alone: the ledger (values, types, rowid order) equals the one written by
    # the full INSERT of every column, and the columns None in a whole batch are not in its statement.
    import random

    rng = random.Random(22)
    optional = _nullable_fields()
    batches: list[list[tuple[object, ...]]] = []
    n = 0
    for _ in range(60):
        always_none = {name for name in optional if rng.random() < 0.6}
        always_false = {name for name in optional if rng.random() < 0.5}
        size = rng.choice([1, 2, 3, 7, 20])
        batch = []
        for _ in range(size):
            n += 1
            nones = always_none | {name for name in optional if rng.random() < 0.3}
            values: dict[str, object] = {
                "api_key_name": "ci",
                "session_id": "s",
                "agent_id": "a",
                "client": "c/1",
                "request_class": "main",
                "budget_alert": "80%",
                "cache_savings_usd": 0.5,
                "error_type": "rate_limit",
            }
            # a false value that is not None (an empty text, a zero) must be stored as it is, not left out
            falsy = {k: type(v)() for k, v in values.items() if k in always_false}
            batch.append(event_row(make_event(n, **(values | falsy | dict.fromkeys(nones)))))
        batches.append(batch)
        sql, _ = store_module.insert_for(batch)
        named = sql[sql.index("(") + 1 : sql.index(")")].split(", ")
        assert named == [c for c in COLUMNS if c in named]  # in table order
        left_out = {c for c in COLUMNS if c not in named}
        assert left_out == {c for c in optional if all(row[COLUMNS.index(c)] is None for row in batch)}
    s = await Store.open(str(tmp_path / "usage.db"), inline=True)
    try:
        for batch in batches:
            assert await s.insert_rows(batch) == len(batch)
        assert await s.insert_rows(batches[0]) == 0  # a replay is still skipped
    finally:
        await s.close()
    with closing(sqlite3.connect(tmp_path / "usage.db")) as db:
        stored = _typed(db)
    assert len(stored) == n
    assert stored == _reference_rows(tmp_path / "reference.db", batches)
