"""Batches committed together (``Store.insert_batches``, and the writer process that merges the batches
waiting for it): each batch's count of new rows is what it would have been alone, and the ledger,
rollups and latency lists end exactly as after one transaction per batch."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.recorder.batch_rollup import BatchGroups, batch_groups, merge_groups
from services.recorder.store import COLUMNS, Row, Store, event_row
from services.recorder.writer import MERGE_BATCHES, WriterProcess
from services.recorder.written import Written
from shared.events import UsageEvent
from tests.unit.recorder.test_latency_lists import lists_by_group, rows_by_group
from tests.unit.recorder.test_recorder_rollups import _events, assert_rollups_exact, event, query
from tests.unit.recorder.test_recorder_writer import rollups, rows


def new_per_batch(batches: Sequence[Sequence[UsageEvent]]) -> list[int]:
    """How many rows each batch adds when the batches are inserted in turn (the first of an event id)."""
    seen: set[str] = set()
    counts = []
    for batch in batches:
        fresh = {e.event_id for e in batch} - seen
        seen |= fresh
        counts.append(len(fresh))
    return counts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_merged_batches_count_and_roll_up_as_one_transaction_each(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    fields = data.draw(st.lists(_events, min_size=1, max_size=40), label="events")
    events = [event(i, **f) for i, f in enumerate(fields)]
    resends = data.draw(st.lists(st.sampled_from(events), max_size=15), label="resends")
    sent = data.draw(st.permutations(events + resends), label="order")
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(sent) - 1)), max_size=8), label="cuts"))
    batches = [sent[a:b] for a, b in zip([0, *cuts], [*cuts, len(sent)], strict=True)]
    joins = sorted(data.draw(st.sets(st.integers(1, max(1, len(batches) - 1)), max_size=4), label="joins"))
    commits = [batches[a:b] for a, b in zip([0, *joins], [*joins, len(batches)], strict=True)]
    given_groups = data.draw(
        st.lists(st.booleans(), min_size=len(batches), max_size=len(batches)), label="groups"
    )
    path = str(tmp_path_factory.mktemp("merged") / "usage.db")

    async def write() -> list[int]:
        store = await Store.open(path, inline=True)
        counts: list[int] = []
        i = 0
        try:
            for commit in commits:
                args: list[tuple[Sequence[Row], BatchGroups | None]] = []
                for batch in commit:
                    made = [event_row(e) for e in batch]
                    args.append((made, batch_groups(made) if given_groups[i] else None))
                    i += 1
                counts += await store.insert_batches(args)
        finally:
            await store.close()
        return counts

    assert asyncio.run(write()) == new_per_batch(batches)
    assert query(path, "SELECT count(*) FROM requests") == [(len(events),)]
    assert_rollups_exact(path)
    assert lists_by_group(path) == rows_by_group(path)


async def test_a_refused_row_rolls_the_merged_batches_back_whole(tmp_path: Path) -> None:
    path = str(tmp_path / "usage.db")
    store = await Store.open(path, inline=True)
    bad = list(event_row(event(9)))
    bad[COLUMNS.index("status")] = None  # NOT NULL
    good = [event_row(event(1)), event_row(event(2))]
    with pytest.raises(sqlite3.IntegrityError):
        await store.insert_batches([(good, None), ([event_row(event(3)), tuple(bad)], None)])
    assert query(path, "SELECT count(*) FROM requests") == [(0,)]
    assert query(path, "SELECT count(*) FROM usage_hourly") == [(0,)]
    assert await store.insert_batches([(good, None), (good, None), ([], None)]) == [2, 0, 0]
    await store.close()
    assert_rollups_exact(path)


def test_merge_groups_concatenates_and_leaves_its_inputs_alone() -> None:
    a = batch_groups([event_row(event(1)), event_row(event(2))])
    b = batch_groups([event_row(event(3))])
    before = [list(v) for v in a.latencies.values()]
    merged = merge_groups([a, b])
    assert merged.hourly == a.hourly + b.hourly and merged.who == a.who + b.who
    key = next(iter(a.latencies))
    assert merged.latencies[key] == a.latencies[key] + b.latencies[key]  # the same group: one list
    assert [list(v) for v in a.latencies.values()] == before
    assert merge_groups([a]) is a


@pytest.fixture
async def writer(tmp_path: Path) -> AsyncIterator[WriterProcess]:
    w = await WriterProcess.open(str(tmp_path / "usage.db"))
    yield w
    await w.close()


async def sent_while_locked(writer: WriterProcess, path: Path, batches: list[list[Row]]) -> list[Written]:
    """Send every batch while another connection holds the write lock (the writer is stuck in its
    first transaction meanwhile), then let go: the batches after the first are waiting together.
    Returns each batch's answer (new rows, refused rows)."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")
        tasks = [asyncio.create_task(writer.insert_counted(b)) for b in batches]
        while writer.unanswered < len(batches):  # each batch is written to the socket at once
            await asyncio.sleep(0)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    return list(await asyncio.gather(*tasks))


async def test_batches_waiting_for_the_writer_are_committed_together(
    writer: WriterProcess, tmp_path: Path
) -> None:
    assert MERGE_BATCHES >= 3 and WriterProcess.IN_FLIGHT > MERGE_BATCHES
    first = rows(0, 5)
    assert await writer.insert_rows(first) == 5
    before = writer.commits
    second = rows(5, 5)
    batches = [second, rows(10, 5), first + second[:2] + rows(15, 5), rows(20, 5)]  # the third: 7 replays
    written = await sent_while_locked(writer, tmp_path / "usage.db", batches)
    assert [w.inserted for w in written] == [5, 5, 5, 5] and [w.rejected for w in written] == [0] * 4
    # However the first was read (alone, or with those already there), the rest waited together.
    assert writer.commits - before == 2
    counted = rollups(tmp_path / "usage.db")
    assert counted[:4] == (25, 25, 25, 25) and counted[4] == counted[5]


async def test_a_refused_row_in_merged_batches_is_counted_against_its_own_batch(
    writer: WriterProcess, tmp_path: Path
) -> None:
    bad = list(rows(100, 1)[0])
    bad[COLUMNS.index("model")] = None  # NOT NULL
    batches = [rows(0, 5), rows(5, 5), [*rows(10, 3), tuple(bad)], rows(13, 2)]
    written = await sent_while_locked(writer, tmp_path / "usage.db", batches)
    assert [w.inserted for w in written] == [5, 5, 3, 2]
    assert [w.rejected for w in written] == [0, 0, 1, 0]  # the refused row is the third batch's alone
    assert writer.rejected == 1
    assert rollups(tmp_path / "usage.db")[:4] == (15, 15, 15, 15)


async def test_a_batch_failing_for_its_own_row_does_not_fail_those_merged_with_it(
    writer: WriterProcess, tmp_path: Path
) -> None:
    bad = list(rows(100, 1)[0])
    bad[COLUMNS.index("input_tokens")] = 2**64  # SQLite cannot bind it: OverflowError, every time
    batches = [rows(0, 5), rows(5, 5), [*rows(10, 3), tuple(bad)], rows(13, 2)]
    path = tmp_path / "usage.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")
        tasks = [asyncio.create_task(writer.insert_counted(b)) for b in batches]
        while writer.unanswered < len(batches):
            await asyncio.sleep(0)
        holder.execute("ROLLBACK")
    finally:
        holder.close()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[:2] == [(5, 0), (5, 0)] and results[3] == (2, 0)  # merged with it, committed
    assert isinstance(results[2], OverflowError)  # only its own batch fails (the parent retries it)
    assert query(str(path), "SELECT count(*) FROM requests") == [(12,)]
    assert rollups(path)[:4] == (12, 12, 12, 12)
