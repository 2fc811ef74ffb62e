"""OpenAI's documented ``error.code`` on errors the gateway tells an OpenAI chat client, through the real processes.

An Anthropic model's stream that fails after its first token with a rate limit reaches an openai SDK chat
client as an in-stream ``{"error": …}`` whose ``code`` is ``rate_limit_exceeded`` (OpenAI's own code for a
429, which the Responses path already said; it was ``null`` on the chat path), an overload as
``server_error`` (``_error_meaning.openai_code``: the one table).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import openai
import orjson
import pytest

from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
ANTHROPIC = "/anthropic/v1/messages"


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("codes", {"anthropic": "/anthropic"}) as st:
        yield st


def event(name: str, body: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: ".encode() + orjson.dumps({"type": name, **body}) + b"\n\n"


def broken_stream(error_type: str, message: str) -> list[bytes]:
    """A Claude stream: its start, one text token, then an ``error`` event (Anthropic's in-stream failure)."""
    start = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [],
    }
    start |= {"stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}
    return [
        event("message_start", {"message": start}),
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
        event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hel"}}),
        b"event: error\ndata: "
        + orjson.dumps({"type": "error", "error": {"type": error_type, "message": message}})
        + b"\n\n",
    ]


@pytest.mark.parametrize(
    ("error_type", "code"),
    [("rate_limit_error", "rate_limit_exceeded"), ("overloaded_error", "server_error")],
)
def test_in_stream_errors_carry_openais_code(
    gw: Stack, up: ScriptedUpstream, error_type: str, code: str
) -> None:
    up.script(ANTHROPIC, sse(broken_stream(error_type, "slow down, please")))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        stream = client.chat.completions.create(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        with pytest.raises(openai.APIError) as failed:
            for _ in stream:
                pass
    assert failed.value.code == code, failed.value.body
    assert "slow down" in failed.value.message


def test_an_error_body_after_a_byte_order_mark_is_read_as_json(gw: Stack, up: ScriptedUpstream) -> None:
    """s23 variant 13-errbom-vC: an error body (status >= 400) after a UTF-8 BOM (RFC 8259 §8.1: parsers may ignore
    it; relays written on .NET send one) is read as the error it holds: a Responses client (translated) gets the
    provider's words and OpenAI's code, as without the BOM. Before, the body was no JSON to the gateway's error
    reader, and the message was the raw body, BOM and JSON text."""
    said = "prompt is too long: 210000 tokens > 200000 maximum"
    error = {"type": "error", "error": {"type": "invalid_request_error", "message": said}}
    up.script(ANTHROPIC, Answer(body=b"\xef\xbb\xbf" + orjson.dumps(error), status=400))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as failed:
            client.responses.create(model="claude-haiku-4-5", input="hi")
    assert failed.value.code == "context_length_exceeded", failed.value.body
    body = failed.value.body
    assert isinstance(body, dict), body
    # OpenAI's words for an overflow, the provider's own after them: no JSON text, no BOM
    assert body["message"].endswith(f"({said})") and "{" not in body["message"], body
