"""Claude's signed thinking in LiteLLM's ``thinking_blocks`` (bug28b variants 04-vI..04-vL; pure).

LiteLLM gives Claude's thinking on the chat wire as the message's ``reasoning_content`` and ``thinking_blocks``
(Anthropic-shaped ``thinking`` / ``redacted_thinking`` blocks; streamed, one entry per delta, the signature in a
later one) and wants them back on the next turn's assistant message (LiteLLM docs, "'Thinking' / 'Reasoning
Content'"). Before, the gateway read only OpenRouter's ``reasoning_details``: an Anthropic client got the gateway's
synthetic signature for Claude's own thinking, a chat client's ``thinking_blocks`` were dropped on the way to
Anthropic, and a Claude route behind LiteLLM got nothing back (thinking lost for the rest of the tool loop).
"""

from __future__ import annotations

from typing import Any

import orjson
from dialect_helpers import decode

from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE
from services.gateway.dialects._claude_details import details_of_thinking_blocks, signed_back
from services.gateway.dialects._responses_opaque import encode_thinking
from services.gateway.dialects.ir import (
    RedactedThinking,
    RedactedThinkingBlock,
    SignatureDelta,
    ThinkingBlock,
)
from services.gateway.dialects.openai_chat import ChatStreamDecoder, completion_from_chat
from services.gateway.dialects.translate_request import (
    Target,
    anthropic_to_chat,
    chat_to_anthropic,
    responses_to_chat,
)
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.routing.config import ProviderSpec

SIG = "EqQBCkYIBxgCKkBAnthropicSignature=="
DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"
THINKING = {"type": "thinking", "thinking": "Need the weather.", "signature": SIG}
REDACTED = {"type": "redacted_thinking", "data": DATA}
TOOL_USE = {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Paris"}}
CALL = {
    "id": "toolu_01",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
}
LITELLM = Target(model="anthropic/claude-sonnet-4-5", max_output_tokens=64000, claude_thinking_blocks=True)
SONNET = Target(model="claude-sonnet-4-5", max_output_tokens=64000, reasoning="anthropic_adaptive")


def _answer(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "model": "anthropic/claude-sonnet-4-5",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def test_a_whole_answers_thinking_blocks_are_claudes_signed_blocks() -> None:
    message = {
        "content": None,
        "reasoning_content": "Need the weather.",
        "thinking_blocks": [THINKING, REDACTED],
        "tool_calls": [CALL],
    }
    content = completion_from_chat(_answer(message)).content
    assert content[:2] == [
        ThinkingBlock(thinking="Need the weather.", signature=SIG),
        RedactedThinkingBlock(data=DATA),
    ]


def test_unsigned_or_synthetic_thinking_blocks_stay_unsigned() -> None:
    blocks = [{"type": "thinking", "thinking": "Hm.", "signature": SYNTHETIC_SIGNATURE}]
    content = completion_from_chat(_answer({"reasoning_content": "Hm.", "thinking_blocks": blocks})).content
    assert content == [ThinkingBlock(thinking="Hm.")]
    assert details_of_thinking_blocks(blocks) == []
    assert details_of_thinking_blocks("not a list") == []


def _chunk(delta: dict[str, Any]) -> bytes:
    obj = {"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def test_a_streamed_signature_entry_closes_the_thinking() -> None:
    pieces = [
        _chunk(
            {"reasoning_content": "Need ", "thinking_blocks": [{"type": "thinking", "thinking": "Need "}]}
        ),
        _chunk({"reasoning_content": "it.", "thinking_blocks": [{"type": "thinking", "thinking": "it."}]}),
        _chunk({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": SIG}]}),
        _chunk({"thinking_blocks": [REDACTED]}),
        b"data: [DONE]\n\n",
    ]
    deltas = decode(pieces, ChatStreamDecoder())
    assert [d for d in deltas if isinstance(d, SignatureDelta | RedactedThinking)] == [
        SignatureDelta(signature=SIG),
        RedactedThinking(data=DATA),
    ]


def test_claude_behind_litellm_gets_its_blocks_back_as_thinking_blocks() -> None:
    body = {
        "model": "anthropic/claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [THINKING, REDACTED, TOOL_USE]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"}],
            },
        ],
    }
    message = anthropic_to_chat(body, LITELLM).body["messages"][1]
    assert message["thinking_blocks"] == [THINKING, REDACTED]
    assert "reasoning_details" not in message
    synthetic = {**THINKING, "signature": SYNTHETIC_SIGNATURE}
    body["messages"][1]["content"] = [synthetic, TOOL_USE]
    assert "thinking_blocks" not in anthropic_to_chat(body, LITELLM).body["messages"][1]
    plain = Target(model="anthropic/claude-sonnet-4-5", max_output_tokens=64000)
    body["messages"][1]["content"] = [THINKING, TOOL_USE]
    assert "thinking_blocks" not in anthropic_to_chat(body, plain).body["messages"][1]


def test_a_responses_clients_claude_reasoning_goes_back_as_thinking_blocks() -> None:
    # the reasoning item the gateway gave a Responses client for Claude's signed thinking
    token = encode_thinking("Need the weather.", SIG)
    item = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": token}
    body = {
        "model": "anthropic/claude-sonnet-4-5",
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            item,
            {
                "type": "function_call",
                "call_id": "toolu_01",
                "name": "weather",
                "arguments": '{"city":"Paris"}',
            },
            {"type": "function_call_output", "call_id": "toolu_01", "output": "sunny"},
        ],
    }
    messages = responses_to_chat(body, LITELLM).body["messages"]
    assert [m.get("thinking_blocks") for m in messages if m["role"] == "assistant"] == [[THINKING]]


def test_a_chat_clients_thinking_blocks_reach_anthropic_first_in_the_turn() -> None:
    body = {
        "model": "claude-sonnet-4-5",
        "reasoning_effort": "high",
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "Need the weather.",
                "thinking_blocks": [THINKING, REDACTED],
                "tool_calls": [CALL],
            },
            {"role": "tool", "tool_call_id": "toolu_01", "content": "sunny"},
        ],
    }
    out = chat_to_anthropic(body, SONNET).body
    turn = out["messages"][1]["content"]
    assert [{k: v for k, v in b.items() if k != "cache_control"} for b in turn] == [
        THINKING,
        REDACTED,
        TOOL_USE,
    ]
    assert "thinking" in out or "output_config" in out


def test_signed_back_shapes() -> None:
    assert signed_back([THINKING, TOOL_USE], "") == {}
    assert signed_back([TOOL_USE], "thinking_blocks") == {}
    assert signed_back([THINKING], "thinking_blocks") == {"thinking_blocks": [THINKING]}
    details = signed_back([THINKING], "reasoning_details")["reasoning_details"]
    assert details[0]["signature"] == SIG and details[0]["format"] == "anthropic-claude-v1"


def test_a_catalog_route_serving_claude_takes_thinking_blocks() -> None:
    spec = ProviderSpec(
        name="litellm", base_url="http://127.0.0.1:1/v1", models=("anthropic/claude-sonnet-4-5",)
    )
    provider = ConfiguredProvider(spec, None)
    assert provider.target("anthropic/claude-sonnet-4-5").claude_field == "thinking_blocks"
    assert provider.target("bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0").claude_thinking_blocks
    assert provider.target("llama-3.3-70b").claude_field == ""
    assert provider.target("databricks-claude-sonnet-4-5").claude_field == ""
