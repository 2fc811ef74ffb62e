"""The hourly rollups kept per batch by the store: always equal to a GROUP BY over ``requests``.

Covers replays (an event stored and counted once), the upgrade of a ledger whose rollups were kept by
per-row insert triggers (schema version 3), the row-by-row fallback, exhausted rowids, and a property test:
random events, random batch splits, random resends.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiosqlite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.recorder.rollups import MAX_ROWID, ensure_rollups_sync
from services.recorder.store import (
    COLUMNS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Store,
    event_row,
    migrate,
    split_statements,
)
from shared.events import UsageEvent

V3_SCHEMA = Path(__file__).parents[2] / "fixtures" / "ledger_v3.sql"
T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600  # an hour boundary

# The rollups recomputed from the ledger, written independently of services/recorder/rollups.py.
HOURLY = """SELECT CAST(started_at / 3600 AS INTEGER) AS h, ifnull(provider, '') AS p, model, status, count(*),
    sum(CASE WHEN attempts > 1 THEN 1 ELSE 0 END), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
    sum(cache_write_tokens), sum(reasoning_tokens), total(cost_usd), count(cost_usd), total(latency_ms),
    total(cache_savings_usd)
FROM requests GROUP BY h, p, model, status ORDER BY 1, 2, 3, 4"""
WHO = """SELECT CAST(started_at / 3600 AS INTEGER) AS h, ifnull(api_key_name, '') AS k, ifnull(client, '') AS c,
    ifnull(session_id, '') AS s, ifnull(provider, '') AS p, model, status, count(*),
    sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens),
    total(cost_usd), count(cost_usd), min(started_at), max(started_at)
FROM requests GROUP BY h, k, c, s, p, model, status ORDER BY 1, 2, 3, 4, 5, 6, 7"""
WHO_KEY = "ifnull(api_key_name, ''), ifnull(client, ''), ifnull(session_id, ''), ifnull(provider, ''), model, status"
STORED_HOURLY = "SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4"
STORED_WHO = "SELECT * FROM usage_attribution_hourly ORDER BY 1, 2, 3, 4, 5, 6, 7"


def event(n: int, **overrides: Any) -> UsageEvent:
    base = UsageEvent(
        request_id=f"req-{n}",
        endpoint="/v1/messages",
        client_format="anthropic",
        model="claude-x",
        event_id=f"ev-{n}",
        started_at=T0 + n,
        finished_at=T0 + n + 1,
        provider="anthropic",
        status=200,
        input_tokens=10 + n,
        output_tokens=20,
        cache_read_tokens=3,
        cache_write_tokens=4,
        cost_usd=0.25,
        latency_ms=100.0 + n,
        attempts=1 + n % 3,
        api_key_name="ci" if n % 2 else None,
        cache_savings_usd=0.5 if n % 3 else None,
    )
    return replace(base, **overrides)


def query(path: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def same(got: Sequence[tuple[Any, ...]], want: Sequence[tuple[Any, ...]]) -> bool:
    """Row for row equal; REAL sums may differ in their last bits (summed per batch, not per row)."""
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if len(g) != len(w):
            return False
        for a, b in zip(g, w, strict=True):
            if isinstance(a, float) or isinstance(b, float):
                if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif a != b:
                return False
    return True


def assert_rollups_exact(path: str, *, bounds: bool = True) -> None:
    """Both rollups equal their recomputation. ``bounds=False``: not the attribution rollup's
    first_at/last_at, which only widen (a delete leaves them: rollups.py)."""
    hourly, who = query(path, STORED_HOURLY), query(path, STORED_WHO)
    assert same(hourly, query(path, HOURLY)), (hourly, query(path, HOURLY))
    want = query(path, WHO)
    if not bounds:
        who, want = [r[:-2] for r in who], [r[:-2] for r in want]
    assert same(who, want), (who, want)


def trigger_names(path: str) -> set[str]:
    return {r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}


async def test_a_replayed_event_is_stored_and_counted_once(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    store = await Store.open(path)
    a, b, c = event(1), event(2), event(3)
    assert await store.insert_many([a, b]) == 2
    assert await store.insert_many([b, c, c, a]) == 1  # two already stored, one twice in the batch
    assert await store.insert_many([a, b, c]) == 0
    await store.close()
    assert query(path, "SELECT sum(requests), sum(input_tokens) FROM usage_hourly") == [(3, 11 + 12 + 13)]
    assert query(path, "SELECT sum(requests) FROM usage_attribution_hourly") == [(3,)]
    assert_rollups_exact(path)


async def test_rows_refused_by_sqlite_are_not_counted(tmp_path: Path) -> None:
    """The row-by-row fallback (a constraint error in the batch) rolls up only what it inserted."""
    path = str(tmp_path / "usage.db")
    store = await Store.open(path)
    await store.insert_many([event(0)])
    bad = list(event_row(event(9)))
    bad[COLUMNS.index("status")] = None  # bypasses event_row's checks, as a future constraint might
    batch = [event_row(event(0)), event_row(event(1)), tuple(bad), event_row(event(2))]
    assert await store.insert_rows(batch) == 2
    await store.close()
    assert query(path, "SELECT sum(requests) FROM usage_hourly") == [(3,)]
    assert_rollups_exact(path)


def old_insert_triggers() -> list[str]:
    script = V3_SCHEMA.read_text(encoding="utf-8")
    return [s for s in split_statements(script) if s.startswith("CREATE TRIGGER") and "AFTER INSERT" in s]


def write_v3_ledger(path: str, events: Sequence[UsageEvent]) -> None:
    """A ledger as the version-3 recorder left it: rows inserted, rollups kept by its insert triggers."""
    with closing(sqlite3.connect(path)) as conn:
        conn.executescript(V3_SCHEMA.read_text(encoding="utf-8"))
        placeholders = ", ".join("?" * len(COLUMNS))
        with conn:
            conn.executemany(
                f"INSERT INTO requests ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                [event_row(e) for e in events],
            )


async def test_a_version_3_ledger_loses_its_insert_triggers_and_its_rollups_stay_exact(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "usage.db")
    write_v3_ledger(path, [event(i) for i in range(5)])
    assert {"requests_rollup_insert", "requests_who_insert"} <= trigger_names(path)
    assert query(path, "SELECT sum(requests) FROM usage_hourly") == [(5,)]  # the old triggers counted them

    store = await Store.open(path)
    # Resends of stored events, a duplicate inside the batch, and new events in another hour.
    batch = [event(3), event(4), event(5), event(5), event(6, started_at=T0 + 7200.5, provider=None)]
    assert await store.insert_many(batch) == 2
    await store.close()

    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert trigger_names(path).isdisjoint({"requests_rollup_insert", "requests_who_insert"})
    assert {"requests_rollup_delete", "requests_rollup_update", "requests_who_delete"} <= trigger_names(path)
    assert query(path, "SELECT sum(requests) FROM usage_hourly") == [(7,)]
    assert_rollups_exact(path)


def who_columns(path: str) -> list[str]:
    return [r[1] for r in query(path, "PRAGMA table_info(usage_attribution_hourly)")]


async def test_a_version_4_ledger_gets_the_attribution_rollup_keyed_by_provider_model_and_status(
    tmp_path: Path,
) -> None:
    """Schema version 5 replaces the attribution rollup keyed by (hour, key, client, session) only; Store.open
    rebuilds it from the ledger, exactly, and then keeps it per batch."""
    path = str(tmp_path / "usage.db")
    old = [
        event(
            i, provider=(None, "openai", "anthropic")[i % 3], model=f"m{i % 2}", status=(200, 429)[i % 4 == 0]
        )
        for i in range(12)
    ]
    write_v3_ledger(path, old)
    db = await aiosqlite.connect(path, isolation_level=None)
    assert await migrate(db, MIGRATIONS[:4]) == 4
    await db.close()
    assert "provider" not in who_columns(path)
    assert query(path, "SELECT sum(requests) FROM usage_attribution_hourly") == [(12,)]

    store = await Store.open(path)
    assert await store.insert_many([*old[8:], event(20, provider="xai", started_at=T0 + 3600.5)]) == 1
    await store.close()

    assert query(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert who_columns(path)[:7] == [
        "hour", "api_key_name", "client", "session_id", "provider", "model", "status"
    ]  # fmt: skip
    assert {"requests_who_delete", "requests_who_update"} <= trigger_names(path)
    assert query(
        path, "SELECT count(*) FROM usage_attribution_hourly WHERE hour = ?", (int(T0 // 3600),)
    ) == [(len(query(path, f"SELECT DISTINCT {WHO_KEY} FROM requests WHERE started_at < {T0 + 3600}")),)]
    assert_rollups_exact(path)


def test_ensure_rollups_replaces_an_old_shaped_attribution_rollup(tmp_path: Path) -> None:
    """A file no recorder migrated (the benchmark's reused ledger): ensure_rollups_sync alone upgrades it."""
    path = str(tmp_path / "usage.db")
    write_v3_ledger(path, [event(i, status=200 + i % 2) for i in range(6)])
    with closing(sqlite3.connect(path)) as conn:
        assert ensure_rollups_sync(conn) is True
        assert ensure_rollups_sync(conn) is False
    assert "status" in who_columns(path)
    assert_rollups_exact(path)


async def test_insert_triggers_recreated_by_an_older_recorder_are_dropped_again(tmp_path: Path) -> None:
    """A version-3 recorder started on the upgraded file re-creates its insert triggers; the store must
    not then count each row twice (once by trigger, once per batch)."""
    path = str(tmp_path / "usage.db")
    store = await Store.open(path)
    await store.insert_many([event(1)])
    await store.close()
    with closing(sqlite3.connect(path)) as conn:
        for statement in old_insert_triggers():
            conn.execute(statement)
        conn.commit()
    store = await Store.open(path)
    await store.insert_many([event(2), event(3)])
    await store.close()
    assert query(path, "SELECT sum(requests) FROM usage_hourly") == [(3,)]
    assert_rollups_exact(path)


async def test_deletes_and_updates_still_keep_the_rollups_exact(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    store = await Store.open(path)
    await store.insert_many([event(i, status=200 + i % 2) for i in range(20)])
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("DELETE FROM requests WHERE status = 201")
        conn.execute("UPDATE requests SET model = 'other', api_key_name = 'x' WHERE request_id = 'req-0'")
        conn.execute(
            "UPDATE requests SET status = 500, provider = NULL WHERE request_id IN ('req-2', 'req-4')"
        )
        conn.commit()
    await store.insert_many([event(i) for i in range(15, 25)])  # 15, 17, 19 were deleted: inserted again
    await store.close()
    assert query(path, "SELECT count(*), (SELECT sum(requests) FROM usage_hourly) FROM requests") == [
        (18, 18)
    ]
    assert_rollups_exact(path, bounds=False)


async def test_exhausted_rowids_fall_back_to_a_full_recount(tmp_path: Path) -> None:
    """With the largest rowid taken, SQLite gives new rows random rowids: the batch cannot be told apart
    by rowid, so the store recounts the rollups from the ledger."""
    path = str(tmp_path / "usage.db")
    store = await Store.open(path)
    await store.insert_many([event(1)])
    with closing(sqlite3.connect(path)) as conn:  # a manual row at the very end of the rowid space
        conn.execute("UPDATE requests SET rowid = ? WHERE event_id = 'ev-1'", (MAX_ROWID,))
        conn.commit()
    # A batch whose rows are all new is summed in Python (rowids play no part); one with a replay is
    # counted from the table, which here means a full recount.
    assert await store.insert_many([event(2), event(3)]) == 2
    assert await store.insert_many([event(3), event(4), event(5)]) == 2
    await store.close()
    assert query(path, "SELECT sum(requests) FROM usage_hourly") == [(5,)]
    assert_rollups_exact(path)


# --- property: random events, batch splits and resends -------------------------------------------------

_maybe = st.none() | st.sampled_from(["a", "b"])
_events = st.builds(
    lambda hour, second, provider, model, status, tokens, cost, savings, latency, attempts, key, client, session: (
        dict(
            started_at=T0 + hour * 3600 + second,
            provider=provider,
            model=model,
            status=status,
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cache_read_tokens=tokens[2],
            cache_write_tokens=tokens[3],
            reasoning_tokens=tokens[4],
            cost_usd=cost,
            cache_savings_usd=savings,
            latency_ms=latency,
            attempts=attempts,
            api_key_name=key,
            client=client,
            session_id=session,
        )
    ),
    st.integers(0, 2),
    st.floats(0, 3599.999),
    st.none() | st.sampled_from(["openai", "anthropic"]),
    st.sampled_from(["m1", "m2"]),
    st.sampled_from([200, 429, 500]),
    st.tuples(*[st.integers(0, 10**9)] * 5),
    st.none() | st.floats(0, 10),
    st.none() | st.floats(-1, 1),
    st.floats(0, 1e5),
    st.integers(0, 3),
    _maybe,
    _maybe,
    _maybe,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rollups_equal_a_group_by_after_any_batches(tmp_path_factory: Any, data: st.DataObject) -> None:
    fields = data.draw(st.lists(_events, min_size=1, max_size=40), label="events")
    events = [event(i, **f) for i, f in enumerate(fields)]
    # What is sent: each event at least once, some several times (resends), in any order, cut into batches.
    resends = data.draw(st.lists(st.sampled_from(events), max_size=20), label="resends")
    sent = data.draw(st.permutations(events + resends), label="order")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(sent) - 1)), max_size=8), label="cuts"))
    batches = [sent[a:b] for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=True)]
    path = str(tmp_path_factory.mktemp("rollups") / "usage.db")

    async def write() -> int:
        store = await Store.open(path)
        try:
            return sum([await store.insert_many(batch) for batch in batches])
        finally:
            await store.close()

    assert asyncio.run(write()) == len(events)
    assert query(path, "SELECT count(*) FROM requests") == [(len(events),)]
    assert_rollups_exact(path)
