"""Whole (non-streamed) responses: upstream body → Completion → the client's format, checked by the SDK types."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types
import openai.types.chat

from services.gateway.dialects.anthropic import (
    SYNTHETIC_SIGNATURE,
    completion_from_messages,
    messages_from_completion,
)
from services.gateway.dialects.ir import (
    Completion,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)
from services.gateway.dialects.openai_chat import chat_from_completion, completion_from_chat

OPENAI_TOOL_RESPONSE: dict[str, Any] = {
    "id": "chatcmpl-CIkB2",
    "object": "chat.completion",
    "created": 1764230400,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"location":"Paris"}'},
                    },
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"tz": "Eur'},
                    },
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 1200,
        "completion_tokens": 40,
        "total_tokens": 1240,
        "prompt_tokens_details": {"cached_tokens": 1024, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_560af6e559",
}

ANTHROPIC_RESPONSE: dict[str, Any] = {
    "id": "msg_01ABC",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {"type": "thinking", "thinking": "Need the listing.", "signature": "EqQB"},
        {"type": "redacted_thinking", "data": "EmwKAhgB"},
        {"type": "text", "text": "Listing files."},
        {"type": "tool_use", "id": "toolu_01", "name": "Bash", "input": {"command": "ls"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 20,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 3000,
        "output_tokens": 75,
        "output_tokens_details": {"thinking_tokens": 30},
    },
}


def test_completion_from_chat_tool_calls() -> None:
    c = completion_from_chat(OPENAI_TOOL_RESPONSE)
    assert c.id == "chatcmpl-CIkB2" and c.model == "gpt-4o-mini-2024-07-18" and c.stop_reason == "tool_use"
    assert c.content == [
        ToolUseBlock(id="call_1", name="get_weather", input={"location": "Paris"}),
        ToolUseBlock(id="call_2", name="get_time", input={}),  # cut-off JSON is kept as an empty input
    ]
    assert c.usage == Usage(input_tokens=176, output_tokens=40, cache_read_tokens=1024)


def test_openai_upstream_to_anthropic_client() -> None:
    body = messages_from_completion(completion_from_chat(OPENAI_TOOL_RESPONSE), "claude-sonnet-4-5")
    message = anthropic.types.Message.model_validate(body)
    assert message.id == "msg_chatcmpl-CIkB2" and message.model == "claude-sonnet-4-5"
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("tool_use", {"location": "Paris"}),
        ("tool_use", {}),
    ]
    assert message.stop_reason == "tool_use" and message.stop_sequence is None
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (176, 1024)
    assert (message.usage.cache_creation_input_tokens, message.usage.output_tokens) == (0, 40)


def test_completion_from_messages_keeps_redacted_thinking() -> None:
    """The redacted block is kept in its place (a Responses client carries it back: s19 variant 04-s); a chat
    client's answer has no place for it (``test_anthropic_upstream_to_openai_client``)."""
    c = completion_from_messages(ANTHROPIC_RESPONSE)
    assert c.content == [
        ThinkingBlock(thinking="Need the listing.", signature="EqQB"),
        RedactedThinkingBlock(data="EmwKAhgB"),
        TextBlock(text="Listing files."),
        ToolUseBlock(id="toolu_01", name="Bash", input={"command": "ls"}),
    ]
    assert c.usage == Usage(
        input_tokens=20, output_tokens=75, cache_read_tokens=3000, cache_write_tokens=100, reasoning_tokens=30
    )
    assert c.stop_reason == "tool_use"


def test_anthropic_upstream_to_openai_client() -> None:
    body = chat_from_completion(completion_from_messages(ANTHROPIC_RESPONSE), "gpt-4o")
    completion = openai.types.chat.ChatCompletion.model_validate(body)
    assert completion.id == "chatcmpl-msg_01ABC" and completion.model == "gpt-4o"
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == "Listing files."
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function"
    assert calls[0].function.name == "Bash" and json.loads(calls[0].function.arguments) == {"command": "ls"}
    assert body["choices"][0]["message"]["reasoning_content"] == "Need the listing."
    usage = completion.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (
        3120,
        75,
        3195,
    )
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 3000
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 30


def test_tool_calls_only_means_null_content_and_names_map_back() -> None:
    c = Completion(id="x", model="m", content=[ToolUseBlock(id="c1", name="a_b", input={"k": [1, 2]})])
    body = chat_from_completion(c, "m", tool_names={"a_b": "a.b"})
    message = body["choices"][0]["message"]
    assert message["content"] is None and body["choices"][0]["finish_reason"] == "tool_calls"
    assert message["tool_calls"][0]["function"] == {"name": "a.b", "arguments": '{"k":[1,2]}'}
    anthropic_body = messages_from_completion(c, "m", tool_names={"a_b": "a.b"})
    assert anthropic_body["content"][0]["name"] == "a.b" and anthropic_body["stop_reason"] == "tool_use"


def test_empty_answer_is_an_empty_string_not_null() -> None:
    body = chat_from_completion(Completion(id="x", model="m", stop_reason="max_tokens"), "m")
    assert body["choices"][0]["message"]["content"] == "" and body["choices"][0]["finish_reason"] == "length"


def test_thinking_without_signature_gets_the_synthetic_one() -> None:
    c = Completion(id="msg_1", model="m", content=[ThinkingBlock(thinking="hmm"), TextBlock(text="ok")])
    body = messages_from_completion(c, "claude")
    anthropic.types.Message.model_validate(body)
    assert body["content"][0] == {"type": "thinking", "thinking": "hmm", "signature": SYNTHETIC_SIGNATURE}
    assert body["id"] == "msg_1"


def test_xai_reasoning_content_and_openrouter_reasoning_become_thinking() -> None:
    for key in ("reasoning_content", "reasoning"):
        body = {"id": "c", "choices": [{"message": {"content": "4", key: "2+2"}, "finish_reason": "stop"}]}
        assert completion_from_chat(body).content == [ThinkingBlock(thinking="2+2"), TextBlock(text="4")]


def test_refusal_becomes_text_with_refusal_stop() -> None:
    body = {
        "id": "c",
        "choices": [{"message": {"content": None, "refusal": "I can't."}, "finish_reason": "stop"}],
    }
    c = completion_from_chat(body)
    assert c.content == [TextBlock(text="I can't.")] and c.stop_reason == "refusal"
    assert messages_from_completion(c, "m")["stop_reason"] == "refusal"


def test_stop_sequence_round_trip_and_finish_reason() -> None:
    c = completion_from_messages(
        {
            "id": "msg_2",
            "content": [{"type": "text", "text": "a"}],
            "stop_reason": "stop_sequence",
            "stop_sequence": "END",
        }
    )
    assert (c.stop_reason, c.stop_sequence) == ("stop_sequence", "END")
    assert messages_from_completion(c, "m")["stop_sequence"] == "END"
    assert chat_from_completion(c, "m")["choices"][0]["finish_reason"] == "stop"


def test_garbage_bodies_do_not_crash() -> None:
    assert (
        completion_from_chat({}).content == []
        and completion_from_chat({"choices": [None]}).stop_reason == "end_turn"
    )
    assert completion_from_messages({"content": "nope", "stop_reason": None}).content == []
