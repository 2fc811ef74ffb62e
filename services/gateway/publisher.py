"""Delivers request-completed events to the recorder, at least once, without ever blocking a request.

The wire (gateway DEALER -> recorder ROUTER, one connection per gateway process)::

    gateway -> recorder   [b"ev3", ids, payloads]       one or more events: ``ids`` their event ids joined by
                                                        ``b"\\n"``, ``payloads`` their ``shared.events.encode_row``
                                                        arrays joined by ``b"\\n"``, in the same order (orjson
                                                        writes no raw newline; ids are hex). Three frames a
                                                        message: ``b"ev2"`` before session 13 sent two frames
                                                        an event, ``[ev2, id, payload, id, payload, ...]``, and
                                                        ``b"ev"`` before issue 13's recorder work JSON objects;
                                                        a recorder reads all three, and one older than ``ev3``
                                                        leaves ``ev3`` unacknowledged, so upgrade the recorder
                                                        first
                          [b"drain"]                    this gateway is shutting down: wait for its last events
                          [b"bye"]                      this gateway is gone (sent after its last acknowledgement)
    recorder -> gateway   [b"ack2", ids]                these events are committed (or were refused for good):
                                                        their ids joined by ``b"\\n"``, one frame; the recorder
                                                        answers so whoever sent ``ev3``
                          [b"ack", event_id, ...]       the same, a frame an id (to gateways sending ``ev``/``ev2``;
                                                        still read here)

Every event is kept in memory (``_pending``) from ``publish()`` until the recorder acknowledges it, and the
recorder acknowledges a batch only after its SQLite commit. An event sent but not acknowledged within
``ack_timeout_s`` is sent again, and so is everything unacknowledged whenever the connection is
(re-)established (a recorder restart loses what sat in its socket buffers). The recorder inserts on the
event id with ``ON CONFLICT DO NOTHING``, so a resent event is stored once: at-least-once delivery,
exactly-once rows.

``publish()`` is synchronous and never awaits: it is called from ``finally`` blocks, where a client
disconnect may already be cancelling the handler. It queues the event and, ``batch_delay_s`` later
(or at once when ``batch_max`` events wait), every waiting event goes out in one non-blocking
multipart send, at the loop's next idle moment (``wait_hints``: the next request written upstream,
``loop_waits()``; at most another ``batch_delay_s``; session 19: a timer's batch landed on a request's
critical half): one ZeroMQ message per batch, not per request (issue 13: the per-request send was 12-19%
of the gateway's CPU under load). ``publish_later()`` takes a request's facts instead of its event: the
batch builds their events in one loop when it goes (warmer code: issue 13 measured the event's build at
38-62 us of CPU per request when built between two requests' HTTP work, about half that in the batch),
held and counted meanwhile as the events would be. The socket has ``ZMQ_IMMEDIATE`` so, while no recorder is connected,
sends fail at once instead of piling up inside ZeroMQ. Background rounds (``start()``) read
acknowledgements, resend and send what could not go out: when the socket or its monitor signals (the
event loop watches their ``ZMQ_FD``s) and every ``interval`` seconds whatever happens. A SIGKILL loses
what waits for its batch on top of what waits in the kernel: at most ``batch_delay_s`` of events
(``2 * batch_delay_s`` with ``wait_hints``, the gateway's setting: 10 ms).

The sockets are plain (not ``zmq.asyncio``) and never block: ``zmq.asyncio``'s poller built two socket
wrappers and set some ten attributes per poll, most of the publisher's cost per request (issue 13). A
``ZMQ_FD`` is edge-triggered (libzmq ``zmq_getsockopt``, ZMQ_FD): it signals a change, not a readable
message, and a send can consume the change that an acknowledgement arrived. So every round reads while
``ZMQ_EVENTS`` says a message waits, a batch sent checks it for acknowledgements that came meanwhile, and
the ``interval`` round catches anything else (at worst an acknowledgement is read ``interval`` late).

Cost (issue 13: throughput within 5% whether the recorder runs, is stopped or is absent). ``publish()``
is O(1) and makes no ZeroMQ call: it encodes, stores and appends the id to the batch, and arms the batch
timer once per batch. Whether the socket takes messages is remembered (``_writable``), not asked before
every send: a batch's send is followed by one ``ZMQ_EVENTS`` read that gives both the acknowledgements
waiting and whether the next batch can go (no recorder connected, ``ZMQ_IMMEDIATE``, or its pipe full:
then nothing is built or sent until a round or the socket's signal says it is writable again).

Resends follow the recorder's demonstrated progress. It reads one gateway's messages in order and
acknowledges in commit order, so while acknowledgements keep coming (one within ``ack_timeout_s``) an event
is overdue only when the recorder has acknowledged an event of a *later* message and not this one (it was
lost or refused), and it is older than the timeout: events merely queued at a slow recorder are never sent
again (session 6's review: a slow but live recorder used to get up to ``batch_max`` copies per 50 ms
round). Each message gets a strictly increasing send stamp (the clock, or 1 µs past the previous stamp when
the clock has not moved), so a stamp orders messages. When acknowledgements stop for ``ack_timeout_s``
(a stopped recorder, a stuck disk, an event the recorder never acknowledges), resends go at a bounded rate,
not in proportion to what is held: the oldest ``batch_max`` overdue events, and, until an acknowledgement
comes, one such batch per timeout (which doubles up to 60 s). A (re)connection sends everything
unacknowledged, at most ``FLUSH_BATCHES`` messages per loop turn so that requests are served in between.
Nothing is ever given up: an unacknowledged event stays held until it is acknowledged. Memory is bounded:
past ``max_queued`` unacknowledged events new ones are dropped and counted (``/health``, ``/metrics`` and
the log).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import os
import select
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import zmq
from zmq.utils.monitor import parse_monitor_message

from shared import events

if TYPE_CHECKING:
    from services.gateway.metrics import GatewayMetrics

log = logging.getLogger("gateway.publisher")

EVENT = b"ev3"  # ids and encode_row payloads, each joined by SEP (see the wire above)
DRAIN = b"drain"
BYE = b"bye"
ACK = b"ack"
ACK_JOINED = b"ack2"
SEP = b"\n"
ACK_IDS_PER_MESSAGE = 1_000  # the recorder splits larger acknowledgements
MAX_ACK_TIMEOUT_S = 60.0
# pyzmq's flags as plain ints: its enum members cost an Enum construction on every ``|`` and ``&``.
_NOBLOCK = int(zmq.NOBLOCK)
_NOBLOCK_MORE = int(zmq.NOBLOCK) | int(zmq.SNDMORE)
_EVENTS = int(zmq.EVENTS)
_POLLOUT = int(zmq.POLLOUT)
_POLLIN = int(zmq.POLLIN)
# The compiled socket's send, called with copy and track positionally: ``zmq.Socket.send`` is a Python
# wrapper (routing_id, group) around it. Session 12 (docs/benchmarks.md, "one connection"): a 9-event
# batch's send 12.0 us of CPU against 16.8 (services/recorder/frames.py does the same on the recorder's side).
_send_frame = zmq.backend.Socket.send
# what ``_answered`` counts as readable (``select``'s rule: input, hang-up, error; not POLLNVAL, a closed fd)
_READABLE = select.POLLIN | select.POLLHUP | select.POLLERR
BATCH_DELAY_S = 0.005  # how long a published event may wait for others to share its send
BATCH_MAX = 256  # events per message; a full batch goes out at once
FLUSH_BATCHES = 8  # messages sent per loop turn at most; more wait for the next turn (call_soon)
# Events built ahead, in a request's wait for its upstream, while it is the only request open (see
# ``loop_waits``): at one connection that is the previous request's (one); more waiting means requests
# ended without an upstream write between them, and the batch builds them warm, as under load.
BUILD_AHEAD_MAX = 2


class EventPublisher:
    def __init__(
        self,
        endpoint: str,
        max_queued: int,
        *,
        ack_timeout_s: float = 5.0,
        batch_delay_s: float = BATCH_DELAY_S,
        batch_max: int = BATCH_MAX,
        ctx: zmq.Context[zmq.Socket[bytes]] | None = None,
        metrics: GatewayMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        build: Callable[..., events.UsageEvent] | None = None,
        wait_hints: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.max_queued = max_queued
        self.ack_timeout_s = ack_timeout_s
        self.batch_delay_s = batch_delay_s
        self.batch_max = max(1, batch_max)
        self._metrics = metrics
        self._clock = clock
        self._ctx = ctx or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        # A stable routing id: acknowledgements for events sent before a reconnect still find us.
        self._sock.setsockopt(zmq.ROUTING_ID, f"gw-{os.getpid()}-{uuid.uuid4().hex[:8]}".encode())
        self._sock.setsockopt(zmq.IMMEDIATE, 1)
        self._sock.setsockopt(zmq.SNDHWM, 10_000)
        self._sock.setsockopt(zmq.RCVHWM, 0)  # acknowledgements are small: never drop one
        self._sock.setsockopt(zmq.LINGER, 0)  # what is unacknowledged at close is ours to count, not ZeroMQ's
        self._monitor = self._sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_DISCONNECTED)
        self._sock.connect(endpoint)
        self._pending: dict[bytes, bytes] = {}  # event_id -> payload, until acknowledged
        # publish_later: each request's facts, until its batch builds their events as rows (the values in
        # FIELD_NAMES order): ``build.as_row(*facts)`` when ``build`` offers it (``calls.event_for``: no
        # UsageEvent built and read back), else ``row_of(build(*facts))``
        self._build_row: Callable[..., events.Row] | None = getattr(build, "as_row", None) or (
            None if build is None else _rows_of(build)
        )
        self._later: list[tuple[Any, ...]] = []
        # several workers (prometheus multiprocess mode): each event is counted at once, for the others' scrapes
        self._eager = self._build_row is None or (metrics is not None and metrics.multiprocess)
        self._unsent: collections.deque[bytes] = collections.deque()  # ids to (re)send, oldest first
        # id -> its message's send stamp (strictly increasing per message), in send order. A plain dict (it
        # keeps insertion order, and no id is moved: a resent one is deleted, then inserted anew): popping
        # an acknowledgement's ids costs about half an OrderedDict's (session 14, docs/benchmarks.md).
        self._inflight: dict[bytes, float] = {}
        self.sent = 0  # events sent, resends included
        self.acked = 0
        self.resent = 0
        self.dropped = 0
        self.last_drop_at: float | None = None  # clock time of the last drop (``/health``: dropped recently)
        self.recorder_connected = False  # a handshake with a recorder, not yet followed by its disconnection
        self.connections = 0  # handshakes with a recorder so far
        # The resend timeout doubles (up to MAX_ACK_TIMEOUT_S) while resends bring no acknowledgement, so
        # a stuck recorder is not flooded with copies; any acknowledgement brings it back to ack_timeout_s.
        self._timeout = ack_timeout_s
        self._acked_since_resend = True
        self._last_stamp = float("-inf")  # the last message's send stamp
        self._last_ack_at = float("-inf")  # when an acknowledgement last arrived
        self._acked_stamp = float("-inf")  # the latest send stamp among acknowledged events sent once
        # events sent more than once: which copy an acknowledgement answers is unknown, so theirs do not
        # move _acked_stamp (the later copy's stamp would mark events queued behind the first as passed over)
        self._copies: set[bytes] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # set by start(): the loop watching the sockets
        self._watched: list[int] = []  # file descriptors the loop watches
        self._round: asyncio.TimerHandle | None = None  # the next timed background round
        self._interval = 0.05
        self._flush: asyncio.TimerHandle | asyncio.Handle | None = None  # the pending batch's send
        # wait_hints: someone calls loop_waits() when the loop is about to wait (a request written to its
        # upstream); a batch due (``_due``) then waits for that moment, at most another batch_delay_s
        self._wait_hints = wait_hints
        self._due = False
        # wait_hints: the socket signalled that acknowledgements wait; read at the next loop_waits() (or round)
        self._acks_waiting = False
        self._round_due = False  # wait_hints: the interval round waits for loop_waits() (see _timed_round)
        # Requests between their handler's start and its end (``handlers.generate`` keeps it). At most one
        # open at a ``loop_waits()`` (one connection): that request's wait for its upstream builds the
        # events waiting (``BUILD_AHEAD_MAX``), so the batch that goes later only sends (session 28).
        self.requests_open = 0
        self._closed = False
        # What the last ZMQ_EVENTS said: the socket takes a message (a recorder connected, its pipe not
        # full). Cleared by a send that meets zmq.Again; set again by a round or the socket's signal.
        self._writable = False
        self._last_resend = float("-inf")  # when overdue events were last queued again
        self._gauges = (-1, -1)  # (queued, unacked) as last set on the metrics

    # ---- what the gateway sees ----------------------------------------------------------------

    @property
    def queued(self) -> int:
        """Events held in memory: not yet acknowledged by the recorder (those waiting to be built too)."""
        return len(self._pending) + len(self._later)

    @property
    def unacked(self) -> int:
        """Events sent and awaiting their acknowledgement."""
        return len(self._inflight)

    def since_drop_s(self) -> float | None:
        """Seconds since the last event was dropped; None if none was."""
        return None if self.last_drop_at is None else self._clock() - self.last_drop_at

    def stats(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "unacked": self.unacked,
            "sent": self.sent,
            "acked": self.acked,
            "resent": self.resent,
            "dropped": self.dropped,
            "max_queued": self.max_queued,
        }

    def publish(self, event: events.UsageEvent) -> None:
        """Hand one event to the recorder (sent with the others of its batch, at most ``batch_delay_s``
        later). Never blocks, never raises."""
        self._hold(event)
        self._queued()

    def publish_later(self, facts: tuple[Any, ...]) -> None:
        """Hand one request's event to the recorder as the facts it is built from: ``build(*facts)``
        (the constructor's ``build``; its ``as_row`` when it has one, which makes the event's row) builds
        it when its batch goes (``_send_batch``), in one loop over the batch's requests, warmer, instead
        of once per request between the HTTP work that evicts its code and data (issue 13: 44-47 us of
        CPU per plain request built there, 21-26 us per event in the batch at one connection, 4-7 events
        a batch; docs/benchmarks.md, session 13). Everything else is as :meth:`publish` does it: counted
        in ``queued`` at once (and dropped past ``max_queued``), sent at most ``batch_delay_s`` later,
        seen by the metrics before any scrape (``build_waiting``). The facts must not change after this
        call. Without a ``build``, or in prometheus' multiprocess mode (other workers scrape this one's
        counts from its files), the event is built and published at once. Never blocks, never raises."""
        later = self._later
        if self._eager or len(self._pending) + len(later) >= self.max_queued:
            self._build_one(facts)  # full: counted in the metrics, then dropped, as publish() does
            self._queued()
            return
        later.append(facts)
        # ``_queued`` inlined: this runs on every request's path at one connection (``handlers.record``,
        # session 20: a call less)
        if self._writable and len(self._unsent) + len(later) >= self.batch_max:
            self._send_batch()
        elif self._flush is None:
            self._schedule(self.batch_delay_s)

    def build_waiting(self) -> None:
        """Build and hold the events of the facts ``publish_later`` queued (their metrics observed), in
        arrival order. Called by the batch send, the background rounds, ``close`` and before a metrics
        scrape. Never raises. The queued/unacked gauges are set here too, whether or not anything waited: events
        built ahead (``loop_waits``) leave them as they were, so a scrape must not find them stale (s29 fix29;
        off the request path: batches, rounds, scrapes)."""
        if self._later:
            self._build_later()
        self._update_gauges()  # a scrape reads them next

    def _build_later(self) -> None:
        """``build_waiting`` without the gauges (``loop_waits`` builds ahead; the batch sets them)."""
        later, self._later = self._later, []
        build, hold = self._build_row, self._hold_row
        for facts in later:  # _build_one, inlined: a call less per event
            try:
                row = build(*facts)  # type: ignore[misc]  # publish_later queues only with a build
            except Exception:  # a bug: it must fail neither the request nor the other events
                log.exception("could not build an event")
                self._drop()
                continue
            hold(row)

    def _build_one(self, facts: tuple[Any, ...]) -> None:
        try:
            if self._build_row is None:
                raise TypeError("publish_later needs the publisher's build")
            row = self._build_row(*facts)
        except Exception:  # a bug: it must fail neither the request nor the other events of its batch
            log.exception("could not build an event")
            self._drop()
            return
        self._hold_row(row)

    def _hold(self, event: events.UsageEvent) -> None:
        """Observe, encode and keep one event until its acknowledgement (no sending, no timer)."""
        self._hold_row(events.row_of(event))

    def _hold_row(self, row: events.Row) -> None:
        """``_hold`` for an event given as its values in ``FIELD_NAMES`` order (``events.Row``): counted by
        the metrics, encoded (``events.encode_values``: ``encode_row``'s bytes) and kept."""
        if self._metrics is not None:
            self._metrics.observe_row_safely(row)
        try:
            payload = _encode_values(row)
            event_id = row[_EVENT_ID].encode()
            if SEP in event_id:  # new_event_id's are hex: only a bug can make one the wire cannot carry
                raise ValueError("an event id with a newline")
        except Exception:  # an unserialisable field is a bug; it must not fail the request
            log.exception("could not encode event %s", row[_EVENT_ID])
            self._drop()
            return
        if event_id in self._pending:
            return  # published twice: one row is all it gets anyway
        if len(self._pending) + len(self._later) >= self.max_queued:  # the waiting ones have their room
            self._drop()
            return
        self._pending[event_id] = payload
        self._unsent.append(event_id)

    def _queued(self) -> None:
        """One event more waits: send a full batch now, else make sure the batch timer runs."""
        if self._writable and len(self._unsent) + len(self._later) >= self.batch_max:
            self._send_batch()
        elif self._flush is None:
            self._schedule(self.batch_delay_s)

    def _schedule(self, delay: float) -> None:
        loop = self._loop
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (a script, a test): nothing to wait for
                self._send_batch()
                return
        if delay > 0:
            self._flush = loop.call_later(delay, self._batch_due)
        else:
            self._flush = loop.call_soon(self._send_batch)

    def _batch_due(self) -> None:
        """The batch timer: the batch goes at the loop's next idle moment, not now.

        A timer runs when the loop wakes, ahead of the work that woke it: uvloop (libuv's ``uv_run``:
        timers, then the ready callbacks, then I/O) runs a due timer right after the I/O that woke the loop,
        before the request step it queued, so at one connection the batch's build (200-300 us of CPU for
        ~12 events) landed at the start of a request's A or B, its critical halves, on 59-92% of the slowest
        2% (session 17; session 19 in docs/benchmarks.md: 87% of batches began in A or B). With
        ``wait_hints`` the batch then waits for :meth:`loop_waits` (a request written to its upstream: the
        loop has nothing to do until the answer, at least a network round trip), at most another
        ``batch_delay_s`` (requests that never go upstream: the batch still goes). Without, or after that
        wait, it goes on the loop's next turn (``call_soon``), after the callbacks already queued. The
        SIGKILL window is then ``2 * batch_delay_s`` with ``wait_hints``, else ``batch_delay_s``."""
        loop = self._loop or asyncio.get_running_loop()
        if self._wait_hints and not self._due:
            self._due = True
            self._flush = loop.call_later(self.batch_delay_s, self._batch_due)
            return
        self._due = False
        self._flush = loop.call_soon(self._send_batch)

    def loop_waits(self, upstream: asyncio.BaseTransport | None = None) -> None:
        """The loop is about to wait (the caller wrote a request to ``upstream`` and awaits the answer): a
        batch due goes now, in the caller's turn, while the upstream works (see :meth:`_batch_due`), and so do
        a background round due and acknowledgements the socket signalled. Not a
        turn later (``call_soon``): by then the answer may be in (the gateway preempted meanwhile, the
        upstream quick), and the batch ran ahead of its step, at the start of B (session 19). O(1) and no
        ZeroMQ call when none is due (once per request); never raises (``_send_batch`` does not).

        Building ahead (session 28): while the caller is the only request open (``requests_open``, one
        connection) and at most ``BUILD_AHEAD_MAX`` requests' facts wait, their events are built now, in
        this wait, instead of all together when the batch is due. At one connection the batch built its
        5-12 events (150-300 us of CPU) in one request's wait, longer than nginx's answer (45-115 us), on
        8-21% of requests (session 27, ``bench/tail_counts.py``): that request's answer waited for the
        overrun. Built ahead, each wait builds the one event of the request before it (20-45 us) and the
        due batch only sends. Under load (several requests open) the batch still builds them warm, in one
        loop (session 13: about half the CPU per event).

        Bounded by the answer (session 29): at one connection, after the first piece of work (the due batch
        sent with the events waiting built in it, else an event built, else the round), each further piece runs
        only while ``upstream``'s answer has not come in (:func:`_answered`, one zero-timeout ``poll``); once
        it has, the rest stays due for the next request's wait or its own timer (``batch_delay_s`` later), and
        the answer is relayed at once. A wait shorter than one piece still carries that one. A due batch is
        always the first piece (session 30): built first and then checked, its send was left due on 3-15% of
        c1 waits, and some reached the fallback timer (``_batch_due``'s second firing), which runs at the loop's
        wake-up, in a request's critical half (``bench/tail_counts.py``, docs/benchmarks.md, session 30).
        ``upstream``: the connection written to (``None``: unknown, never checked; ``UpstreamPool``'s
        ``on_written`` passes it)."""
        alone = self.requests_open <= 1
        worked = False
        if self._due:
            # the due batch first, its waiting events built inside it (one piece, as before session 29):
            # never left for its fallback timer, which lands in a request's critical half (session 30)
            worked = True
            self._send_batch()
        elif self._later and alone and len(self._later) <= BUILD_AHEAD_MAX:
            worked = True
            if not self._build_ahead(upstream):
                return  # answered between two builds: the rest waits (see above)
        if self._round_due:
            if worked and alone and _answered(upstream):
                return
            worked = True
            if self._round is not None:
                self._round.cancel()
            self._timed_round()
        if self._acks_waiting:
            if worked and alone and _answered(upstream):
                return
            try:
                self._look()  # reads them (and whether the socket takes a message)
                self._update_gauges()
            except Exception:  # never fail the request that called
                log.exception("event publisher round failed")

    def _build_ahead(self, upstream: asyncio.BaseTransport | None) -> bool:
        """Build the waiting events one by one, each after the first only while ``upstream``'s answer is
        not in (:func:`_answered`); False when it stopped for the answer (facts left waiting)."""
        later = self._later
        first = True
        while later:
            if not first and _answered(upstream):
                return False
            first = False
            self._build_one(later.pop(0))  # one event a wait at c1: the call is not worth inlining
        return True

    def _send_batch(self) -> None:
        """The batch timer: send what waits (when the socket takes it), then set the gauges."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._due = False
        if self._later:  # ``build_waiting`` without its gauges: they are set once, below
            self._build_later()
        if not self._writable and self._loop is None:
            self._look()  # not started (a script, a test): ask ZeroMQ, no round will
        if self._writable:
            self.flush_queue()
            if self._unsent and self._writable:  # more than a turn's share: the rest next turn
                self._schedule(0)
        self._update_gauges()

    def _look(self, acks_now: bool = True) -> None:
        """Read ``ZMQ_EVENTS`` once: remember whether the socket takes a message, and read the
        acknowledgements waiting (reading it takes the ``ZMQ_FD`` signal, so they must be read now, or,
        not ``acks_now``, remembered in ``_acks_waiting`` for ``loop_waits`` or the next round)."""
        try:
            flags = 0 if self._closed else int(self._sock.get(_EVENTS))
        except zmq.ZMQError:  # a closed socket or terminated context: publish() never raises
            flags = 0
        self._writable = bool(flags & _POLLOUT)
        if flags & _POLLIN:
            if acks_now:
                self._read_acks()
            else:
                self._acks_waiting = True

    def _drop(self) -> None:
        self.dropped += 1
        self.last_drop_at = self._clock()
        if self._metrics is not None:
            self._metrics.events_dropped.inc()
        if self.dropped == 1 or self.dropped % 1000 == 0:
            log.warning(
                "recorder unreachable or not acknowledging and %d events held: dropped %d so far",
                len(self._pending),
                self.dropped,
            )

    def _update_gauges(self) -> None:
        """Set the queued/unacked gauges, only when they changed (a gauge write is not free)."""
        now = (len(self._pending), len(self._inflight))
        if self._metrics is not None and now != self._gauges:
            self._gauges = now
            self._metrics.set_event_gauges(*now)

    # ---- the socket ---------------------------------------------------------------------------

    def _try_send(self, batch: dict[bytes, bytes]) -> bool:
        """One message for the whole ``batch`` (event id -> payload)."""
        if self._closed:
            return False
        sock = self._sock
        try:
            # send_multipart, frame by frame with int flags: ZeroMQ takes a message whole or not at all,
            # so only the first frame can meet a full pipe (zmq.Again) and then nothing was queued.
            send = _send_frame
            send(sock, EVENT, _NOBLOCK_MORE, True, False)
            send(sock, SEP.join(batch), _NOBLOCK_MORE, True, False)
            send(sock, SEP.join(batch.values()), _NOBLOCK, True, False)
        except zmq.Again:
            self._writable = False
            return False
        except zmq.ZMQError:
            self._writable = False
            log.exception("event send failed")
            return False
        self.sent += len(batch)
        now = self._clock()
        if now <= self._last_stamp:  # a clock that has not moved: stamps still order the messages
            now = self._last_stamp + 1e-6
        self._last_stamp = now
        # flush_queue sends no id that is in _inflight, so each is a new key: it goes last, in send order
        self._inflight.update(dict.fromkeys(batch, now))
        return True

    def flush_queue(self, max_messages: int = FLUSH_BATCHES) -> int:
        """Send what waits to be sent, ``batch_max`` events a message, at most ``max_messages`` messages,
        while the socket takes them; then one ``ZMQ_EVENTS`` read (``_look``). Returns how many events
        went out. Call it only when ``_writable``: no recorder connected (``ZMQ_IMMEDIATE``) or a full
        pipe means no batch built for nothing."""
        n = 0
        messages = 0
        while self._unsent and self._writable and messages < max_messages:
            messages += 1
            batch: dict[bytes, bytes] = {}
            taken = 0
            for event_id in self._unsent:
                if len(batch) >= self.batch_max:
                    break
                taken += 1
                payload = self._pending.get(event_id)
                if payload is not None and event_id not in self._inflight:
                    batch[event_id] = payload  # an id queued twice goes once
            if batch and not self._try_send(batch):
                break
            for _ in range(taken):
                self._unsent.popleft()
            n += len(batch)
        if messages:
            # A send may have taken the ZMQ_FD signal that an acknowledgement arrived: read them now;
            # and learn whether the next batch can go.
            self._look()
        return n

    def _read_acks(self) -> int:
        """Forget the acknowledged events; returns how many were held. Per id, the pops run as C-level
        ``map`` calls (session 13: a 500-id acknowledgement read in about 0.5 ms of the loop's CPU as
        a Python loop over the ids, most of the ack's cost once it came as one frame)."""
        n = 0
        self._acks_waiting = False
        stamp = self._acked_stamp
        inflight, copies = self._inflight, self._copies
        while (frames := _recv_frames(self._sock)) is not None:
            if frames[0] == ACK_JOINED and len(frames) == 2:
                ids = frames[1].split(SEP)
            elif frames[0] == ACK:
                ids = frames[1:]
            else:
                log.warning("unexpected message from the recorder: %r", b"|".join(frames)[:100])
                continue
            held = list(map(self._pending.pop, ids, itertools.repeat(None)))
            n += len(held) - held.count(None)
            sent = list(map(inflight.pop, ids, itertools.repeat(None)))
            if copies:  # a copy's stamp says nothing of the messages before it (see _copies)
                sent = [t for event_id, t in zip(ids, sent, strict=True) if not _discarded(copies, event_id)]
            newest = max([t for t in sent if t is not None], default=stamp)
            if newest > stamp:
                stamp = newest
        if n:
            self._acked_stamp = stamp
            self._last_ack_at = self._clock()
            self._acked_since_resend = True
            self._timeout = self.ack_timeout_s
            self.acked += n
            if self._metrics is not None:
                self._metrics.events_acked.inc(n)
        return n

    def _read_monitor(self) -> None:
        while (frames := _recv_frames(self._monitor)) is not None:
            msg = parse_monitor_message(frames)
            if msg["event"] == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.connections += 1
                self.recorder_connected = True
                # Whatever was sent before may have died in a previous recorder's buffers: send it all again.
                again = list(self._inflight)
                self._inflight.clear()
                self._requeue(again)
                if self.connections > 1 or again:
                    log.info("connected to the recorder; resending %d unacknowledged events", len(again))
            elif msg["event"] == zmq.EVENT_DISCONNECTED:
                self.recorder_connected = False
                log.warning("recorder connection lost; %d events unacknowledged", len(self._pending))

    def _requeue(self, ids: list[bytes]) -> None:
        if not ids:
            return
        self._unsent.extendleft(reversed(ids))
        self._copies.update(ids)
        self.resent += len(ids)
        if self._metrics is not None:
            self._metrics.events_resent.inc(len(ids))

    def _resend_overdue(self) -> None:
        """Queue again the oldest events sent more than the timeout ago, at most ``batch_max`` per round.
        While acknowledgements keep coming (the last within ``ack_timeout_s``), only events the recorder
        passed over: sent in a message older than the newest one it acknowledged from (events queued at a
        slow recorder wait their turn). Otherwise, while nothing has been acknowledged since the last
        resend, one such batch per timeout (which then doubles): a recorder that takes nothing gets a
        bounded trickle of copies, not the whole backlog again and again. O(events resent)."""
        if not self._inflight:
            return
        now = self._clock()
        limit = now - self._timeout
        progressing = now - self._last_ack_at < self.ack_timeout_s
        # in send order, so stamps ascend: while the recorder progresses, only those below the newest
        # acknowledged stamp were passed over
        passed = self._acked_stamp if progressing else float("inf")
        if not progressing and not self._acked_since_resend and now < self._last_resend + self._timeout:
            return
        overdue: list[bytes] = []
        for event_id, sent_at in self._inflight.items():
            if sent_at > limit or sent_at >= passed or len(overdue) >= self.batch_max:
                break
            overdue.append(event_id)
        if not overdue:
            return
        for event_id in overdue:
            del self._inflight[event_id]
        self._requeue(overdue)
        if progressing:
            return  # the recorder is keeping up: no backoff
        if not self._acked_since_resend:
            self._timeout = min(self._timeout * 2, max(MAX_ACK_TIMEOUT_S, self.ack_timeout_s))
        self._acked_since_resend = False
        self._last_resend = now

    def pump(self, build: bool = True) -> None:
        """One round of the background work: acknowledgements, (re)connections, overdue resends, sends;
        ``build``: the events waiting for their batch are built too (else the batch builds them)."""
        if build:
            self.build_waiting()
        self._read_monitor()
        self._look()  # reads the acknowledgements, and whether the socket takes a message
        self._resend_overdue()
        if self._unsent and self._writable:
            self.flush_queue()
            if self._unsent and self._writable and self._flush is None and self._loop is not None:
                self._schedule(0)  # the rest next turn
        self._update_gauges()

    # ---- lifecycle ----------------------------------------------------------------------------

    def _signalled(self) -> None:
        """The socket's ``ZMQ_FD`` signalled: read the acknowledgements waiting, and, when it takes
        messages again after pushing back, send what waits. Any other change (a send's) is no reason to
        send a batch before its ``batch_delay_s``. One ``ZMQ_EVENTS`` read takes the signal. With
        ``wait_hints`` the acknowledgements are read at the next ``loop_waits()`` or round, not now: a
        recorder commit's acknowledgement (hundreds of ids, 200-300 us to read) arrives at any moment, a
        request's critical half included (session 19). Never raises."""
        try:
            was = self._writable
            self._look(acks_now=not self._wait_hints)
            if self._writable and not was and self._unsent and self._flush is None:
                self._schedule(0)
            self._update_gauges()
        except Exception:  # the rounds must outlive any surprise
            log.exception("event publisher round failed")

    def _monitor_signalled(self) -> None:
        """The monitor's ``ZMQ_FD`` signalled: a connection made or lost; a round if a message waits."""
        try:
            if _waiting(self._monitor):
                self.pump()
        except Exception:
            log.exception("event publisher round failed")

    def _timed_round(self) -> None:
        """The ``interval`` round. With ``wait_hints`` its timer only marks it due (``_round_due``): it runs
        at the next ``loop_waits()``, at most ``batch_delay_s`` later, as the batch does (a timer lands at
        the start of a request's critical half, see :meth:`_batch_due`; session 19: 35-80 us a round)."""
        loop = self._loop
        if self._wait_hints and not self._round_due and loop is not None:
            self._round_due = True
            self._round = loop.call_later(self.batch_delay_s, self._timed_round)
            return
        self._round_due = False
        try:
            # a batch timer pending builds the waiting events itself, at the loop's idle moment (see
            # _batch_due): this round does not (session 19: 150-250 us a round when it did)
            self.pump(build=self._flush is None)
        except Exception:
            log.exception("event publisher round failed")
        if loop is not None:
            self._round = loop.call_later(self._interval, self._timed_round)

    def start(self, interval: float = 0.05) -> None:
        """Run background rounds on the running loop: when a socket signals, and every ``interval`` s."""
        loop = self._loop = asyncio.get_running_loop()
        self._interval = interval
        for sock, signalled in ((self._sock, self._signalled), (self._monitor, self._monitor_signalled)):
            fd = int(sock.get(zmq.FD))
            loop.add_reader(fd, signalled)
            self._watched.append(fd)
        self._round = loop.call_later(0, self._timed_round)  # a first round at once, as a poll's would be

    def _stop_rounds(self) -> None:
        if self._loop is not None:
            for fd in self._watched:
                self._loop.remove_reader(fd)
            self._watched.clear()
            self._loop = None
        if self._round is not None:
            self._round.cancel()
            self._round = None

    def announce_drain(self) -> None:
        """Tell the recorder that this gateway is shutting down, so that it waits for our last events."""
        with contextlib.suppress(zmq.ZMQError):
            self._sock.send(DRAIN, zmq.NOBLOCK)

    async def close(self, ack_wait_s: float = 2.0) -> int:
        """Wait up to ``ack_wait_s`` for every held event to be acknowledged, then close the socket.
        Returns how many events were left unacknowledged (they are logged)."""
        self._stop_rounds()
        self.build_waiting()
        if self._flush is not None:  # the pump below sends the waiting batch
            self._flush.cancel()
            self._flush = None
        self._due = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ack_wait_s
        self._resend_overdue()
        while self._pending and loop.time() < deadline:
            self.pump()
            if self._pending:
                await asyncio.sleep(0.01)
        self.build_waiting()  # facts handed over during the last wait: events held, counted and logged
        left = len(self._pending)
        if left:
            log.warning(
                "shutting down with %d unacknowledged events (sent but not confirmed: %d)",
                left,
                len(self._inflight),
            )
        else:
            log.info(
                "all events acknowledged (%d sent, %d resent, %d dropped)",
                self.sent,
                self.resent,
                self.dropped,
            )
        with contextlib.suppress(zmq.ZMQError):
            self._sock.send(BYE, zmq.NOBLOCK)
        self._closed = True
        self._monitor.close(linger=0)
        self._sock.close(linger=200)  # long enough for the goodbye, never longer
        return left


_encode_values = events.encode_values
_EVENT_ID = events.EVENT_ID


def _rows_of(build: Callable[..., events.UsageEvent]) -> Callable[..., events.Row]:
    """A ``build_row`` from a ``build``: the event's values in ``FIELD_NAMES`` order."""
    row_of = events.row_of

    def build_row(*facts: Any) -> events.Row:
        return row_of(build(*facts))

    return build_row


def _answered(upstream: asyncio.BaseTransport | None) -> bool:
    """Some of ``upstream``'s answer is in: its socket reads now (one zero-timeout ``poll(2)`` on its file
    descriptor, one system call; a TLS connection's raw socket, so any record of the answer). Readable as
    ``select`` reads it: input, the peer's hang-up or an error (Linux ``POLLIN_SET``). ``poll``, not
    ``select``: ``select`` takes no descriptor at or past ``FD_SETSIZE`` (1024; Python raises
    ``ValueError``), which a gateway holding many connections hands out (issue 13, session 31). False when
    unknown (``None``, no socket, closed: ``POLLNVAL``). A poller a call, not one kept: a kept one must register
    and unregister the socket each call, ~4.55k instructions a call against ~4.0k (callgrind, session 32)."""
    if upstream is None:
        return False
    sock = upstream.get_extra_info("socket")
    if sock is None:
        return False
    try:
        poller = select.poll()
        poller.register(sock, _READABLE)
        ready = poller.poll(0)
    except (OSError, ValueError):  # closed meanwhile (fileno -1): nothing to wait for
        return False
    return bool(ready) and bool(ready[0][1] & _READABLE)


def _discarded(copies: set[bytes], event_id: bytes) -> bool:
    """Whether ``event_id`` was in ``copies`` (it is not any more)."""
    if event_id in copies:
        copies.discard(event_id)
        return True
    return False


def _waiting(sock: zmq.Socket[bytes]) -> bool:
    """A message waits to be read (``ZMQ_EVENTS``; False on a closed socket)."""
    try:
        return bool(int(sock.get(_EVENTS)) & _POLLIN)
    except zmq.ZMQError:
        return False


def _recv_frames(sock: zmq.Socket[bytes]) -> list[bytes] | None:
    """The socket's next message, or None when none waits (``ZMQ_EVENTS`` says so: no ``zmq.Again`` raised
    and caught per round). ``recv_multipart`` without pyzmq's enum flags (an Enum built per frame), and
    each frame received as a ``zmq.Frame`` whose ``more`` says whether another follows, instead of a
    ``ZMQ_RCVMORE`` read per frame (a getsockopt call, with pyzmq's fork check, for every acknowledged
    id): session 12 (docs/benchmarks.md, "one connection") measured 300 us of CPU against 409 for the
    330-id acknowledgement of a 0.2 s recorder batch at ~1,650 req/s, a pause of the loop."""
    try:
        if not int(sock.get(_EVENTS)) & _POLLIN:
            return None
        frame = sock.recv(_NOBLOCK, False)
        frames = [frame.bytes]
        while frame.more:  # the rest of a message is there once its first frame is
            frame = sock.recv(_NOBLOCK, False)
            frames.append(frame.bytes)
    except zmq.Again:
        return None
    return frames
