"""Session 21: a passthrough stream whose whole body arrives in one read, ended by a frame that ends it
(Anthropic's ``message_stop``, a Responses terminal event: the way nginx serves the benchmark's canned
answers), is decoded up to its first token before the client's answer goes out, and the rest after the answer
has ended (``Relay.feed_last``, ``Proxy._pump``). What the rest alone says still reaches the ledger and the
provider's health: the usage of ``message_delta`` or ``response.completed`` (billed), an error event or
``response.failed`` after the first token (the row's status and error type), a malformed frame (a 502). The
client gets the upstream's bytes as they came, its SDK reading the answer or raising on the error as it
would. Each test fails when the relay's ``settle`` does nothing.

Real processes: recorder and gateway; the scripted upstream answers with the whole stream as one body (a
``Content-Length`` response: one read); the official Anthropic and OpenAI SDKs as the clients."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.gateway.test_responses_inert_e2e import TWIN
from tests.gateway.test_responses_inert_e2e import _stream as responses_stream
from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream

ANTHROPIC = "/anthropic/v1/messages"
RESPONSES = "/openai/v1/responses"
MODEL = "claude-sonnet-4-5"
ASK = [{"role": "user", "content": "Say hello."}]

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack(
        "stream-later21", {"anthropic": "/anthropic", "openai": "/openai/v1"}, BREAKER_FAILURES="1000"
    ) as st:
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


def _responses(gw: Stack) -> tuple[str, bytes, str]:
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0, timeout=30.0)
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="hi", stream=True)
    body = raw.http_response.read()
    kinds = [
        json.loads(line[6:])["type"] for line in body.decode().splitlines() if line.startswith("data: {")
    ]
    return raw.headers["x-request-id"], body, kinds[-1]


def test_a_responses_answer_in_one_read_is_billed_from_its_terminal_event(
    gw: Stack, up: ScriptedUpstream
) -> None:
    body = responses_stream(TWIN)  # usage 11 in, 2 out, only in response.completed
    up.script(RESPONSES, _one_read([body]))
    rid, got, last = _responses(gw)
    assert got == body and last == "response.completed"
    row = gw.row_for(rid)
    assert (row["status"], row["input_tokens"], row["output_tokens"], row["served_model"]) == (
        200,
        11,
        2,
        "gpt-4o",
    )


def test_a_responses_failure_after_the_first_token_is_the_rows_failure(
    gw: Stack, up: ScriptedUpstream
) -> None:
    body = responses_stream(TWIN)
    cut = body.index(b"event: response.completed")
    failed = (
        b'event: response.failed\ndata: {"type":"response.failed","sequence_number":6,"response":{"id":"resp_e2e1",'
        b'"status":"failed","model":"gpt-4o","error":{"code":"server_error","message":"boom"},"usage":null}}\n\n'
    )
    up.script(RESPONSES, _one_read([body[:cut] + failed]))
    rid, got, last = _responses(gw)
    assert got == body[:cut] + failed and last == "response.failed"
    row = gw.row_for(rid)
    assert row["status"] >= 500 and row["error_type"]
