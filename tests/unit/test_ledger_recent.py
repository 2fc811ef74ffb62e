"""The newest requests (``queries.recent``) and each key's spend (``queries.key_spend``) on SQLite: the same
rows as the plain ``ORDER BY started_at DESC, event_id DESC LIMIT`` over ``requests`` (PostgreSQL's answer)
and the same spend as the rows' sum, whatever the filter values, whatever wrote the rows (the recorder's
``Store`` or another tool, leaving the rollups behind), and from one snapshot while the recorder commits.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from services.recorder.store import _INSERT, Store, event_row
from shared.events import UsageEvent
from shared.ledger import engine, export, queries
from shared.ledger.params import Query
from tests.unit.dashboard.ledger_fixtures import T0, event, write_ledger

DAY = Query(T0, T0 + 86400)


def plain_recent(path: str, q: Query, limit: int) -> list[float]:
    """``started_at`` of the newest ``limit`` matching rows, by the plain query (sqlite3, no rollup)."""
    conditions, args = ["started_at >= ?", "started_at < ?"], [q.start, q.end]
    for name, values in (
        ("provider", q.providers),
        ("model", q.models),
        ("api_key_name", q.keys),
        ("session_id", q.sessions),
        ("client", q.clients),
    ):
        if values:
            conditions.append(f"{name} IN ({', '.join('?' * len(values))})")
            args += list(values)
    sql = (
        f"SELECT started_at FROM requests WHERE {' AND '.join(conditions)} "
        "ORDER BY started_at DESC, event_id DESC LIMIT ?"
    )
    with closing(sqlite3.connect(path)) as db:
        return [r[0] for r in db.execute(sql, [*args, limit]).fetchall()]


def add_rows_without_store(path: str, events: Sequence[UsageEvent]) -> None:
    """Rows inserted as another tool would (the sqlite3 shell, a merge script): the rollups miss them."""
    with closing(sqlite3.connect(path)) as db:
        db.executemany(_INSERT, [event_row(e) for e in events])
        db.commit()


@pytest.fixture
def statements(tmp_path: Path) -> Iterator[tuple[str, list[tuple[str, Any]]]]:
    """(ledger path, the statements the read side sends to it with their parameters)."""
    path = str(tmp_path / "usage.db")
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        sent.append((statement, parameters))

    reader = engine.engine(path)
    sa_event.listen(reader, "before_cursor_execute", record)
    try:
        yield path, sent
    finally:
        sa_event.remove(reader, "before_cursor_execute", record)
        engine.dispose(path)


def plans(path: str, sent: list[tuple[str, Any]]) -> list[str]:
    """SQLite's query plan of each statement sent that reads ``requests`` or a rollup."""
    out = []
    with closing(sqlite3.connect(path)) as db:
        for statement, parameters in sent:
            if "FROM requests" in statement or "FROM usage_" in statement:
                out.append(str(db.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()))
    return out


@pytest.mark.parametrize("field", ["keys", "clients", "sessions", "providers"])
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_a_blank_filter_value_gives_the_plain_querys_rows(tmp_path: Path, field: str, limit: int) -> None:
    """``''`` among a filter's values: the rollup holds NULL as ``''`` but ``IN ('')`` matches no NULL row;
    the newest hours' rows with NULL there must not use up the hours searched (they did: no row at all)."""
    path = str(tmp_path / "usage.db")
    column = {"keys": "api_key_name", "clients": "client", "sessions": "session_id"}.get(field)

    def made(hour: int, value: str | None) -> UsageEvent:
        at, rid = T0 + hour * 3600 + 10, f"{value}{hour}"
        if column is None:  # the provider filter
            return event(at, value, "gpt-4o", request_id=rid)
        return event(at, "openai", "gpt-4o", request_id=rid, **{column: value})

    # NULL in the newest ten hours, '' stored in the three oldest
    events = [made(h, None) for h in range(10, 20)] + [made(h, "") for h in range(3)]
    write_ledger(path, events)
    try:
        q = Query(DAY.start, DAY.end, **{field: ("",)})  # type: ignore[arg-type]
        got = list(queries.recent(path, q, limit)["started_at"])
        assert got == plain_recent(path, q, limit) == [T0 + h * 3600 + 10 for h in (2, 1, 0)][:limit]
    finally:
        engine.dispose(path)


def test_a_key_filter_and_the_key_spend_read_along_the_key_index(
    statements: tuple[str, list[tuple[str, Any]]],
) -> None:
    """A key used at :00 and :59 of each hour among many other rows: the key-filtered newest requests and
    the budget read seek ``requests_key_started`` (the attribution rollup's span of such a key is the whole
    hour: read along the hour's index, every row of it was scanned) and read no rollup."""
    path, sent = statements
    events = [
        event(
            T0 + h * 3600 + m * 60,
            "openai",
            "gpt-4o",
            request_id=f"r{h}-{m}",
            api_key_name="bob" if m in (0, 59) else "alice",
            cost_usd=0.5,
        )
        for h in range(4)
        for m in range(60)
    ]
    write_ledger(path, events)
    got = queries.recent(path, Query(DAY.start, DAY.end, keys=("bob",)), 3)
    assert list(got["started_at"]) == [T0 + 3 * 3600 + 59 * 60, T0 + 3 * 3600, T0 + 2 * 3600 + 59 * 60]
    assert queries.key_spend(path, {"bob": T0, "alice": T0 + 3600}) == {"bob": 4.0, "alice": 87.0}
    read = plans(path, sent)
    assert read and all("requests_key_started" in plan for plan in read), read
    assert not any("usage_attribution_hourly" in statement for statement, _ in sent)


def test_rows_the_rollups_miss_are_read_by_key(tmp_path: Path) -> None:
    """Rows written by another tool are in ``requests`` but not yet in the attribution rollup (until the
    recorder next opens the file): the budget read and the key-filtered table still count them."""
    path = str(tmp_path / "usage.db")
    write_ledger(
        path, [event(T0 + 60, "openai", "gpt-4o", request_id="a", api_key_name="alice", cost_usd=1.0)]
    )
    late = [
        event(T0 + 7200, "openai", "gpt-4o", request_id="b", api_key_name="alice", cost_usd=5.0),
        event(T0 + 3 * 3600, "openai", "gpt-4o", request_id="c", api_key_name="alice", cost_usd=0.5),
    ]
    add_rows_without_store(path, late)
    try:
        assert queries.key_spend(path, {"alice": T0}) == {"alice": 6.5}
        assert queries.key_spend(path, {"alice": T0 + 3600}) == {"alice": 5.5}  # on an hour
        q = Query(DAY.start, DAY.end, keys=("alice",))
        assert list(queries.recent(path, q, 5)["started_at"]) == [T0 + 3 * 3600, T0 + 7200, T0 + 60]
    finally:
        engine.dispose(path)


def test_the_filtered_newest_requests_come_from_one_snapshot(tmp_path: Path, monkeypatch: Any) -> None:
    """The recorder commits while ``recent`` reads the rollup's spans and then the hours' rows: the answer
    is the newest rows of one state of the ledger, before the commit or after it, never a mix (rows are
    written when requests finish, so a commit can add rows older than the newest)."""
    path = str(tmp_path / "usage.db")
    write_ledger(
        path,
        [
            event(T0 + 100, "openai", "gpt-4o", request_id="a"),
            event(T0 + 3000, "openai", "gpt-4o", request_id="b"),
        ],
    )
    q = Query(T0, T0 + 3600, providers=("openai",))
    before = plain_recent(path, q, 2)
    assert before == [T0 + 3000, T0 + 100]

    async def commit() -> None:
        store = await Store.open(path)
        try:
            await store.insert_many(
                [
                    event(T0 + 3500, "openai", "gpt-4o", request_id="newest"),  # after the hour's last_at
                    event(T0 + 2000, "openai", "gpt-4o", request_id="inside"),  # inside its span
                ]
            )
        finally:
            await store.close()

    real = queries.fetch
    committed: list[bool] = []

    def fetch_after_a_commit(conn: Any, sql: Any, params: Any = None) -> list[tuple[Any, ...]]:
        if not committed:  # between the spans read and the first hour's rows
            committed.append(True)
            asyncio.run(commit())
        return real(conn, sql, params)

    monkeypatch.setattr(queries, "fetch", fetch_after_a_commit)
    try:
        got = list(queries.recent(path, q, 2)["started_at"])
        monkeypatch.setattr(queries, "fetch", real)
        after = plain_recent(path, q, 2)
        assert committed and after == [T0 + 3500, T0 + 3000]
        assert got in (before, after), got
        assert list(queries.recent(path, q, 2)["started_at"]) == after
    finally:
        engine.dispose(path)


def test_range_reads_seek_the_hour_index_without_a_started_at_index(
    statements: tuple[str, list[tuple[str, Any]]],
) -> None:
    """Schema version 10 has no index on ``started_at`` alone (it cost the recorder's writer about 4,000
    instructions a row): every read of ``requests`` over a time range (the partial hours of the figures and
    of the attribution, a range of minutes, figures by key, the newest requests, percentiles by key, the
    CSV export) seeks
    ``requests_hour_latency`` by the hour, and neither the newest requests nor the CSV export sort the
    whole range; the answers are the plain query's."""
    path, sent = statements
    events = [
        event(T0 + h * 3600 + m * 60 + 7.5, "openai", "gpt-4o", request_id=f"r{h}-{m}", latency_ms=m + 1.0)
        for h in range(5)
        for m in range(0, 60, 3)
    ]
    write_ledger(path, events)
    with closing(sqlite3.connect(path)) as db:
        indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "requests_started_at" not in indexes and "requests_hour_latency" in indexes
    q = Query(T0 + 1000.25, T0 + 4 * 3600 + 1000.25)
    figures = queries.cube(path, q)
    assert int(figures["requests"].iloc[0]) == sum(q.start <= e.started_at < q.end for e in events)
    short = queries.cube(path, Query(T0 + 7200 + 100, T0 + 7200 + 1000), ["provider"])
    assert int(short["requests"].iloc[0]) == 5  # minutes 3, 6, 9, 12 and 15
    queries.cube(path, q, ["key"])
    assert list(queries.recent(path, q, 7)["started_at"]) == plain_recent(path, q, 7)
    who = queries.attribution(path, q)
    assert int(who["requests"].sum()) == int(figures["requests"].iloc[0])
    queries.latency_percentiles(path, q, "key", {"": 1})
    reader = export.read_rows(path, q, ["started_at"])  # the CSV export, in time order
    try:
        exported = [started for (started,) in reader.fetch(10_000)]
    finally:
        reader.close()
    assert exported == sorted(e.started_at for e in events if q.start <= e.started_at < q.end)
    read = [plan for plan in plans(path, sent) if "requests" in plan and "usage_" not in plan]
    assert len(read) >= 8, read
    for plan in read:
        assert "INDEX requests_hour_latency (<expr>" in plan and "SEARCH requests" in plan, plan
        assert "SCAN requests" not in plan and "FOR ORDER BY" not in plan.replace(
            "RIGHT PART OF ORDER BY", ""
        ), plan
