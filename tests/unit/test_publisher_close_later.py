"""``EventPublisher.close`` and requests handed over with ``publish_later`` while it waits for the
recorder's acknowledgements (SIGTERM's drain): they are events held, so its count and its log say them."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import zmq

from services.gateway import publisher
from services.gateway.publisher import EventPublisher
from tests.procs import free_port
from tests.unit.test_publisher import built_by, make_event


async def test_close_counts_a_request_handed_over_during_its_last_wait(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    """No recorder: one event held. While ``close`` waits (its last wait: the deadline passes meanwhile),
    a request's facts come (a handler cancelled late in the shutdown records from its ``finally``). Both
    are held unacknowledged at the end, so ``close`` returns 2, not 1 (the facts left unbuilt and
    uncounted)."""
    ctx = zmq_ctx
    built: list[int] = []
    pub = EventPublisher(
        f"tcp://127.0.0.1:{free_port()}", 100, batch_delay_s=60, ctx=ctx, build=built_by(built)
    )
    pub.publish(make_event(0))
    real_sleep = asyncio.sleep
    handed = False

    async def late_request(delay: float, *args: Any) -> None:
        nonlocal handed
        if not handed:
            handed = True
            pub.publish_later((1,))
        await real_sleep(0.2)  # past close's deadline (ack_wait_s below)

    with mock.patch.object(publisher.asyncio, "sleep", late_request):
        left = await pub.close(ack_wait_s=0.05)
    assert handed
    assert left == 2 and built == [1]
