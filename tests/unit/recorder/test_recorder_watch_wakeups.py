"""SocketWatch's wake-ups, each of which must come from the signal it names, never from ``wait``'s own
timeout: these waits are given a timeout far past the hang bound, so a missed wake-up (the ZMQ_FD's
signal taken by a send, a poke that does nothing, a descriptor never registered) fails the test instead
of returning, late, the same value (real sockets, inproc)."""

from __future__ import annotations

import asyncio
import select

import zmq

from services.recorder.frames import recv_parts
from services.recorder.metrics import RecorderMetrics
from services.recorder.service import Acker, Counters
from services.recorder.watch import SocketWatch

HANG_S = 30.0  # the hang bound: a wake-up that does not come fails here
NEVER_S = 3_600.0  # wait's own timeout: never reached by a test that passes


async def waiting(watch: SocketWatch) -> asyncio.Task[bool]:
    """A task in ``watch.wait``, its descriptors registered, nothing to read yet."""
    task = asyncio.create_task(watch.wait(NEVER_S))
    while not watch.registered:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # now in the event's wait
    assert not task.done()
    return task


async def woken(task: asyncio.Task[bool]) -> bool:
    async with asyncio.timeout(HANG_S):
        return await task


def fd_signalled(sock: zmq.Socket[bytes]) -> None:
    """Block (without running the loop) until the socket's ZMQ_FD is readable: a command reached it."""
    readable, _, _ = select.select([int(sock.getsockopt(zmq.FD))], [], [], HANG_S)
    assert readable, "the descriptor never signalled"


async def test_a_message_wakes_a_wait(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    router, dealer = pair
    watch = SocketWatch([router])
    task = await waiting(watch)
    dealer.send(b"hello")
    assert await woken(task) is True
    assert recv_parts(router)[1:] == [b"hello"]
    watch.close()


async def test_a_poke_wakes_a_wait_with_nothing_to_read(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, _ = pair
    watch = SocketWatch([router])
    task = await waiting(watch)
    watch.poke()
    assert await woken(task) is False
    watch.close()


async def test_a_poke_after_the_signal_was_taken_finds_the_message(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    # A message arrives, then another operation on the socket (here ZMQ_EVENTS, as a send may) takes the
    # descriptor's signal before the loop sees it: only the poke can wake the wait now.
    router, dealer = pair
    watch = SocketWatch([router])
    task = await waiting(watch)
    dealer.send(b"behind the signal")
    fd_signalled(router)
    assert int(router.getsockopt(zmq.EVENTS)) & zmq.POLLIN
    watch.poke()
    assert await woken(task) is True
    assert recv_parts(router)[1:] == [b"behind the signal"]
    watch.close()


async def test_the_recorders_acknowledgements_poke_the_watch_on_their_socket(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    # The acker sends on the router the receiver waits on: each send may take the signal of a message
    # that just arrived (zmq_getsockopt(3), ZMQ_FD), so it must poke the watch after sending.
    router, dealer = pair
    dealer.send(b"hello")
    while not int(router.getsockopt(zmq.EVENTS)) & zmq.POLLIN:
        await asyncio.sleep(0.001)
    gateway = recv_parts(router)[0]
    watch = SocketWatch([router])
    acker = Acker(router, Counters(), RecorderMetrics(), watch)
    task = await waiting(watch)
    acker.send(gateway, [b"event-1"])
    assert await woken(task) is False  # woken by the poke: nothing to read
    assert acker.counters.acked == 1
    watch.close()


async def test_a_message_on_the_second_socket_wakes_a_wait(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    # The recorder watches its router and the router's monitor: each socket's descriptor must be
    # registered, not only the first one's.
    router, dealer = pair
    watch = SocketWatch([dealer, router])  # the dealer gets nothing; the router gets the message
    task = await waiting(watch)
    dealer.send(b"to the router")
    assert await woken(task) is True
    assert recv_parts(router)[1:] == [b"to the router"]
    watch.close()
    assert not watch.registered
