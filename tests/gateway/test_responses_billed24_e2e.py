"""Session 24: what a Responses answer bills reaches the ledger exactly, through the real gateway, with the
official openai SDK as the client (``client.responses.create``): ``billed_usage`` (one positional ``Usage``,
one walk of the output items) read from ``response.completed`` in the relay's ``settle`` after the client's
answer has ended (a stream whose whole body is one read, as nginx serves the benchmark's), from the same event
read a frame a read, and from a plain answer's body. Cache reads split out of the input, reasoning inside the
output, one web search (an ``open_page`` action is none). A ``response.completed`` whose ``output`` is no list
still bills its tokens (before session 24 the reading raised TypeError in ``settle``: no row's tokens).

Real processes: recorder and gateway; the scripted upstream answers each request with the script's body."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, sse

RESPONSES = "/openai/v1/responses"
MODEL = "gpt-4o"

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("billed24", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


USAGE = {
    "input_tokens": 120,
    "input_tokens_details": {"cached_tokens": 100},
    "output_tokens": 40,
    "output_tokens_details": {"reasoning_tokens": 16},
    "total_tokens": 160,
}
MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "status": "completed",
    "role": "assistant",
    "content": [{"type": "output_text", "text": "Hello there", "annotations": []}],
}
OUTPUT: list[Any] = [
    {
        "id": "ws_1",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": "q"},
    },
    {
        "id": "ws_2",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "open_page", "url": "u"},
    },
    MESSAGE,
]


def _response(status: str, output: Any, usage: Any) -> dict[str, Any]:
    return {
        "id": "resp_b24",
        "object": "response",
        "created_at": 1700000000,
        "status": status,
        "error": None,
        "model": MODEL,
        "service_tier": "default",
        "output": output,
        "usage": usage,
    }


def _frame(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def _frames(output: Any = OUTPUT) -> list[bytes]:
    """A whole streamed answer, "Hello there", in OpenAI's shape, ending with ``response.completed``."""
    opening = _response("in_progress", [], None)
    item = {**MESSAGE, "status": "in_progress", "content": []}
    delta = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 2, "content_index": 0}
    return [
        _frame({"type": "response.created", "sequence_number": 0, "response": opening}),
        _frame({"type": "response.in_progress", "sequence_number": 1, "response": opening}),
        _frame({"type": "response.output_item.added", "sequence_number": 2, "output_index": 2, "item": item}),
        _frame({**delta, "sequence_number": 3, "delta": "Hello ", "logprobs": []}),
        _frame({**delta, "sequence_number": 4, "delta": "there", "logprobs": []}),
        _frame(
            {"type": "response.output_item.done", "sequence_number": 5, "output_index": 2, "item": MESSAGE}
        ),
        _frame(
            {
                "type": "response.completed",
                "sequence_number": 6,
                "response": _response("completed", output, USAGE),
            }
        ),
    ]


def _client(gw: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0, timeout=30.0)


def _streamed(gw: Stack) -> tuple[str, str, Any]:
    """The text, the request id and the terminal event's usage, as the SDK's stream of events gives them."""
    stream = _client(gw).responses.create(model=MODEL, input="hi", stream=True)
    text, usage = "", None
    for event in stream:
        if event.type == "response.output_text.delta":
            text += event.delta
        elif event.type == "response.completed":
            usage = event.response.usage
    return stream.response.headers["x-request-id"], text, usage


def _billed(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["status"],
        row["input_tokens"],
        row["cache_read_tokens"],
        row["output_tokens"],
        row["reasoning_tokens"],
        row["web_search_requests"],
        row["served_model"],
    )


EXPECTED = (200, 20, 100, 40, 16, 1, MODEL)


def test_a_one_read_stream_is_billed_bucket_by_bucket(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(RESPONSES, Answer(body=b"".join(_frames()), content_type="text/event-stream"))
    rid, text, usage = _streamed(gw)
    assert text == "Hello there" and usage is not None and usage.input_tokens == 120
    assert _billed(gw.row_for(rid)) == EXPECTED


def test_a_stream_read_a_frame_at_a_time_is_billed_the_same(gw: Stack, up: ScriptedUpstream) -> None:
    pieces: list[bytes | Pause] = []
    for frame in _frames():  # (a pause after each: its own read, most likely; either way the same bill)
        pieces += [frame, Pause(0.01)]
    up.script(RESPONSES, sse(pieces))
    rid, text, _ = _streamed(gw)
    assert text == "Hello there"
    assert _billed(gw.row_for(rid)) == EXPECTED


def test_a_plain_answer_is_billed_the_same(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(RESPONSES, Answer(body=json.dumps(_response("completed", OUTPUT, USAGE)).encode()))
    raw = _client(gw).responses.with_raw_response.create(model=MODEL, input="hi")
    assert raw.parse().output_text == "Hello there"
    assert _billed(gw.row_for(raw.headers["x-request-id"])) == EXPECTED


def test_a_completed_response_whose_output_is_no_list_still_bills_its_tokens(
    gw: Stack, up: ScriptedUpstream
) -> None:
    body = b"".join(_frames(output=7))
    up.script(RESPONSES, Answer(body=body, content_type="text/event-stream"))
    raw = _client(gw).responses.with_raw_response.create(model=MODEL, input="hi", stream=True)
    assert raw.http_response.read() == body  # the upstream's bytes, as they came
    assert _billed(gw.row_for(raw.headers["x-request-id"])) == (200, 20, 100, 40, 16, 0, MODEL)
