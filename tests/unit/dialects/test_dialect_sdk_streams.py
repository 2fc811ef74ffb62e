"""The translated streams, read by the official openai and anthropic SDKs (their parsers and accumulators)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import (
    RawContentBlockDeltaEvent,
    RawContentBlockStartEvent,
    RawContentBlockStopEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
)
from dialect_helpers import CLIENT_MODEL, anthropic_client, frames, json_frames, openai_client, translate
from openai.types.chat import ChatCompletionChunk

from services.gateway.dialects.anthropic import SYNTHETIC_SIGNATURE

ANTHROPIC_EVENTS: dict[str, Any] = {
    "message_start": RawMessageStartEvent,
    "message_delta": RawMessageDeltaEvent,
    "message_stop": RawMessageStopEvent,
    "content_block_start": RawContentBlockStartEvent,
    "content_block_delta": RawContentBlockDeltaEvent,
    "content_block_stop": RawContentBlockStopEvent,
}
TO_ANTHROPIC = [
    "openai_parallel_tools",
    "openai_text_usage",
    "openai_interleaved_tools",
    "openrouter_reasoning_keepalive",
    "openai_error_midstream",
    "openrouter_error",
]
TO_OPENAI = ["anthropic_thinking_text_tools", "anthropic_error_midstream"]
USER = [{"role": "user", "content": "hi"}]


# ---- OpenAI clients reading translated Anthropic upstreams -------------------------------------------


@pytest.mark.parametrize("fixture", TO_OPENAI)
def test_chunks_follow_the_chat_chunk_contract(fixture: str) -> None:
    out = translate(fixture)
    chunks = json_frames(out)
    failed = "error" in chunks[-1]
    if failed:
        assert set(chunks[-1]) == {"error"} and json.loads(frames(out)[-1].data) == chunks[-1]
        assert b"[DONE]" not in out
        chunks = chunks[:-1]
    else:
        assert frames(out)[-1].data == "[DONE]"
    parsed = [ChatCompletionChunk.model_validate(c) for c in chunks]
    assert {c.id for c in parsed} == {"chatcmpl-gw-test"} and {c.model for c in parsed} == {CLIENT_MODEL}
    assert parsed[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in parsed[1:] if c.choices)
    finishing = [c for c in parsed if c.choices and c.choices[0].finish_reason is not None]
    assert len(finishing) == (0 if failed else 1)
    if not failed:
        assert chunks.index(finishing[0].model_dump(exclude_unset=True)) == len(chunks) - 2
        assert chunks[-2]["choices"][0]["delta"] == {}
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[: len(chunks) - (0 if failed else 1)])


def test_openai_sdk_rebuilds_text_reasoning_and_tool_calls() -> None:
    client = openai_client(translate("anthropic_thinking_text_tools"))
    with client.chat.completions.stream(model=CLIENT_MODEL, messages=USER) as stream:
        deltas = [c.choices[0].delta for c in _chunks(stream) if c.choices]
        reasoning = "".join(getattr(d, "reasoning_content", None) or "" for d in deltas)
        final = stream.get_final_completion()
    message = final.choices[0].message
    assert reasoning == "The user wants the files listed, and the README read."
    assert message.content == "I'll list the files and read the README — ✓."
    assert final.choices[0].finish_reason == "tool_calls"
    calls = message.tool_calls or []
    assert [(c.id, c.function.name) for c in calls] == [
        ("toolu_01D7FLrfh4GYq7yT1ULFeyMV", "Bash"),
        ("toolu_01Hq8Wn3ZfXk2Lp9Rt4Vb6Mc", "Read"),
    ]
    assert json.loads(calls[0].function.arguments) == {
        "command": "ls -la",
        "description": "List files in the current directory",
    }
    assert json.loads(calls[1].function.arguments) == {"file_path": "/work/README.md"}
    usage = final.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (12 + 1532 + 18210, 187)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 18210
    assert usage.total_tokens == 12 + 1532 + 18210 + 187


def _chunks(stream: Any) -> list[ChatCompletionChunk]:
    return [ev.chunk for ev in stream if ev.type == "chunk"]


def test_openai_sdk_raises_api_error_on_midstream_error() -> None:
    client = openai_client(translate("anthropic_error_midstream"))
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(model=CLIENT_MODEL, messages=USER, stream=True):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "Sure, here is the first part"
    assert info.value.message == "Overloaded"
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "overloaded_error"


# ---- Anthropic clients reading translated OpenAI-style upstreams -------------------------------------


@pytest.mark.parametrize("fixture", TO_ANTHROPIC)
def test_events_follow_the_messages_stream_contract(fixture: str) -> None:
    events = frames(translate(fixture))
    assert all(ev.event is not None for ev in events)  # the anthropic SDK skips frames without one
    payloads = [json.loads(ev.data) for ev in events]
    assert [ev.event for ev in events] == [p["type"] for p in payloads]
    kinds = [p["type"] for p in payloads if p["type"] != "ping"]
    assert kinds[0] == "message_start"
    if kinds[-1] == "error":
        assert "message_stop" not in kinds and "message_delta" not in kinds
        assert set(payloads[-1]["error"]) == {"type", "message"}
    else:
        assert kinds[-2:] == ["message_delta", "message_stop"]
    open_index, next_index = None, 0
    for p in payloads:
        if p["type"] in ANTHROPIC_EVENTS:
            ANTHROPIC_EVENTS[p["type"]].model_validate(p)
        if p["type"] == "content_block_start":
            assert open_index is None and p["index"] == next_index
            open_index, next_index = p["index"], next_index + 1
            if p["content_block"]["type"] == "tool_use":
                assert p["content_block"]["input"] == {}
        elif p["type"] in ("content_block_delta", "content_block_stop"):
            assert p["index"] == open_index
            if p["type"] == "content_block_stop":
                open_index = None
        elif p["type"] == "message_delta":
            assert open_index is None
            assert set(p["usage"]) >= {
                "input_tokens",
                "output_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            }


def _final_message(fixture: str) -> anthropic.types.Message:
    client = anthropic_client(translate(fixture))
    with client.messages.stream(model=CLIENT_MODEL, max_tokens=1024, messages=USER) as stream:
        return stream.get_final_message()


def test_anthropic_sdk_rebuilds_parallel_tool_calls() -> None:
    message = _final_message("openai_parallel_tools")
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("tool_use", {"location": "Paris, France"}),
        ("tool_use", {"location": "Tōkyō"}),
    ]
    assert message.stop_reason == "tool_use" and message.id == "msg_gw_test" and message.model == CLIENT_MODEL
    assert (message.usage.input_tokens, message.usage.output_tokens) == (84, 51)


def test_anthropic_sdk_rebuilds_interleaved_tool_calls_in_order() -> None:
    message = _final_message("openai_interleaved_tools")
    assert [(getattr(b, "name", None), getattr(b, "input", None)) for b in message.content] == [
        ("read_file", {"path": "a.py"}),
        ("list_dir", {"dir": "src"}),
    ]


def test_anthropic_sdk_sees_thinking_then_text_with_openrouter_usage() -> None:
    message = _final_message("openrouter_reasoning_keepalive")
    assert [b.type for b in message.content] == ["thinking", "text"]
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.thinking == "The user wants a greeting."
    assert thinking.signature == SYNTHETIC_SIGNATURE
    assert text.type == "text" and text.text == "Hello!"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (14, 27)


def test_anthropic_sdk_gets_cache_reads_split_out_of_the_prompt() -> None:
    message = _final_message("openai_text_usage")
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text == "Hi there — naïve café ☕!"
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (
        86,
        1920,
        0,
    )
    assert usage.output_tokens == 80


@pytest.mark.parametrize(
    ("fixture", "error_type"),
    [("openai_error_midstream", "api_error"), ("openrouter_error", "overloaded_error")],
)
def test_anthropic_sdk_raises_on_midstream_error(fixture: str, error_type: str) -> None:
    with pytest.raises(anthropic.APIStatusError) as info:
        _final_message(fixture)
    assert isinstance(info.value.body, dict) and info.value.body["error"]["type"] == error_type
