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

from aiohttp import web

from services.gateway.calls import Call

# What a write to a client that has hung up raises: ``ConnectionResetError`` (aiohttp's
# ``ClientConnectionResetError`` is one: the transport is closing), and, for a write that was waiting for room (the
# client stopped reading; aiohttp drains after 64 KiB) when the connection was lost, a plain
# ``ConnectionError("Connection lost")`` (aiohttp ``BaseProtocol.connection_lost``); ``BrokenPipeError`` too. All are
# ``ConnectionError``s. Before fix33 the gateway caught the first two only: a stalled write's hang-up escaped the
# request as a 500 (and left an upstream response open, ``Proxy._send_keeping_alive``).
CLIENT_GONE = ConnectionError

# Typed keys: a plain str key costs aiohttp's NotAppKeyWarning check on every set. No object is made per
# request (the watch is the task itself, set and deleted: the whole cost on the request path).
TASK_KEY: web.RequestKey[asyncio.Task[object]] = web.RequestKey("ekai_hangup_task", asyncio.Task)
HUNG_UP_KEY: web.RequestKey[bool] = web.RequestKey("ekai_hung_up", bool)


def watch(request: web.Request, loop: asyncio.AbstractEventLoop) -> bool:
    """Cancel the current task (of the running ``loop``: given, so that asyncio need not look it up) if
    ``request``'s client hangs up, until ``unwatch``. False (nothing watched) outside a task."""
    task = asyncio.current_task(loop)
    if task is None:
        return False
    request[TASK_KEY] = task
    return True


def unwatch(request: web.Request) -> None:
    """End ``watch`` (which set the key: ``del``, not MutableMapping's Python-level ``pop``)."""
    del request[TASK_KEY]


def lost(request: web.BaseRequest) -> None:
    """The connection of ``request``'s client closed: cancel the task it watches, if any, once."""
    task = request.get(TASK_KEY)
    if task is not None and not request.get(HUNG_UP_KEY):
        request[HUNG_UP_KEY] = True
        task.cancel()


def hung_up(request: web.Request) -> bool:
    """Whether a cancellation the watched task met was ``lost``'s (not a shutdown's)."""
    return request.get(HUNG_UP_KEY) is True


def answered(call: Call) -> None:
    """Take the cancellation back (it was ``lost``'s, and it is handled) and record the call as the
    client's hang-up: 499 ``client_disconnected``, on the attempt that was under way (its usage, if any,
    is what the event keeps). Call it in the task that was watched."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()
    if call.attempts:
        call.attempts[-1].client_disconnected = True
    call.answer(499, "client_disconnected")
