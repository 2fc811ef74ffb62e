"""Free local ports for the processes the tests start."""

from __future__ import annotations

import socket

_GIVEN: set[int] = set()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listened on a moment ago and that no earlier call in this process gave
    out: the kernel may hand the same just-released port to two binds in a row (a stack once got one port for
    both EVENTS_ENDPOINT and TAIL_ENDPOINT, and its recorder could not start)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port
