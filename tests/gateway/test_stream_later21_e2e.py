"""Session 21: a passthrough stream whose whole body arrives in one read, ended by its closing frame
(Anthropic's ``message_stop``, the way nginx serves the benchmark's canned answers), is decoded up to its
first token before the client's answer goes out, and the rest after the answer has ended
(``Relay.feed_last``, ``Proxy._pump``). What the rest alone says still reaches the ledger and the provider's
health: the usage of ``message_delta`` (billed), an error event after the first token (the row's status and
error type), a malformed frame (a 502). The client gets the upstream's bytes as they came, its SDK reading the
answer or raising on the error as it would.

Real processes: recorder and gateway; the scripted upstream answers with the whole stream as one body (a
``Content-Length`` response: one read); the official Anthropic SDK as the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import pytest

from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream

ANTHROPIC = "/anthropic/v1/messages"
MODEL = "claude-sonnet-4-5"
ASK = [{"role": "user", "content": "Say hello."}]

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("stream-later21", {"anthropic": "/anthropic"}, BREAKER_FAILURES="1000") as st:
        yield st


def _event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": []}
START = _event(
    {"type": "message_start", "message": {**MESSAGE, "usage": {"input_tokens": 12, "output_tokens": 1}}}
)
BLOCK = _event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
HELLO = _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello "}})
THERE = _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "there!"}})
BLOCK_STOP = _event({"type": "content_block_stop", "index": 0})
DELTA = _event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}})
STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
ERROR = _event({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def _one_read(frames: list[bytes]) -> Answer:
    """The whole stream as one body with its length: the gateway reads it, and its end, at once."""
    return Answer(body=b"".join(frames), content_type="text/event-stream")


def _stream(gw: Stack) -> tuple[str, anthropic.types.Message]:
    client = anthropic.Anthropic(
        base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0, timeout=30.0
    )
    with client.messages.stream(model=MODEL, max_tokens=100, messages=ASK) as stream:  # type: ignore[arg-type]
        message = stream.get_final_message()
        return stream.response.headers["x-request-id"], message


def test_the_usage_after_the_first_token_is_billed(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(ANTHROPIC, _one_read([START, BLOCK, HELLO, THERE, BLOCK_STOP, DELTA, STOP]))
    rid, message = _stream(gw)
    assert message.content[0].type == "text" and message.content[0].text == "Hello there!"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 7
    row = gw.row_for(rid)
    # message_delta's 7 output tokens (message_start said 1): read from the part decoded after the answer
    assert (row["status"], row["input_tokens"], row["output_tokens"], row["served_model"]) == (
        200,
        12,
        7,
        MODEL,
    )


def test_an_error_event_after_the_first_token_is_the_rows_failure(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(ANTHROPIC, _one_read([START, BLOCK, HELLO, ERROR, STOP]))
    client = anthropic.Anthropic(
        base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0, timeout=30.0
    )
    with pytest.raises(anthropic.APIStatusError) as failed:
        with client.messages.stream(model=MODEL, max_tokens=100, messages=ASK) as stream:  # type: ignore[arg-type]
            rid = stream.response.headers["x-request-id"]
            stream.get_final_message()
    assert "Overloaded" in str(failed.value)
    row = gw.row_for(rid)
    assert (row["status"], row["error_type"]) == (529, "overloaded_error")


def test_a_malformed_frame_after_the_first_token_is_a_502_in_the_ledger(
    gw: Stack, up: ScriptedUpstream
) -> None:
    broken = b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{\n\n'
    up.script(ANTHROPIC, _one_read([START, BLOCK, HELLO, broken, STOP]))
    client = anthropic.Anthropic(
        base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0, timeout=30.0
    )
    with pytest.raises(Exception):  # noqa: B017 (the SDK's JSON error on the frame, whichever it is)
        with client.messages.stream(model=MODEL, max_tokens=100, messages=ASK) as stream:  # type: ignore[arg-type]
            rid = stream.response.headers["x-request-id"]
            stream.get_final_message()
    row = gw.row_for(rid)
    assert row["status"] == 502
