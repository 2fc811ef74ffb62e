"""A client that hangs up while its non-streamed answer is awaited: nginx's 499 (client closed request).

aiohttp does not cancel a handler whose client went away (``handler_cancellation`` is off: a stream's
handler sees the hang-up on its next write, ``proxy._relay_stream``), and a non-streamed handler writes
nothing before its answer, so without this it would wait for the whole upstream answer for nobody and
record it as a success. ``watch`` marks the request while its upstream call runs; the server's connection
handler (``app._RequestHandler.connection_lost``) calls ``lost`` when the client's connection closes, which
cancels the waiting task: the upstream request is cancelled with it (an aiohttp client request or body
read that is cancelled closes its connection), and the handler records 499 ``client_disconnected`` with
the usage known so far (``answered``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from services.gateway.calls import Call


@dataclass(slots=True)
class Watch:
    """The task waiting for an answer on a request's behalf; ``fired`` once its client hung up."""

    task: asyncio.Task[object]
    fired: bool = False

    def fire(self) -> None:
        if not self.fired:
            self.fired = True
            self.task.cancel()


# a typed key: a plain str key costs aiohttp's NotAppKeyWarning machinery on every set (measured ~9 us)
WATCH_KEY: web.RequestKey[Watch] = web.RequestKey("ekai_hangup_watch", Watch)


def watch(request: web.Request) -> Watch | None:
    """Cancel the current task if ``request``'s client hangs up, until ``unwatch``. None outside a task."""
    task = asyncio.current_task()
    if task is None:
        return None
    w = Watch(task)
    request[WATCH_KEY] = w
    return w


def unwatch(request: web.Request) -> None:
    """End ``watch`` (which set the key: ``del``, not MutableMapping's Python-level ``pop``)."""
    del request[WATCH_KEY]


def lost(request: web.BaseRequest) -> None:
    """The connection of ``request``'s client closed: fire its watch, if it has one."""
    w = request.get(WATCH_KEY)
    if w is not None:
        w.fire()


def answered(call: Call, w: Watch) -> None:
    """Take the watch's cancellation back (it was ours, not a shutdown's) and record the call as the
    client's hang-up: 499 ``client_disconnected``, on the attempt that was under way (its usage, if any,
    is what the event keeps)."""
    w.task.uncancel()
    if call.attempts:
        call.attempts[-1].client_disconnected = True
    call.answer(499, "client_disconnected")
