"""SocketWatch: waits for plain ZeroMQ sockets on the loop, one-shot, with pokes (real sockets, inproc)."""

from __future__ import annotations

import asyncio

import pytest
import zmq

from services.recorder.frames import recv_parts
from services.recorder.watch import SocketWatch

LONG_S = 30.0  # a wait that should end early: this bound only catches a hang


class CountingWatch(SocketWatch):
    """Counts the loop's callbacks on the descriptors."""

    signals = 0

    def _signalled(self) -> None:
        self.signals += 1
        super()._signalled()


async def test_wait_returns_when_a_message_arrives(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    router, dealer = pair
    watch = SocketWatch([router])
    asyncio.get_running_loop().call_soon(dealer.send, b"hello")
    assert await watch.wait(LONG_S) is True
    assert recv_parts(router)[1:] == [b"hello"]
    watch.close()


async def test_wait_returns_at_once_when_a_message_is_already_waiting(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, dealer = pair
    watch = SocketWatch([router])
    dealer.send(b"early")
    while not watch.ready():  # inproc delivery is asynchronous: wait until libzmq says it is there
        await asyncio.sleep(0.001)
    assert await watch.wait(LONG_S) is True
    watch.close()


async def test_a_poke_ends_a_wait_with_nothing_to_read(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, _ = pair
    watch = SocketWatch([router])
    asyncio.get_running_loop().call_soon(watch.poke)
    assert await watch.wait(LONG_S) is False
    watch.close()


async def test_a_timeout_with_nothing_to_read_returns_false(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    router, _ = pair
    watch = SocketWatch([router])
    assert await watch.wait(0.01) is False
    watch.close()


async def test_the_descriptors_are_unregistered_at_their_first_signal(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]],
) -> None:
    # A ZMQ_FD stays readable until ZMQ_EVENTS is read: registered while the receiver is busy elsewhere
    # (it reads, or lets messages gather), the loop would call back on every turn.
    router, dealer = pair
    watch = CountingWatch([router])
    asyncio.get_running_loop().call_soon(dealer.send, b"first")
    assert await watch.wait(LONG_S) is True
    assert not watch.registered
    for i in range(20):  # messages arrive while nobody waits
        dealer.send(b"more %d" % i)
        await asyncio.sleep(0.001)
    assert watch.signals <= 1
    for _ in range(21):  # each message, however slowly delivered (a bare read could miss the last ones)
        assert router.poll(LONG_S * 1000)
        recv_parts(router)
    with pytest.raises(zmq.Again):  # and no more
        recv_parts(router)
    watch.close()


async def test_several_sockets_are_watched(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    router, dealer = pair
    watch = SocketWatch([dealer, router])  # the dealer gets nothing; the router gets the message
    asyncio.get_running_loop().call_soon(dealer.send, b"to the router")
    assert await watch.wait(LONG_S) is True
    assert recv_parts(router)[1:] == [b"to the router"]
    watch.close()
    assert not watch.registered
