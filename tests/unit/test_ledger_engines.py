"""Same answers on both engines: the seeded events (``services/recorder/seed.py``, with gateway keys, clients
and sessions added) written into SQLite by the recorder's ``Store`` and into PostgreSQL by its ``PgStore``;
every read of ``/usage``, the CSV export and the dashboard compared between the two, exactly (floats to
1e-9)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from services.dashboard import data
from services.recorder.seed import generate
from shared.events import FIELD_NAMES, UsageEvent
from shared.ledger import engine, export, queries
from shared.ledger.params import GROUP_KEYS, Query
from shared.ledger.summary import summarize
from tests.pgserver import PgServer
from tests.unit.dashboard.ledger_fixtures import T0, write_ledger, write_pg_ledger

END = T0 + 3 * 86400
TOLERANCE = 1e-9
# /usage rounds figures (milliseconds to 3 decimals, the rest to 6): sums that differ in their 15th digit
# (added in another order) may round to neighbouring values, so rounded answers agree to one step of that
# rounding; the unrounded figures under them (cube, percentiles) agree to TOLERANCE.
ROUNDED = -1.0  # assert_same's tolerance for rounded answers: one rounding step, by the figure's name


def _step(where: str, tolerance: float) -> float:
    if tolerance != ROUNDED:
        return tolerance
    return 1.0001e-3 if where.endswith("_ms") else 1.0001e-6


def seeded_events(n: int = 6000) -> list[UsageEvent]:
    rng = np.random.default_rng(14)
    keys, clients, sessions = (
        [None, "alice", "bob"],
        [None, "claude-cli/2.1.332", "codex_exec/0.171.0"],
        [
            None,
            "s1",
            "s2",
            "s3",
        ],
    )
    return [
        replace(
            e,
            provider=None if i % 97 == 0 else e.provider,  # some requests reached no provider
            api_key_name=keys[int(rng.integers(3))],
            client=clients[int(rng.integers(3))],
            session_id=sessions[int(rng.integers(4))],
        )
        for i, e in enumerate(generate(n, T0, END, rng))
    ]


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """(SQLite path, PostgreSQL URL) holding the same seeded events."""
    events = seeded_events()
    path = write_ledger(str(tmp_path_factory.mktemp("engines") / "usage.db"), events)
    name = pg_server.create_database()
    url = write_pg_ledger(pg_server.url(name), events)
    try:
        yield path, url
    finally:
        engine.dispose(url)
        pg_server.drop_database(name)


QUERIES = [
    Query(T0, END),
    Query(T0 + 1234.5, T0 + 2 * 86400 + 777.25),  # partial hours at both ends
    Query(T0 + 600, T0 + 2400),  # inside one hour
    Query(T0, END, providers=("openai", "anthropic"), status="ok"),
    Query(T0 + 5000, END - 5000, models=("gpt-4o",), status="error"),
    Query(T0, END, status="429"),
    Query(T0, END, keys=("alice",), clients=("claude-cli/2.1.332",)),
    Query(T0 + 100, END, sessions=("s1", "s3"), providers=("openai",)),
]


def assert_same(a: Any, b: Any, where: str = "", tolerance: float = TOLERANCE) -> None:
    """Equal, floats to ``tolerance`` (relative or absolute), NaN equal to NaN."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}", tolerance)
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]", tolerance)
    elif isinstance(a, float) or isinstance(b, float):
        assert a is not None and b is not None, (where, a, b)
        if math.isnan(a) or math.isnan(b):
            assert math.isnan(a) and math.isnan(b), (where, a, b)
        else:
            assert a == pytest.approx(b, rel=TOLERANCE, abs=_step(where, tolerance)), where
    else:
        assert a == b, (where, a, b)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in frame.to_dict("records")
    ]


@pytest.mark.parametrize("q", QUERIES, ids=range(len(QUERIES)))
@pytest.mark.parametrize("group_by", [None, *GROUP_KEYS])
def test_usage_summaries_are_the_same(ledgers: tuple[str, str], q: Query, group_by: str | None) -> None:
    sqlite, postgres = ledgers
    a, b = summarize(sqlite, q, group_by), summarize(postgres, q, group_by)
    assert a.totals["requests"] > 0 or q.end - q.start < 3600
    assert_same(a.totals, b.totals, "totals", ROUNDED)
    assert_same(a.groups, b.groups, "groups", ROUNDED)


@pytest.mark.parametrize("q", QUERIES, ids=range(len(QUERIES)))
@pytest.mark.parametrize("group", [None, "provider", "model", "hour", "day", "key", "session", "client"])
def test_figures_and_percentiles_are_the_same(ledgers: tuple[str, str], q: Query, group: str | None) -> None:
    """What /usage and the dashboard are made of, before rounding."""
    sqlite, postgres = ledgers
    keys, bucket_s = ([] if group is None else ["bucket" if group in ("hour", "day") else group]), None
    if group in ("hour", "day"):
        bucket_s = 3600 if group == "hour" else 86400
    a, b = queries.cube(sqlite, q, keys, bucket_s), queries.cube(postgres, q, keys, bucket_s)
    assert_same(records(a), records(b), "cube")
    counts = {None: int(a["requests"].sum())} if group is None else {}
    for record in records(a):
        key = record[keys[0]] if keys else None
        counts[key // bucket_s if bucket_s else key] = int(record["requests"])
    pa = queries.latency_percentiles(sqlite, q, group, counts, overall=True)
    pb = queries.latency_percentiles(postgres, q, group, counts, overall=True)
    assert_same(pa, pb, "percentiles")


@pytest.mark.parametrize("q", QUERIES, ids=range(len(QUERIES)))
def test_dashboard_reads_are_the_same(ledgers: tuple[str, str], q: Query) -> None:
    sqlite, postgres = ledgers
    a, b = data.load_overview(sqlite, q), data.load_overview(postgres, q)
    assert a.bucket_s == b.bucket_s and a.ledger_exists and b.ledger_exists
    assert_same(a.totals, b.totals, "totals", ROUNDED)
    for name in ("series", "models", "latency", "attribution"):
        assert_same(records(getattr(a, name)), records(getattr(b, name)), name)
    assert_same(records(data.sessions(a.attribution)), records(data.sessions(b.attribution)), "sessions")
    assert_same(records(data.recent_rows(sqlite, q)), records(data.recent_rows(postgres, q)), "recent")
    for providers in (None, ["openai"]):
        assert data.filter_options(sqlite, q, providers) == data.filter_options(postgres, q, providers)
    assert data.who_options(sqlite, q) == data.who_options(postgres, q)


RECENT_QUERIES = [
    Query(T0 + 1234.5, END - 777.25, models=("x-ai/grok-4",)),  # partial hours at both ends
    Query(T0 + 1234.5, END - 777.25, models=("x-ai/grok-4",), status="error"),  # a few rows in all
    Query(T0, END, providers=("anthropic", "xai"), status="ok"),
    Query(T0 + 600, T0 + 2400, models=("gpt-4o-mini",)),  # inside one hour
    Query(T0, T0 + 10 * 3600 + 300, status="ok"),  # its last hour's rows mostly after its end
    Query(T0, END, status="429"),
    Query(T0, END, models=("no-such-model",)),
    Query(T0, END, sessions=("s1",), providers=("openai",)),
    Query(T0 + 1234.5, END - 777.25, clients=("claude-cli/2.1.332",), status="error"),
    Query(T0, END, keys=("alice",), models=("x-ai/grok-4",)),
    Query(T0, END, keys=("bob",)),  # along the key index
    Query(T0 + 1234.5, END - 777.25, keys=("",)),  # '' matches no NULL row (the rollup's '' does)
    Query(T0, END, clients=("", "claude-cli/2.1.332"), status="error"),
    Query(T0, END, providers=("",)),
]


@pytest.mark.parametrize("q", RECENT_QUERIES, ids=range(len(RECENT_QUERIES)))
@pytest.mark.parametrize("limit", [1, 7, 50, 400])
def test_filtered_newest_requests_are_the_same(ledgers: tuple[str, str], q: Query, limit: int) -> None:
    """SQLite reads the newest filtered rows hour by hour in the spans its attribution rollup gives (no
    per-model or per-provider index); PostgreSQL along its indexes: the same rows, whatever the limit, the
    filters and the range's edges."""
    sqlite, postgres = ledgers
    a, b = records(queries.recent(sqlite, q, limit)), records(queries.recent(postgres, q, limit))
    assert_same(a, b, "recent")
    reader = export.read_rows(postgres, q, ("started_at",))
    try:
        matching = sum(len(batch) for batch in iter(lambda: reader.fetch(1000), []))
    finally:
        reader.close()
    assert len(a) == min(limit, matching)


@pytest.fixture(scope="module")
def tied_ledgers(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[tuple[str, str]]:
    """(SQLite path, PostgreSQL URL) whose requests share their ``started_at`` in fours (two keys, two
    providers), written in descending ``event_id`` order, so that storage order is not the tie order;
    ``input_tokens`` numbers each request."""
    events = [
        UsageEvent(
            request_id=f"r{i}",
            endpoint="/v1/chat/completions",
            client_format="openai_chat",
            model="gpt-4o",
            provider=("openai", "xai")[i % 2],
            api_key_name=("alice", "bob")[i % 3 == 0],
            started_at=T0 + 600 * (i // 4) + (1800.5 if i >= 12 else 0.0),
            status=200,
            latency_ms=10.0,
            input_tokens=i,
            event_id=f"{(i * 7919) % 101:032x}",
        )
        for i in range(24)
    ]
    events.sort(key=lambda e: e.event_id, reverse=True)
    path = write_ledger(str(tmp_path_factory.mktemp("ties") / "usage.db"), events)
    name = pg_server.create_database()
    url = write_pg_ledger(pg_server.url(name), events)
    try:
        yield path, url
    finally:
        engine.dispose(url)
        engine.dispose(path)
        pg_server.drop_database(name)


TIE_QUERIES = [
    Query(T0, END),
    Query(T0, END, providers=("openai",)),  # SQLite: hour by hour along the attribution rollup's spans
    Query(T0, END, keys=("alice",)),  # along the key index
    Query(T0, END, status="ok"),
]


@pytest.mark.parametrize("q", TIE_QUERIES, ids=range(len(TIE_QUERIES)))
@pytest.mark.parametrize("limit", [1, 2, 4, 7, 50])
def test_newest_requests_with_the_same_start_are_in_event_id_order(
    tied_ledgers: tuple[str, str], q: Query, limit: int
) -> None:
    """Requests that started at the same time come newest ``event_id`` first on both engines, so a limit
    that cuts through a tie keeps the same rows on both (before: SQLite's storage order, PostgreSQL's
    plan's)."""
    sqlite, postgres = tied_ledgers
    a, b = records(queries.recent(sqlite, q, limit)), records(queries.recent(postgres, q, limit))
    assert_same(a, b, "recent")
    reader = export.read_rows(sqlite, q, ("started_at", "event_id", "input_tokens"))
    try:
        rows = [r for batch in iter(lambda: reader.fetch(1000), []) for r in batch]
    finally:
        reader.close()
    expected = sorted(rows, key=lambda r: (r[0], r[1]), reverse=True)[:limit]
    assert [r["tokens"] for r in a] == [r[2] for r in expected]
    assert len({r[0] for r in rows}) <= len(rows) // 2  # the matching rows do hold ties


def attribution_from_rows(ledger: str, q: Query) -> list[dict[str, Any]]:
    """:func:`queries.attribution` recomputed here from the ledger's rows (the export's reader, which applies
    the range and filters), without any rollup."""
    names = ("api_key_name", "client", "session_id", "input_tokens", "output_tokens", "cache_read_tokens")
    reader = export.read_rows(ledger, q, (*names, "cache_write_tokens", "cost_usd", "started_at"))
    try:
        rows = [row for batch in iter(lambda: reader.fetch(700), []) for row in batch]
    finally:
        reader.close()
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for key, client, session, i, o, cr, cw, cost, started in rows:
        g = groups.setdefault(
            (key or "", client or "", session or ""),
            {
                "requests": 0,
                "tokens": 0,
                "cost_usd": 0.0,
                "priced": 0,
                "first_at": started,
                "last_at": started,
            },
        )
        g["requests"] += 1
        g["tokens"] += i + o + cr + cw
        g["cost_usd"] += cost or 0.0
        g["priced"] += cost is not None
        g["first_at"], g["last_at"] = min(g["first_at"], started), max(g["last_at"], started)
    return [{"key": k, "client": c, "session": s, **figures} for (k, c, s), figures in sorted(groups.items())]


ATTRIBUTION_QUERIES = [
    *QUERIES,
    Query(T0 + 1234.5, END - 777.25, providers=("anthropic",), status="200"),  # partial hours, filtered
    Query(T0 + 3599.5, T0 + 7200.5, models=("gpt-4o", "claude-sonnet-4-5")),  # one whole hour, two edges
    Query(T0 + 10.0, END, status="error", keys=("bob",), clients=("codex_exec/0.171.0",)),
]


@pytest.mark.parametrize("q", ATTRIBUTION_QUERIES, ids=range(len(ATTRIBUTION_QUERIES)))
def test_attribution_equals_the_rows_grouped(ledgers: tuple[str, str], q: Query) -> None:
    """Cost by key, client and session under every filter (the rollup's whole hours and the raw edges) is
    the rows' own grouping, on both engines."""
    for ledger in ledgers:
        want = attribution_from_rows(ledger, q)
        assert want
        assert_same(records(queries.attribution(ledger, q)), want, "attribution")


LONG = [  # more than 200 half-hours: the overview's buckets are whole hours, its series and models one read
    Query(T0 - 2 * 86400 + 1234.5, END - 777.25),
    Query(T0 - 2 * 86400, END, providers=("openai", "anthropic"), status="ok"),
    Query(T0 - 5 * 86400, END - 4000, models=("gpt-4o",), keys=("bob",)),
]


@pytest.mark.parametrize("q", LONG, ids=range(len(LONG)))
def test_one_read_gives_the_overview_series_and_models(ledgers: tuple[str, str], q: Query) -> None:
    views = [data.load_overview(ledger, q) for ledger in ledgers]
    for ledger, view in zip(ledgers, views, strict=True):
        assert view.bucket_s >= 3600 and not view.series.empty
        models = queries.cube(ledger, q, ["provider", "model"])
        assert_same(records(view.models), records(models), "models")
        series = queries.cube(ledger, q, ["bucket", "provider"], view.bucket_s)
        assert_same(records(view.series), records(series), "series")
    for name in ("series", "models", "latency", "attribution"):
        assert_same(records(getattr(views[0], name)), records(getattr(views[1], name)), name)


@pytest.mark.parametrize("bucket_s", [60, 900, 3600, 10800, 86400])
def test_cube_buckets_are_the_same(ledgers: tuple[str, str], bucket_s: int) -> None:
    sqlite, postgres = ledgers
    q = Query(T0 + 1234.5, T0 + 2 * 86400 + 777.25)
    keys = ["bucket", "provider", "status"]
    a, b = queries.cube(sqlite, q, keys, bucket_s), queries.cube(postgres, q, keys, bucket_s)
    assert len(a) > 10
    assert_same(records(a), records(b), f"cube {bucket_s}")


@pytest.mark.parametrize("q", QUERIES[:5], ids=range(5))
def test_csv_rows_are_the_same(ledgers: tuple[str, str], q: Query) -> None:
    sqlite, postgres = ledgers
    rows = []
    for ledger in ledgers:
        reader = export.read_rows(ledger, q, FIELD_NAMES)
        try:
            batches = iter(lambda r=reader: r.fetch(700), [])
            rows.append([row for batch in batches for row in batch])
        finally:
            reader.close()
    assert len(rows[0]) > 0 or q.end - q.start < 3600
    assert_same(rows[0], rows[1], "rows")


@pytest.mark.parametrize(
    "since",
    [
        {"alice": T0 + 3600.5, "bob": T0, "carol": T0},
        {"alice": END - 5400.25, "bob": T0 + 86400 - 1, "": T0},  # mid-hour times; '' is no key (NULL)
        {"alice": T0 + 7200, "bob": T0 + 86400},  # on the hour (budgets start at UTC midnight)
        {"bob": END + 10.0},
    ],
)
def test_key_spend_is_the_same(ledgers: tuple[str, str], since: dict[str, float]) -> None:
    """Both engines sum the rows along their key index: the same spend, for mid-hour, on-the-hour and
    future times."""
    a, b = (queries.key_spend(ledger, since) for ledger in ledgers)
    assert all(a[name] > 0 for name in since if name in ("alice", "bob") and since[name] < END)
    assert a.get("carol", 0.0) == 0.0 and a.get("", 0.0) == 0.0
    assert_same(a, b, "key_spend")


def test_postgres_reads_are_read_only(ledgers: tuple[str, str]) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with engine.reading(ledgers[1]) as conn:
        assert conn is not None
        with pytest.raises(DBAPIError, match="read-only"):
            conn.execute(text("DELETE FROM requests"))


def test_postgres_read_sessions_have_no_jit_and_in_memory_sorts(ledgers: tuple[str, str]) -> None:
    from sqlalchemy import text

    with engine.reading(ledgers[1]) as conn:
        assert conn is not None
        assert conn.execute(text("SHOW jit")).scalar() == "off"
        assert conn.execute(text("SHOW work_mem")).scalar() == "32MB"


def test_postgres_percentiles_of_whole_hours_come_from_the_latency_lists(
    ledgers: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL's percentiles by model over whole hours come from the latency lists (percentile_cont
    would sort the whole range), and still equal SQLite's."""
    sqlite, postgres = ledgers

    def refuse(*args: Any) -> None:
        raise AssertionError("percentile_cont used where the latency lists serve")

    monkeypatch.setattr(queries, "_postgres_percentiles", refuse)
    q = Query(T0, END)
    counts = {k: int(n) for k, n in queries.cube(sqlite, q, ["model"]).set_index("model")["requests"].items()}
    a = queries.latency_percentiles(sqlite, q, "model", counts, overall=True)
    assert_same(a, queries.latency_percentiles(postgres, q, "model", counts, overall=True), "listed")
    assert all(not math.isnan(v) for pair in a.values() for v in pair)


def test_unreachable_postgres_raises_without_the_password(tmp_path: Path) -> None:
    from sqlalchemy.exc import OperationalError

    url = "postgresql://ekai:s3cret@127.0.0.1:1/nowhere"
    with pytest.raises(OperationalError) as info:
        summarize(url, QUERIES[0])
    assert engine.describe(url) == "postgresql://ekai:***@127.0.0.1:1/nowhere"
    assert "s3cret" not in str(info.value.orig)
    engine.dispose(url)
