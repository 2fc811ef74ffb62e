"""Session 25: the anthropic SDK streams an answer from a chat-wire upstream (a GPT model) through the real
gateway and recorder; the whole answer comes in one read, its first text chunk read by the shape spliced from
the role chunk (``_TextShape.spliced_from``), an escaped text among them. The SDK reads the text and the usage,
and the ledger bills the usage chunk's counts, exactly."""

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
    with scripted_stack("spliced25", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


HEAD = {"id": "chatcmpl-s25", "object": "chat.completion.chunk", "created": 1, "model": MODEL}


def _frame(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return _frame({**HEAD, "choices": [choice], "usage": None})


BODY = b"".join(
    [
        _chunk({"role": "assistant", "content": "", "refusal": None}),
        _chunk({"content": 'caf\u00e9 "one" '}),  # (json.dumps escapes it: \u00e9, \")
        _chunk({"content": "two "}),
        _chunk({"content": "three"}),
        _chunk({}, "stop"),
        _frame(
            {
                **HEAD,
                "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
            }
        ),
        b"data: [DONE]\n\n",
    ]
)


def test_the_anthropic_sdk_reads_a_chat_answer_and_the_ledger_bills_it(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHAT, Answer(body=BODY, content_type="text/event-stream"))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0, timeout=30.0)
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    rid = raw.headers["x-request-id"]
    events = list(raw.parse())
    text = "".join(
        e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
    )
    assert text == 'café "one" two three'
    usage = [e.usage for e in events if e.type == "message_delta"]
    assert [(u.input_tokens, u.output_tokens) for u in usage] == [(12, 5)]
    row = gw.row_for(rid)
    assert (row["status"], row["input_tokens"], row["output_tokens"], row["served_model"]) == (
        200,
        12,
        5,
        MODEL,
    )
