"""Size-or-time batching in plain asyncio (no ZeroMQ, no SQLite here).

The shape of tensorzero's ``db/batching.rs``: buffer items, call ``flush(batch)`` when the buffer holds
``max_rows`` items or ``flush_interval_s`` has passed since its first item, and drain what is left on
close. A failing flush is retried with exponential backoff and never dropped while the batcher runs;
later items wait in the queue meanwhile (order is preserved). The queue is bounded, so a stalled flush
makes ``put()`` wait: that is the back-pressure that slows the receiver down.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger("recorder.batcher")

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between flush attempts: initial_s, doubling, capped at max_s."""

    initial_s: float = 0.05
    max_s: float = 5.0

    def delays(self) -> Iterator[float]:
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_s)


class Batcher(Generic[T]):
    """Calls ``await flush(batch)`` with up to ``max_rows`` items, at most ``flush_interval_s`` after the
    first of them was taken from the queue. ``start()`` it, ``put()`` items, ``close()`` to drain."""

    def __init__(
        self,
        flush: Callable[[list[T]], Awaitable[object]],
        *,
        max_rows: int,
        flush_interval_s: float,
        max_queued: int = 100_000,
        backoff: Backoff | None = None,
        in_flight: int = 1,
    ) -> None:
        if max_rows < 1 or flush_interval_s < 0 or max_queued < 1 or in_flight < 1:
            raise ValueError("max_rows, max_queued and in_flight must be >= 1 and flush_interval_s >= 0")
        self._flush = flush
        self._max_rows = max_rows
        self._interval = flush_interval_s
        self._backoff = backoff or Backoff()
        self._max_queued = max_queued
        # The queue holds the lists that put_many() was given (split where the bound or a batch cut
        # them), not single items: queueing and taking cost per list, not per item (the recorder queues
        # up to 1,000 events at a time). _queued counts the items in it.
        self._chunks: collections.deque[list[T]] = collections.deque()
        self._queued = 0
        self._has_items = asyncio.Event()
        # Queued items that wake the batching task (``put_many`` sets ``_has_items`` only then): 1 while
        # it waits for a batch's first item, the batch's room while it fills one (it takes the rest at its
        # deadline), so that a receiver queueing a few items at a time does not wake it for each (issue
        # 13, session 11: the live recorder queued ~20 events 200 times a second).
        self._wanted = 1
        self._has_room = asyncio.Event()
        self._putters = 0  # put calls waiting for room: close() drains their items too
        self._task: asyncio.Task[None] | None = None
        # Flushes running at once: 1, each batch is taken only after the previous one is flushed; more,
        # a batch is taken and its flush started while earlier ones are still running (a flush that
        # only hands the batch to another process and waits for its answer: the recorder's SQLite
        # writer). Each flush is retried on its own, so batches may then commit out of order.
        self._in_flight = in_flight
        self._flights: collections.deque[asyncio.Task[None]] = collections.deque()
        self._closing = False
        self._give_up_at: float | None = None
        self.flushed = 0  # items handed to a flush that succeeded
        self.failures = 0  # failed flush attempts
        self.lost = 0  # items given up on: only after close() and only while flushes keep failing

    @property
    def pending(self) -> int:
        """Items waiting in the queue (not counting a batch being flushed)."""
        return self._queued

    def start(self) -> None:
        """Start the batching task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="recorder-batcher")

    async def put(self, item: T) -> None:
        """Queue one item; waits while ``max_queued`` items are pending."""
        await self.put_many([item])

    async def put_many(self, items: Iterable[T]) -> None:
        """Queue items in order, as ``put()`` each would: waits whenever ``max_queued`` items are
        pending (the items before that point are queued already). A list is queued as it is, not copied:
        the caller must not change it afterwards."""
        if self._closing:
            raise RuntimeError("batcher is closed")
        rest = items if isinstance(items, list) else list(items)
        while rest:
            room = self._max_queued - self._queued
            if room <= 0:
                self._has_items.set()  # full: the task must take some, whatever it wanted
                self._has_room.clear()
                self._putters += 1
                try:
                    await self._has_room.wait()
                finally:
                    self._putters -= 1
                continue
            chunk, rest = (rest, []) if len(rest) <= room else (rest[:room], rest[room:])
            self._chunks.append(chunk)
            self._queued += len(chunk)
            if self._queued >= self._wanted:
                self._has_items.set()

    def limit_retries(self, grace_s: float) -> None:
        """From now on, give up on a batch whose flush still fails ``grace_s`` seconds from now.

        Called when shutdown begins: a dead disk must not keep the process (and a ``put()`` waiting on
        a full queue) stuck forever. An earlier limit is kept."""
        limit = asyncio.get_running_loop().time() + grace_s
        self._give_up_at = limit if self._give_up_at is None else min(self._give_up_at, limit)

    async def close(self, grace_s: float = 10.0) -> int:
        """Stop taking items and flush everything queued (the drain), then stop the task.

        Failing flushes keep being retried for up to ``grace_s`` seconds after close() began (or after
        ``limit_retries``); then the items still unflushed are counted as lost and logged. Returns that
        count (0 normally)."""
        if self._closing:
            raise RuntimeError("batcher is already closed")
        self._closing = True
        self.limit_retries(grace_s)
        self.start()  # a batcher that was never started still drains
        self._has_items.set()  # wake the task: it stops once nothing is queued or waiting for room
        assert self._task is not None
        await self._task
        return self.lost

    def _take(self, batch: list[T]) -> None:
        """Move queued items into ``batch``, up to ``max_rows`` in it, oldest first."""
        chunks = self._chunks
        while chunks and len(batch) < self._max_rows:
            chunk = chunks.popleft()
            room = self._max_rows - len(batch)
            if len(chunk) > room:
                chunks.appendleft(chunk[room:])
                chunk = chunk[:room]
            batch.extend(chunk)
            self._queued -= len(chunk)
        self._has_room.set()
        if not chunks:
            self._has_items.clear()

    def _finished(self) -> bool:
        """Closing, and nothing is queued or waiting for room: the drain is over."""
        return self._closing and not self._chunks and not self._putters

    async def _run(self) -> None:
        try:
            await self._batches()
            while self._flights:  # the drain's last flushes
                await self._flights[0]
                self._flights.popleft()
        finally:
            for flight in self._flights:  # only when cancelled: no flush is left running behind
                flight.cancel()

    async def _batches(self) -> None:
        """Take batches and start their flushes (at most ``in_flight`` running) until the drain is over."""
        loop = asyncio.get_running_loop()
        while True:
            while not self._chunks:
                if self._finished():
                    return
                self._has_items.clear()  # a set event would return at once, without yielding
                self._wanted = 1
                await self._has_items.wait()
            while len(self._flights) >= self._in_flight:
                await self._flights[0]
                self._flights.popleft()
            batch: list[T] = []
            self._take(batch)
            await self._fill(batch)
            self._flights.append(loop.create_task(self._flush_until_done(batch), name="recorder-flush"))

    async def _fill(self, batch: list[T]) -> None:
        """Add queued items until the batch is full, its interval is over, or the drain has nothing left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._interval
        while len(batch) < self._max_rows:
            if not self._chunks:
                remaining = deadline - loop.time()
                if remaining <= 0 or self._finished():
                    return
                self._has_items.clear()
                self._wanted = self._max_rows - len(batch)  # woken when the batch can be filled
                try:
                    async with asyncio.timeout(remaining):
                        await self._has_items.wait()
                except TimeoutError:
                    self._take(batch)  # what came meanwhile (fewer than wanted)
                    return
                continue
            self._take(batch)

    async def _flush_until_done(self, batch: list[T]) -> None:
        for attempt, delay in enumerate(self._backoff.delays(), start=1):
            try:
                await self._flush(batch)
            except Exception as exc:  # a flush error must never end the loop: retry instead
                self.failures += 1
                if self._given_up(batch, exc):
                    return
                log.warning(
                    "flush of %d items failed (attempt %d: %s: %s); retrying in %.2fs",
                    len(batch),
                    attempt,
                    type(exc).__name__,
                    exc,
                    delay,
                    exc_info=attempt == 1,
                )
                await asyncio.sleep(self._bounded(delay))
                continue
            self.flushed += len(batch)
            if attempt > 1:
                log.info("flush of %d items succeeded after %d attempts", len(batch), attempt)
            return

    def _given_up(self, batch: list[T], exc: Exception) -> bool:
        if self._give_up_at is None or asyncio.get_running_loop().time() < self._give_up_at:
            return False
        self.lost += len(batch)
        log.error(
            "closing: giving up on %d items after repeated flush failures (last: %s: %s)",
            len(batch),
            type(exc).__name__,
            exc,
        )
        return True

    def _bounded(self, delay: float) -> float:
        """While closing, do not sleep past the give-up time."""
        if self._give_up_at is None:
            return delay
        return max(0.0, min(delay, self._give_up_at - asyncio.get_running_loop().time()))
