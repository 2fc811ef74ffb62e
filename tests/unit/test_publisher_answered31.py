"""``publisher._answered`` on upstream connections whose file descriptors are past ``select``'s reach.

A gateway with many connections open (clients, upstreams, the recorder's sockets) hands out descriptors at or
past ``FD_SETSIZE`` (1024). ``select.select`` refuses those (``ValueError``), which ``_answered`` read as
"not answered": the one-connection wait then ran its further pieces after the answer was in (session 29's
bound gone). Issue 13, session 31: ``_answered`` polls instead. Real sockets and a real publisher.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
from collections.abc import Iterator

import pytest
import zmq

from services.gateway import publisher
from services.gateway.publisher import EventPublisher
from tests.procs import free_port
from tests.unit.test_publisher import Recorder, built_by, pumped_until

FD_SETSIZE = 1024  # glibc's select limit


@pytest.fixture
def past_select() -> Iterator[None]:
    """Fill the descriptor table below ``FD_SETSIZE`` (``RLIMIT_NOFILE`` raised for it), so that the
    sockets made next get descriptors ``select`` cannot take."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FD_SETSIZE + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    held: list[int] = []
    try:
        while (fd := os.open(os.devnull, os.O_RDONLY)) < FD_SETSIZE:
            held.append(fd)
        os.close(fd)
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def connected() -> tuple[socket.socket, asyncio.StreamWriter]:
    """(the peer, the loop's end as a stream writer): a real connection on the running loop."""
    peer, end = socket.socketpair()
    _, writer = await asyncio.open_connection(sock=end)
    writer.transport.pause_reading()  # what the peer sends stays in the kernel, as while the loop works
    return peer, writer


async def test_an_answer_on_a_descriptor_past_fd_setsize_is_seen(past_select: None) -> None:
    answered_peer, answered = await connected()
    silent_peer, silent = await connected()
    try:
        for writer in (answered, silent):
            assert writer.transport.get_extra_info("socket").fileno() >= FD_SETSIZE
        answered_peer.sendall(b"HTTP/1.1 200 OK\r\n")  # a socketpair: in the other end's buffer at once
        assert publisher._answered(answered.transport)
        assert not publisher._answered(silent.transport)
        silent_peer.close()  # the peer's hang-up reads as select read it: something to read (EOF)
        assert publisher._answered(silent.transport)
    finally:
        for writer in (answered, silent):
            writer.close()
        answered_peer.close()
        silent_peer.close()
    await answered.wait_closed()
    assert not publisher._answered(answered.transport)  # closed: nothing to wait for, no error


async def test_the_wait_past_fd_setsize_stops_once_answered(
    past_select: None, zmq_ctx: zmq.Context[zmq.Socket[bytes]]
) -> None:
    """``loop_waits`` at one connection: the round due stays due when the upstream (a descriptor past
    ``FD_SETSIZE``) has answered, and runs at the next wait whose upstream has not."""
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    rec = Recorder(zmq_ctx, endpoint)
    built: list[int] = []
    pub = EventPublisher(
        endpoint, max_queued=100, batch_delay_s=3600, ctx=zmq_ctx, build=built_by(built), wait_hints=True
    )
    answered_peer, answered = await connected()
    silent_peer, silent = await connected()
    try:
        await pumped_until(pub, rec, lambda: pub.connections == 1)
        answered_peer.sendall(b"HTTP/1.1 200 OK\r\n")
        pub.requests_open = 1
        pub.publish_later((0,))
        pub._round_due = True
        pub.loop_waits(answered.transport)
        assert built == [0] and pub._round_due  # the build only: the answer is in
        pub.loop_waits(silent.transport)
        assert not pub._round_due
    finally:
        for writer in (answered, silent):
            writer.close()
        answered_peer.close()
        silent_peer.close()
    pub._send_batch()
    await pumped_until(pub, rec, lambda: rec.ids() == ["ev0000"])
    rec.ack(["ev0000"])
    await pumped_until(pub, rec, lambda: pub.queued == 0)
    assert await pub.close(ack_wait_s=0.1) == 0
    rec.close()
