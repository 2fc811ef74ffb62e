"""The recorder process: ZeroMQ PULL -> decode -> PUB (for ``tail``) and batcher -> SQLite.

``run()`` is the whole lifecycle: open the store, bind the sockets, receive until ``should_exit`` is
set, then stop receiving, drain the batcher, close the sockets and the database.

Receiving awaits a ``zmq.asyncio.Poller`` (with a short timeout, to notice shutdown) and then reads the
waiting messages with plain non-blocking ``recv`` calls: about 2 us a message against 5.5 us through
``zmq.asyncio`` sockets, and nothing is ever cancelled half-way (a cancelled async ``recv`` can drop a
message that libzmq already handed over).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import zmq
import zmq.asyncio

from services.recorder.batcher import Batcher
from services.recorder.store import Row, Store, event_row
from shared.events import decode
from shared.settings import Settings

log = logging.getLogger("recorder")

RCVHWM = 200_000  # messages libzmq may hold for us (~0.7 KB each) before the gateway's sends fail
TAIL_SNDHWM = 10_000  # per subscriber; a slow tail loses events, the ledger never does
MAX_QUEUED = 100_000  # rows between receiver and batcher; past this the receiver waits (back-pressure)
BURST = 1_000  # messages read per wake-up before letting the batcher run
POLL_MS = 100  # how often an idle receiver checks for shutdown
FINAL_QUIET_MS = 100  # at shutdown, keep reading until no message came for this long...
FINAL_READ_S = 1.0  # ...or for at most this long
SUMMARY_EVERY_S = 60.0
SHUTDOWN_GRACE_S = 3.0  # failing flushes are retried this long after a signal (honcho kills after 5 s)
MALFORMED_LOG_FIRST = 10  # log this many malformed messages in full, then one per MALFORMED_LOG_EVERY
MALFORMED_LOG_EVERY = 1_000


@dataclass(slots=True)
class Counters:
    """What the recorder did; logged periodically and at exit."""

    received: int = 0
    malformed: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0  # rows SQLite refused (constraint errors)
    batches: int = 0
    largest_batch: int = 0
    lost: int = 0

    def summary(self) -> str:
        rows = self.inserted + self.duplicates + self.rejected
        mean = rows / self.batches if self.batches else 0.0
        return (f"received={self.received} inserted={self.inserted} duplicates={self.duplicates} "
                f"malformed={self.malformed} rejected={self.rejected} lost={self.lost} batches={self.batches} "
                f"mean_batch={mean:.1f} largest_batch={self.largest_batch}")


@dataclass(slots=True)
class _Pipes:
    pull: zmq.Socket[bytes]
    poller: zmq.asyncio.Poller
    pub: zmq.Socket[bytes]
    batcher: Batcher[Row]
    counters: Counters


async def run(settings: Settings, should_exit: asyncio.Event) -> Counters:
    """Record events until ``should_exit`` is set, then drain and close. Returns the final counters."""
    counters = Counters()
    store = await Store.open(settings.database_path)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        batcher = _batcher(settings, store, counters)
        pull, pub = _bind(ctx, settings)
        poller = zmq.asyncio.Poller()
        poller.register(pull, zmq.POLLIN)
        await _record(settings, store, _Pipes(pull, poller, pub, batcher, counters), should_exit)
    finally:
        # LINGER 0 everywhere: PULL has nothing to send, and tail subscribers may miss the last events
        # (the ledger has them). destroy() closes every socket, so term() can never hang on one.
        ctx.destroy(linger=0)
        await store.close()
    return counters


def _bind(ctx: zmq.Context[zmq.Socket[bytes]], settings: Settings) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.RCVHWM, RCVHWM)
    pub = ctx.socket(zmq.PUB)  # PUB never blocks: a slow subscriber loses messages instead
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, TAIL_SNDHWM)
    pull.bind(settings.events_endpoint)  # on failure the caller's ctx.destroy() closes both sockets
    pub.bind(settings.tail_endpoint)
    return pull, pub


def _batcher(settings: Settings, store: Store, counters: Counters) -> Batcher[Row]:
    async def flush(rows: list[Row]) -> None:
        t0, rejected_before = time.perf_counter(), store.rejected
        inserted = await store.insert_rows(rows)
        rejected = store.rejected - rejected_before
        counters.inserted += inserted
        counters.rejected += rejected
        counters.duplicates += len(rows) - inserted - rejected
        counters.batches += 1
        counters.largest_batch = max(counters.largest_batch, len(rows))
        log.debug("flushed %d rows (%d new) in %.1f ms", len(rows), inserted, (time.perf_counter() - t0) * 1e3)

    return Batcher(flush, max_rows=settings.recorder_batch_size,
                   flush_interval_s=settings.recorder_flush_interval_s, max_queued=MAX_QUEUED)


async def _record(settings: Settings, store: Store, pipes: _Pipes, should_exit: asyncio.Event) -> None:
    pipes.batcher.start()
    log.info("recorder started: events=%s (PULL) tail=%s (PUB) db=%s batch_size=%d flush_interval=%gs",
             settings.events_endpoint, settings.tail_endpoint, store.path,
             settings.recorder_batch_size, settings.recorder_flush_interval_s)
    loop = asyncio.get_running_loop()
    helpers = [loop.create_task(_report(pipes.counters), name="recorder-summary"),
               loop.create_task(_limit_retries_on_exit(pipes.batcher, should_exit), name="recorder-exit")]
    try:
        await _receive(pipes, should_exit)
    finally:
        for task in helpers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("recorder stopping: draining %d queued rows", pipes.batcher.pending)
        pipes.counters.lost = await pipes.batcher.close(SHUTDOWN_GRACE_S)
        log.info("recorder summary: %s", pipes.counters.summary())


async def _receive(pipes: _Pipes, should_exit: asyncio.Event) -> None:
    while not should_exit.is_set():
        if await pipes.poller.poll(POLL_MS):
            await _read_burst(pipes)
            await asyncio.sleep(0)  # let the batcher take what we queued
    # Messages libzmq already took off the wire, or that the gateway is still flushing, are delivered
    # to us alone: closing the socket would drop them. Read until the line has been quiet for a moment.
    deadline = asyncio.get_running_loop().time() + FINAL_READ_S
    while asyncio.get_running_loop().time() < deadline and await pipes.poller.poll(FINAL_QUIET_MS):
        await _read_burst(pipes)


async def _read_burst(pipes: _Pipes) -> int:
    """Read up to BURST waiting messages without blocking; returns how many were read."""
    for n in range(BURST):
        try:
            frames = pipes.pull.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return n
        await _handle(frames, pipes)
    return BURST


async def _handle(frames: list[bytes], pipes: _Pipes) -> None:
    counters = pipes.counters
    counters.received += 1
    try:
        if len(frames) != 1:
            raise ValueError(f"expected one frame, got {len(frames)}")
        row = event_row(decode(frames[0]))
    except Exception as exc:  # a bad message is the sender's bug: count it, never stop the ledger
        counters.malformed += 1
        if counters.malformed <= MALFORMED_LOG_FIRST or counters.malformed % MALFORMED_LOG_EVERY == 0:
            log.warning("malformed message #%d dropped (%s: %s): %r", counters.malformed,
                        type(exc).__name__, exc, b"|".join(frames)[:200])
        return
    with contextlib.suppress(zmq.ZMQError):  # the live view is best effort
        pipes.pub.send(frames[0], zmq.NOBLOCK)
    await pipes.batcher.put(row)


async def _limit_retries_on_exit(batcher: Batcher[Row], should_exit: asyncio.Event) -> None:
    # The receiver may be waiting on a full queue behind a failing flush: start the give-up clock now,
    # or a signal could never end the process.
    await should_exit.wait()
    batcher.limit_retries(SHUTDOWN_GRACE_S)


async def _report(counters: Counters) -> None:
    last = -1
    while True:
        await asyncio.sleep(SUMMARY_EVERY_S)
        if counters.received != last:
            last = counters.received
            log.info("recorder summary: %s", counters.summary())
