"""Stopping a process on SIGTERM or SIGINT once, whatever copies of them follow, and exiting without the
interpreter's finalization. Used by the gateway (its one process, its workers' parent and each worker), the
recorder, the dashboard (its first signal leaves Werkzeug's loop as a KeyboardInterrupt,
``_leave_serving``), the fake provider (``tests/fake_provider.py``) and the demo's traffic (``tests/demo/traffic.py``).
The tail (``services/recorder/tail.py``: its start-up handler is ``exit_0_while_starting``) blocks the copies
instead, around ``ctx.term()`` (``services/recorder/tail_follow.py``).

A stop comes as two signals or more: ``make run``'s Ctrl-C reaches the whole process group and honcho sends
SIGTERM right after it; the workers' parent forwards its own. Three ways a copy did harm (session 34's stop
tests, ``tests/test_stop_signals.py``):

- aiohttp's handler (``web.run_app(handle_signals=True)``) raised ``GracefulExit`` again in the middle of the
  drain: in-flight requests were cut (tracebacks, exit 1, their events never published);
- a loop's handler (``loop.add_signal_handler``) is taken back when the loop closes, and CPython gives every
  signal with a Python handler its default action again when it finalizes (``_PySignal_Fini``): a copy
  arriving then killed the process after a clean drain (``rc=-15``, ``rc=-2``);
- setting ``SIG_IGN`` from the handler while the other signal is already caught but not yet handled makes
  CPython report ``OSError: Signal 15 ignored due to race condition`` with a traceback (both signals
  pending at once: a worker unblocking them, ``kill -INT`` and ``-TERM`` together).

So the handler stays a Python one for the process's whole life and ignores repeats itself, and the process
ends with :func:`exit_now` once its work is done (nothing left to finalize: sockets and the ledger are
closed by then).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnce:
    """A SIGTERM/SIGINT handler (``signal.signal``) that calls ``on_stop(name)`` for the first signal only
    (``name``: ``"SIGTERM"`` or ``"SIGINT"``); the copies that follow do nothing.

    It runs in the main thread between two bytecodes (``signal`` module docs): ``on_stop`` must only set
    something or hand over to the loop (``loop.call_soon_threadsafe``).
    """

    def __init__(self, on_stop: Callable[[str], object]) -> None:
        self.on_stop = on_stop
        self.stopping: str | None = None  # the first signal's name, once it came

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping is not None:
            return
        self.stopping = signal.Signals(signum).name
        self.on_stop(self.stopping)

    def install(self) -> StopOnce:
        """Handle SIGTERM and SIGINT (SIGINT too: a process started in the background by a non-interactive
        shell inherits it ignored). Returns ``self``."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, self)
        return self


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` after flushing the logs and standard streams, without the interpreter's
    finalization: it would give SIGTERM and SIGINT their default action back while it tears modules down
    (a late copy of the stop then kills the process, ``rc=-15``), and it stops under daemon threads
    (aiosqlite's, pyzmq's, a C++ extension's frame: ``terminate called without an active exception``,
    ``rc=-6``). Call it once the process's work is done; ``atexit`` handlers do not run."""
    # Not imported here: a signal can land while ``logging`` itself is being imported (the start-up handler,
    # :func:`exit_0_while_starting`), and its half-made module has no ``shutdown`` yet.
    shutdown = getattr(sys.modules.get("logging"), "shutdown", None)
    if shutdown is not None:
        shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def exit_0_while_starting(signum: int, frame: FrameType | None) -> None:
    """A SIGTERM/SIGINT handler for a process still importing and reading its settings (nothing opened, nothing
    to drain): exit 0 at once, quietly (:func:`exit_now`). With the default action it died of the signal
    (``rc=-15``); with ``sys.exit`` a copy landing while ``SystemExit`` unwound raised again, and one landing
    while the interpreter finalized found the default action."""
    exit_now(0)
