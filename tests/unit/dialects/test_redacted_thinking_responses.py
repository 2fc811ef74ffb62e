"""Claude's redacted_thinking blocks survive a Responses client's round trip (s19 variants 04-s, 04-t).

A Responses client (Codex, ``store: false``) on Claude sends the whole transcript back every turn, so the
gateway carries Anthropic's thinking in ``reasoning.encrypted_content`` (``_responses_opaque``). A tool turn
Claude answered with ``[thinking, redacted_thinking, tool_use]`` must reach Anthropic again, when the tool's
output goes back, with both blocks as they came: Anthropic refuses a latest assistant turn whose thinking
blocks were changed (400 "`thinking` or `redacted_thinking` blocks in the latest assistant message cannot be
modified. These blocks must remain as they were in the original response."; extended-thinking docs,
"Preserving thinking blocks": redacted blocks are passed back unmodified). Before the fix the redacted block
had no IR form and was lost on the way to the client, streamed or not.
"""

from __future__ import annotations

from typing import Any

import orjson
from dialect_helpers import decode

from services.gateway.dialects._request_common import Target
from services.gateway.dialects._request_from_responses import responses_to_anthropic
from services.gateway.dialects.anthropic import MessagesStreamDecoder, completion_from_messages
from services.gateway.dialects.openai_responses import ResponsesStreamEncoder, responses_from_completion
from services.gateway.dialects.view import View

SONNET = Target(
    model="claude-sonnet-4-5",
    max_output_tokens=64000,
    default_max_tokens=8192,
    max_tokens_field="max_tokens",
    reasoning="anthropic_adaptive",
)
SIGNATURE = "EqQBCkYIBxgCKkBAnthropicSignature=="
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"
THINKING = {"type": "thinking", "thinking": "Need the weather.", "signature": SIGNATURE}
REDACTED_BLOCK = {"type": "redacted_thinking", "data": REDACTED}
TOOL_USE = {"type": "tool_use", "id": "toolu_01A", "name": "weather", "input": {"city": "Paris"}}
MESSAGE = {
    "id": "msg_01A",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [THINKING, REDACTED_BLOCK, TOOL_USE],
    "stop_reason": "tool_use",
    "usage": {"input_tokens": 20, "output_tokens": 10},
}
VIEW = View(model="claude-sonnet-4-5", tools=True)
USER = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]}


def _stream(content: list[dict[str, Any]]) -> bytes:
    """Claude's stream of ``content``: a redacted block comes whole in its content_block_start."""
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}}
    ]
    for i, block in enumerate(content):
        if block["type"] == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif block["type"] == "tool_use":
            start, deltas = (
                {**block, "input": {}},
                [{"type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()}],
            )
        else:
            start, deltas = block, []
        events.append({"type": "content_block_start", "index": i, "content_block": start})
        events += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": i})
    events += [
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 10}},
        {"type": "message_stop"},
    ]
    return b"".join(b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e)) for e in events)


def _streamed_output(content: list[dict[str, Any]]) -> list[dict[str, Any]]:
    enc = ResponsesStreamEncoder(VIEW)
    for d in decode([_stream(content)], MessagesStreamDecoder()):
        enc.feed(d)
    enc.finish()
    assert enc.final is not None
    return list(enc.final["output"])


def _tool_turn_sent_back(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The assistant turn Anthropic gets when the client sends ``output`` back with the tool's result."""
    call = next(i for i in output if i["type"] == "function_call")
    body = {
        "model": "claude-sonnet-4-5",
        "reasoning": {"effort": "medium"},
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
        "input": [
            USER,
            *output,
            {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny"},
        ],
    }
    messages = responses_to_anthropic(body, SONNET).body["messages"]
    turns = [m for m in messages if m["role"] == "assistant"]
    assert len(turns) == 1
    return [{k: v for k, v in b.items() if k != "cache_control"} for b in turns[0]["content"]]


def test_redacted_thinking_goes_back_unchanged_not_streamed() -> None:
    output = responses_from_completion(completion_from_messages(MESSAGE), VIEW)["output"]
    assert [i["type"] for i in output] == ["reasoning", "reasoning", "function_call"]
    assert _tool_turn_sent_back(output) == [THINKING, REDACTED_BLOCK, TOOL_USE]


def test_redacted_thinking_goes_back_unchanged_streamed() -> None:
    output = _streamed_output([THINKING, REDACTED_BLOCK, TOOL_USE])
    assert [i["type"] for i in output] == ["reasoning", "reasoning", "function_call"]
    assert _tool_turn_sent_back(output) == [THINKING, REDACTED_BLOCK, TOOL_USE]


def test_redacted_thinking_alone_and_between_two_thinking_blocks() -> None:
    """Order is kept, a redacted block first or between two signed ones, streamed and not."""
    second = {"type": "thinking", "thinking": "Then answer.", "signature": SIGNATURE + "2"}
    for content in ([REDACTED_BLOCK, TOOL_USE], [THINKING, REDACTED_BLOCK, second, TOOL_USE]):
        whole = responses_from_completion(completion_from_messages({**MESSAGE, "content": content}), VIEW)
        assert _tool_turn_sent_back(whole["output"]) == content
        assert _tool_turn_sent_back(_streamed_output(content)) == content


def test_no_reasoning_view_drops_redacted_thinking_too() -> None:
    """A client that asked for no reasoning gets none, redacted or not (``View.reasoning``)."""
    view = View(model="claude-sonnet-4-5", tools=True, reasoning=False)
    enc = ResponsesStreamEncoder(view)
    for d in decode([_stream([REDACTED_BLOCK, TOOL_USE])], MessagesStreamDecoder()):
        enc.feed(d)
    enc.finish()
    assert enc.final is not None
    assert [i["type"] for i in enc.final["output"]] == ["function_call"]
