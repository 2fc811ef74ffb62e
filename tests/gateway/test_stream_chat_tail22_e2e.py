"""Session 22: a chat passthrough stream whose whole body arrives in one read (the way nginx serves the
benchmark's canned answer) ends the client's answer before its finish, usage and ``[DONE]`` frames are decoded
(``ChatStreamDecoder.plan_tail``, ``Relay.feed_last``, ``Proxy._pump``); the usage the usage chunk alone
carries still reaches the ledger, and the client gets that chunk only when it asked for it
(``stream_options.include_usage``). Each test fails when the relay's ``settle`` does nothing (the ledger's
tokens are then 0).

Real processes: recorder and gateway; the scripted upstream answers with the whole stream as one body (a
``Content-Length`` response: one read); the official OpenAI SDK as the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from tests.openai_clients import read_chat_stream
from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream

CHAT = "/openai/v1/chat/completions"
MODEL = "gpt-4o"

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("chat-tail22", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


HEAD = {"id": "chatcmpl-t22", "object": "chat.completion.chunk", "created": 1, "model": MODEL}


def _frame(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    return _frame({**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], "usage": None})


USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
BODY = b"".join(
    [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": "Hello "}),
        _chunk({"content": "there!"}),
        _chunk({}, "stop"),
        _frame({**HEAD, "choices": [], "usage": USAGE}),
        b"data: [DONE]\n\n",
    ]
)


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_chat_answer_in_one_read_is_billed_from_its_usage_chunk(
    gw: Stack, up: ScriptedUpstream, include_usage: bool
) -> None:
    up.script(CHAT, Answer(body=BODY, content_type="text/event-stream"))
    read = read_chat_stream(gw, MODEL, include_usage)
    assert read.text == "Hello there!"
    # the usage chunk the gateway asked for on the client's behalf is dropped; the client's own is kept
    assert read.usage == ([(12, 5)] if include_usage else [])
    row = read.row
    assert (row["status"], row["input_tokens"], row["output_tokens"], row["served_model"]) == (
        200,
        12,
        5,
        MODEL,
    )
