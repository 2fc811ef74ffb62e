"""Session 26: the anthropic SDK streams an answer from a chat-wire upstream through the real gateway and
recorder, the whole answer in one read, its finish chunk read by the form spliced from the role chunk
(``_TextShape.finish``: no parse) and ``[DONE]`` before its decode. The SDK reads the text, the stop reason
the finish reason maps to and the usage; the ledger bills the usage chunk's counts, exactly. A reason that
says the server cut the answer (``CUT_FINISH``) is an error to the SDK, and still billed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import pytest

from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream

CHAT = "/openai/v1/chat/completions"
MODEL = "gpt-4o"

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("finish26", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


HEAD = {"id": "chatcmpl-f26", "object": "chat.completion.chunk", "created": 1, "model": MODEL}


def _frame(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return _frame({**HEAD, "choices": [choice], "usage": None})


def _body(reason: str) -> bytes:
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    return b"".join(
        [
            _chunk({"role": "assistant", "content": "", "refusal": None}),
            _chunk({"content": "one "}),
            _chunk({"content": "two"}),
            _chunk({}, reason),
            _frame({**HEAD, "choices": [], "usage": usage}),
            b"data: [DONE]\n\n",
        ]
    )


def _stream(gw: Stack, up: ScriptedUpstream, reason: str) -> tuple[str, list[Any]]:
    up.script(CHAT, Answer(body=_body(reason), content_type="text/event-stream"))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0, timeout=30.0)
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    events: list[Any] = []
    try:
        for event in raw.parse():
            events.append(event)
    except anthropic.APIStatusError as exc:
        events.append(exc)
    return raw.headers["x-request-id"], events


@pytest.mark.parametrize(
    ("reason", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("content_filter", "refusal")],
)
def test_the_sdk_reads_the_stop_reason_and_usage_and_the_ledger_bills_them(
    gw: Stack, up: ScriptedUpstream, reason: str, stop: str
) -> None:
    rid, events = _stream(gw, up, reason)
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == "one two"
    deltas = [e for e in events if e.type == "message_delta"]
    assert [(d.delta.stop_reason, d.usage.input_tokens, d.usage.output_tokens) for d in deltas] == [
        (stop, 12, 5)
    ]
    assert events[-1].type == "message_stop"
    row = gw.row_for(rid)
    assert (row["status"], row["input_tokens"], row["output_tokens"], row["served_model"]) == (
        200,
        12,
        5,
        MODEL,
    )


def test_a_cut_finish_reason_is_an_error_to_the_sdk_and_billed(gw: Stack, up: ScriptedUpstream) -> None:
    rid, events = _stream(gw, up, "abort")
    assert isinstance(events[-1], anthropic.APIStatusError)
    assert not any(getattr(e, "type", None) == "message_stop" for e in events[:-1])
    row = gw.row_for(rid)
    assert row["status"] != 200
    assert (row["input_tokens"], row["output_tokens"]) == (12, 5)
