"""Publishes request-completed events to the recorder without ever blocking a request.

``publish()`` is synchronous and never awaits: it is called from ``finally`` blocks, where a client
disconnect may already be cancelling the handler. It tries one non-blocking ZeroMQ send. The PUSH
socket is created with ``ZMQ_IMMEDIATE`` so that, while no recorder is connected, sends fail at once
instead of piling up invisibly inside ZeroMQ; such events wait in an in-memory queue of at most
``max_queued`` events, which a background task drains when the recorder is back. Past that bound new
events are dropped and counted (``/health`` shows queued, sent and dropped; the log says when drops begin).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging

import zmq

from shared import events

log = logging.getLogger("gateway.publisher")


class EventPublisher:
    def __init__(self, endpoint: str, max_queued: int, ctx: zmq.Context[zmq.Socket[bytes]] | None = None) -> None:
        self.endpoint = endpoint
        self.max_queued = max_queued
        self._ctx = ctx or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.PUSH)
        self._sock.setsockopt(zmq.IMMEDIATE, 1)
        self._sock.setsockopt(zmq.SNDHWM, 10_000)
        self._sock.setsockopt(zmq.LINGER, 2000)
        self._sock.connect(endpoint)
        self._queue: collections.deque[bytes] = collections.deque()
        self.sent = 0
        self.dropped = 0
        self._drain_task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def queued(self) -> int:
        return len(self._queue)

    def stats(self) -> dict[str, int]:
        return {"queued": self.queued, "sent": self.sent, "dropped": self.dropped, "max_queued": self.max_queued}

    def publish(self, event: events.UsageEvent) -> None:
        """Hand one event to the recorder. Never blocks, never raises."""
        try:
            payload = events.encode(event)
        except Exception:  # an unserialisable field is a bug; it must not fail the request
            log.exception("could not encode event %s", event.event_id)
            self.dropped += 1
            return
        if not self._queue and self._try_send(payload):
            return
        if len(self._queue) >= self.max_queued:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("recorder unreachable and %d events queued: dropped %d so far",
                            len(self._queue), self.dropped)
            return
        self._queue.append(payload)

    def _try_send(self, payload: bytes) -> bool:
        if self._closed:
            return False
        try:
            self._sock.send(payload, zmq.NOBLOCK)
        except zmq.Again:
            return False
        except zmq.ZMQError:
            log.exception("event send failed")
            return False
        self.sent += 1
        return True

    def flush_queue(self) -> int:
        """Send what the queue holds until ZeroMQ pushes back. Returns how many went out."""
        n = 0
        while self._queue and self._try_send(self._queue[0]):
            self._queue.popleft()
            n += 1
        return n

    async def _drain_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self._queue:
                self.flush_queue()

    def start(self, interval: float = 0.05) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain_loop(interval), name="event-drain")

    async def close(self, grace_s: float = 2.0) -> None:
        """Stop draining, give queued events a last chance to reach the recorder, close the socket."""
        if self._drain_task is not None:
            self._drain_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain_task
        deadline = asyncio.get_running_loop().time() + grace_s
        while self._queue and asyncio.get_running_loop().time() < deadline:
            self.flush_queue()
            if self._queue:
                await asyncio.sleep(0.05)
        if self._queue:
            log.warning("shutting down with %d undelivered events", len(self._queue))
        self._closed = True
        self._sock.close(linger=int(grace_s * 1000))
