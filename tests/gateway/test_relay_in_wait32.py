"""A stream's relay is made while its upstream works, not after the answer's head (issue 13, session 32).

``Proxy.attempt`` leaves the relay's making for the request's own upstream wait (``services/gateway/waiting.py``):
the pool's ``on_written`` runs it right after the request is written, before the loop waits for the answer, and
``_relay_stream`` takes that relay instead of making one once the headers are in (at one connection the wait
is idle time, the making ~22-30k instructions a translated stream, callgrind). The real gateway app in-process
against a scripted upstream (``tests/gateway/inproc.py``, real sockets): the upstream notes how many relays the
gateway has made when the request reaches it, before it answers. Every client of a stream: the same answer,
one relay made per stream, and it was made before the upstream answered. A whole (non-streamed) request makes
none; an upstream refusal of a stream still gets its error (the relay made ahead is dropped).
"""

from __future__ import annotations

from typing import Any
from unittest import mock

import orjson
import pytest
from aiohttp import web

from services.gateway import proxy
from tests.gateway.inproc import InProcGateway, Scripted, anthropic_answer

USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 5,
}
CLIENTS = {  # client format → (path, body), every one served by the Anthropic upstream
    "chat": ("/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]}),
    "responses": ("/v1/responses", {"input": "hi"}),
    "anthropic": ("/v1/messages", {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}),
}


class Noting(Scripted):
    """The scripted upstream, noting the relays the gateway had made when each request arrived."""

    def __init__(self, made: mock.MagicMock) -> None:
        super().__init__()
        self.made = made
        self.made_on_arrival: list[int] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.made_on_arrival.append(self.made.call_count)
        return await super().handle(request)


def _gateway(made: mock.MagicMock) -> tuple[InProcGateway, Noting]:
    gw = InProcGateway(["anthropic"])
    gw.upstream = upstream = Noting(made)
    return gw, upstream


@pytest.mark.parametrize("client", sorted(CLIENTS))
async def test_a_streams_relay_is_made_before_its_upstream_answers(client: str) -> None:
    path, body = CLIENTS[client]
    made = mock.MagicMock(wraps=proxy.make_relay)
    with mock.patch.object(proxy, "make_relay", made):
        gw, upstream = _gateway(made)
        async with gw:
            for n in range(1, 4):
                gw.answer(anthropic_answer(USAGE, stream=True))  # type: ignore[arg-type]
                status, raw = await gw.post(path, {**body, "model": "claude-haiku-4-5", "stream": True})
                assert status == 200
                assert b"ok" in raw  # the answer's text, in the client's format
                assert gw.last_event.output_tokens == 5 and gw.last_event.input_tokens == 12
                # one relay a stream, made by the time the request reached the upstream (main: 0, made later)
                assert made.call_count == n
                assert upstream.made_on_arrival[-1] == n


async def test_a_whole_answer_makes_no_relay() -> None:
    made = mock.MagicMock(wraps=proxy.make_relay)
    with mock.patch.object(proxy, "make_relay", made):
        gw, upstream = _gateway(made)
        async with gw:
            gw.answer(anthropic_answer(USAGE, stream=False))  # type: ignore[arg-type]
            path, body = CLIENTS["chat"]
            status, raw = await gw.post(path, {**body, "model": "claude-haiku-4-5"})
            assert status == 200 and orjson.loads(raw)["choices"][0]["message"]["content"] == "ok"
            assert made.call_count == 0 and upstream.made_on_arrival == [0]


async def test_a_refused_stream_gets_its_error() -> None:
    """The upstream refuses the stream (a 400): the relay made in the wait is not used, the client gets the
    refusal in its own format, and the next stream makes its own relay."""
    made = mock.MagicMock(wraps=proxy.make_relay)
    refusal: dict[str, Any] = {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "messages: bad turn"},
    }
    with mock.patch.object(proxy, "make_relay", made):
        gw, upstream = _gateway(made)
        async with gw:
            gw.upstream.answers.append((orjson.dumps(refusal), "application/json"))
            path, body = CLIENTS["chat"]
            response = await gw.client.post(path, json={**body, "model": "claude-haiku-4-5", "stream": True})
            raw = await response.read()
            assert response.status == 400 and b"bad turn" in raw
            assert upstream.made_on_arrival == [1]
            gw.answer(anthropic_answer(USAGE, stream=True))  # type: ignore[arg-type]
            status, raw = await gw.post(path, {**body, "model": "claude-haiku-4-5", "stream": True})
            assert status == 200 and b"ok" in raw
            assert upstream.made_on_arrival == [1, 2] and made.call_count == 2


def test_work_left_runs_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    """``waiting.run_left`` runs the work once (a request written again runs none), logs a failure instead of
    raising it, and runs nothing once the work is taken back."""
    from services.gateway import waiting

    ran: list[int] = []
    token = waiting.leave(lambda: ran.append(1))
    waiting.run_left()
    waiting.run_left()
    waiting.take_back(token)
    assert ran == [1]

    def broken() -> None:
        raise RuntimeError("no relay")

    token = waiting.leave(broken)
    waiting.run_left()  # (logged, not raised)
    waiting.take_back(token)
    assert "work left for the upstream wait failed" in caplog.text
    token = waiting.leave(lambda: ran.append(2))
    waiting.take_back(token)
    waiting.run_left()
    assert ran == [1]
