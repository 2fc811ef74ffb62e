"""Fixtures shared by the recorder's unit tests."""

from __future__ import annotations

import pytest
import zmq


@pytest.fixture
def pair(zmq_ctx: zmq.Context[zmq.Socket[bytes]]) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    """A ROUTER (the recorder's side) and a DEALER connected to it over inproc, in the test's own context
    (``zmq_ctx``: destroyed at linger 0 after the test, pass or fail)."""
    router, dealer = zmq_ctx.socket(zmq.ROUTER), zmq_ctx.socket(zmq.DEALER)
    router.bind("inproc://pair")
    dealer.connect("inproc://pair")
    return router, dealer
