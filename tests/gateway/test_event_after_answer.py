"""The ledger event is built and published after the client's answer is written, never before: building
and sending it must add nothing to the client's latency (issue 13). The real gateway app in-process
(``tests/gateway/inproc.py``); the order of "answer ended" (``write_eof``) and "event published" is logged.
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from aiohttp import web

from services.gateway.proxy import SSEResponse
from shared.events import UsageEvent
from tests.gateway.inproc import InProcGateway, chat_answer

USAGE = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}


class _Logged(list[UsageEvent]):
    """The captured events, each noted in ``order`` as it is published."""

    def __init__(self, order: list[str]) -> None:
        super().__init__()
        self.order = order

    def append(self, event: UsageEvent) -> None:
        self.order.append("event")
        super().append(event)


@pytest.mark.parametrize("stream", [False, True])
async def test_event_published_after_the_answer_is_written(stream: bool) -> None:
    order: list[str] = []
    response_eof = web.Response.write_eof
    stream_eof = web.StreamResponse.write_eof

    def note(response: web.StreamResponse) -> None:
        # the gateway's answer, not the scripted upstream's; aiohttp ends a stream a second time (a no-op)
        fields = response.fields if isinstance(response, SSEResponse) else response.headers
        if "x-ekai-provider" in fields and "answer" not in order:
            order.append("answer")

    async def noted_response_eof(self: web.Response, data: bytes = b"") -> None:
        note(self)
        await response_eof(self, data)

    async def noted_stream_eof(self: web.StreamResponse, data: bytes = b"") -> None:
        if not isinstance(self, web.Response):
            note(self)
        await stream_eof(self, data)

    gw = InProcGateway(["openai"])
    gw.events = _Logged(order)
    async with gw:
        gw.answer(chat_answer(USAGE, stream=stream))
        body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            body["stream"] = True
        with (
            mock.patch.object(web.Response, "write_eof", noted_response_eof),
            mock.patch.object(web.StreamResponse, "write_eof", noted_stream_eof),
        ):
            status, _ = await gw.post("/v1/chat/completions", body)
    assert status == 200
    assert order == ["answer", "event"]
    assert gw.last_event.input_tokens == 10 and gw.last_event.output_tokens == 2
