"""shared.ledger against real ledgers written by the recorder's stores (figures worked out by hand): SQLite
files with and without the rollup, and PostgreSQL databases (tests/pgserver.py) with and without it."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.recorder.rollups import REBUILD_STATEMENTS, ensure_rollups_sync
from shared.events import FIELD_NAMES
from shared.ledger import engine, export, queries
from shared.ledger.params import ParamError, Query, parse_group_by, parse_query, parse_time
from shared.ledger.summary import summarize
from tests.pgserver import PgServer
from tests.unit.dashboard.ledger_fixtures import (
    T0,
    known_events,
    random_events,
    write_ledger,
    write_pg_ledger,
)

WHOLE = Query(T0, T0 + 2 * 86400)


@pytest.fixture(params=["rollup", "plain", "postgresql", "postgresql-plain"])
def known_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The three known events, with the rollup and indexes, and without (older database); in SQLite and
    in PostgreSQL."""
    if request.param.startswith("postgresql"):
        url = request.getfixturevalue("pg_url")
        return write_pg_ledger(url, known_events(), rollup=request.param == "postgresql")
    return write_ledger(str(tmp_path / "usage.db"), known_events(), rollup=request.param == "rollup")


def test_totals_are_exact(known_db: str) -> None:
    totals = summarize(known_db, WHOLE).totals
    assert totals == {
        "requests": 3,
        "errors": 1,
        "error_rate": 0.333333,
        "fallbacks": 1,
        "input_tokens": 300,
        "output_tokens": 150,
        "cache_read_tokens": 10,
        "cache_write_tokens": 20,
        "reasoning_tokens": 30,
        "total_tokens": 480,
        "cost_usd": 0.011,
        "unpriced_requests": 1,
        "latency_p50_ms": 200.0,
        "latency_p95_ms": 290.0,
        "latency_mean_ms": 200.0,
        # 10 cache-read tokens of 300 + 10 + 20 prompt tokens; savings 0.0004 - 0.0001
        "cache_hit_rate": 0.030303,
        "cache_savings_usd": 0.0003,
    }


def test_group_by_provider(known_db: str) -> None:
    groups = summarize(known_db, WHOLE, "provider").groups
    assert [(g["provider"], g["requests"], g["errors"], g["fallbacks"]) for g in groups] == [
        ("openai", 2, 1, 0),
        ("anthropic", 1, 0, 1),
    ]
    openai = groups[0]
    assert (openai["latency_p50_ms"], openai["latency_p95_ms"]) == (150.0, 195.0)
    assert openai["cost_usd"] == 0.001 and openai["unpriced_requests"] == 1
    # per group: openai read 10 of its 110 prompt tokens; anthropic read none and paid a write premium
    assert (openai["cache_hit_rate"], openai["cache_savings_usd"]) == (0.090909, 0.0004)
    assert (groups[1]["cache_hit_rate"], groups[1]["cache_savings_usd"]) == (0.0, -0.0001)


def test_group_by_day_and_hour(known_db: str) -> None:
    days = summarize(known_db, WHOLE, "day").groups
    assert [(g["day"], g["requests"]) for g in days] == [("2025-01-15", 2), ("2025-01-16", 1)]
    hours = summarize(known_db, WHOLE, "hour").groups
    assert [(g["hour"], g["requests"], g["latency_p50_ms"]) for g in hours] == [
        ("2025-01-15T10:00:00Z", 1, 100.0),
        ("2025-01-15T11:00:00Z", 1, 300.0),
        ("2025-01-16T10:00:00Z", 1, 200.0),
    ]


def test_group_by_model_orders_by_requests_then_name(known_db: str) -> None:
    groups = summarize(known_db, WHOLE, "model").groups
    assert [g["model"] for g in groups] == ["claude-sonnet-4-5", "gpt-4o", "gpt-4o-mini"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (Query(T0, T0 + 2 * 86400, providers=("openai",)), 2),
        (Query(T0, T0 + 2 * 86400, providers=("openai", "anthropic")), 3),
        (Query(T0, T0 + 2 * 86400, models=("gpt-4o",)), 1),
        (Query(T0, T0 + 2 * 86400, status="error"), 1),
        (Query(T0, T0 + 2 * 86400, status="ok"), 2),
        (Query(T0, T0 + 2 * 86400, status="429"), 1),
        (Query(T0, T0 + 2 * 86400, status="500"), 0),
        (Query(T0 + 900, T0 + 2 * 86400), 2),  # starts after the first request
        (Query(T0 + 300, T0 + 86400 + 60), 3),  # partial hours at both ends, whole hours between
        (Query(T0 + 300, T0 + 86400), 2),  # `to` is exclusive
        (Query(T0 + 4800, T0 + 4801), 1),  # inside one hour
    ],
)
def test_filters_and_range_edges(known_db: str, query: Query, expected: int) -> None:
    assert summarize(known_db, query).totals["requests"] == expected


def test_missing_database_is_empty(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.db")
    summary = summarize(path, WHOLE, "provider")
    assert summary.totals["requests"] == 0 and summary.totals["cost_usd"] is None and summary.groups == []
    assert queries.recent(path, WHOLE).empty and queries.options(path, WHOLE) == []
    assert export.read_rows(path, WHOLE, FIELD_NAMES).fetch() == []
    assert not Path(path).exists()  # read-only: never creates the file
    sqlite3.connect(path).close()  # a file without the schema yet (the recorder is starting)
    assert summarize(path, WHOLE, "day").totals["requests"] == 0
    assert queries.recent(path, WHOLE).empty and export.read_rows(path, WHOLE, FIELD_NAMES).fetch() == []


def test_recent_and_options(known_db: str) -> None:
    recent = queries.recent(known_db, WHOLE, limit=2)
    assert list(recent["model"]) == ["gpt-4o", "claude-sonnet-4-5"]
    assert list(recent["tokens"]) == [0, 320]
    assert math.isnan(recent["cost_usd"][0])
    assert queries.options(known_db, WHOLE) == [
        ("anthropic", "claude-sonnet-4-5"),
        ("openai", "gpt-4o"),
        ("openai", "gpt-4o-mini"),
    ]


def test_read_rows_streams_ledger_columns_in_time_order(known_db: str) -> None:
    reader = export.read_rows(known_db, Query(T0, T0 + 2 * 86400, providers=("openai",)), FIELD_NAMES)
    rows = reader.fetch(1) + reader.fetch(10)
    assert reader.fetch() == []
    reader.close()
    reader.close()
    assert reader.columns == list(FIELD_NAMES)
    started = [r[FIELD_NAMES.index("started_at")] for r in rows]
    assert started == [T0 + 600, T0 + 86400]


def test_ledger_connection_is_read_only(known_db: str) -> None:
    with engine.reading(known_db) as conn:
        assert conn is not None
        with pytest.raises(DBAPIError, match="readonly|read-only"):
            conn.execute(text("DELETE FROM requests"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def random_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, list]]:
    events = random_events(3000, T0, T0 + 3 * 86400)
    if request.param == "sqlite":
        yield write_ledger(str(tmp_path_factory.mktemp("random") / "usage.db"), events), events
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = server.create_database()
    try:
        yield write_pg_ledger(server.url(name), events), events
    finally:
        engine.dispose(server.url(name))
        server.drop_database(name)


@pytest.mark.parametrize("lists", [True, False], ids=["latency-lists", "rows-only"])
@pytest.mark.parametrize("group", [None, "provider", "model", "hour", "day"])
def test_percentiles_match_numpy(
    random_db: tuple[str, list], monkeypatch: pytest.MonkeyPatch, lists: bool, group: str | None
) -> None:
    """From the latency lists, and as from a ledger without them (one pass on SQLite, percentile_cont on
    PostgreSQL)."""
    path, events = random_db
    if not lists:
        monkeypatch.setattr(queries, "LATENCY_LISTS", "no_latency_lists_here")
    q = Query(T0 + 5000, T0 + 2.5 * 86400, status="ok")
    chosen = [e for e in events if q.start <= e.started_at < q.end and e.status < 400]

    def key(e):  # noqa: ANN001, ANN202
        return {
            None: None,
            "provider": e.provider or "",
            "model": e.model,
            "hour": int(e.started_at // 3600),
            "day": int(e.started_at // 86400),
        }[group]

    expected: dict = {}
    for e in chosen:
        expected.setdefault(key(e), []).append(e.latency_ms)
    counts = {k: len(v) for k, v in expected.items()}
    got = queries.latency_percentiles(path, q, group, counts, overall=True)
    for k, values in expected.items():
        assert got[k] == pytest.approx(tuple(np.percentile(values, [50, 95])), abs=1e-9), k
    assert got[None] == pytest.approx(tuple(np.percentile([e.latency_ms for e in chosen], [50, 95])))


def test_rollup_path_equals_plain_path(random_db: tuple[str, list], tmp_path: Path) -> None:
    """Each engine's rollup path against SQLite's raw-row path: the same figures."""
    path, events = random_db
    plain = write_ledger(str(tmp_path / "plain.db"), events, rollup=False)
    q = Query(T0 + 1234.5, T0 + 2 * 86400 + 777, providers=("openai", "xai"), status="ok")
    for keys, bucket in [
        ([], None),
        (["provider", "model"], None),
        (["bucket", "provider"], 3600),
        (["bucket"], 86400),
        (["bucket", "status"], 10800),
    ]:
        a, b = queries.cube(path, q, keys, bucket), queries.cube(plain, q, keys, bucket)
        floats = ["cost_usd", "latency_sum_ms"]  # sums in another order: equal up to rounding
        assert len(a) > 1 or not keys
        assert a.drop(columns=floats).equals(b.drop(columns=floats)), keys
        assert np.allclose(a[floats], b[floats])


def test_rollup_triggers_follow_inserts_updates_deletes(tmp_path: Path) -> None:
    events = random_events(500, T0, T0 + 86400, seed=5)
    path = write_ledger(str(tmp_path / "t.db"), events)
    write_ledger(path, events[:100])  # replayed event_ids: INSERT OR IGNORE, the triggers must not fire
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE requests SET status = 503, latency_ms = 1 WHERE rowid % 7 = 0")
        conn.execute("DELETE FROM requests WHERE rowid % 5 = 0")
        conn.commit()
        before = conn.execute("SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4").fetchall()
        for statement in REBUILD_STATEMENTS:
            conn.execute(statement)
        after = conn.execute("SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4").fetchall()
    assert sum(r[4] for r in before) == 400
    assert [r[:11] + r[12:13] for r in before] == [r[:11] + r[12:13] for r in after]
    assert np.allclose([(r[11], r[13]) for r in before], [(r[11], r[13]) for r in after])
    with closing(sqlite3.connect(path)) as conn:
        assert ensure_rollups_sync(conn) is False  # consistent: nothing to rebuild


def test_parse_time() -> None:
    now = 1_000_000.0
    assert parse_time("24h", now) == now - 86400
    assert parse_time("30m", now) == now - 1800
    assert parse_time("7d", now) == now - 7 * 86400
    assert parse_time("now", now) == now
    assert parse_time("1736935200", now) == T0
    assert parse_time("2025-01-15T10:00:00Z", now) == T0
    assert parse_time("2025-01-15T10:00:00", now) == T0  # no zone: UTC
    assert parse_time("2025-01-15T11:00:00+01:00", now) == T0
    assert parse_time("2025-01-15", now) == T0 - 10 * 3600
    with pytest.raises(ValueError):
        parse_time("yesterday", now)


def test_parse_query_and_errors() -> None:
    q = parse_query(
        {
            "from": "2025-01-15",
            "to": "2025-01-16",
            "provider": "openai, xai,openai",
            "model": "gpt-4o",
            "status": "ERROR",
        }
    )
    assert q == Query(T0 - 36000, T0 + 50400, ("openai", "xai"), ("gpt-4o",), "error")
    assert parse_query({}, now=100_000.0) == Query(100_000.0 - 86400, 100_000.0)
    for params, param in [
        ({"from": "soon"}, "from"),
        ({"to": "x"}, "to"),
        ({"from": "1h", "to": "2h"}, "from"),
        ({"status": "fine"}, "status"),
        ({"status": "99"}, "status"),
    ]:
        with pytest.raises(ParamError) as info:
            parse_query(params)
        assert info.value.param == param
    assert parse_group_by("day") == "day" and parse_group_by("") is None
    with pytest.raises(ParamError):
        parse_group_by("week")


@pytest.mark.parametrize("isolation_level", [None, ""], ids=["autocommit", "default"])
def test_ensure_rollups_on_an_aiosqlite_connection(tmp_path: Path, isolation_level: str | None) -> None:
    """What the recorder calls in Store.open: builds the rollup of existing rows once, then is a no-op."""
    import asyncio

    import aiosqlite

    from services.recorder.rollups import ensure_rollups

    path = write_ledger(str(tmp_path / "usage.db"), known_events(), rollup=False)

    async def run() -> tuple[bool, bool]:
        async with aiosqlite.connect(path, isolation_level=isolation_level) as db:
            return await ensure_rollups(db), await ensure_rollups(db)

    assert asyncio.run(run()) == (True, False)
    assert summarize(path, WHOLE, "provider").groups[0]["requests"] == 2
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT sum(requests) FROM usage_hourly").fetchone()[0] == 3
        names = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")
        }
    assert {"requests_rollup_delete", "requests_lists_delete", "requests_hour_latency"} <= names
    assert "requests_rollup_insert" not in names  # schema version 4: kept per batch by the store


@pytest.mark.parametrize("rollup", [True, False], ids=["rollup", "plain"])
def test_rows_on_hour_boundaries_count_once(tmp_path: Path, rollup: bool) -> None:
    from tests.unit.dashboard.ledger_fixtures import event

    times = [T0 + 3599.999, T0 + 3600, T0 + 3600.5, T0 + 7199.999, T0 + 7200, T0 + 7200.25]
    path = write_ledger(str(tmp_path / "b.db"), [event(t, "openai", "m") for t in times], rollup=rollup)
    for start, end, expected in [
        (T0 + 300, T0 + 7200.5, 6),
        (T0 + 3600, T0 + 7200, 3),
        (T0 + 3600.2, T0 + 7200.1, 3),
        (T0 + 3599, T0 + 3601, 3),
        (T0 + 7200, T0 + 7300, 2),
    ]:
        q = Query(start, end)
        assert summarize(path, q).totals["requests"] == expected, (start - T0, end - T0)
        assert int(queries.cube(path, q, ["bucket"], 3600)["requests"].sum()) == expected


def attributed_events(n: int, seed: int) -> list:
    """Random events with random keys, clients and sessions (some missing)."""
    from dataclasses import replace

    rng = np.random.default_rng(seed)
    keys, clients, sessions = (
        [None, "alice", "bob"],
        [None, "claude-cli/2.1.332", "codex_exec/0.171.0"],
        [None, "s1", "s2", "s3"],
    )
    return [
        replace(
            e,
            api_key_name=keys[int(rng.integers(3))],
            client=clients[int(rng.integers(3))],
            session_id=sessions[int(rng.integers(4))],
        )
        for e in random_events(n, T0, T0 + 2 * 86400, seed=seed)
    ]


@pytest.mark.parametrize(
    "query",
    [
        WHOLE,
        Query(T0 + 1234.5, T0 + 86400 + 999.25),
        Query(T0 + 10, T0 + 1800),
        Query(T0 + 600, T0 + 9000, keys=("bob",)),
        Query(T0, T0 + 2 * 86400, clients=("claude-cli/2.1.332",), sessions=("s1", "s2")),
        Query(T0, T0 + 2 * 86400, providers=("openai",), keys=("alice",)),
    ],
)
@pytest.mark.parametrize("engine_name", ["sqlite", "postgresql"])
def test_attribution_from_the_rollup_equals_the_raw_rows(
    request: pytest.FixtureRequest, tmp_path: Path, query: Query, engine_name: str
) -> None:
    """SQLite's attribution rollup (or PostgreSQL, which has none) against SQLite's raw rows."""
    events = attributed_events(3000, seed=9)
    if engine_name == "sqlite":
        rolled = write_ledger(str(tmp_path / "rolled.db"), events)
    else:
        rolled = write_pg_ledger(request.getfixturevalue("pg_url"), events)
    plain = write_ledger(str(tmp_path / "plain.db"), events, rollup=False)
    a, b = queries.attribution(rolled, query), queries.attribution(plain, query)
    assert len(a) > 0 and list(a.columns) == list(queries.ATTRIBUTION_FRAME)
    keys = ["key", "client", "session"]
    a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
    assert (
        a.drop(columns=["cost_usd"])
        .astype(float, errors="ignore")
        .equals(b.drop(columns=["cost_usd"]).astype(float, errors="ignore"))
    )
    assert np.allclose(a["cost_usd"], b["cost_usd"])
    assert queries.attribution_options(rolled, query)[0] == ["alice", "bob"]


def test_attribution_rollup_follows_inserts_updates_deletes(tmp_path: Path) -> None:
    events = attributed_events(600, seed=3)
    path = write_ledger(str(tmp_path / "t.db"), events)
    write_ledger(path, events[:100])  # replays change nothing
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("UPDATE requests SET api_key_name = 'carol', cost_usd = 0.5 WHERE rowid % 7 = 0")
        conn.execute("UPDATE requests SET provider = NULL, status = 503, model = 'm' WHERE rowid % 11 = 0")
        conn.execute("DELETE FROM requests WHERE rowid % 5 = 0")
        conn.commit()
        order = "SELECT * FROM usage_attribution_hourly ORDER BY 1, 2, 3, 4, 5, 6, 7"
        before = conn.execute(order).fetchall()
        for statement in REBUILD_STATEMENTS:
            conn.execute(statement)
        after = conn.execute(order).fetchall()
    # hour, key, client, session, provider, model, status | requests, tokens, cost, priced | first_at, last_at
    assert sum(r[7] for r in before) == 480
    assert [r[:9] + r[10:11] for r in before] == [r[:9] + r[10:11] for r in after]
    assert np.allclose([r[9] for r in before], [r[9] for r in after])
    assert all(b[11] <= a[11] and b[12] >= a[12] for b, a in zip(before, after, strict=True))  # only widen
    with closing(sqlite3.connect(path)) as conn:
        assert ensure_rollups_sync(conn) is False
