"""The latency lists (schema version 6): each (hour, provider, model, status) group's latencies, kept per
batch by the store, compacted, repaired at open, and the exact percentiles read from them.

Expected values are recomputed here from the ``requests`` rows with numpy, independently of
``services/recorder/latency_lists.py`` and ``shared/ledger/queries.py``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.recorder.batch_rollup import batch_groups
from services.recorder.latency_lists import append_plan, run_sync
from services.recorder.store import COLUMNS, MIGRATIONS, SCHEMA_VERSION, Store, event_row, migrate
from shared.events import UsageEvent
from shared.ledger import queries
from shared.ledger.params import Query
from tests.unit.recorder.test_recorder_rollups import (
    T0,
    _events,
    assert_rollups_exact,
    event,
    query,
    write_v3_ledger,
)

Group = tuple[int, str, str, int]
GROUP_BYS = (None, "provider", "model", "hour", "day")
ROWS = "SELECT started_at, ifnull(provider, ''), model, status, latency_ms FROM requests"


def rows_by_group(path: str) -> dict[Group, list[float]]:
    found: dict[Group, list[float]] = {}
    for started, provider, model, status, latency in query(path, ROWS):
        found.setdefault((int(started // 3600), provider, model, status), []).append(latency)
    return {k: sorted(v) for k, v in found.items()}


def lists_by_group(path: str) -> dict[Group, list[float]]:
    found: dict[Group, list[float]] = {}
    for *key, n, blob in query(path, "SELECT hour, provider, model, status, n, latencies FROM latency_lists"):
        values = np.frombuffer(blob, dtype="<f8").tolist()
        assert len(values) == n
        found.setdefault((key[0], key[1], key[2], key[3]), []).extend(values)
    return {k: sorted(v) for k, v in found.items()}


def parts(path: str) -> int:
    return int(query(path, "SELECT count(*) FROM latency_lists")[0][0])


def write(path: str, batches: Sequence[Sequence[UsageEvent]]) -> int:
    async def run() -> int:
        store = await Store.open(path)
        try:
            return sum([await store.insert_many(batch) for batch in batches])
        finally:
            await store.close()

    return asyncio.run(run())


def selected(q: Query, status: int, provider: str, model: str) -> bool:
    if q.providers and provider not in q.providers or q.models and model not in q.models:
        return False
    if q.status == "ok":
        return status < 400
    if q.status == "error":
        return status >= 400
    return q.status is None or status == int(q.status)


def grouped_latencies(
    rows: Iterable[Sequence[Any]], q: Query, group: str | None
) -> tuple[dict[Any, list[float]], list[float]]:
    """The latencies of the ``rows`` (as ``ROWS`` selects them) that ``q`` selects, by percentile group
    (the keys ``latency_percentiles`` gives), and all of them."""
    groups: dict[Any, list[float]] = {}
    everything: list[float] = []
    for started, provider, model, status, latency in rows:
        if q.start <= started < q.end and selected(q, status, provider, model):
            key = {
                None: None,
                "provider": provider,
                "model": model,
                "hour": int(started // 3600),
                "day": int(started // 86400),
            }[group]
            groups.setdefault(key, []).append(latency)
            everything.append(latency)
    return groups, everything


def assert_percentiles_exact(path: str, q: Query, group: str | None) -> None:
    """latency_percentiles == numpy over the selected rows, per group and overall."""
    groups, everything = grouped_latencies(query(path, ROWS), q, group)
    counts = {k: len(v) for k, v in groups.items()}
    got = queries.latency_percentiles(path, q, group, counts, overall=True)
    for key, values in groups.items():
        assert got[key] == tuple(np.percentile(values, [50, 95])), (group, key)
    if everything:
        assert got[None] == tuple(np.percentile(everything, [50, 95])), group
    else:
        assert not counts


def migrated_to(path: str, version: int) -> int:
    """The ledger at ``path`` migrated up to schema ``version`` (the first ``version`` migrations)."""

    async def run() -> int:
        db = await aiosqlite.connect(path, isolation_level=None)
        try:
            return await migrate(db, MIGRATIONS[:version])
        finally:
            await db.close()

    return asyncio.run(run())


def test_replays_add_nothing_and_each_batch_appends_one_part_per_group(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    a, b, c = event(1), event(2, status=429), event(3)
    assert write(path, [[a, b], [b, c, c, a], [a, b, c]]) == 3
    assert lists_by_group(path) == rows_by_group(path)
    # the current hour is not compacted: the 200 group has a part from each batch that inserted into it
    assert query(path, "SELECT status, count(*), sum(n) FROM latency_lists GROUP BY status ORDER BY 1") == [
        (200, 2, 2),
        (429, 1, 1),
    ]
    write(path, [])  # open compacts every group
    assert query(path, "SELECT status, count(*), sum(n) FROM latency_lists GROUP BY status ORDER BY 1") == [
        (200, 1, 2),
        (429, 1, 1),
    ]


def test_a_batch_grouped_in_python_equals_its_rows_read_back(tmp_path: Path) -> None:
    """batch_groups' latencies (an all-new batch, no read-back) gives the groups append_plan reads from SQLite."""
    batch = [
        event(1),
        event(2, provider=None, status=502),
        event(3, model="m", latency_ms=0.25),
        event(4, started_at=T0 + 3600.5),
        event(5, started_at=T0 - 0.5),  # the hour before: truncated like CAST(... AS INTEGER)
        event(6),
    ]
    rows = [event_row(e) for e in batch]
    path = str(tmp_path / "usage.db")
    write(path, [])  # an empty ledger at the current schema
    with closing(sqlite3.connect(path)) as conn:
        conn.executemany(
            f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", rows
        )
        read_back = run_sync(conn, append_plan(0))
        stored = {k: sorted(v) for k, v in lists_by_group_conn(conn).items()}
    grouped = batch_groups(rows).latencies
    assert set(grouped) == read_back
    assert {k: sorted(v) for k, v in grouped.items()} == stored
    assert grouped[(int(T0 // 3600), "", "claude-x", 502)] == [102.0]


def lists_by_group_conn(conn: sqlite3.Connection) -> dict[Group, list[float]]:
    found: dict[Group, list[float]] = {}
    for *key, _, blob in conn.execute(
        "SELECT hour, provider, model, status, n, latencies FROM latency_lists"
    ):
        found.setdefault((key[0], key[1], key[2], key[3]), []).extend(
            np.frombuffer(blob, dtype="<f8").tolist()
        )
    return found


def test_a_finished_hours_parts_are_compacted_into_one_row(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")

    async def run() -> list[int]:
        store = await Store.open(path)
        try:
            await store.insert_many([event(1), event(2, model="m")])
            await store.insert_many([event(3), event(4, model="m")])
            seen = [parts(path)]  # the current hour: one part per group and batch
            await store.insert_many(
                [event(5, started_at=T0 + 3600.5)]
            )  # the next hour: the first is finished
            seen.append(parts(path))
            return seen
        finally:
            await store.close()

    assert asyncio.run(run()) == [4, 3]
    assert lists_by_group(path) == rows_by_group(path)


def test_a_version_5_ledger_is_upgraded_and_backfilled(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    old = [
        event(
            i, provider=(None, "openai", "anthropic")[i % 3], model=f"m{i % 2}", status=(200, 429)[i % 4 == 0]
        )
        for i in range(0, 9000, 7)
    ]
    write_v3_ledger(path, old)

    assert migrated_to(path, 5) == 5
    with closing(sqlite3.connect(path)) as conn:  # the latency-ordered indexes version 5 had
        conn.executescript(
            "CREATE INDEX IF NOT EXISTS requests_latency ON requests (latency_ms, started_at, provider, model, status);"
            "CREATE INDEX IF NOT EXISTS requests_provider_latency ON requests (provider, latency_ms, started_at, model, status);"
            "CREATE INDEX IF NOT EXISTS requests_model_latency ON requests (model, latency_ms, started_at, provider, status);"
            "CREATE INDEX IF NOT EXISTS requests_day_latency "
            "ON requests (CAST(started_at / 86400 AS INTEGER), latency_ms, started_at, provider, model, status);"
        )
    assert write(path, [[event(20_000, provider="xai")]]) == 1
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(10,)]
    indexes = {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "requests_hour_latency" in indexes
    assert not indexes & {"requests_latency", "requests_provider_latency", "requests_model_latency"}
    assert "requests_day_latency" not in indexes
    assert not indexes & {"requests_provider_started", "requests_model_started"}  # schema version 8
    assert (
        "requests_key_started" in indexes
    )  # kept by schema version 8 (key_spend, key filters), partial since 9
    assert lists_by_group(path) == rows_by_group(path)
    assert parts(path) == len(rows_by_group(path))  # backfilled and compacted: one row per group
    assert_rollups_exact(path)
    for group in GROUP_BYS:
        assert_percentiles_exact(path, Query(T0 - 10, T0 + 3 * 3600), group)


def test_lists_that_disagree_are_read_from_the_rows_then_rebuilt_at_open(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    events = [event(i, model=f"m{i % 3}", status=(200, 500)[i % 5 == 0]) for i in range(0, 3 * 3600, 11)]
    write(path, [events[:100], events[100:]])
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM latency_lists WHERE model = 'm1' AND hour = ?", (int(T0 // 3600),))
        conn.execute("UPDATE requests SET latency_ms = latency_ms * 3 WHERE rowid % 7 = 0")
        conn.execute("DELETE FROM requests WHERE rowid % 13 = 0")
        conn.commit()
    assert lists_by_group(path) != rows_by_group(path)
    for q in (
        Query(T0, T0 + 3 * 3600),
        Query(T0 + 100.5, T0 + 2 * 3600 + 7, status="ok", models=("m1", "m2")),
    ):
        for group in GROUP_BYS:
            assert_percentiles_exact(path, q, group)
    write(path, [])
    assert lists_by_group(path) == rows_by_group(path)


# --- property: random batches, resends, deletes and updates ------------------------------------------

_queries = st.builds(
    lambda start, width, providers, models, status: Query(
        T0 + start, T0 + start + width, providers, models, status
    ),
    st.sampled_from([-600.0, 0.0, 3600.0]) | st.floats(-600, 3 * 3600),
    st.sampled_from([3600.0, 7200.0, 3 * 3600.0 + 600]) | st.floats(1, 4 * 3600),
    st.sampled_from([(), ("openai",), ("anthropic", "openai")]),
    st.sampled_from([(), ("m1",)]),
    st.sampled_from([None, "ok", "error", "429"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_lists_equal_the_rows_and_percentiles_equal_numpy(tmp_path_factory: Any, data: st.DataObject) -> None:
    fields = data.draw(st.lists(_events, min_size=1, max_size=40), label="events")
    events = [event(i, **f) for i, f in enumerate(fields)]
    resends = data.draw(st.lists(st.sampled_from(events), max_size=10), label="resends")
    sent = data.draw(st.permutations(events + resends), label="order")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(sent) - 1)), max_size=6), label="cuts"))
    batches = [sent[a:b] for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=True)]
    path = str(tmp_path_factory.mktemp("lists") / "usage.db")
    assert write(path, batches) == len(events)
    assert lists_by_group(path) == rows_by_group(path)

    edits = data.draw(
        st.lists(st.sampled_from(["delete", "latency", "status", "hour"]), max_size=3), label="edits"
    )
    with closing(sqlite3.connect(path)) as conn:
        for i, edit in enumerate(edits):
            where = f"WHERE rowid % {i + 2} = 0"
            conn.execute(
                {
                    "delete": f"DELETE FROM requests {where}",
                    "latency": f"UPDATE requests SET latency_ms = latency_ms + 0.5 {where}",
                    "status": f"UPDATE requests SET status = 429 {where}",
                    "hour": f"UPDATE requests SET started_at = started_at + 3600 {where}",
                }[edit]
            )
        conn.commit()
    lists, rows = lists_by_group(path), rows_by_group(path)
    for key, values in lists.items():  # all of a group's latencies, or fewer (dropped): never more
        assert values == rows.get(key) or len(values) < len(rows.get(key, []))

    for q in data.draw(st.lists(_queries, min_size=1, max_size=3), label="queries"):
        for group in GROUP_BYS:
            assert_percentiles_exact(path, q, group)

    write(path, [])  # open: the lists of the edited groups rebuilt, every group compacted
    assert lists_by_group(path) == rows_by_group(path)
    assert parts(path) == len(rows_by_group(path))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(0, 1e6) | st.sampled_from([0.0, 1.5, 250.0]), min_size=1, max_size=300))
def test_exact_quantiles_are_numpys_bit_for_bit(values: list[float]) -> None:
    got = queries.exact_quantiles(np.array(values, dtype=np.float64))
    assert got == tuple(np.quantile(values, queries.PERCENTILES))


def hour_index_columns(path: str) -> list[str | None]:
    """The key columns of requests_hour_latency (None: the hour expression)."""
    return [r[2] for r in query(path, "PRAGMA index_info(requests_hour_latency)")]


def test_a_version_6_ledger_gets_the_hour_index_in_time_order(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    old = [event(i, provider=("openai", "anthropic")[i % 2], model=f"m{i % 3}") for i in range(0, 9000, 7)]
    write_v3_ledger(path, old)

    assert migrated_to(path, 6) == 6
    # version 6's index (as the version-3 schema made it): in latency order within the hour
    assert hour_index_columns(path) == [None, "latency_ms", "started_at", "provider", "model", "status"]
    assert write(path, [[event(20_000, provider="xai")]]) == 1
    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)] == [(10,)]
    assert hour_index_columns(path) == [None, "started_at", "latency_ms", "provider", "model", "status"]
    # the readers still find every latency along it (the partial hours at the edges are read from it)
    for group in (None, "provider", "hour"):
        assert_percentiles_exact(path, Query(start=T0 + 1234.5, end=T0 + 5000.25), group)
