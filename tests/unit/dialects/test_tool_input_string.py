"""A tool call's ``input`` sent as a JSON-encoded string (a relay that double-encodes it; Anthropic's schema
says an object) keeps its arguments on every path to an OpenAI client, and anything that is not an object
becomes ``{}`` (s12 variant 01-f)."""

from __future__ import annotations

import json
from typing import Any

import orjson

from services.gateway.dialects._tool_args import input_object
from services.gateway.dialects.anthropic import MessagesStreamDecoder, completion_from_messages
from services.gateway.dialects.ir import ToolArgsDelta, ToolUseBlock
from services.gateway.dialects.translate_request import Target, anthropic_to_chat
from shared.sse import SSEEvent

ENCODED = '{"city": "Rome"}'


def test_input_object_reads_an_encoded_object_and_nothing_else() -> None:
    assert input_object({"a": 1}) == {"a": 1}
    assert input_object(ENCODED) == {"city": "Rome"}
    for not_an_object in (None, "", "  ", "null", "[1]", '"{}"', "{broken", 3, [{"a": 1}]):
        assert input_object(not_an_object) == {}


def test_a_json_answer_keeps_the_encoded_arguments() -> None:
    message = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [{"type": "tool_use", "id": "toolu_s", "name": "weather", "input": ENCODED}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }
    blocks = completion_from_messages(message).content
    assert [b.input for b in blocks if isinstance(b, ToolUseBlock)] == [{"city": "Rome"}]


def test_a_streamed_block_start_keeps_the_encoded_arguments() -> None:
    dec = MessagesStreamDecoder()
    start: dict[str, Any] = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "tool_use", "id": "toolu_s", "name": "weather", "input": ENCODED},
    }
    out = dec.feed(SSEEvent(event="content_block_start", data=orjson.dumps(start).decode()))
    # (a start's input is held until the block's stop: deltas, had any come, would have been the input; bug32a)
    out += dec.feed(SSEEvent(event="content_block_stop", data='{"type":"content_block_stop","index":0}'))
    fragments = "".join(d.fragment for d in out if isinstance(d, ToolArgsDelta))
    assert json.loads(fragments) == {"city": "Rome"}


def test_history_sent_to_an_openai_provider_keeps_the_encoded_arguments() -> None:
    body = {
        "model": "gpt-4o-mini",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": ENCODED}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
        ],
    }
    out = anthropic_to_chat(body, Target(model="gpt-4o-mini")).body
    calls = [c for m in out["messages"] for c in m.get("tool_calls") or ()]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "Rome"}]
