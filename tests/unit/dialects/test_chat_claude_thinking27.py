"""Claude's signed and redacted thinking to a Chat client and back (bug27b variants 04-vA, 04-vG; pure).

A Chat client on Claude gets the thinking as OpenRouter's ``reasoning_details`` entries (``_claude_details``) beside
``reasoning_content``, and gives them back on its next turn's assistant message; the chat → Anthropic translation
makes them the blocks Anthropic wants first in the latest assistant turn, unchanged (extended-thinking docs,
"Preserving thinking blocks"). Before, the entries were not given, the blocks never came back and thinking was turned
off for the rest of the tool loop.
"""

from __future__ import annotations

from typing import Any

from dialect_helpers import chat_encoder, encode, json_frames

from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE
from services.gateway.dialects._claude_details import blocks_of_details
from services.gateway.dialects.ir import (
    Completion,
    ReasoningDelta,
    RedactedThinking,
    RedactedThinkingBlock,
    SignatureDelta,
    TextBlock,
    ThinkingBlock,
    ToolArgsDelta,
    ToolCallStart,
    ToolUseBlock,
    Usage,
)
from services.gateway.dialects.openai_chat import chat_from_completion
from services.gateway.dialects.translate_request import Target, chat_to_anthropic

SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000, reasoning="anthropic_adaptive")
SIG = "EqQBCkYIBxgCKkBAnthropicSignature=="
DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"
THINKING = {"type": "thinking", "thinking": "Need the weather.", "signature": SIG}
REDACTED = {"type": "redacted_thinking", "data": DATA}
TEXT_ENTRY = {
    "type": "reasoning.text",
    "text": "Need the weather.",
    "signature": SIG,
    "format": "anthropic-claude-v1",
    "index": 0,
}
DATA_ENTRY = {"type": "reasoning.encrypted", "data": DATA, "format": "anthropic-claude-v1", "index": 1}
CALL = {
    "id": "toolu_01",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
}
TOOL = {
    "type": "function",
    "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
}


def _answer() -> Completion:
    return Completion(
        id="msg_01",
        model="claude-sonnet-4-5",
        content=[
            ThinkingBlock(thinking="Need the weather.", signature=SIG),
            RedactedThinkingBlock(data=DATA),
            ToolUseBlock(id="toolu_01", name="weather", input={"city": "Paris"}),
        ],
        stop_reason="tool_use",
        usage=Usage(input_tokens=10, output_tokens=5),
    )


def _loop(message: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body = {
        "model": "claude-sonnet-4-5",
        "reasoning_effort": "high",
        "tools": [TOOL],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            message,
            {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
        ],
        **fields,
    }
    return chat_to_anthropic(body, SONNET).body


def test_a_whole_answer_gives_a_chat_client_claudes_thinking_as_reasoning_details() -> None:
    message = chat_from_completion(_answer(), "claude-sonnet-4-5")["choices"][0]["message"]
    assert message["reasoning_content"] == "Need the weather."
    assert message["reasoning_details"] == [TEXT_ENTRY, DATA_ENTRY]


def test_another_models_unsigned_reasoning_gives_no_details() -> None:
    answer = _answer()
    answer.content = [ThinkingBlock(thinking="hmm", signature=SYNTHETIC_SIGNATURE), TextBlock(text="ok")]
    message = chat_from_completion(answer, "grok-3-mini")["choices"][0]["message"]
    assert "reasoning_details" not in message


def test_a_stream_gives_the_signed_block_whole_and_the_redacted_one() -> None:
    deltas = [
        ReasoningDelta(text="Need the "),
        ReasoningDelta(text="weather."),
        SignatureDelta(signature=SIG),
        RedactedThinking(data=DATA),
        ToolCallStart(index=0, id="toolu_01", name="weather"),
        ToolArgsDelta(index=0, fragment="{}"),
    ]
    chunks = [
        c["choices"][0]["delta"] for c in json_frames(encode(deltas, chat_encoder(False))) if c.get("choices")
    ]
    assert [d["reasoning_details"] for d in chunks if "reasoning_details" in d] == [
        [TEXT_ENTRY],
        [DATA_ENTRY],
    ]


def test_the_entries_come_back_as_the_turns_first_blocks_with_thinking_on() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "reasoning_details": [TEXT_ENTRY, DATA_ENTRY],
        "tool_calls": [CALL],
    }
    out = _loop(message)
    assert "thinking" in out
    assert [{k: v for k, v in b.items() if k != "cache_control"} for b in out["messages"][1]["content"]][
        :2
    ] == [
        THINKING,
        REDACTED,
    ]


def test_a_signature_only_entry_takes_the_messages_reasoning_content() -> None:
    entry = {**TEXT_ENTRY, "text": ""}
    message = {
        "role": "assistant",
        "content": None,
        "reasoning_content": "Need the weather.",
        "reasoning_details": [entry],
        "tool_calls": [CALL],
    }
    assert _loop(message)["messages"][1]["content"][0] == THINKING


def test_unverifiable_entries_make_no_block() -> None:
    # the gateway's own signature, an ekai token, a text whose signature is unknown: Anthropic would refuse each
    details = [
        {**TEXT_ENTRY, "signature": SYNTHETIC_SIGNATURE},
        {**DATA_ENTRY, "data": "ekai.r1.abc"},
        {"type": "reasoning.text", "text": "orphan", "format": "anthropic-claude-v1", "index": 2},
    ]
    assert blocks_of_details(details) == []
    out = _loop({"role": "assistant", "content": None, "reasoning_details": details, "tool_calls": [CALL]})
    assert [b["type"] for b in out["messages"][1]["content"]] == ["tool_use"]
    assert "thinking" not in out  # a tool turn without thinking: Anthropic would refuse it with thinking on


def test_two_signature_only_entries_cannot_share_one_text() -> None:
    details = [{**TEXT_ENTRY, "text": ""}, {**TEXT_ENTRY, "text": "", "index": 1}]
    assert blocks_of_details(details, "Need the weather.") == []


def test_thinking_off_drops_the_given_back_blocks() -> None:
    message = {"role": "assistant", "content": "Sunny.", "reasoning_details": [TEXT_ENTRY, DATA_ENTRY]}
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "Hi"}, message, {"role": "user", "content": "Thanks"}],
    }
    out = chat_to_anthropic(body, SONNET).body
    assert "thinking" not in out
    assert [b["type"] for b in out["messages"][1]["content"]] == ["text"]
