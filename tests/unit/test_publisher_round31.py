"""The interval round leaves what waits for a pending batch to that batch (issue 13, session 31).

At one connection the events built ahead in the requests' upstream waits sit in ``_unsent`` until their
batch is due; a round that sent them made one ZeroMQ message more per round (its ``send``'s system calls
and the I/O thread's wake-ups), the batch then going with what was left. Real sockets: a ROUTER plays the
recorder.
"""

from __future__ import annotations

import zmq

from services.gateway.publisher import EventPublisher
from tests.procs import free_port
from tests.unit.test_publisher import Recorder, make_event, pumped_until


async def test_a_round_sends_nothing_while_a_batch_is_pending(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    rec = Recorder(zmq_ctx, endpoint)
    pub = EventPublisher(endpoint, max_queued=100, batch_delay_s=3600, ctx=zmq_ctx)
    await pumped_until(pub, rec, lambda: pub.connections == 1)
    pub.publish(make_event(0))
    assert pub._flush is not None  # its batch timer armed
    pub._timed_round()
    pub.publish(make_event(1))
    assert pub.sent == 0 and pub._flush is not None  # both wait for their batch
    pub._send_batch()
    await pumped_until(pub, rec, lambda: rec.ids() == ["ev0000", "ev0001"])
    assert rec.messages == [2]  # one message
    pub.publish(make_event(2))
    assert pub._flush is not None
    pub._flush.cancel()
    pub._flush = None  # no batch pending (a send left over for the rounds): a round sends what waits
    pub._timed_round()
    assert pub.sent == 3
    await pumped_until(pub, rec, lambda: rec.messages == [2, 1])
    rec.ack(rec.ids())
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()
