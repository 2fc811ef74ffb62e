"""Session 29: the anthropic SDK streams answers from a chat-wire upstream through the real gateway and recorder,
one after another, their first chunks of one form (OpenAI's: service tier, fingerprint, padding on every chunk)
but each its own id, ``created`` and padding: the second and later streams take the text shape and the finish
chunk's form the first left kept (``_TextShape.spliced_from``). Each SDK reads its own stream's message id, text,
stop reason and usage; each ledger row bills its own usage chunk's counts, exactly."""

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
    with scripted_stack("kept29", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


def _body(k: int, reason: str) -> bytes:
    """Stream ``k``: its own id, ``created`` and paddings; ``k`` + 3 output tokens, 10 + ``k`` input."""
    head = {"id": f"chatcmpl-k29x{k:03d}", "object": "chat.completion.chunk", "created": 1796299590 + k}
    head |= {"model": MODEL, "service_tier": "default", "system_fingerprint": "fp_29"}
    frames = []
    for i, (delta, finish) in enumerate(
        [({"role": "assistant", "content": "", "refusal": None}, None), ({"content": f"one{k} "}, None)]
        + [({"content": "two"}, None), ({}, reason)]
    ):
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        frames.append({**head, "choices": [choice], "usage": None, "obfuscation": "p" * (k + i)})
    usage = {"prompt_tokens": 10 + k, "completion_tokens": k + 3, "total_tokens": 13 + 2 * k}
    frames.append({**head, "choices": [], "usage": usage, "obfuscation": "u" * k})
    return b"".join(b"data: " + json.dumps(f, separators=(",", ":")).encode() + b"\n\n" for f in frames) + (
        b"data: [DONE]\n\n"
    )


def _stream(gw: Stack, up: ScriptedUpstream, body: bytes) -> tuple[str, list[Any]]:
    up.script(CHAT, Answer(body=body, content_type="text/event-stream"))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0, timeout=30.0)
    raw = client.messages.with_raw_response.create(
        model=MODEL, max_tokens=64, messages=[{"role": "user", "content": "hi"}], stream=True
    )
    return raw.headers["x-request-id"], list(raw.parse())


def test_streams_of_one_form_each_read_and_billed_as_their_own(gw: Stack, up: ScriptedUpstream) -> None:
    for k, (reason, stop) in enumerate(
        [("stop", "end_turn"), ("length", "max_tokens")] * 2 + [("stop", "end_turn")]
    ):
        rid, events = _stream(gw, up, _body(k, reason))
        assert events[0].type == "message_start" and f"k29x{k:03d}" in events[0].message.id, k
        text = "".join(
            e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
        assert text == f"one{k} two", k
        deltas = [
            (e.delta.stop_reason, e.usage.input_tokens, e.usage.output_tokens)
            for e in events
            if e.type == "message_delta"
        ]
        assert deltas == [(stop, 10 + k, k + 3)], k
        assert events[-1].type == "message_stop", k
        row = gw.row_for(rid)
        assert (row["status"], row["input_tokens"], row["output_tokens"], row["served_model"]) == (
            200,
            10 + k,
            k + 3,
            MODEL,
        ), k
