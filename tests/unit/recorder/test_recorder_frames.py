"""recv_parts / send_parts: the same messages as pyzmq's recv_multipart / send_multipart."""

from __future__ import annotations

import pytest
import zmq

from services.recorder import frames
from services.recorder.frames import recv_parts, send_parts

MESSAGES = [[b"ev", b"id-1", b"x" * 900], [b"one"], [b"", b"empty frames", b""], [b"p"] * 1001]


def test_messages_round_trip_whole_and_in_order(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    router, dealer = pair
    for message in MESSAGES:
        send_parts(dealer, message)
    received = []
    for _ in MESSAGES:
        assert router.poll(10_000)  # the deadline only catches a hang
        received.append(recv_parts(router))
    identity = received[0][0]
    assert received == [[identity, *m] for m in MESSAGES]
    # And back through the ROUTER, as acknowledgements go: read with pyzmq's own helper.
    send_parts(router, [identity, b"ack", b"id-1", b"id-2"])
    assert dealer.poll(10_000)
    assert dealer.recv_multipart() == [b"ack", b"id-1", b"id-2"]


def test_nothing_waiting_raises_again(pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]]) -> None:
    router, dealer = pair
    with pytest.raises(zmq.Again):
        recv_parts(router)
    dealer.send_multipart([b"a", b"b"])
    assert router.poll(10_000)
    assert recv_parts(router)[1:] == [b"a", b"b"]
    with pytest.raises(zmq.Again):
        recv_parts(router)


def test_a_full_queue_refuses_the_whole_message() -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        dealer = ctx.socket(zmq.DEALER)  # not connected: nowhere to queue, so a NOBLOCK send fails
        with pytest.raises(zmq.Again):
            send_parts(dealer, [b"a", b"b"])
    finally:
        ctx.destroy(linger=0)


def test_every_frame_is_sent_copied_and_untracked(
    pair: tuple[zmq.Socket[bytes], zmq.Socket[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backend's defaults differ (Cython: copy, cffi: no copy): send_parts passes them itself."""
    router, dealer = pair
    calls: list[tuple[object, ...]] = []
    real = frames._send

    def spy(*args: object) -> object:
        calls.append(args[2:])
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(frames, "_send", spy)
    send_parts(dealer, [b"ev", b"id-1", b"payload"])
    assert calls == [(frames._MORE, True, False), (frames._MORE, True, False), (frames._NOBLOCK, True, False)]
    assert router.poll(5000)
    assert recv_parts(router)[1:] == [b"ev", b"id-1", b"payload"]
