"""The recorder process: ZeroMQ ROUTER -> decode -> PUB (for ``tail``) and batcher -> ledger -> acknowledgements.

The ledger is SQLite (``DATABASE_PATH``) or PostgreSQL (``DATABASE_URL``): ``engines.open_store``.
SQLite is written by a child process (``writer.WriterProcess``: one GIL each, so the receiving loop
here and the inserts there run on two cores); this process receives, decodes and checks each event
(``wire.wire_row``), republishes it, batches the rows and hands each batch to the writer (up to
``WriterProcess.IN_FLIGHT`` batches there: it starts on the next while this loop takes its last answer,
and commits those waiting together), and acknowledges a batch when the writer answers that it is
committed. PostgreSQL is written from this process (asyncpg; the server
does the work in its own processes).

``run()`` is the whole lifecycle: open the store, bind the sockets, receive until ``should_exit`` is
set, then wait for draining gateways' last events, drain the batcher, close the sockets and the database.

Delivery (the wire is described in ``services/gateway/publisher.py``): each gateway keeps every event
until the recorder acknowledges it, and the recorder acknowledges a batch's event ids only after the
SQLite ``COMMIT`` of that batch. So nothing is ever acknowledged that is not committed: a recorder killed
at any moment loses nothing, because the gateways resend what it had not acknowledged, and the store
inserts on the event id (``ON CONFLICT DO NOTHING``), so a resent event is stored once. The same holds
for the writer process: killed mid-batch, its unanswered batches are retried by a new one and nothing of
them was acknowledged; this process killed, the writer sees its socket close and exits.

Outcomes, decided here:

* locked database, full or read-only disk, I/O errors: the batch is retried with backoff (the batcher),
  nothing is acknowledged, the gateways keep the events (bounded by their ``EVENT_QUEUE_MAX``) and the
  rows appear once the disk is usable again. At shutdown a batch still failing after the grace period is
  lost *here* but was never acknowledged: a gateway still running delivers it to the next recorder.
* a corrupt event (not JSON, not an event, a field SQLite cannot store): acknowledged and dropped, with a
  log line carrying its first bytes and a ``malformed`` count. It can never become valid by resending, and
  holding it would block its gateway's memory forever. A row SQLite refuses (a constraint) is the same.

The live feed (``TAIL_ENDPOINT``, XPUB: a PUB socket that also reads its subscriptions): each valid
event's payload as received (either wire form of ``shared/events.py``: subscribers read it with
``shared.events.decode``), republished before it is written, and only while someone subscribes (no
``tail``, no budget follower: nothing to send, a frame an event saved). The events of one burst (up to
``BURST_ROWS``) go out as one multipart message, one event per frame: ``recv_multipart`` reads a burst,
and a plain ``recv`` still reads one event per call (``tail`` and the gateways' budget follower).

Receiving waits on the sockets' descriptors registered with the loop once (``watch.SocketWatch``: a
``zmq.asyncio.Poller`` made new wrappers and futures on every call, about a fifth of this loop's CPU in
the live stack) and then reads the waiting messages with plain non-blocking ``recv`` calls: about 2 us a
message against 5.5 us through ``zmq.asyncio`` sockets, and nothing is ever cancelled half-way (a
cancelled async ``recv`` can drop a message that libzmq already handed over). Acknowledgements are sent
on the same socket, so the acker pokes the watch after each (see ``watch``). After a read that emptied the
socket the receiver lets messages gather before it looks again: ``GATHER_S`` (20 ms) while someone
subscribes to the live feed, ``GATHER_QUIET_S`` (100 ms, at most half of ``RECORDER_FLUSH_INTERVAL``)
while nobody does: a gateway under load sends a message every 5 ms, and each wake-up of this loop has a
fixed cost (issue 13, sessions 11 and 13: the recorder's CPU per event in the live stack,
docs/benchmarks.md). Rows wait for their batch's commit (``RECORDER_FLUSH_INTERVAL``) anyway; the live
feed sees events up to 20 ms later; an idle recorder wakes once a second (``IDLE_CHECK_S``; shutdown
wakes it at once, and ends a gather).

Priority (``RECORDER_PRIORITY``, ``priority.py``): set in ``run`` once the store is open, on every thread
of this process and of the SQLite writer; the receiving loop tells it after every wake-up whether the
recorder is behind (``_check_priority``), which with ``idle`` moves them between ``SCHED_IDLE`` and normal.
With ``idle`` a starvation guard (``guard.py``, a process of its own started by ``Priority.start``) moves
them to normal when the kernel says a ``SCHED_IDLE`` thread waited for a CPU: a starved loop cannot.

The wire (the gateway's side is ``services/gateway/publisher.py``): ``[ev3, ids, payloads]`` (ids and
payloads each joined by ``SEP``), answered by ``[ack2, ids]``; ``[ev2 | ev, id, payload, ...]`` from
older gateways, answered by ``[ack, id, ...]`` (``Acker.send`` picks by what the gateway sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

import numpy as np
import orjson
import zmq
from zmq.utils.monitor import parse_monitor_message

from services.recorder import gc_tuning
from services.recorder.batcher import Batcher
from services.recorder.engines import LedgerWriter, open_store
from services.recorder.frames import recv_parts, send_parts
from services.recorder.metrics import RecorderMetrics
from services.recorder.priority import Priority, choose
from services.recorder.store import COLUMNS, Row
from services.recorder.watch import SocketWatch
from services.recorder.wire import fast_row, wire_row
from services.recorder.writer import WriterProcess
from shared.settings import Settings

log = logging.getLogger("recorder")

RCVHWM = 200_000  # messages libzmq may hold for us (each one or more events of ~0.7 KB) before the
# gateways' sends fail; a gateway holds at most EVENT_QUEUE_MAX events, so batches never reach the bound
TAIL_SNDHWM = 10_000  # messages (bursts) per subscriber; a slow tail loses events, the ledger never does
MAX_QUEUED = 100_000  # rows between receiver and batcher; past this the receiver waits (back-pressure)
BURST = 1_000  # messages (one or more events each) read per wake-up before letting the batcher run
BURST_ROWS = 1_000  # events read are queued (and published) together, at most this many at a time
GATHER_S = 0.02  # after a read that emptied the socket, let messages gather this long before the next one:
# a gateway sends a message every 5 ms under load (its BATCH_DELAY_S), and each wake-up of this loop has
# a fixed cost (issue 13, session 11); rows wait RECORDER_FLUSH_INTERVAL for their commit anyway, so
# only the live feed (tail, the gateways' budget follower) sees events up to this much later
GATHER_QUIET_S = 0.1  # the same while nobody listens to the live feed (no tail, no budget follower), at
# most half of RECORDER_FLUSH_INTERVAL: each wake-up of this loop cost about 0.25-0.4 ms of its CPU in
# the live stack (issue 13, sessions 11 and 13), and then only the commit (and its acknowledgement)
# waits, by at most this much
BEHIND_LAG_S = 1.0  # events read this long after they finished: the recorder is behind (priority.py);
# a gateway sends within 5 ms of a request's end and this loop reads at least every GATHER_QUIET_S
IDLE_CHECK_S = 1.0  # an idle receiver looks at its sockets at least this often (shutdown pokes it at
# once; this only bounds the delay of a wake-up ZeroMQ's edge-style descriptor might not give)
FINAL_QUIET_MS = 100  # at shutdown, keep reading until no message came for this long...
FINAL_READ_S = 1.0  # ...or for at most this long
# ...or, while a gateway said it is draining (its own SIGTERM), until it says goodbye, for at most this
# long: its in-flight requests (SHUTDOWN_GRACE) and acknowledgements (SHUTDOWN_ACK_WAIT), 4.5 s by
# default, within the 5 s honcho allows before it kills.
FINAL_DRAIN_S = 4.6
SUMMARY_EVERY_S = 60.0
SHUTDOWN_GRACE_S = 3.0  # failing flushes are retried this long after a signal (honcho kills after 5 s)
MALFORMED_LOG_FIRST = 10  # log this many malformed messages in full, then one per MALFORMED_LOG_EVERY
MALFORMED_LOG_EVERY = 1_000
ACK_LINGER_MS = 500  # at exit, how long ZeroMQ may keep trying to deliver the last acknowledgements

EVENT, DRAIN, BYE, ACK = b"ev", b"drain", b"bye", b"ack"
# The same message with payloads in shared.events.encode_row's form (arrays in field order), which a
# recorder older than it would take for malformed events and acknowledge: under its own word, an older
# recorder acknowledges none of them (an unknown message), and the gateway keeps them for a newer one.
# Either word's payloads may be either form (wire.wire_row reads both).
EVENT_ROWS = b"ev2"
# [ev3, ids, payloads]: the event ids joined by SEP in one frame, their payloads (encode_row's arrays)
# joined by SEP in another, in the same order: three frames a message instead of two an event (issue 13,
# session 13: receiving a frame cost the recorder's loop about 1 us, two an event, and the gateway as much
# to send them). A gateway that sends it reads ACK_JOINED; an older recorder leaves it unacknowledged
# (an unknown message), like ev2.
EVENT_JOINED = b"ev3"
ACK_JOINED = b"ack2"  # [ack2, ids joined by SEP]: one frame, to gateways that sent ev3
# orjson never writes a raw newline (JSON escapes control characters inside strings and orjson adds no
# whitespace), and event ids are hex digits: the separator cannot occur inside either.
SEP = b"\n"
ACK_IDS_PER_MESSAGE = 1_000
JOINED_GATEWAYS_MAX = 10_000  # routing ids remembered as reading ACK_JOINED (one per gateway process)
_EVENTS, _POLLIN, _NOBLOCK = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.NOBLOCK)
_FINISHED_AT = COLUMNS.index("finished_at")
_EVENT_ID = COLUMNS.index("event_id")

Item = tuple[bytes, bytes, Row]  # (gateway routing id, event id, row)


@dataclass(slots=True)
class Counters:
    """What the recorder did; logged periodically and at exit."""

    received: int = 0
    malformed: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0  # rows SQLite refused (constraint errors)
    acked: int = 0
    batches: int = 0
    largest_batch: int = 0
    lost: int = 0

    def summary(self) -> str:
        rows = self.inserted + self.duplicates + self.rejected
        mean = rows / self.batches if self.batches else 0.0
        return (
            f"received={self.received} inserted={self.inserted} duplicates={self.duplicates} "
            f"malformed={self.malformed} rejected={self.rejected} acked={self.acked} lost={self.lost} "
            f"batches={self.batches} mean_batch={mean:.1f} largest_batch={self.largest_batch}"
        )


@dataclass(slots=True)
class _Pipes:
    router: zmq.Socket[bytes]
    monitor: zmq.Socket[bytes]
    watch: SocketWatch
    pub: zmq.Socket[bytes]
    batcher: Batcher[Item]
    acker: Acker
    draining: set[bytes] = field(default_factory=set)  # gateways that announced their shutdown
    gateways: int = 0
    topics: set[bytes] = field(default_factory=set)  # what the tail's subscribers subscribed to
    quiet_gather_s: float = GATHER_QUIET_S  # the gather while nobody subscribes (see GATHER_QUIET_S)
    priority: Priority = field(default_factory=lambda: Priority("normal"))  # RECORDER_PRIORITY (priority.py)
    behind_rows: int = 500  # rows queued for the writer from which the recorder is behind (a whole batch)
    writer: WriterProcess | None = None  # the SQLite writer: behind while every batch it may hold waits
    lag_s: float = 0.0  # how old the first event of the last burst read was (finished_at to now, seconds)


async def run(settings: Settings, should_exit: asyncio.Event) -> Counters:
    """Record events until ``should_exit`` is set, then drain and close. Returns the final counters."""
    counters = Counters()
    metrics = RecorderMetrics()
    store = await open_store(settings)
    writer = store if isinstance(store, WriterProcess) else None
    # Before ZeroMQ's I/O threads start: they inherit it (priority.py); the writer's process is set too.
    mode, why = choose(settings.recorder_priority)
    priority = Priority(mode, lambda: [writer.pid] if writer is not None and writer.pid else [])
    priority.start()
    log.info("recorder priority: %s (%s)", mode, why)
    metrics.priority_mode.labels(mode).set(1)
    metrics.background.set(1 if priority.background else 0)
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    server: WSGIServer | None = None
    try:
        router, monitor, pub = _bind(ctx, settings)
        server = metrics.serve(settings.recorder_metrics_host, settings.recorder_metrics_port)
        watch = SocketWatch([router, monitor])
        acker = Acker(router, counters, metrics, watch)
        pipes = _Pipes(router, monitor, watch, pub, _batcher(settings, store, acker), acker)
        pipes.quiet_gather_s = min(GATHER_QUIET_S, settings.recorder_flush_interval_s / 2)
        pipes.priority, pipes.writer, pipes.behind_rows = priority, writer, settings.recorder_batch_size
        gc_tuning.after_startup()  # rows are containers the collector would traverse (gc_tuning)
        try:
            await _record(settings, store, pipes, should_exit)
        finally:
            watch.close()
        # The last acknowledgements are queued: give them a moment to leave.
        router.close(linger=ACK_LINGER_MS)
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        # Tail subscribers may miss the last events (the ledger has them). destroy() closes every socket
        # left, so term() can never hang on one.
        ctx.destroy(linger=0)
        await store.close()
        priority.close()  # the starvation guard (guard.py), if any
    return counters


def _bind(
    ctx: zmq.Context[zmq.Socket[bytes]], settings: Settings
) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes], zmq.Socket[bytes]]:
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.setsockopt(zmq.RCVHWM, RCVHWM)
    router.setsockopt(zmq.SNDHWM, 0)  # acknowledgements are small: never drop one for a slow gateway
    router.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a gateway that reconnects takes its routing id back
    monitor = router.get_monitor_socket(zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
    # XPUB (a PUB that also reads its subscribers' subscriptions): it never blocks, a slow subscriber
    # loses messages instead; and with no subscriber (no tail, no budget follower) nothing is sent at all.
    pub = ctx.socket(zmq.XPUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, TAIL_SNDHWM)
    router.bind(settings.events_endpoint)  # on failure the caller's ctx.destroy() closes the sockets
    pub.bind(settings.tail_endpoint)
    return router, monitor, pub


@dataclass(slots=True)
class Acker:
    """Sends acknowledgements to the gateways (and holds the counters and metrics they feed)."""

    router: zmq.Socket[bytes]
    counters: Counters
    metrics: RecorderMetrics
    watch: SocketWatch | None = None  # poked after sending on the router it watches (see ``watch``)
    joined: set[bytes] = field(default_factory=set)  # gateways that sent ev3: they read ACK_JOINED

    def send(self, gateway: bytes, ids: list[bytes]) -> None:
        """Acknowledge ``ids`` to ``gateway``: one ``[ack2, ids joined]`` frame when it sent ``ev3``,
        else ``[ack, id, id, ...]`` messages of at most ``ACK_IDS_PER_MESSAGE`` ids (older gateways).
        A gateway gone or stuck is skipped: it resends, and the row is stored once."""
        if gateway in self.joined:
            try:
                send_parts(self.router, [gateway, ACK_JOINED, SEP.join(ids)])
            except zmq.ZMQError:
                pass
            else:
                self.counters.acked += len(ids)
                self.metrics.acked.inc(len(ids))
            if self.watch is not None:
                self.watch.poke()
            return
        for i in range(0, len(ids), ACK_IDS_PER_MESSAGE):
            chunk = ids[i : i + ACK_IDS_PER_MESSAGE]
            try:
                send_parts(self.router, [gateway, ACK, *chunk])
            except zmq.ZMQError:  # that gateway is gone or stuck: it resends, and the row is stored once
                continue
            self.counters.acked += len(chunk)
            self.metrics.acked.inc(len(chunk))
        if self.watch is not None:
            self.watch.poke()


def make_flush(store: LedgerWriter, acker: Acker) -> Callable[[list[Item]], Awaitable[None]]:
    """The batcher's ``flush``: commit a batch (``store.insert_counted``), count it, then acknowledge its
    events. Several may run at once (``WriterProcess.IN_FLIGHT``): each counts its own batch's rows, as
    the store answered for that batch. Raises the store's error (nothing counted or acknowledged)."""
    counters, metrics = acker.counters, acker.metrics
    counted_commits = store.commits  # the store's transactions already in metrics.commits

    async def flush(items: list[Item]) -> None:
        nonlocal counted_commits
        t0 = time.perf_counter()
        try:
            inserted, rejected = await store.insert_counted([row for _, _, row in items])
        except Exception:
            metrics.flush_failures.inc()
            raise
        elapsed = time.perf_counter() - t0
        # Never negative (a Counter refuses it); the store's counts are per batch, so this is a backstop.
        duplicates = max(0, len(items) - inserted - rejected)
        counters.inserted += inserted
        counters.rejected += rejected
        counters.duplicates += duplicates
        counters.batches += 1
        counters.largest_batch = max(counters.largest_batch, len(items))
        metrics.batch_size.observe(len(items))
        metrics.commit_seconds.observe(elapsed)
        # Read and updated with no await between: concurrent flushes cannot count a commit twice.
        metrics.commits.inc(store.commits - counted_commits)
        counted_commits = store.commits
        metrics.rows.labels("inserted").inc(inserted)
        metrics.rows.labels("duplicate").inc(duplicates)
        metrics.rows.labels("rejected").inc(rejected)
        now = time.time()
        # Per event, in numpy (session 13: half the Python of three list passes): a finish time missing
        # (None, 0) counts as now (lag 0) in the histogram and as 0 for the newest.
        finished = np.array([row[_FINISHED_AT] or 0.0 for _, _, row in items])
        newest = float(finished.max())
        finished = np.where(finished == 0.0, now, finished)
        metrics.lag.observe_many(np.where(finished < now, now - finished, 0.0))
        metrics.last_lag.set(max(0.0, now - newest))
        log.debug("flushed %d rows (%d new) in %.1f ms", len(items), inserted, elapsed * 1e3)
        # Committed: only now may the gateways forget these events.
        first = items[0][0]
        if all(gateway == first for gateway, _, _ in items):  # one gateway process: the usual case
            acker.send(first, [event_id for _, event_id, _ in items])
            return
        by_gateway: dict[bytes, list[bytes]] = defaultdict(list)
        for gateway, event_id, _ in items:
            by_gateway[gateway].append(event_id)
        for gateway, ids in by_gateway.items():
            acker.send(gateway, ids)

    return flush


def _batcher(settings: Settings, store: LedgerWriter, acker: Acker) -> Batcher[Item]:
    return Batcher(
        make_flush(store, acker),
        max_rows=settings.recorder_batch_size,
        flush_interval_s=settings.recorder_flush_interval_s,
        max_queued=MAX_QUEUED,
        # SQLite: the writer process works on one batch while the next waits at its socket.
        in_flight=WriterProcess.IN_FLIGHT if isinstance(store, WriterProcess) else 1,
    )


async def _record(settings: Settings, store: LedgerWriter, pipes: _Pipes, should_exit: asyncio.Event) -> None:
    pipes.batcher.start()
    log.info(
        "recorder started: events=%s (ROUTER, acknowledged) tail=%s (PUB) db=%s batch_size=%d "
        "flush_interval=%gs metrics=%s",
        settings.events_endpoint,
        settings.tail_endpoint,
        store.path,
        settings.recorder_batch_size,
        settings.recorder_flush_interval_s,
        f"http://{settings.recorder_metrics_host}:{settings.recorder_metrics_port}/metrics"
        if settings.recorder_metrics_port
        else "off",
    )
    loop = asyncio.get_running_loop()
    helpers = [
        loop.create_task(_report(pipes.acker.counters), name="recorder-summary"),
        loop.create_task(_limit_retries_on_exit(pipes.batcher, should_exit), name="recorder-exit"),
        loop.create_task(_poke_on_exit(pipes.watch, should_exit), name="recorder-exit-wake"),
    ]
    try:
        await _receive(pipes, should_exit)
    finally:
        for task in helpers:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("recorder stopping: draining %d queued rows", pipes.batcher.pending)
        pipes.acker.counters.lost = await pipes.batcher.close(SHUTDOWN_GRACE_S)
        if pipes.acker.counters.lost:
            log.error(
                "%d events could not be committed and were not acknowledged: the gateways that sent "
                "them keep them for the next recorder",
                pipes.acker.counters.lost,
            )
        log.info("recorder summary: %s", pipes.acker.counters.summary())


async def _receive(pipes: _Pipes, should_exit: asyncio.Event) -> None:
    while not should_exit.is_set():
        if await pipes.watch.wait(IDLE_CHECK_S):  # yields once either way: the batcher takes what we queued
            read = await _read_burst(pipes)
            _check_priority(pipes, read, time.monotonic())
            if read < BURST and not should_exit.is_set():
                await _gather(pipes, should_exit)
        else:
            _check_priority(pipes, 0, time.monotonic())
    # Shutting down counts as behind: the drain below has a deadline (honcho kills after 5 s), so it runs
    # at normal priority however busy the machine is.
    pipes.priority.check(True, time.monotonic())
    # Messages libzmq already took off the wire, or that gateways are still flushing, are delivered to
    # us alone: read until the line has been quiet for a moment, and while a gateway is draining, until
    # it says goodbye (both bounded). Batches keep being committed and acknowledged meanwhile.
    loop = asyncio.get_running_loop()
    started = loop.time()
    # A gateway signalled at the same moment may take a little while to say it is draining.
    quiet_s = (FINAL_QUIET_MS * 3 if pipes.gateways else FINAL_QUIET_MS) / 1000
    quiet_until = started + quiet_s
    announced = False
    while (now := loop.time()) < started + (FINAL_DRAIN_S if pipes.draining else FINAL_READ_S):
        if pipes.draining and not announced:
            log.info("waiting for %d draining gateway(s)", len(pipes.draining))
            announced = True
        # A poke (an acknowledgement sent) ends a wait early with nothing read: quiet_until stays.
        if await pipes.watch.wait(max(0.0, quiet_until - now)):
            await _read_burst(pipes)
            quiet_until = loop.time() + quiet_s
        elif loop.time() >= quiet_until:
            if not pipes.draining:
                break
            quiet_until = loop.time() + quiet_s
    if pipes.draining:
        log.warning("%d gateway(s) still draining; stopping anyway", len(pipes.draining))


def _check_priority(pipes: _Pipes, read: int, now: float) -> None:
    """Tell the priority (``priority.Priority.check``) whether the recorder is behind: a read that found
    ``BURST`` messages waiting, events that finished ``BEHIND_LAG_S`` or more before they were read (the
    gateways held them: a recorder that did not run, or their resends), a whole batch queued for the
    writer (``behind_rows``), or the SQLite writer holding every batch it may hold (``IN_FLIGHT``)."""
    behind = (
        read >= BURST
        or pipes.lag_s >= BEHIND_LAG_S
        or pipes.batcher.pending >= pipes.behind_rows
        or (pipes.writer is not None and pipes.writer.unanswered >= WriterProcess.IN_FLIGHT)
    )
    pipes.lag_s = 0.0
    pipes.priority.check(behind, now)
    pipes.acker.metrics.background.set(1 if pipes.priority.background else 0)
    pipes.acker.metrics.priority_raises.labels("recorder").set(pipes.priority.raises)
    pipes.acker.metrics.priority_raises.labels("watchdog").set(pipes.priority.guard_raises)


async def _gather(pipes: _Pipes, should_exit: asyncio.Event) -> None:
    """Let messages gather before the next read (the socket was just emptied): ``GATHER_S`` while someone
    subscribes to the live feed, else ``pipes.quiet_gather_s``. Ends at once when ``should_exit`` is set."""
    _read_subscriptions(pipes)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(GATHER_S if pipes.topics else pipes.quiet_gather_s):
            await should_exit.wait()


async def _read_burst(pipes: _Pipes) -> int:
    """Read up to BURST waiting messages without blocking; returns how many were read.

    The events read are published, counted and queued together (``_Burst``), at most
    ``BURST_ROWS`` at a time, so that per-event work in this thread stays the decoding alone."""
    _read_monitor(pipes)
    burst = _Burst()
    read = BURST
    for n in range(BURST):
        try:
            frames = recv_parts(pipes.router)
        except zmq.Again:
            read = n
            break
        _handle(frames, pipes, burst)
        if n == 0 and burst.items:  # the burst's oldest event: how long it waited to be read
            finished = burst.items[0][2][_FINISHED_AT]
            if isinstance(finished, float | int) and finished:
                pipes.lag_s = time.time() - finished
                if pipes.lag_s >= BEHIND_LAG_S:  # at once: the rest of the burst at normal priority
                    pipes.priority.check(True, time.monotonic())
        if len(burst.items) >= BURST_ROWS:
            await _pass_on(pipes, burst)
            # Let the batcher run: it hands a full batch to the writer process, or takes the writer's
            # answer and acknowledges, so that the writer works while this loop decodes the next events.
            await asyncio.sleep(0)
    await _pass_on(pipes, burst)
    pipes.acker.metrics.queued.set(pipes.batcher.pending)
    return read


@dataclass(slots=True)
class _Burst:
    """Events read since the last ``_pass_on``: valid ones (rows and their payloads) and how many were
    received in all (the malformed among them are already counted, logged and acknowledged)."""

    items: list[Item] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    received: int = 0


async def _pass_on(pipes: _Pipes, burst: _Burst) -> None:
    """Count the burst's events, publish the valid ones to the tail (one multipart message, one event
    per frame) and queue them for the ledger; waits while the batcher's queue is full."""
    if burst.received:
        pipes.acker.counters.received += burst.received
        pipes.acker.metrics.received.inc(burst.received)
        burst.received = 0
    if burst.payloads:
        _read_subscriptions(pipes)
        if pipes.topics:
            with contextlib.suppress(zmq.ZMQError):  # the live view is best effort
                send_parts(pipes.pub, burst.payloads)
        burst.payloads = []
    if burst.items:
        items, burst.items = burst.items, []
        await pipes.batcher.put_many(items)


def _read_subscriptions(pipes: _Pipes) -> None:
    """Take the tail's (un)subscriptions waiting on the XPUB socket into ``pipes.topics``. libzmq passes
    a topic's first subscription and, when its last subscriber unsubscribes or disconnects, its
    unsubscription (zmq_setsockopt(3), ZMQ_XPUB_VERBOSE off, the default), so the set holds exactly the
    topics someone listens to; a subscriber that reconnects (a recorder restart) subscribes again."""
    pub = pipes.pub
    while int(pub.getsockopt(_EVENTS)) & _POLLIN:
        try:
            message = pub.recv(_NOBLOCK)
        except zmq.Again:
            return
        if message[:1] == b"\x01":
            pipes.topics.add(message[1:])
        elif message[:1] == b"\x00":
            pipes.topics.discard(message[1:])


def _read_monitor(pipes: _Pipes) -> None:
    while True:
        try:
            msg = parse_monitor_message(pipes.monitor.recv_multipart(zmq.NOBLOCK))
        except zmq.Again:
            return
        if msg["event"] == zmq.EVENT_ACCEPTED:
            pipes.gateways += 1
        elif msg["event"] == zmq.EVENT_DISCONNECTED:
            pipes.gateways = max(0, pipes.gateways - 1)
        pipes.acker.metrics.gateways.set(pipes.gateways)


def _handle(frames: list[bytes], pipes: _Pipes, burst: _Burst) -> None:
    """One message: a control word, or ``[ev, event_id, payload, event_id, payload, ...]`` (``ev`` or
    ``ev2``: a gateway batches its events; each pair is one event, received, checked and acknowledged on
    its own). Valid events go into ``burst``."""
    gateway, kind = frames[0], frames[1] if len(frames) > 1 else b""
    if kind == DRAIN and len(frames) == 2:
        pipes.draining.add(gateway)
        return
    if kind == BYE and len(frames) == 2:
        pipes.draining.discard(gateway)
        return
    if kind == EVENT_JOINED:
        _handle_joined(frames, pipes, burst)
        return
    events = kind == EVENT or kind == EVENT_ROWS
    if not events or len(frames) < 4:
        problem = ValueError(f"expected [ev, event_id, payload, ...], got {len(frames) - 1} frame(s)")
        # An event id without its payload is still acknowledged: resending cannot mend it.
        _malformed(pipes, gateway, problem, frames[1:], frames[2] if events and len(frames) == 3 else None)
        return
    last = len(frames) - 1
    burst.received += (len(frames) - 2) // 2  # the complete pairs
    for i in range(2, last, 2):
        _accept(pipes, burst, gateway, kind, frames[i], frames[i + 1])
    if len(frames) % 2:  # a last event id without its payload
        problem = ValueError("the message's last event id has no payload")
        _malformed(pipes, gateway, problem, [kind, frames[-1]], frames[-1])


def _handle_joined(frames: list[bytes], pipes: _Pipes, burst: _Burst) -> None:
    """``[ev3, ids, payloads]``: the i-th id of the ``SEP``-joined ids is the i-th payload's. Each event is
    checked and acknowledged on its own, as in ``ev2``; ids and payloads that do not pair up (a frame
    missing, or counts that differ) make every id of the message malformed (acknowledged: a resend
    cannot mend them)."""
    gateway = frames[0]
    acker = pipes.acker
    if gateway not in acker.joined:
        if len(acker.joined) >= JOINED_GATEWAYS_MAX:
            acker.joined.clear()  # gateways long gone; a live one is added back by its next message
        acker.joined.add(gateway)
    ids = frames[2].split(SEP) if len(frames) > 2 else []
    payloads = frames[3].split(SEP) if len(frames) == 4 else []
    if len(ids) != len(payloads):
        problem = ValueError(
            f"expected [ev3, ids, payloads] with as many payloads as ids, got {len(frames) - 1} frame(s), "
            f"{len(ids)} id(s) and {len(payloads)} payload(s)"
        )
        for event_id in ids:
            _malformed(pipes, gateway, problem, frames[1:], event_id)
        if not ids:
            _malformed(pipes, gateway, problem, frames[1:], None)
        return
    burst.received += len(ids)
    # ``_accept`` inlined for a gateway's usual event (an array that ``wire.fast_row`` takes, with the
    # envelope's id): the same row, three calls fewer an event (issue 13, session 15). Anything else
    # (not JSON, an object, a value to normalise or refuse, another id, or a payload that makes
    # ``fast_row`` raise: failed attempts nested deeper than orjson re-encodes) goes to ``_accept``, which
    # decides and, for an error, counts it malformed: an exception here would stop the recorder.
    loads, fast, items, kept = orjson.loads, fast_row, burst.items, burst.payloads
    for event_id, payload in zip(ids, payloads, strict=True):
        try:
            data = loads(payload)
            row = fast(data) if type(data) is list else None
        except Exception:  # no cost on 3.11 when nothing is raised
            row = None
        if row is None or row[_EVENT_ID].encode() != event_id:
            _accept(pipes, burst, gateway, EVENT_JOINED, event_id, payload)
            continue
        items.append((gateway, event_id, row))
        kept.append(payload)


def _accept(
    pipes: _Pipes, burst: _Burst, gateway: bytes, kind: bytes, event_id: bytes, payload: bytes
) -> None:
    """One event of a message (any of ``ev``, ``ev2``, ``ev3``, named by ``kind`` for the log): decode and
    check ``payload`` (``wire.wire_row``; its ``event_id`` must be the envelope's ``event_id``) and add the
    row and payload to ``burst``; a bad one is counted malformed (already counted received by the caller),
    logged and acknowledged (``_malformed``)."""
    try:
        row = wire_row(payload)
        if row[_EVENT_ID].encode() != event_id:
            raise ValueError(f"event_id {row[_EVENT_ID]!r} differs from its envelope's")
    except Exception as exc:  # a bad event is the sender's bug: count it, never stop the ledger
        _malformed(pipes, gateway, exc, [kind, event_id, payload], event_id, counted=True)
        return
    burst.items.append((gateway, event_id, row))
    burst.payloads.append(payload)


def _malformed(
    pipes: _Pipes,
    gateway: bytes,
    exc: Exception,
    frames: list[bytes],
    event_id: bytes | None,
    *,
    counted: bool = False,
) -> None:
    """Count and log a bad message (its first bytes); acknowledge ``event_id``, if any: resending cannot
    mend it, and holding it would pin the gateway's memory. ``counted``: counted in ``received`` by
    the caller (a ``_Burst``)."""
    counters = pipes.acker.counters
    if not counted:
        counters.received += 1
        pipes.acker.metrics.received.inc()
    counters.malformed += 1
    pipes.acker.metrics.malformed.inc()
    if counters.malformed <= MALFORMED_LOG_FIRST or counters.malformed % MALFORMED_LOG_EVERY == 0:
        log.warning(
            "malformed message #%d acknowledged and dropped (%s: %s): %r",
            counters.malformed,
            type(exc).__name__,
            exc,
            b"|".join(frames)[:400],
        )
    if event_id is not None:
        pipes.acker.send(gateway, [event_id])


async def _limit_retries_on_exit(batcher: Batcher[Item], should_exit: asyncio.Event) -> None:
    # The receiver may be waiting on a full queue behind a failing flush: start the give-up clock now,
    # or a signal could never end the process.
    await should_exit.wait()
    batcher.limit_retries(SHUTDOWN_GRACE_S)


async def _poke_on_exit(watch: SocketWatch, should_exit: asyncio.Event) -> None:
    await should_exit.wait()
    watch.poke()  # the receiver sees should_exit now, not at its next idle check


async def _report(counters: Counters) -> None:
    last = -1
    while True:
        await asyncio.sleep(SUMMARY_EVERY_S)
        if counters.received != last:
            last = counters.received
            log.info("recorder summary: %s", counters.summary())
