"""A request's handling never asks asyncio for the running loop (issue 13, session 31).

On CPython 3.11 ``asyncio.get_running_loop()``, ``get_event_loop()`` and ``current_task()`` without a loop
check the process id: a ``getpid`` system call each (``_asynciomodule.c``, ``get_running_loop``). The
gateway keeps its loop (``GatewayState.loop``) and looks its task up in it (``UpstreamClient.running_task``);
``handlers.generate`` and ``Proxy._send_opening`` asked for them on every request (one, and two more a
stream). The real gateway app in-process (``tests/gateway/inproc.py``), asyncio's own functions wrapped
to note the calls the gateway's code makes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

import services
from tests.gateway.inproc import InProcGateway, chat_answer

SERVICES = str(Path(services.__file__).resolve().parent)
USAGE = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}


@pytest.mark.parametrize("stream", [False, True])
async def test_a_request_asks_asyncio_for_no_running_loop(
    stream: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    running, event_loop, current = asyncio.get_running_loop, asyncio.get_event_loop, asyncio.current_task

    def note(name: str) -> None:
        caller = sys._getframe(2).f_code
        if caller.co_filename.startswith(SERVICES):
            asked.append(f"{name} in {caller.co_name}")

    def get_running_loop() -> asyncio.AbstractEventLoop:
        note("get_running_loop")
        return running()

    def get_event_loop() -> asyncio.AbstractEventLoop:
        note("get_event_loop")
        return event_loop()

    def current_task(loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Task[Any] | None:
        if loop is None:  # with its loop given it looks the task up without the pid check
            note("current_task")
        return current(loop)

    monkeypatch.setattr(asyncio, "get_running_loop", get_running_loop)
    monkeypatch.setattr(asyncio, "get_event_loop", get_event_loop)
    monkeypatch.setattr(asyncio, "current_task", current_task)
    body: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": stream,
    }
    async with InProcGateway(["openai"]) as gw:
        for _ in range(2):  # the first requests set up what is kept (the upstream client's loop)
            gw.answer(chat_answer(USAGE, stream=stream))
            assert (await gw.post("/v1/chat/completions", body))[0] == 200
        asked.clear()
        for _ in range(5):
            gw.answer(chat_answer(USAGE, stream=stream))
            assert (await gw.post("/v1/chat/completions", body))[0] == 200
        assert gw.last_event.output_tokens == 2
    assert asked == []
