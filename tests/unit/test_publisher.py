"""The gateway's event publisher against a ROUTER socket playing the recorder."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Callable

import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families

from services.gateway import publisher
from services.gateway.metrics import GatewayMetrics
from services.gateway.publisher import EventPublisher
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from shared import events
from tests.procs import free_port


def make_event(i: int) -> events.UsageEvent:
    return events.UsageEvent(
        request_id=f"r{i}",
        endpoint="/v1/chat/completions",
        client_format="openai_chat",
        model="gpt-4o",
        event_id=f"ev{i:04d}",
    )


class Recorder:
    """A bare ROUTER: receives events, acknowledges only when told to."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> None:
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(endpoint)
        self.got: list[tuple[bytes, str]] = []  # (routing id, event id) per event received
        self.messages: list[int] = []  # events per event message
        self.control: list[bytes] = []

    def read(self) -> None:
        while self.sock.poll(0):
            frames = self.sock.recv_multipart()
            if frames[1] == b"ev3":  # [ev3, ids joined by \n, payloads joined by \n]
                assert len(frames) == 4, len(frames)
                ids, payloads = frames[2].split(b"\n"), frames[3].split(b"\n")
                for event_id, payload in zip(ids, payloads, strict=True):
                    assert payload.startswith(b"[")  # encode_row: the values in field order
                    assert events.decode(payload).event_id == event_id.decode()
                    self.got.append((frames[0], event_id.decode()))
                self.messages.append(len(ids))
            else:
                self.control.append(frames[1])

    def ids(self) -> list[str]:
        return [i for _, i in self.got]

    def ack(self, ids: list[str], *, joined: bool = True) -> None:
        """Acknowledge ``ids`` as a recorder does: ``[ack2, ids joined by \\n]`` (``joined``), else
        ``[ack, id, id, ...]`` as recorders before ``ev3`` did."""
        by_peer: dict[bytes, list[bytes]] = {}
        for peer, event_id in self.got:
            if event_id in ids:
                by_peer.setdefault(peer, []).append(event_id.encode())
        for peer, got in by_peer.items():
            once = list(dict.fromkeys(got))
            if joined:
                self.sock.send_multipart([peer, b"ack2", b"\n".join(once)])
            else:
                self.sock.send_multipart([peer, b"ack", *once])

    def close(self) -> None:
        self.sock.close(0)


async def until(check: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``check``; the deadline only catches a hang."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.01)


async def test_queues_while_no_recorder_then_delivers_in_order_and_forgets_what_is_acked(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    pub = EventPublisher(endpoint, max_queued=10, ctx=ctx)
    pub.start(interval=0.01)
    for i in range(5):
        pub.publish(make_event(i))
    assert pub.stats()["queued"] == 5 and pub.sent == 0
    rec = Recorder(ctx, endpoint)

    def got_all() -> bool:
        rec.read()
        return len(rec.got) >= 5

    await until(got_all)
    assert rec.ids()[:5] == [f"ev{i:04d}" for i in range(5)]
    assert pub.queued == 5 and pub.unacked == 5  # sent, but held until acknowledged
    rec.ack(["ev0000", "ev0001"])
    await until(lambda: pub.queued == 3)
    assert pub.acked == 2
    rec.ack(["ev0002"], joined=False)  # a frame an id, as recorders before ev3 acknowledged
    await until(lambda: pub.queued == 2)
    rec.ack([f"ev{i:04d}" for i in range(5)])
    await until(lambda: pub.queued == 0)
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()


class Clock:
    """An injected monotonic clock the test moves; the publisher is pumped by hand, never started."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def pumped_until(pub: EventPublisher, rec: Recorder, check: Callable[[], bool]) -> None:
    """Pump the publisher and read the recorder until ``check()``: real sockets, frozen clock."""

    def step() -> bool:
        pub.pump()
        rec.read()
        return check()

    await until(step)


async def test_unacknowledged_events_are_resent_after_the_timeout(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    clock = Clock()
    pub = EventPublisher(endpoint, max_queued=10, ack_timeout_s=0.3, ctx=ctx, clock=clock)
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    pub.publish(make_event(1))
    await pumped_until(pub, rec, lambda: rec.ids().count("ev0001") == 1)
    clock.now += 0.29
    pub.pump()
    assert pub.resent == 0  # not before the timeout
    clock.now += 0.01
    await pumped_until(pub, rec, lambda: rec.ids().count("ev0001") == 2)
    assert pub.resent == 1
    rec.ack(["ev0001"])
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    sent = pub.sent
    for _ in range(10):
        clock.now += 60
        pub.pump()
    assert pub.sent == sent and pub.resent == 1  # acknowledged: never sent again
    await pub.close(ack_wait_s=0)
    rec.close()


async def rebind(ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> Recorder:
    """A new recorder on the endpoint a closed one used, once ZeroMQ has released it."""
    made: list[Recorder] = []

    def bound() -> bool:
        try:
            made.append(Recorder(ctx, endpoint))
        except zmq.ZMQError:
            return False
        return True

    await until(bound)
    return made[0]


async def test_a_new_recorder_gets_everything_unacknowledged_at_once(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=100, ack_timeout_s=60, ctx=ctx)  # the timeout plays no part
    pub.start(interval=0.01)
    await until(lambda: pub.connections == 1)
    for i in range(20):
        pub.publish(make_event(i))

    def got(r: Recorder, n: int) -> Callable[[], bool]:
        def check() -> bool:
            r.read()
            return len(set(r.ids())) >= n

        return check

    await until(got(rec, 20))
    rec.ack([f"ev{i:04d}" for i in range(5)])
    await until(lambda: pub.queued == 15)
    rec.close()  # the recorder dies with 15 events unacknowledged
    rec2 = await rebind(ctx, endpoint)
    await until(got(rec2, 15))
    assert sorted(set(rec2.ids())) == [f"ev{i:04d}" for i in range(5, 20)]
    assert pub.resent >= 15
    rec2.ack(rec2.ids())
    await until(lambda: pub.queued == 0)
    await pub.close(ack_wait_s=0)
    rec2.close()


async def test_drops_past_the_bound_and_counts_them(zmq_ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    ctx = zmq_ctx
    pub = EventPublisher(f"tcp://127.0.0.1:{free_port()}", max_queued=3, ctx=ctx)
    for i in range(10):
        pub.publish(make_event(i))  # never blocks (no recorder: a blocking send would hang), never raises
    assert pub.stats() == {
        "queued": 3,
        "unacked": 0,
        "sent": 0,
        "acked": 0,
        "resent": 0,
        "dropped": 7,
        "max_queued": 3,
    }
    assert await pub.close(ack_wait_s=0) == 3


async def test_close_waits_for_the_acknowledgements_and_says_goodbye(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=10, ctx=ctx)
    pub.start(interval=0.01)
    await until(lambda: pub.connections == 1)
    pub.announce_drain()
    for i in range(3):
        pub.publish(make_event(i))

    order: list[str] = []

    async def ack_later() -> None:  # runs while close() waits
        await until(lambda: rec.read() or len(rec.got) >= 3)
        order.append("acked")
        rec.ack(rec.ids())

    acker = asyncio.get_running_loop().create_task(ack_later())
    assert await pub.close(ack_wait_s=60) == 0  # a deadline only a hang reaches
    order.append("closed")
    await acker
    assert order == ["acked", "closed"]  # close() returned only after the acknowledgements
    await until(lambda: rec.read() or len(rec.control) >= 2)
    assert rec.control == [b"drain", b"bye"]
    rec.close()


async def test_close_gives_up_after_the_ack_wait(zmq_ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)  # receives, never acknowledges
    pub = EventPublisher(endpoint, max_queued=10, ctx=ctx)
    pub.start(interval=0.01)
    await until(lambda: pub.connections == 1)
    pub.publish(make_event(1))
    # It gives up by itself (the outer 60 s only catches a hang) and counts what is unacknowledged.
    assert await asyncio.wait_for(pub.close(ack_wait_s=0.3), 60) == 1
    rec.close()


async def test_resends_back_off_while_the_recorder_acknowledges_nothing(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)  # connected, receives, never acknowledges (a stuck disk)
    clock = Clock()
    t0 = clock.now
    pub = EventPublisher(endpoint, max_queued=10, ack_timeout_s=0.1, ctx=ctx, clock=clock)
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    pub.publish(make_event(1))
    pub.pump()
    assert pub.sent == 1
    sent_at = [clock.now]
    while clock.now - t0 < 2.0:  # 2 s of clock time in 10 ms steps
        clock.now += 0.01
        before = pub.sent
        pub.pump()
        sent_at += [clock.now] * (pub.sent - before)
    # Without backoff: a copy every 0.1 s, about 20. With it, the wait doubles after each resend
    # (each send is seen up to one 10 ms step late).
    gaps = [b - a for a, b in itertools.pairwise(sent_at)]
    assert gaps == pytest.approx([0.1, 0.1, 0.2, 0.4, 0.8], abs=0.011), gaps
    await pumped_until(pub, rec, lambda: rec.ids().count("ev0001") == 6)
    rec.ack(["ev0001"])
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    pub.publish(make_event(2))  # an acknowledgement brought the timeout back to 0.1 s
    pub.pump()
    clock.now += 0.1
    await pumped_until(pub, rec, lambda: rec.ids().count("ev0002") >= 2)
    await pub.close(ack_wait_s=0)
    rec.close()


async def test_events_published_together_share_one_message(zmq_ctx: zmq.Context[zmq.Socket[bytes]]) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=100, batch_delay_s=0.05, ctx=ctx)
    pub.start(interval=10)  # only the batch timer sends
    await until(lambda: pub.connections == 1)
    for i in range(5):
        pub.publish(make_event(i))
    assert pub.sent == 0  # waiting for the others of its batch

    def got_all() -> bool:
        rec.read()
        return len(rec.got) >= 5

    await until(got_all)
    assert rec.messages == [5]
    assert rec.ids() == [f"ev{i:04d}" for i in range(5)]
    rec.ack(rec.ids())
    await until(lambda: pub.queued == 0)
    await pub.close(ack_wait_s=0)
    rec.close()


async def test_a_full_batch_goes_out_at_once_and_batches_are_capped(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=100, batch_delay_s=60, batch_max=3, ctx=ctx)
    pub.start(interval=60)  # neither the timer nor the background round sends during the test
    await until(lambda: pub.connections == 1)
    for i in range(7):
        pub.publish(make_event(i))
    assert pub.sent == 6  # two full batches went out at once; the seventh waits for its batch

    def got(n: int) -> Callable[[], bool]:
        def check() -> bool:
            rec.read()
            return len(rec.got) >= n

        return check

    await until(got(6))
    assert rec.messages == [3, 3]
    rec.ack(rec.ids())
    await until(lambda: pub.queued == 1)
    await pub.close(ack_wait_s=0.2)  # closing sends what waits
    await until(got(7))
    assert rec.messages == [3, 3, 1] and rec.ids()[-1] == "ev0006"
    rec.close()


async def test_acknowledgements_are_read_as_they_arrive_even_when_a_send_takes_their_signal(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """The loop watches the sockets' ZMQ_FDs, which are edge-triggered: a send can take the signal that
    an acknowledgement arrived. With the timed round 60 s away, every acknowledgement must still be read
    within the 30 s that ``until`` allows: each one arrives while the next event is being sent."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=100, batch_max=1, ctx=ctx)  # every publish() sends at once
    pub.start(interval=60)
    await until(lambda: pub.connections == 1)

    def received(event_id: str) -> Callable[[], bool]:
        def check() -> bool:
            rec.read()
            return event_id in rec.ids()

        return check

    for i in range(40):
        first, second = f"ev{i:04d}", f"ev{1000 + i:04d}"
        pub.publish(make_event(i))
        await until(received(first))
        rec.ack([first])
        pub.publish(make_event(1000 + i))  # sent while the acknowledgement may be arriving
        await until(lambda: pub.queued == 1)
        await until(received(second))
        rec.ack([second])
        await until(lambda: pub.queued == 0)
    assert pub.acked == 80 and pub.sent == 80 and pub.resent == 0
    await pub.close(ack_wait_s=0)
    rec.close()


async def test_a_recorder_that_takes_nothing_gets_resends_at_a_bounded_rate_not_the_whole_backlog(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """Design rule (issue 13): while the recorder acknowledges nothing, what the gateway resends does not
    grow with what it holds: one batch of the oldest overdue events per timeout (which doubles), then,
    once acknowledgements come again, a batch per round until everything is delivered."""
    ctx = zmq_ctx
    # connected, receives, acknowledges nothing (SIGSTOP, a stuck disk)
    pub, rec, clock = await forty_events_at_a_recorder(ctx)
    assert pub.sent == 40 and pub.resent == 0
    resends: list[tuple[float, int]] = []  # (clock, events queued again) per round that resent
    t0 = clock.now
    while clock.now - t0 < 2.0:  # 2 s of clock time in 10 ms steps, all 40 overdue after the first 0.1 s
        clock.now += 0.01
        before = pub.resent
        pub.pump()
        if pub.resent > before:
            resends.append((round(clock.now - t0, 2), pub.resent - before))
    # Without the bound: all 40 again every 0.1 s (some 800 copies). With it: 4 at a time, the waits doubling.
    assert [n for _, n in resends] == [4] * 5, resends
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(resends)]
    assert gaps == pytest.approx([0.1, 0.2, 0.4, 0.8], abs=0.011), resends
    await pumped_until(pub, rec, lambda: len(rec.got) == 60)
    rec.ack(rec.ids())  # the recorder resumes: everything it got is committed
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    assert pub.acked == 40
    await pub.close(ack_wait_s=0)
    rec.close()


async def test_publish_makes_no_zeromq_call_and_a_batch_costs_one_events_read(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """``publish()`` stores and appends (O(1), no syscall); the batch timer sends one message of three
    frames and reads ``ZMQ_EVENTS`` once after it (acknowledgements waiting, room for the next batch):
    not per event."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=1000, batch_delay_s=0.05, ctx=ctx)
    pub.start(interval=60)  # only the batch timer sends
    await until(lambda: pub.connections == 1)
    await until(lambda: pub._writable)
    calls: list[str] = []
    real = pub._sock
    real_send = publisher._send_frame

    class Counting:
        def __getattr__(self, name: str) -> object:
            calls.append(name)
            return getattr(real, name)

    def counting_send(sock: object, *args: object) -> object:
        calls.append("send")  # frames go through the compiled socket's send (publisher._send_frame)
        return real_send(real, *args)  # type: ignore[arg-type]

    pub._sock = Counting()  # type: ignore[assignment]
    publisher._send_frame = counting_send  # type: ignore[assignment]
    try:
        for i in range(100):
            pub.publish(make_event(i))
        assert calls == []  # no send, no ZMQ_EVENTS, no syscall per event
        pub._send_batch()  # what the batch timer runs, here without a loop turn in between
    finally:
        pub._sock = real
        publisher._send_frame = real_send
    # one message of three frames (ev3, the ids, the payloads), whatever the number of events
    assert calls.count("get") == 1 and calls.count("send") == 3, calls[-3:]

    def got_all() -> bool:
        rec.read()
        return len(rec.got) >= 100

    await until(got_all)
    assert rec.messages == [100]
    rec.ack(rec.ids())
    await until(lambda: pub.queued == 0)
    await pub.close(ack_wait_s=0)
    rec.close()


async def forty_events_at_a_recorder(
    ctx: zmq.Context[zmq.Socket[bytes]],
) -> tuple[EventPublisher, Recorder, Clock]:
    """A publisher (0.1 s ack timeout, 4 events a message, a stepped clock) that has sent 40 events to a
    recorder stand-in which has acknowledged none of them yet."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    rec = Recorder(ctx, endpoint)
    clock = Clock()
    pub = EventPublisher(endpoint, max_queued=100, ack_timeout_s=0.1, batch_max=4, ctx=ctx, clock=clock)
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    for i in range(40):
        pub.publish(make_event(i))
    await pumped_until(pub, rec, lambda: len(rec.got) == 40)
    return pub, rec, clock


async def ack_in_order_one_per_step(
    pub: EventPublisher, rec: Recorder, clock: Clock, steps: int, skip: str | None = None
) -> list[tuple[float, list[str]]]:
    """A slow recorder: every 10 ms of clock time it acknowledges the oldest event it received and has not
    acknowledged (never ``skip``'s first copy: lost), and the publisher reads that acknowledgement before
    the clock moves on; whatever the publisher sent in a step has reached the recorder before the next one
    (however slow the sockets), so a resend is dated by the step that sent it. Returns (clock since the
    start, ids copied again) for each resend."""
    t0 = clock.now
    acked: set[str] = set()
    skipped = False
    resends: list[tuple[float, list[str]]] = []
    for _ in range(steps):
        clock.now += 0.01
        got_before = len(rec.got)
        for i in dict.fromkeys(rec.ids()):
            if i in acked:
                continue
            if i == skip and not skipped:
                skipped = True
                continue
            if i == skip and rec.ids().count(i) < 2:
                continue  # its only copy was the lost one
            rec.ack([i])
            acked.add(i)
            want = len(acked)
            await pumped_until(pub, rec, lambda: pub.acked == want)  # noqa: B023 - awaited here
            break
        else:
            pub.pump()
            rec.read()
        await pumped_until(pub, rec, lambda: len(rec.got) == pub.sent)  # this step's sends all arrived
        if len(rec.got) > got_before:
            resends.append((round(clock.now - t0, 2), [i for _, i in rec.got[got_before:]]))
    return resends


async def test_a_slow_recorder_that_acknowledges_in_order_gets_no_copies_of_what_waits_at_it(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """Session 6's review: a recorder that is slow but alive (acknowledgements keep coming, in order) used to
    get up to ``batch_max`` copies per round of events merely queued at it. Resends now follow its
    progress: nothing it has not passed over is sent again, however long it takes to reach it."""
    ctx = zmq_ctx
    pub, rec, clock = await forty_events_at_a_recorder(ctx)
    # one acknowledgement per 10 ms: the last event waits 0.4 s, four timeouts (before: 4 copies a round)
    resends = await ack_in_order_one_per_step(pub, rec, clock, 45)
    assert resends == [] and pub.resent == 0 and len(rec.got) == 40
    assert pub.queued == 0 and pub.acked == 40
    await pub.close(ack_wait_s=0)
    rec.close()


async def test_an_event_a_slow_recorder_passed_over_is_sent_again_while_the_others_flow(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """At-least-once with a slow recorder: an event it never acknowledged while it acknowledged events of
    later messages is sent again once older than the timeout, without waiting for the acknowledgements to
    stop, and only that event."""
    ctx = zmq_ctx
    pub, rec, clock = await forty_events_at_a_recorder(ctx)
    assert rec.messages == [4] * 10  # ev0005 in the second message: ev0008 on is acknowledged after it
    resends = await ack_in_order_one_per_step(pub, rec, clock, 50, skip="ev0005")
    assert [ids for _, ids in resends] == [["ev0005"]], resends
    ((at, _),) = resends
    # at the first 10 ms step past the 0.1 s timeout (sums of 0.01 steps: 0.1 or 0.11), while acknowledgements
    # still come (they stop at 0.5 s). Dated by the clock step that sent it, not by when the sockets
    # delivered it (it was 0.12 on CI when dated by arrival), so no machine's speed moves it.
    assert 0.1 <= at <= 0.11, resends
    assert pub.resent == 1 and pub.queued == 0 and pub.acked == 40
    await pub.close(ack_wait_s=0)
    rec.close()


def built_by(log: list[int]) -> Callable[[int], events.UsageEvent]:
    """A ``build`` for ``publish_later``: facts (i,) -> make_event(i), logging each build."""

    def build(i: int) -> events.UsageEvent:
        if i < 0:
            raise ValueError("a bug in the event builder")
        log.append(i)
        ev = make_event(i)
        ev.provider, ev.status = "openai", 200
        return ev

    return build


def requests_counted(m: GatewayMetrics) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(m.exposition().decode())
        for s in f.samples
        if s.name == "ekai_requests_total"
    )


async def test_publish_later_builds_the_events_with_their_batch_and_sends_them_in_order(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(endpoint, max_queued=100, batch_delay_s=60, ctx=ctx, build=built_by(built))
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    for i in range(3):
        pub.publish_later((i,))
    assert built == [] and pub.queued == 3  # held (``/health``) before they are built
    pub._send_batch()  # the batch timer
    assert built == [0, 1, 2]
    await pumped_until(pub, rec, lambda: len(rec.got) == 3)
    assert rec.ids() == ["ev0000", "ev0001", "ev0002"] and rec.messages == [3]
    rec.ack(rec.ids())
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()


async def test_a_scrape_counts_the_events_waiting_to_be_built(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    ctx = zmq_ctx
    metrics = GatewayMetrics(ProviderHealth(BreakerConfig()), ["openai"])
    built: list[int] = []
    pub = EventPublisher(
        f"tcp://127.0.0.1:{free_port()}",
        100,
        batch_delay_s=60,
        ctx=ctx,
        metrics=metrics,
        build=built_by(built),
    )
    metrics.before_scrape = pub.build_waiting  # as services/gateway/app.py wires them
    pub.publish_later((1,))
    pub.publish_later((2,))
    assert built == []
    assert requests_counted(metrics) == 2
    assert built == [1, 2] and pub.queued == 2  # built, held for the recorder
    assert requests_counted(metrics) == 2  # and counted once
    await pub.close(ack_wait_s=0)


async def test_publish_later_past_max_queued_counts_and_drops_and_a_failing_build_drops_one(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    ctx = zmq_ctx
    metrics = GatewayMetrics(ProviderHealth(BreakerConfig()), ["openai"])
    built: list[int] = []
    pub = EventPublisher(
        f"tcp://127.0.0.1:{free_port()}", 2, batch_delay_s=60, ctx=ctx, metrics=metrics, build=built_by(built)
    )
    pub.publish_later((1,))
    pub.publish_later((-1,))  # its build raises (a bug): logged, dropped, the others unharmed
    assert pub.queued == 2 and pub.dropped == 0
    pub.publish_later((3,))  # full: built at once, counted in the metrics and dropped, as publish() does
    assert built == [3] and pub.dropped == 1
    pub.build_waiting()
    assert built == [3, 1] and pub.dropped == 2 and pub.queued == 1
    assert requests_counted(metrics) == 2  # 3 (dropped) and 1: the failed build has no event to count
    await pub.close(ack_wait_s=0)


async def test_close_builds_and_delivers_what_waits_for_its_batch(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(endpoint, max_queued=100, batch_delay_s=60, ctx=ctx, build=built_by(built))
    pub.start(interval=60)
    await until(lambda: pub.connections == 1)
    pub.publish_later((7,))

    async def recorder() -> None:
        await until(lambda: (rec.read(), rec.ids())[1] == ["ev0007"])
        rec.ack(["ev0007"])

    acked = asyncio.ensure_future(recorder())
    assert await pub.close(ack_wait_s=30) == 0  # SIGTERM's drain: the waiting event built, sent, acknowledged
    await acked
    assert built == [7]
    rec.close()


async def test_the_batch_timer_leaves_the_build_to_the_loops_next_turn(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """A due batch timer builds nothing at once: a callback due in the same wake-up runs first, the batch on
    the loop's next turn. uvloop runs due timers ahead of the request step that the waking I/O queued, so a
    batch built in its timer landed at the start of a request's critical half (session 19)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(endpoint, max_queued=100, batch_delay_s=0.01, ctx=ctx, build=built_by(built))
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    loop = asyncio.get_running_loop()
    pub.publish_later((0,))
    timer = pub._flush
    assert isinstance(timer, asyncio.TimerHandle)
    seen: list[list[int]] = []
    done = loop.create_future()

    def next_turn() -> None:
        seen.append(list(built))
        done.set_result(None)

    def step() -> None:  # a request's step: due with the batch timer, queued behind it in the same wake-up
        seen.append(list(built))
        loop.call_soon(next_turn)

    loop.call_at(timer.when(), step)
    await done
    assert seen == [[], [0]]  # nothing built when the step ran; built (and sent) on the next turn
    await pumped_until(pub, rec, lambda: rec.ids() == ["ev0000"])
    rec.ack(rec.ids())
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()


async def test_a_due_batch_waits_for_the_loop_to_wait_and_at_most_another_batch_delay(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """With ``wait_hints`` a due batch builds nothing until ``loop_waits()`` (a request written upstream: the
    loop's idle moment at one connection), then goes at once; with no such call it still goes, one
    ``batch_delay_s`` later (session 19)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(
        endpoint, max_queued=100, batch_delay_s=0.01, ctx=ctx, build=built_by(built), wait_hints=True
    )
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    pub.loop_waits()  # nothing due: nothing happens
    assert pub._flush is None
    pub.publish_later((0,))
    await until(lambda: pub._due)  # the batch timer fired: the batch waits for the loop's idle moment
    assert built == [] and pub.queued == 1
    pub.loop_waits()
    assert built == [0]  # in the caller's turn: the request just written, its answer not in yet
    pub.publish_later((1,))  # no loop_waits() this time: it goes anyway
    await until(lambda: built == [0, 1])
    await pumped_until(pub, rec, lambda: rec.ids() == ["ev0000", "ev0001"])
    rec.ack(rec.ids())
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()


async def test_with_wait_hints_acknowledgements_wait_for_the_loop_to_wait_and_rounds_leave_the_build(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """``wait_hints``: the socket's signal that acknowledgements arrived reads none (a recorder commit's
    acknowledgement can come in a request's critical half): ``loop_waits()`` reads them. The interval round
    runs at ``loop_waits()`` too, and while a batch timer is pending leaves the waiting events to the batch
    (session 19)."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(
        endpoint, max_queued=100, batch_delay_s=3600, ctx=ctx, build=built_by(built), wait_hints=True
    )
    pub.start(interval=3600)  # the socket's signals watched; one round now, the next in an hour
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    pub.requests_open = 2  # under load: nothing built ahead (see the next test)
    pub.loop_waits()  # start()'s first round, if its timer marked it due meanwhile; the next in an hour
    assert not pub._round_due
    pub.publish_later((0,))
    pub._timed_round()  # the round's timer fires: the round waits for the loop to wait
    assert pub._round_due and built == []
    pub.loop_waits()  # the round runs, and leaves the build to the batch timer that waits
    assert not pub._round_due and built == [] and pub._flush is not None
    pub._send_batch()
    await pumped_until(pub, rec, lambda: rec.ids() == ["ev0000"])
    rec.ack(rec.ids())
    # the socket's signal (called here too: a ZMQ_FD edge may have been taken by a send) reads nothing
    await until(lambda: (pub._signalled(), pub._acks_waiting)[1])
    assert pub.acked == 0 and pub.queued == 1
    pub.loop_waits()
    assert pub.acked == 1 and pub.queued == 0
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()


async def test_one_request_open_its_upstream_wait_builds_the_waiting_events_and_the_batch_only_sends(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """Session 28: at one connection (one request open), ``loop_waits()`` builds the events of the facts
    waiting (at most ``BUILD_AHEAD_MAX``) without sending them: each upstream wait carries one event's
    build instead of one wait in 5-12 carrying the whole batch's. With several requests open, or more facts
    waiting, the batch builds them, warm, as before. The due batch sends what was built ahead, in order."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq_ctx
    rec = Recorder(ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(
        endpoint, max_queued=100, batch_delay_s=3600, ctx=ctx, build=built_by(built), wait_hints=True
    )
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    pub.requests_open = 1
    pub.publish_later((0,))
    pub.loop_waits()  # the next request written upstream: the last one's event built in its wait
    assert built == [0] and pub.queued == 1 and pub.sent == 0 and rec.messages == []
    pub.publish_later((1,))
    pub.requests_open = 2  # several open (under load): the batch builds it
    pub.loop_waits()
    assert built == [0]
    pub.requests_open = 1
    for i in range(2, 2 + publisher.BUILD_AHEAD_MAX):
        pub.publish_later((i,))
    pub.loop_waits()  # more than BUILD_AHEAD_MAX waiting: left to the batch, built in one loop
    assert built == [0]
    pub._due = True  # the batch timer fired: the batch goes at the next wait
    pub.loop_waits()
    assert built == [0, *range(1, 2 + publisher.BUILD_AHEAD_MAX)]
    ids = [f"ev{i:04d}" for i in range(2 + publisher.BUILD_AHEAD_MAX)]
    await pumped_until(pub, rec, lambda: rec.ids() == ids)
    assert rec.messages == [len(ids)]  # one message: built ahead or not
    rec.ack(ids)
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()


async def test_one_request_open_the_work_in_its_wait_stops_once_its_upstream_answered(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """Session 29: at one connection, after the first piece of work in a request's upstream wait (an event
    built, the batch sent, the round), each further piece runs only while the upstream connection it was
    handed has nothing to read: once the answer is in, the rest stays due (the next wait, or its timer) and
    the answer is relayed at once. A due batch is the first piece, whether or not the answer is in (session
    30: never left for its fallback timer). Real connections: one whose peer has answered, one whose peer is
    silent."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    rec = Recorder(zmq_ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(
        endpoint, max_queued=100, batch_delay_s=3600, ctx=zmq_ctx, build=built_by(built), wait_hints=True
    )
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    answered_peer, answered_end = socket.socketpair()
    silent_peer, silent_end = socket.socketpair()
    _, answered = await asyncio.open_connection(sock=answered_end)
    _, silent = await asyncio.open_connection(sock=silent_end)
    answered.transport.pause_reading()  # the answer stays in the kernel, as while the gateway's loop works
    answered_peer.sendall(b"HTTP/1.1 200 OK\r\n")  # the answer is in before the work begins
    await until(lambda: publisher._answered(answered.transport))
    assert not publisher._answered(silent.transport)
    pub.requests_open = 1
    pub.publish_later((0,))
    pub.publish_later((1,))  # two waiting (BUILD_AHEAD_MAX)
    pub._round_due = True  # the round due at this wait
    pub.loop_waits(answered.transport)
    assert built == [0]  # the first piece only: a wait shorter than one piece still carries it
    assert pub._round_due and pub.sent == 0 and pub.queued == 2
    pub.loop_waits(silent.transport)  # the next request's wait, its answer not in: the rest goes
    assert built == [0, 1] and not pub._round_due
    pub._send_batch()
    await pumped_until(pub, rec, lambda: rec.ids() == ["ev0000", "ev0001"])
    pub.publish_later((2,))
    pub.publish_later((3,))
    pub._due = pub._round_due = True  # the batch timer fired: its send is due at this wait
    pub.loop_waits(answered.transport)  # answered already: the due batch still goes, its events built in it
    assert built == [0, 1, 2, 3] and not pub._due and pub.sent == 4  # (session 30: not left for its timer)
    assert pub._round_due  # the second piece waits for the next wait
    rec.ack(rec.ids())
    pub.loop_waits(silent.transport)  # the round, and the acknowledgements read
    assert not pub._round_due
    await pumped_until(pub, rec, lambda: rec.ids() == ["ev0000", "ev0001", "ev0002", "ev0003"])
    rec.ack(["ev0002", "ev0003"])
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    for writer in (answered, silent):
        writer.close()
    answered_peer.close()
    silent_peer.close()
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()


# ---- s29 fix29 lead 5: events built ahead in a request's wait (``EventPublisher.loop_waits``, session 28) are in the
# ``/metrics`` queued gauge at the next scrape, not only after the next batch (was test_publisher_gauges29.py).


def _gauge(m: GatewayMetrics, name: str) -> float:
    samples = (s for f in text_string_to_metric_families(m.exposition().decode()) for s in f.samples)
    return next(s.value for s in samples if s.name == name)


async def test_an_event_built_ahead_is_in_the_queued_gauge_at_the_next_scrape(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    metrics = GatewayMetrics(ProviderHealth(BreakerConfig()), ["openai"])
    built: list[int] = []
    pub = EventPublisher(
        f"tcp://127.0.0.1:{free_port()}",
        100,
        batch_delay_s=60,
        ctx=zmq_ctx,
        metrics=metrics,
        build=built_by(built),
    )
    metrics.before_scrape = pub.build_waiting  # as services/gateway/app.py wires them
    pub.publish_later((1,))
    pub.loop_waits()  # one request open: its wait builds the event ahead of the batch
    assert built == [1] and pub.queued == 1
    assert _gauge(metrics, "ekai_events_queued") == 1  # before: 0 until the batch (60 s here) set it
    await pub.close(ack_wait_s=0)
