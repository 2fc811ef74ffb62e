"""Batcher: size flush, interval flush, drain on close, retries without loss, back-pressure."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from services.recorder.batcher import Backoff, Batcher

FAST = Backoff(initial_s=0.01, max_s=0.05)


class Sink:
    """A flush function that records batches and fails its first ``fail_times`` calls."""

    def __init__(self, fail_times: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.calls = 0
        self.fail_times = fail_times
        self.gate: asyncio.Event | None = None  # when set up, each flush waits for it

    async def __call__(self, batch: list[int]) -> None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.calls <= self.fail_times:
            raise sqlite3.OperationalError("database is locked")
        self.batches.append(list(batch))

    @property
    def items(self) -> list[int]:
        return [i for b in self.batches for i in b]


async def until(predicate, timeout: float = 30.0) -> None:  # the deadline only catches a hang
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


async def put_all(batcher: Batcher[int], items: range | list[int]) -> None:
    for i in items:
        await batcher.put(i)


async def test_flushes_when_batch_is_full() -> None:
    sink = Sink()
    b = Batcher(sink, max_rows=3, flush_interval_s=60)
    b.start()
    await put_all(b, range(7))
    await until(lambda: len(sink.batches) == 2 and b.pending == 0)  # the 7th is in the batch being filled
    assert sink.batches == [[0, 1, 2], [3, 4, 5]]  # the 7th waits for more items or the interval
    assert await b.close() == 0
    assert sink.batches == [[0, 1, 2], [3, 4, 5], [6]]


async def test_a_batch_that_is_not_full_waits_for_the_interval() -> None:
    sink = Sink()
    b = Batcher(sink, max_rows=100, flush_interval_s=60)
    b.start()
    await put_all(b, [1, 2])
    await until(lambda: b.pending == 0)  # both taken into the batch being filled...
    assert sink.batches == []  # ...which is not flushed before its interval
    assert await b.close() == 0
    assert sink.batches == [[1, 2]]


async def test_flushes_after_interval_without_more_items() -> None:
    sink = Sink()
    b = Batcher(sink, max_rows=100, flush_interval_s=0.05)
    b.start()
    await put_all(b, [1, 2])
    await until(lambda: bool(sink.batches))  # no third item, no close: only the interval flushes it
    assert sink.batches == [[1, 2]]
    await b.close()


async def test_close_drains_everything_in_order() -> None:
    sink = Sink()
    b = Batcher(sink, max_rows=1000, flush_interval_s=60)
    b.start()
    await put_all(b, range(2500))
    assert await b.close() == 0
    assert [len(x) for x in sink.batches] == [1000, 1000, 500]
    assert sink.items == list(range(2500))
    assert b.flushed == 2500


async def test_close_drains_a_batcher_that_was_never_started() -> None:
    sink = Sink()
    b = Batcher(sink, max_rows=10, flush_interval_s=60)
    await put_all(b, range(3))
    assert await b.close() == 0
    assert sink.batches == [[0, 1, 2]]


async def test_close_with_nothing_buffered_flushes_nothing() -> None:
    sink = Sink()
    b = Batcher(sink, max_rows=10, flush_interval_s=0.01)
    b.start()
    assert await b.close() == 0
    assert sink.calls == 0


async def test_failing_flush_is_retried_without_loss() -> None:
    sink = Sink(fail_times=3)
    b = Batcher(sink, max_rows=5, flush_interval_s=60, backoff=FAST)
    b.start()
    await put_all(b, range(5))
    await until(lambda: bool(sink.batches))
    assert sink.batches == [[0, 1, 2, 3, 4]]  # the same batch, delivered once
    assert sink.calls == 4 and b.failures == 3
    # The loop survived the failures: it keeps batching.
    await put_all(b, range(5, 10))
    await until(lambda: len(sink.batches) == 2)
    assert await b.close() == 0
    assert sink.items == list(range(10))


async def test_items_arriving_during_retries_keep_their_order() -> None:
    sink = Sink(fail_times=4)
    b = Batcher(sink, max_rows=4, flush_interval_s=0.01, backoff=FAST)
    b.start()
    for i in range(20):
        await b.put(i)
        await asyncio.sleep(0.003)
    assert await b.close() == 0
    assert sink.items == list(range(20))
    assert b.failures == 4


async def test_drain_retries_a_failing_flush_within_the_grace_period() -> None:
    sink = Sink(fail_times=2)
    b = Batcher(sink, max_rows=100, flush_interval_s=60, backoff=FAST)
    b.start()
    await put_all(b, range(3))
    assert await b.close(grace_s=5) == 0
    assert sink.batches == [[0, 1, 2]]


async def test_drain_gives_up_after_grace_when_flush_keeps_failing() -> None:
    sink = Sink(fail_times=10**9)
    b = Batcher(sink, max_rows=2, flush_interval_s=60, backoff=FAST)
    b.start()
    await put_all(b, range(5))
    async with asyncio.timeout(3):  # must not hang
        lost = await b.close(grace_s=0.2)
    assert lost == 5 and b.lost == 5
    assert sink.batches == []


async def gated() -> tuple[Sink, asyncio.Event, Batcher[int]]:
    """A batcher of one-item batches with room for two queued items, its first item's flush held at the
    sink's gate (returned: set it to let the flushes through)."""
    sink = Sink()
    gate = sink.gate = asyncio.Event()
    b = Batcher(sink, max_rows=1, flush_interval_s=60, max_queued=2)
    b.start()
    await b.put(1)
    await until(lambda: sink.calls == 1)  # item 1 is being flushed, blocked on the gate
    return sink, gate, b


async def settle() -> None:
    """Let every task run until it blocks: the event loop's turns, not time."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_full_queue_makes_put_wait() -> None:
    sink, gate, b = await gated()
    await put_all(b, [2, 3])  # fills the queue
    blocked = asyncio.get_running_loop().create_task(b.put(4))
    await settle()
    assert not blocked.done()
    gate.set()
    await blocked
    assert await b.close() == 0
    assert sink.batches == [[1], [2], [3], [4]]


async def test_put_many_queues_up_to_the_bound_then_waits() -> None:
    sink, gate, b = await gated()
    blocked = asyncio.get_running_loop().create_task(b.put_many([2, 3, 4, 5]))
    await settle()
    assert not blocked.done()
    assert b.pending == 2  # 2 and 3 are queued, 4 waits for room
    gate.set()
    await blocked
    assert await b.close() == 0
    assert sink.batches == [[1], [2], [3], [4], [5]]


async def test_put_after_close_is_refused() -> None:
    b = Batcher(Sink(), max_rows=1, flush_interval_s=0)
    b.start()
    await b.close()
    with pytest.raises(RuntimeError):
        await b.put(1)
    with pytest.raises(RuntimeError):
        await b.put_many([1])


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = Backoff(initial_s=0.1, max_s=0.5).delays()
    assert [next(delays) for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Batcher(Sink(), max_rows=0, flush_interval_s=1)


async def test_limit_retries_unblocks_a_put_waiting_behind_a_dead_flush() -> None:
    sink = Sink(fail_times=10**9)
    b = Batcher(sink, max_rows=1, flush_interval_s=60, max_queued=1, backoff=FAST)
    b.start()
    await put_all(b, [1, 2])  # 1 is being retried, 2 fills the queue
    blocked = asyncio.get_running_loop().create_task(b.put(3))
    for _ in range(20):  # let every task run until it blocks: the event loop's turns, not time
        await asyncio.sleep(0)
    assert not blocked.done()
    b.limit_retries(0.1)  # shutdown began
    async with asyncio.timeout(3):
        await blocked
        assert await b.close(grace_s=60) == 3  # the earlier limit wins
    assert sink.batches == []


async def test_lists_queued_whole_are_cut_at_batch_size_in_order() -> None:
    sink = Sink()
    sink.gate = asyncio.Event()
    b = Batcher(sink, max_rows=3, flush_interval_s=60, max_queued=100)
    b.start()
    await b.put_many([-3, -2, -1])
    await until(lambda: sink.calls == 1)  # a full batch is being flushed, blocked on the gate...
    await b.put_many(list(range(7)))  # ...so these wait in the queue as one list
    await b.put_many(iter(range(7, 10)))  # any iterable
    assert b.pending == 10
    sink.gate.set()
    assert await b.close() == 0
    assert sink.batches == [[-3, -2, -1], [0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]


async def test_in_flight_starts_the_next_flush_while_one_runs_and_the_drain_waits_for_both() -> None:
    sink = Sink()
    sink.gate = asyncio.Event()  # every flush stays running until the gate opens
    b = Batcher(sink, max_rows=2, flush_interval_s=60, in_flight=2)
    b.start()
    await put_all(b, range(6))
    await until(lambda: sink.calls == 2)  # two batches handed over, neither finished
    assert b.pending == 2  # the third batch waits for a free slot
    closing = asyncio.create_task(b.close())
    await asyncio.sleep(0)
    assert not closing.done()  # the drain waits for the flushes running
    sink.gate.set()
    assert await closing == 0
    assert sorted(sink.items) == list(range(6)) and len(sink.batches) == 3


async def test_in_flight_one_takes_a_batch_only_after_the_previous_flush() -> None:
    sink = Sink()
    sink.gate = asyncio.Event()
    b = Batcher(sink, max_rows=2, flush_interval_s=60)
    b.start()
    await put_all(b, range(4))
    await until(lambda: sink.calls == 1)
    assert b.pending == 2  # not taken while the first flush runs
    sink.gate.set()
    assert await b.close() == 0
    assert sink.batches == [[0, 1], [2, 3]]


async def test_small_puts_that_fill_a_batch_flush_it_before_the_interval() -> None:
    # The task wakes when the batch can be filled, not at each put; a full batch still goes at once.
    sink = Sink()
    b = Batcher(sink, max_rows=10, flush_interval_s=60)
    b.start()
    for i in range(10):
        await b.put(i)
        await asyncio.sleep(0)  # the task runs between the puts
    await until(lambda: bool(sink.batches))
    assert sink.batches == [list(range(10))]
    assert await b.close() == 0


async def test_items_queued_after_a_batchs_first_go_in_it_at_its_deadline() -> None:
    # Fewer than the batch's room: they wait in the queue, and the deadline takes them into the batch.
    sink = Sink()
    b = Batcher(sink, max_rows=100, flush_interval_s=0.05)
    b.start()
    await b.put(1)
    await until(lambda: b.pending == 0)  # the first is in the batch being filled
    await b.put_many([2, 3])
    await b.put(4)
    await until(lambda: bool(sink.batches))
    assert sink.batches == [[1, 2, 3, 4]]
    assert await b.close() == 0
