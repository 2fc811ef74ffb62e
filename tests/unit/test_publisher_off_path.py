"""Where the publisher's own work runs (session 14): a due batch, the background round and read
acknowledgements run at the next moment the gateway waits on an upstream (``upstream_waiting``, two loop
turns after it is called: once aiohttp has written the request), their timers the backstop. The batch's
timer still sends a batch at most ``batch_delay_s`` after its first event (the SIGKILL window, README).
"""

from __future__ import annotations

import asyncio

import zmq

from services.gateway.publisher import EventPublisher
from tests.procs import free_port
from tests.unit.test_publisher import Recorder, make_event, until

HOUR = 3600.0


async def turns(n: int) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def connected(ctx: zmq.Context[zmq.Socket[bytes]], **kwargs: float) -> tuple[EventPublisher, Recorder]:
    """A started publisher (its rounds an hour apart) connected to a recorder stand-in."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    rec = Recorder(ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=100, ctx=ctx, **kwargs)  # type: ignore[arg-type]
    pub.start(interval=HOUR)
    await until(lambda: pub.connections == 1 and pub._writable)
    return pub, rec


async def test_a_ripe_batch_goes_after_the_upstream_request_is_written_not_before() -> None:
    """Ripe at once (``batch_ripe_s`` 0), its timer an hour away: nothing goes until an upstream wait, and
    then not in the caller's turn nor the next one (aiohttp writes the request's body there), but the turn
    after: off the request's critical path, before the timer."""
    ctx = zmq.Context()
    pub, rec = await connected(ctx, batch_delay_s=HOUR, batch_ripe_s=0.0)
    pub.publish(make_event(1))
    pub.publish(make_event(2))
    await turns(5)
    assert pub.sent == 0  # the batch waits for its timer or an upstream wait
    pub.upstream_waiting()
    pub.upstream_waiting()  # a second wait meanwhile schedules nothing more
    assert pub.sent == 0
    await turns(1)
    assert pub.sent == 0  # the turn in which aiohttp writes the request's body
    await turns(1)
    assert pub.sent == 2 and pub._flush is None  # sent, the backstop disarmed

    def got() -> bool:
        rec.read()
        return rec.ids() == ["ev0001", "ev0002"]

    await until(got)
    assert rec.messages == [2]  # one message for the batch
    await pub.close(ack_wait_s=0)
    rec.close()
    ctx.term()


async def test_an_unripe_batch_waits_for_more_events() -> None:
    """A batch younger than ``batch_ripe_s`` is not sent at an upstream wait: batches keep their events
    (session 13: an event built in a batch costs about half of one built alone)."""
    ctx = zmq.Context()
    pub, rec = await connected(ctx, batch_delay_s=HOUR, batch_ripe_s=HOUR / 2)
    pub.publish(make_event(1))
    pub.upstream_waiting()
    await turns(5)
    assert pub.sent == 0 and pub._flush is not None
    await pub.close(ack_wait_s=0)
    rec.close()
    ctx.term()


async def test_the_batch_timer_still_sends_within_batch_delay_of_the_first_event() -> None:
    """No upstream wait at all (an idle gateway after its last answer): the timer sends the batch, armed
    ``batch_delay_s`` after the batch's first event and not pushed back by later ones (the SIGKILL window,
    README: at most ``batch_delay_s`` of events wait for their batch)."""
    ctx = zmq.Context()
    pub, rec = await connected(ctx, batch_delay_s=0.005)
    loop = asyncio.get_running_loop()
    before = loop.time()
    pub.publish(make_event(1))
    after = loop.time()
    due = pub._batch_due
    assert before + 0.005 <= due <= after + 0.005
    await turns(1)
    pub.publish(make_event(2))
    assert pub._batch_due == due  # one timer per batch

    def got() -> bool:
        rec.read()
        return len(rec.ids()) == 2

    await until(got)
    assert pub.sent == 2
    await pub.close(ack_wait_s=0)
    rec.close()
    ctx.term()


async def test_acknowledgements_wait_for_an_upstream_wait_at_most_their_backstop() -> None:
    """An acknowledgement's signal marks it due; it is read at the next upstream wait (two turns after),
    or by its own timer ``off_path_wait_s`` later when no request comes: every one is read."""
    ctx = zmq.Context()
    pub, rec = await connected(ctx, batch_delay_s=HOUR, batch_ripe_s=0.0, off_path_wait_s=HOUR)
    pub.publish(make_event(1))
    pub.upstream_waiting()
    await turns(2)

    def got(n: int) -> bool:
        rec.read()
        return len(rec.ids()) == n

    await until(lambda: got(1))
    rec.ack(["ev0001"])
    await until(lambda: pub._acks_due is not None)  # signalled, not read: the backstop is an hour away
    assert pub.queued == 1
    pub.upstream_waiting()
    await turns(2)
    assert pub.queued == 0 and pub.acked == 1 and pub._acks_due is None
    await pub.close(ack_wait_s=0)
    rec.close()

    # the backstop: no upstream wait comes
    pub, rec = await connected(ctx, batch_delay_s=0.005, off_path_wait_s=0.005)
    pub.publish(make_event(2))
    await until(lambda: got(1))
    rec.ack(["ev0002"])
    await until(lambda: pub.queued == 0)
    assert pub.acked == 1
    await pub.close(ack_wait_s=0)
    rec.close()
    ctx.term()


async def test_the_round_runs_at_an_upstream_wait_or_its_backstop() -> None:
    """The round's timer makes the round due; it runs at the next upstream wait, and the next round's
    timer is armed ``interval`` from then; with no upstream wait, the timer runs it ``off_path_wait_s``
    later."""
    ctx = zmq.Context()
    pub, rec = await connected(ctx, batch_delay_s=HOUR, off_path_wait_s=HOUR)
    assert pub._round is not None
    pub._round.cancel()
    pub._timed_round()  # what the round's timer does
    assert pub._round_due
    rounds: list[int] = []
    real = pub.pump
    pub.pump = lambda: (rounds.append(1), real())[1]  # type: ignore[method-assign]
    await turns(5)
    assert rounds == []
    pub.upstream_waiting()
    await turns(2)
    assert rounds == [1] and not pub._round_due
    loop = asyncio.get_running_loop()
    assert pub._round is not None and pub._round.when() > loop.time() + HOUR / 2
    await pub.close(ack_wait_s=0)
    rec.close()

    pub, rec = await connected(ctx, off_path_wait_s=0.005)
    assert pub._round is not None
    pub._round.cancel()
    pub._timed_round()
    assert pub._round_due
    await until(lambda: not pub._round_due)  # the backstop ran it
    await pub.close(ack_wait_s=0)
    rec.close()
    ctx.term()
