"""Multipart ZeroMQ messages read and sent frame by frame, without ``zmq.Socket``'s Python helpers.

``Socket.recv_multipart`` asks ``getsockopt(RCVMORE)`` after each frame and ``Socket.send_multipart``
type-checks each frame and combines flag enums; together that is most of what a three-frame message costs
in Python (``recv_multipart`` about 16 us against 10 us here, on the two-core machine: a one-off
measurement of 30,000 ``[routing id, ev, event id, payload]`` messages). These read ``Frame.more`` from
``copy=False`` frames and send with plain integer flags; the messages are the same (ZeroMQ delivers a
multipart message whole or not at all).

Sending calls the compiled socket's ``send`` (``zmq.backend.Socket``) directly: ``zmq.Socket.send`` is
a Python method in front of it that only handles ``routing_id`` and ``group`` (draft sockets), and it was
0.6-0.7 us of the 1.1 us a frame costs (session 9: 50,000 frames of 343 bytes on a PUB socket, 1.09-1.11
against 0.42-0.44 us a frame). The recorder sends a frame per event twice (its acknowledgement and the
tail), so about 1.3 us an event of its receiving loop. The backend's own defaults differ (Cython copies,
cffi does not), so every call passes ``copy=True, track=False`` (positionally: the compiled method's
keywords cost more): each frame is copied into its ZeroMQ message when it is queued, whatever the
caller does with its buffer afterwards. ``sock`` must be a plain ``zmq.Socket``: a ``zmq.asyncio``
socket's ``send`` returns a future and would be bypassed here.
"""

from __future__ import annotations

from collections.abc import Sequence

import zmq

_NOBLOCK = int(zmq.NOBLOCK)
_MORE = int(zmq.NOBLOCK | zmq.SNDMORE)
_send = zmq.backend.Socket.send  # see the module docstring


def recv_parts(sock: zmq.Socket[bytes]) -> list[bytes]:
    """The frames of the next waiting message, without blocking.

    Raises ``zmq.Again`` when no message is waiting (then nothing was read)."""
    frame = sock.recv(_NOBLOCK, copy=False)
    parts = [frame.bytes]
    while frame.more:
        frame = sock.recv(_NOBLOCK, copy=False)
        parts.append(frame.bytes)
    return parts


def send_parts(sock: zmq.Socket[bytes], parts: Sequence[bytes]) -> None:
    """Queue ``parts`` (at least one) as one message, without blocking. ``sock``: a plain ``zmq.Socket``
    (not ``zmq.asyncio``); each part is copied when queued.

    Raises ``zmq.ZMQError`` (``zmq.Again`` at the high-water mark) when the message cannot be queued; then
    none of it is sent."""
    last = len(parts) - 1
    for i in range(last):
        _send(sock, parts[i], _MORE, True, False)  # copy=True, track=False: see the module docstring
    _send(sock, parts[last], _NOBLOCK, True, False)
