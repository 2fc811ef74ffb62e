"""What ``ekai-tail`` says on stderr about its connection to the recorder: pure, fed ZeroMQ monitor events
(``zmq_socket_monitor(3)``) and a monotonic clock, so a newcomer can tell "no traffic" from "wrong address".

"Connected" means a ZeroMQ handshake succeeded (``EVENT_HANDSHAKE_SUCCEEDED``), not only a TCP connection
(``EVENT_CONNECTED``): another server on the port (the gateway's HTTP port, say) accepts the connection,
fails the handshake and drops it ten times a second, and would otherwise read as connected.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

# The monitor events the link reads (the others are not asked for).
EVENTS = (
    zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED | zmq.EVENT_CONNECT_RETRIED | zmq.EVENT_HANDSHAKE_SUCCEEDED
)
PATIENCE_S = 3.0  # without a handshake for this long, say so (once per wait)


@dataclass(slots=True)
class Link:
    """The connection's state. ``since_s``: when the current wait for a handshake began (monotonic s)."""

    endpoint: str
    since_s: float
    patience_s: float = PATIENCE_S
    connected: bool = False
    answered: bool = False  # something accepted a TCP connection during this wait
    warned: bool = False

    def on_event(self, event: int, now_s: float) -> str | None:
        """The line to print for a monitor event (``zmq.EVENT_*``), or None."""
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED and not self.connected:
            self.connected, self.answered, self.warned = True, False, False
            return f"ekai-tail: connected to {self.endpoint}"
        if event == zmq.EVENT_DISCONNECTED and self.connected:
            self.connected, self.since_s = False, now_s
            return f"ekai-tail: lost the connection to {self.endpoint} (recorder stopped?); reconnecting"
        if event == zmq.EVENT_CONNECTED:
            self.answered = True
        return self.on_tick(now_s)

    def on_tick(self, now_s: float) -> str | None:
        """The warning once the wait has lasted ``patience_s`` without a handshake, else None."""
        if self.connected or self.warned or now_s - self.since_s < self.patience_s:
            return None
        self.warned = True
        hint = "is TAIL_ENDPOINT the tail= of the recorder's 'recorder started' line?"
        if self.answered:
            return f"ekai-tail: something at {self.endpoint} answers but is no ZeroMQ publisher: {hint}"
        return f"ekai-tail: nothing listens at {self.endpoint} yet: is the recorder running, and {hint}"

    def wait_ms(self, now_s: float) -> int | None:
        """How long the caller may block (ms) before :meth:`on_tick` has something to say; None: no limit."""
        if self.connected or self.warned:
            return None
        return max(0, int((self.since_s + self.patience_s - now_s) * 1000) + 1)
