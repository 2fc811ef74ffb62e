"""The latency lists on PostgreSQL (schema version 4, ``services/recorder/pg_lists.py``): appended by the insert
trigger for the rows really inserted, compacted, dropped by hand edits, repaired at open, built by the
upgrade of a version-3 database; two recorders writing at once; the exact percentiles read from them.

Expected values are recomputed here from the ``requests`` rows with numpy, independently of ``pg_lists.py``
and ``shared/ledger/queries.py``. The blobs are decoded as big-endian float64 (``float8send``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np
import pytest

from services.recorder import latency_lists, pg_lists, pg_store
from services.recorder.pg_store import COLUMNS, PgStore
from services.recorder.store import event_row
from shared.events import UsageEvent
from shared.ledger import engine, queries
from shared.ledger.params import Query
from shared.ledger.sql import list_dtype
from tests.unit.recorder.test_latency_lists import grouped_latencies
from tests.unit.recorder.test_recorder_rollups import T0, event

Group = tuple[int, str, str, int]
GROUP_BYS = (None, "provider", "model", "hour", "day")
ROWS = "SELECT started_at, coalesce(provider, ''), model, status, latency_ms FROM requests"


async def fetch(url: str, sql: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


async def rows_by_group(url: str) -> dict[Group, list[float]]:
    found: dict[Group, list[float]] = {}
    for started, provider, model, status, latency in await fetch(url, ROWS):
        found.setdefault((int(started // 3600), provider, model, status), []).append(latency)
    return {k: sorted(v) for k, v in found.items()}


async def lists_by_group(url: str) -> dict[Group, list[float]]:
    found: dict[Group, list[float]] = {}
    for *key, n, blob in await fetch(
        url, "SELECT hour, provider, model, status, n, latencies FROM latency_lists"
    ):
        values = np.frombuffer(blob, dtype=">f8").tolist()
        assert len(values) == n
        found.setdefault((key[0], key[1], key[2], key[3]), []).extend(values)
    return {k: sorted(v) for k, v in found.items()}


async def parts(url: str) -> int:
    return int((await fetch(url, "SELECT count(*) FROM latency_lists"))[0][0])


async def write(url: str, batches: Sequence[Sequence[UsageEvent]]) -> int:
    store = await PgStore.open(url)
    try:
        return sum([await store.insert_many(batch) for batch in batches])
    finally:
        await store.close()


async def assert_percentiles_exact(url: str, q: Query, group: str | None) -> None:
    """latency_percentiles == numpy over the selected rows, per group and overall."""
    groups, everything = grouped_latencies(await fetch(url, ROWS), q, group)
    counts = {k: len(v) for k, v in groups.items()}
    got = await asyncio.to_thread(queries.latency_percentiles, url, q, group, counts, overall=True)
    engine.dispose(url)
    for key, values in groups.items():
        assert got[key] == tuple(np.percentile(values, [50, 95])), (group, key)
    assert everything and got[None] == tuple(np.percentile(everything, [50, 95])), group


def spread(n: int, step: int = 7, **overrides: Any) -> list[UsageEvent]:
    """``n`` events over several hours, providers, models and statuses."""
    return [
        event(
            i,
            started_at=T0 + i * step + 0.25,
            provider=(None, "openai", "anthropic")[i % 3],
            model=f"m{i % 2}",
            status=(200, 429)[i % 5 == 0],
            latency_ms=float((i * 7919) % 3001) + 0.5,
            **overrides,
        )
        for i in range(n)
    ]


async def test_replays_add_nothing_and_each_batch_appends_one_part_per_group(pg_url: str) -> None:
    a, b, c = event(1), event(2, status=429), event(3)
    assert await write(pg_url, [[a, b], [b, c, c, a], [a, b, c]]) == 3
    assert await lists_by_group(pg_url) == await rows_by_group(pg_url)
    by_status = "SELECT status, count(*), sum(n) FROM latency_lists GROUP BY status ORDER BY 1"
    # the current hour is not compacted: the 200 group has a part from each batch that inserted into it
    assert await fetch(pg_url, by_status) == [(200, 2, 2), (429, 1, 1)]
    await write(pg_url, [])  # open compacts every group
    assert await fetch(pg_url, by_status) == [(200, 1, 2), (429, 1, 1)]


async def test_a_finished_hours_parts_are_compacted_by_the_next_batches(pg_url: str) -> None:
    store = await PgStore.open(pg_url)
    try:
        await store.insert_many([event(1), event(2, model="m")])
        await store.insert_many([event(3), event(4, model="m")])
        seen = [await parts(pg_url)]  # the current hour: one part per group and batch
        await store.insert_many([event(5, started_at=T0 + 3600.5)])  # the next hour: the first is finished
        seen.append(await parts(pg_url))
    finally:
        await store.close()
    assert seen == [4, 3]
    assert await lists_by_group(pg_url) == await rows_by_group(pg_url)


async def test_a_row_by_row_batch_appends_and_replays_add_nothing(pg_url: str) -> None:
    """A batch PostgreSQL refuses (a NUL character) is retried row by row: the lists follow that path too."""
    store = await PgStore.open(pg_url)
    try:
        bad = event(9, model="bad\x00model")
        assert await store.insert_many([event(1), bad, event(2), event(1)]) == 2
        assert await store.insert_many([event(2), event(3)]) == 1
    finally:
        await store.close()
    assert await lists_by_group(pg_url) == await rows_by_group(pg_url)
    assert sum(len(v) for v in (await lists_by_group(pg_url)).values()) == 3


async def test_two_recorders_writing_at_once_lose_nothing_and_count_nothing_twice(pg_url: str) -> None:
    """Two stores on one database, batches interleaved over many hours (so both compact finished hours
    while the other appends), each resending some of the other's events."""
    events = spread(1200, step=37)  # about 12 hours
    stores = [await PgStore.open(pg_url), await PgStore.open(pg_url)]
    try:

        async def run(store: PgStore, mine: list[UsageEvent], theirs: list[UsageEvent]) -> int:
            total = 0
            for i in range(0, len(mine), 40):
                total += await store.insert_many(mine[i : i + 40] + theirs[i : i + 5])
            return total

        first, second = events[0::2], events[1::2]
        inserted = await asyncio.gather(run(stores[0], first, second), run(stores[1], second, first))
    finally:
        for store in stores:
            await store.close()
    assert sum(inserted) == len(events)
    lists, rows = await lists_by_group(pg_url), await rows_by_group(pg_url)
    assert lists == rows
    assert await parts(pg_url) < 2 * 30 * len(rows)  # compacted along the way, not a part per batch
    await write(pg_url, [])
    assert await lists_by_group(pg_url) == rows
    assert await parts(pg_url) == len(rows)
    for group in GROUP_BYS:
        await assert_percentiles_exact(pg_url, Query(T0 + 1000.5, T0 + 11 * 3600 + 17), group)


async def test_a_version_3_database_is_upgraded_and_backfilled(pg_url: str) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        assert await pg_store.migrate(conn, pg_store.MIGRATIONS[:3]) == 3
        columns = ", ".join(COLUMNS)
        placeholders = ", ".join(f"${i + 1}" for i in range(len(COLUMNS)))
        rows = [event_row(e) for e in spread(900)]
        await conn.executemany(f"INSERT INTO requests ({columns}) VALUES ({placeholders})", rows)
        assert await conn.fetchval("SELECT to_regclass('latency_lists')") is None
    finally:
        await conn.close()
    assert await write(pg_url, [[event(20_000, provider="xai")], [event(1)]]) == 1  # event 1: a replay
    versions = await fetch(pg_url, "SELECT max(version) FROM schema_migrations")
    assert versions == [(pg_store.SCHEMA_VERSION,)] == [(4,)]
    indexes = {
        r[0] for r in await fetch(pg_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'requests'")
    }
    assert "requests_hour_latency" in indexes
    gone = {"requests_latency", "requests_provider_latency", "requests_model_latency", "requests_day_latency"}
    assert not indexes & gone
    assert await lists_by_group(pg_url) == await rows_by_group(pg_url)
    assert await parts(pg_url) == len(await rows_by_group(pg_url))  # backfilled: one row per group
    for group in GROUP_BYS:
        await assert_percentiles_exact(pg_url, Query(T0 - 10, T0 + 3 * 3600), group)


@pytest.mark.parametrize(
    "edit",
    [
        "DELETE FROM requests WHERE model = 'm1' AND latency_ms < 1000",
        "UPDATE requests SET latency_ms = latency_ms * 3 WHERE status = 429",
        "UPDATE requests SET started_at = started_at + 3600 WHERE provider = 'openai' AND model = 'm0'",
        "UPDATE requests SET status = 500 WHERE provider IS NULL AND model = 'm1'",
    ],
)
async def test_hand_edits_drop_lists_reads_fall_back_to_rows_and_open_repairs(pg_url: str, edit: str) -> None:
    await write(pg_url, [spread(900)[:300], spread(900)[300:]])
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE requests SET cost_usd = 1.5")  # nothing the lists hold: they stay
        assert await lists_by_group(pg_url) == await rows_by_group(pg_url)
        await conn.execute(edit)
    finally:
        await conn.close()
    lists, rows = await lists_by_group(pg_url), await rows_by_group(pg_url)
    assert lists != rows
    for key, values in lists.items():  # a group's latencies are all there, or none: never wrong ones
        assert values == rows[key]
    for q in (Query(T0, T0 + 3 * 3600), Query(T0 + 100.5, T0 + 2 * 3600 + 7, status="ok", models=("m1",))):
        for group in GROUP_BYS:
            await assert_percentiles_exact(pg_url, q, group)
    await write(pg_url, [])  # open: the dropped groups rebuilt from the rows
    assert await lists_by_group(pg_url) == await rows_by_group(pg_url)
    assert await parts(pg_url) == len(await rows_by_group(pg_url))


async def test_lists_that_disagree_are_rebuilt_and_orphans_dropped_at_open(pg_url: str) -> None:
    await write(pg_url, [spread(400)])
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("DELETE FROM latency_lists WHERE model = 'm1'")  # a lost part
        await conn.execute(
            "INSERT INTO latency_lists VALUES (1, 'ghost', 'm', 200, 1, 1, float8send(1.0))"
        )  # a group the ledger does not have
    finally:
        await conn.close()
    await write(pg_url, [])
    assert await lists_by_group(pg_url) == await rows_by_group(pg_url)


def test_the_reader_unpacks_each_engine_as_its_writer_packs() -> None:
    assert list_dtype("sqlite") == latency_lists.DTYPE == "<f8"
    assert list_dtype("postgresql") == pg_lists.DTYPE == ">f8"  # float8send: network byte order
