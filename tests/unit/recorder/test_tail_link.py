"""services.recorder.tail_link: what ekai-tail says about its connection, fed monitor events and a clock."""

from __future__ import annotations

import zmq

from services.recorder.tail_link import Link

EP = "tcp://127.0.0.1:5558"


def test_a_server_that_is_no_zeromq_publisher_is_named_once_and_never_reads_as_connected() -> None:
    """The gateway's HTTP port, say: TCP connects, the handshake fails, it drops, ten times a second."""
    link = Link(EP, since_s=0.0)
    notes = [
        link.on_event(event, t / 10)
        for t in range(40)
        for event in (zmq.EVENT_CONNECTED, zmq.EVENT_DISCONNECTED, zmq.EVENT_CONNECT_RETRIED)
    ]
    said = [n for n in notes if n]
    assert len(said) == 1 and said[0].startswith(f"ekai-tail: something at {EP} answers but is no ZeroMQ")


def test_connect_drop_and_the_wait_after_it() -> None:
    link = Link(EP, since_s=0.0)
    assert link.wait_ms(1.0) == 2001 and link.on_tick(2.9) is None
    assert link.on_tick(3.0) == (
        f"ekai-tail: nothing listens at {EP} yet: is the recorder running, "
        "and is TAIL_ENDPOINT the tail= of the recorder's 'recorder started' line?"
    )
    assert link.on_tick(9.0) is None and link.wait_ms(9.0) is None  # said once
    assert link.on_event(zmq.EVENT_HANDSHAKE_SUCCEEDED, 10.0) == f"ekai-tail: connected to {EP}"
    assert link.wait_ms(99.0) is None and link.on_tick(99.0) is None
    assert link.on_event(zmq.EVENT_DISCONNECTED, 100.0) == (
        f"ekai-tail: lost the connection to {EP} (recorder stopped?); reconnecting"
    )
    assert link.on_event(zmq.EVENT_CONNECT_RETRIED, 102.0) is None
    note = link.on_tick(103.0)  # a new wait after the drop
    assert note is not None and note.startswith(f"ekai-tail: nothing listens at {EP} yet")
