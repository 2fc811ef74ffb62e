from __future__ import annotations

import asyncio

import zmq

from services.gateway.publisher import EventPublisher
from shared import events
from tests.procs import free_port


def make_event(i: int) -> events.UsageEvent:
    return events.UsageEvent(request_id=f"r{i}", endpoint="/v1/chat/completions", client_format="openai_chat",
                             model="gpt-4o")


async def test_queues_while_no_recorder_then_delivers_in_order() -> None:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq.Context()
    pub = EventPublisher(endpoint, max_queued=10, ctx=ctx)
    pub.start(interval=0.01)
    for i in range(5):
        pub.publish(make_event(i))
    assert pub.stats()["queued"] == 5 and pub.sent == 0
    pull = ctx.socket(zmq.PULL)
    pull.bind(endpoint)
    received = []
    for _ in range(200):
        await asyncio.sleep(0.02)
        while pull.poll(0):
            received.append(events.decode(pull.recv()).request_id)
        if len(received) == 5:
            break
    assert received == [f"r{i}" for i in range(5)]
    assert pub.queued == 0 and pub.sent == 5
    await pub.close(grace_s=0.1)
    pull.close(0)
    ctx.term()


async def test_drops_past_the_bound_and_counts_them() -> None:
    ctx = zmq.Context()
    pub = EventPublisher(f"tcp://127.0.0.1:{free_port()}", max_queued=3, ctx=ctx)
    for i in range(10):
        pub.publish(make_event(i))  # never blocks, never raises
    assert pub.stats() == {"queued": 3, "sent": 0, "dropped": 7, "max_queued": 3}
    await pub.close(grace_s=0)
    ctx.term()
