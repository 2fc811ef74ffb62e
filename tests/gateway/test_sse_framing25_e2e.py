"""Event-stream framing through the real processes, read by the official SDKs (s25 variants 18-*).

- A non-streamed request that the provider answers with an event stream anyway (a server or relay that ignores
  ``"stream": false``) gets one JSON answer in its format, with the usage; before, 502 (chat) or 529 (Anthropic)
  "invalid JSON from provider".
- An Anthropic stream that begins with a UTF-8 BOM reaches the anthropic SDK whole: before, the SDK skipped the
  nameless message_start and raised.
- A Responses stream with a lone ``retry:`` block, ``id:`` fields and a comment block reaches the openai SDK
  without an empty event: before, JSONDecodeError.

Real gateway and recorder processes, the scripted upstream.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import anthropic
import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
CHAT = "/openai/v1/chat/completions"
RESPONSES = "/openai/v1/responses"
MESSAGES = "/anthropic/v1/messages"
HI = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    paths = {"openai": "/openai/v1", "anthropic": "/anthropic"}
    with scripted_stack("sse_framing25", paths, BREAKER_FAILURES="1000") as st:
        yield st


def _chunk(delta: dict[str, object] | None, finish: str | None = None, usage: object = None) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    obj = {
        "id": "chatcmpl-25",
        "object": "chat.completion.chunk",
        "created": 1775000000,
        "model": "gpt-4o-mini",
        "choices": choices,
        "usage": usage,
    }
    return (
        b"data: " + json.dumps(obj).replace(', "', ',\ndata: "').encode() + b"\n\n"
    )  # over several data lines


CHAT_STREAM = [
    _chunk({"role": "assistant", "content": "Hello"}),
    _chunk({"content": " there!"}),
    _chunk({}, "stop"),
    _chunk(None, usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}),
    b"data: [DONE]\n\n",
]


def _named(name: str, obj: dict[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(obj).encode() + b"\n\n"


def _anthropic_stream() -> list[bytes]:
    message = {
        "id": "msg_25",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    text = {"type": "text_delta", "text": "Hello there!"}
    return [
        _named("message_start", {"type": "message_start", "message": message}),
        _named(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _named("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": text}),
        _named("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _named(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 3},
            },
        ),
        _named("message_stop", {"type": "message_stop"}),
    ]


def test_a_non_streamed_chat_request_answered_with_a_stream_gets_one_answer(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHAT, sse(CHAT_STREAM))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        answer = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=HI,
            extra_headers={"x-request-id": "ns-chat25"},  # type: ignore[arg-type]
        )
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == ("Hello there!", "stop")
    assert answer.usage is not None and (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (
        12,
        3,
    )
    row = gw.row_for("ns-chat25")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 12, 3)


def test_a_non_streamed_anthropic_request_answered_with_a_stream_gets_one_message(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(CHAT, sse([piece.replace(b"\n", b"\r\n") for piece in CHAT_STREAM]))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0) as client:
        message = client.messages.create(
            model="gpt-4o-mini",
            max_tokens=64,
            messages=HI,
            extra_headers={"x-request-id": "ns-anth25"},  # type: ignore[arg-type]
        )
    assert [getattr(b, "text", None) for b in message.content] == ["Hello there!"]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 3)
    row = gw.row_for("ns-anth25")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 12, 3)


def test_a_non_streamed_responses_request_answered_with_an_anthropic_stream(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(MESSAGES, sse(_anthropic_stream()))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        answer = client.responses.create(
            model="claude-haiku-4-5", input="Say hello.", extra_headers={"x-request-id": "ns-resp25"}
        )
    assert (answer.output_text, answer.status) == ("Hello there!", "completed")
    assert answer.usage is not None and (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 3)


def test_a_bom_led_anthropic_stream_reaches_the_anthropic_sdk_whole(gw: Stack, up: ScriptedUpstream) -> None:
    pieces = _anthropic_stream()
    up.script(MESSAGES, sse([b"\xef\xbb", b"\xbf" + pieces[0], *pieces[1:]]))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0) as client:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream:  # type: ignore[arg-type]
            message = stream.get_final_message()
    assert [getattr(b, "text", None) for b in message.content] == ["Hello there!"]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 3)


def test_a_responses_stream_with_retry_and_ids_reaches_the_openai_sdk(
    gw: Stack, up: ScriptedUpstream
) -> None:
    response = {
        "id": "resp_25",
        "object": "response",
        "created_at": 1775000000,
        "status": "in_progress",
        "model": "gpt-4o-mini",
        "output": [],
    }
    done = {
        **response,
        "status": "completed",
        "usage": {
            "input_tokens": 12,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 3,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        },
    }
    delta = {
        "type": "response.output_text.delta",
        "sequence_number": 1,
        "item_id": "msg_25",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hello there!",
    }
    events = [
        _named("response.created", {"type": "response.created", "sequence_number": 0, "response": response}),
        _named("response.output_text.delta", delta),
        _named("response.completed", {"type": "response.completed", "sequence_number": 2, "response": done}),
    ]
    pieces = [b"retry: 3000\n\n"] + [
        b"id: %d\n" % i + e + b": ping - 2026-12-03\n\n" for i, e in enumerate(events)
    ]
    up.script(RESPONSES, sse(pieces))
    text, kinds = "", []
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        for ev in client.responses.create(model="gpt-4o-mini", input="Say hello.", stream=True):
            kinds.append(ev.type)
            if ev.type == "response.output_text.delta":
                text += ev.delta
    assert (text, kinds[-1]) == ("Hello there!", "response.completed")
