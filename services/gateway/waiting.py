"""Work a request leaves for its own upstream wait (session 32, issue 13): no I/O of its own.

Between writing a request to its provider and the answer's first bytes the gateway's loop has nothing of that
request to do; at one connection it is the request's one sure idle moment (``EventPublisher.loop_waits`` builds
the previous request's ledger event there). What the request will need first once its answer's head is in, and
can make before (a stream's relay: ``proxy.Proxy.attempt``), is left here with ``leave`` before the send and
run by ``run_left`` right after the request is written (``UpstreamPool``'s ``on_written``, in the writing task),
before the loop waits. The work is held in a ``ContextVar``: each request's task (and a task it starts, which
copies its context) sees its own, so the work runs for the request that wrote, never another's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar, Token

log = logging.getLogger(__name__)

Work = Callable[[], None]

_LEFT: ContextVar[Work | None] = ContextVar("upstream_wait_work", default=None)


def leave(work: Work) -> Token[Work | None]:
    """Leave ``work`` for the next upstream write of this task (and the tasks it starts after this); returns
    the token ``take_back`` needs. ``work`` must not depend on being run: the caller does what it would have
    done when it was not (the answer came back before any write, the write failed)."""
    return _LEFT.set(work)


def take_back(token: Token[Work | None]) -> None:
    """The work ``leave`` left is no longer wanted (the send is over): a later write of this task runs none."""
    _LEFT.reset(token)


def run_left() -> None:
    """Run the work the writing task left (``leave``), once: a second write of the same request (a kept
    connection that closed unanswered, sent again) runs nothing. Never raises: an error is logged and the
    caller's request goes on (the caller makes what the work would have)."""
    work = _LEFT.get()
    if work is None:
        return
    _LEFT.set(None)
    try:
        work()
    except Exception:  # the request must not fail for work done ahead of time
        log.exception("work left for the upstream wait failed")
