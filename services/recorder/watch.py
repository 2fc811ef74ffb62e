"""Waiting for plain ZeroMQ sockets to become readable on an asyncio loop, without ``zmq.asyncio``.

``zmq.asyncio.Poller.poll`` wraps every plain socket it watches in a new ``zmq.asyncio`` socket, adds
and removes the loop's readers and makes several futures, on every call: in the live stack (a gateway's
message every 5 ms, one wake-up each) that was about a fifth of the recorder's event-loop CPU (issue 13,
session 11: py-spy, 4,000 events/s in messages of 20). ``SocketWatch`` registers each socket's
``ZMQ_FD`` with the loop only while a ``wait`` is waiting (one-shot: the first signal unregisters them),
since the descriptor stays readable until ``ZMQ_EVENTS`` is read: left registered while the receiver
does something else (reads, or lets messages gather), the loop would run the callback on every turn.

The ZeroMQ contract (zmq_getsockopt(3), ``ZMQ_FD``): the descriptor signals that the socket's state
*may* have changed, edge-style, and any operation on the socket (a ``send`` too, or reading
``ZMQ_EVENTS``) may consume that signal; so readiness is always decided by ``ZMQ_EVENTS``, and a task
that sends on a watched socket while another waits on it must call ``poke()`` afterwards, or a message
that arrived meanwhile may wait for the next signal (at worst the ``wait`` timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import zmq

_EVENTS, _POLLIN = int(zmq.EVENTS), int(zmq.POLLIN)


class SocketWatch:
    """Waits until one of ``sockets`` (plain ``zmq.Socket``) has a message waiting. Create it on the
    running loop; ``close()`` it before the sockets are closed."""

    def __init__(self, sockets: Sequence[zmq.Socket[bytes]]) -> None:
        self._loop = asyncio.get_running_loop()
        self._sockets = tuple(sockets)
        self._fds = [int(s.getsockopt(zmq.FD)) for s in self._sockets]
        self._wake = asyncio.Event()
        self._armed = False  # the descriptors are registered with the loop

    def _signalled(self) -> None:
        self._disarm()
        self._wake.set()

    def _disarm(self) -> None:
        if self._armed:
            self._armed = False
            for fd in self._fds:
                self._loop.remove_reader(fd)

    @property
    def registered(self) -> bool:
        """Whether the descriptors are registered with the loop (from a ``wait`` until their first signal)."""
        return self._armed

    def ready(self) -> bool:
        """Whether a message is waiting on one of the sockets now (``ZMQ_EVENTS``; never waits)."""
        return any(int(s.getsockopt(_EVENTS)) & _POLLIN for s in self._sockets)

    def poke(self) -> None:
        """Make a waiting ``wait`` look again: after a send on a watched socket (see the module docstring),
        or to make it notice something else (shutdown)."""
        self._wake.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait until a message is waiting, for at most ``timeout_s`` seconds; returns whether one is.

        Always yields to the loop once, even when a message is already waiting, so that other tasks run
        between the reads of a receiver that calls it in a loop. Returns False early when ``poke``d
        with nothing to read."""
        if self.ready():
            await asyncio.sleep(0)
            return True
        self._wake.clear()
        if not self._armed:
            self._armed = True
            for fd in self._fds:
                self._loop.add_reader(fd, self._signalled)
        if self.ready():  # a message that came in while registering
            await asyncio.sleep(0)
            return True
        try:
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()
        except TimeoutError:
            pass
        return self.ready()

    def close(self) -> None:
        """Stop watching (the sockets are left open)."""
        self._disarm()
        self._fds = []
