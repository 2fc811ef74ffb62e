"""Claude's own thinking signature through OpenRouter survives an Anthropic or Responses client's round trip
(``dialects/_claude_details``; s24 variant 04-orsig-vA, bugcase 04's kind: a provider's own signature comes back
to it intact, and never reaches a provider that would refuse it).

OpenRouter returns Claude's thinking with its real signature in ``reasoning_details`` (``reasoning.text`` with a
``signature``, streamed and not; redacted thinking as ``reasoning.encrypted``) and wants it back on the next turn's
assistant message (OpenRouter docs, "Reasoning Tokens": "Preserving reasoning blocks"). Before, the Anthropic
client got the gateway's synthetic signature and the next turn went to Claude without its thinking."""

from __future__ import annotations

import json
from typing import Any

import pytest
from dialect_helpers import anthropic_client, decode, encode, messages_encoder

from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE
from services.gateway.dialects._minted import strip_for_anthropic, strip_refused_for_chat
from services.gateway.dialects._request_common import Target
from services.gateway.dialects._request_from_responses import responses_to_chat
from services.gateway.dialects._request_to_chat import anthropic_to_chat
from services.gateway.dialects._responses_opaque import decode_thinking, encode_thinking
from services.gateway.dialects.anthropic import messages_from_completion
from services.gateway.dialects.ir import RedactedThinking, SignatureDelta
from services.gateway.dialects.openai_chat import ChatStreamDecoder, completion_from_chat
from services.gateway.dialects.openai_responses import ResponsesStreamEncoder
from services.gateway.dialects.view import View
from services.gateway.providers.openai_compat import OpenRouterProvider

SIG = "EqQBCkYIBxgCKkBkR0FjbGF1ZGUtc2lnbmF0dXJlLW9mLXRoaW5raW5nL0FCQ0RFRkdI+/=="
REDACTED = "EmwKAhgBEgy3va3pzGVkYWN0ZWQtdGhpbmtpbmc="
THOUGHT = "The user wants the weather. I should call the tool."
FMT = "anthropic-claude-v1"
OPENROUTER = OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k")
CLAUDE = OPENROUTER.target("anthropic/claude-sonnet-4.5")


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    obj = {"id": "gen-1", "object": "chat.completion.chunk", "model": "anthropic/claude-sonnet-4.5"}
    return b"data: " + json.dumps({**obj, "choices": [choice]}).encode() + b"\n\n"


def _openrouter_stream() -> list[bytes]:
    """OpenRouter's stream of Claude thinking then answering: the thinking text in ``reasoning`` and in
    ``reasoning.text`` details, the signature in a last detail of the same index with no text."""
    half = len(THOUGHT) // 2
    pieces = [
        _chunk({"role": "assistant", "content": ""}),
        *(
            _chunk(
                {
                    "reasoning": t,
                    "reasoning_details": [{"type": "reasoning.text", "text": t, "format": FMT, "index": 0}],
                }
            )
            for t in (THOUGHT[:half], THOUGHT[half:])
        ),
        _chunk(
            {"reasoning_details": [{"type": "reasoning.text", "signature": SIG, "format": FMT, "index": 0}]}
        ),
        _chunk({"content": "Let me check."}),
        _chunk({}, "stop"),
        b"data: [DONE]\n\n",
    ]
    return pieces


def test_streamed_signature_reaches_the_anthropic_client() -> None:
    body = encode(decode(_openrouter_stream(), ChatStreamDecoder()), messages_encoder())
    with anthropic_client(body).messages.stream(model="m", max_tokens=9, messages=[]) as stream:
        message = stream.get_final_message()
    [thinking, text] = message.content
    assert thinking.type == "thinking" and thinking.thinking == THOUGHT
    assert thinking.signature == SIG  # Claude's, not the synthetic one
    assert text.type == "text" and text.text == "Let me check."
    assert SYNTHETIC_SIGNATURE.encode() not in body


def test_stream_details_of_other_models_give_no_signature() -> None:
    other = [
        _chunk(
            {
                "reasoning": "hm",
                "reasoning_details": [{"type": "reasoning.text", "text": "hm", "format": "unknown"}],
            }
        ),
        _chunk(
            {
                "reasoning_details": [
                    {"type": "reasoning.encrypted", "data": "gAAAA", "format": "openai-responses-v1"}
                ]
            }
        ),
        _chunk({"content": "ok"}, "stop"),
    ]
    deltas = decode(other, ChatStreamDecoder())
    assert not [d for d in deltas if isinstance(d, (SignatureDelta, RedactedThinking))]


def test_streamed_redacted_thinking_is_a_redacted_block() -> None:
    pieces = [
        _chunk(
            {
                "reasoning_details": [
                    {"type": "reasoning.encrypted", "data": REDACTED, "format": FMT, "index": 0}
                ]
            }
        ),
        _chunk({"content": "ok"}, "stop"),
    ]
    assert RedactedThinking(data=REDACTED) in decode(pieces, ChatStreamDecoder())


def _openrouter_whole(details: list[dict[str, Any]]) -> dict[str, Any]:
    message = {
        "role": "assistant",
        "content": "Let me check.",
        "reasoning": THOUGHT,
        "reasoning_details": details,
    }
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {
        "id": "gen-1",
        "object": "chat.completion",
        "model": "anthropic/claude-sonnet-4.5",
        "choices": [choice],
    }


def test_unstreamed_signature_reaches_the_anthropic_client() -> None:
    details = [
        {"type": "reasoning.text", "text": THOUGHT, "signature": SIG, "format": FMT, "index": 0},
        {"type": "reasoning.encrypted", "data": REDACTED, "format": FMT, "index": 1},
    ]
    message = messages_from_completion(completion_from_chat(_openrouter_whole(details)), "m")
    assert message["content"] == [
        {"type": "thinking", "thinking": THOUGHT, "signature": SIG},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "text", "text": "Let me check."},
    ]


def test_unstreamed_unsigned_details_keep_the_reasoning_text() -> None:
    details = [{"type": "reasoning.text", "text": THOUGHT, "format": "unknown", "index": 0}]
    message = messages_from_completion(completion_from_chat(_openrouter_whole(details)), "m")
    assert message["content"][0] == {
        "type": "thinking",
        "thinking": THOUGHT,
        "signature": SYNTHETIC_SIGNATURE,
    }


def _next_turn(signature: str) -> dict[str, Any]:
    """Claude Code's next turn: the thinking block as the client got it, a tool call and its result."""
    assistant = [
        {"type": "thinking", "thinking": THOUGHT, "signature": signature},
        {"type": "redacted_thinking", "data": REDACTED},
        {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Rome"}},
    ]
    result = [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"}]
    return {
        "model": "anthropic/claude-sonnet-4.5",
        "max_tokens": 512,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"name": "weather", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": assistant},
            {"role": "user", "content": result},
        ],
    }


def _assistant(body: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in body["messages"] if m["role"] == "assistant")


def test_the_next_turn_gives_claude_on_openrouter_its_signature_back() -> None:
    assert CLAUDE.claude_details
    body = anthropic_to_chat(_next_turn(SIG), CLAUDE).body
    assert _assistant(body)["reasoning_details"] == [
        {"type": "reasoning.text", "text": THOUGHT, "signature": SIG, "format": FMT, "index": 0},
        {"type": "reasoning.encrypted", "data": REDACTED, "format": FMT, "index": 1},
    ]
    # with Claude's signed thinking given back, its reasoning stays on (no_reasoning_for_unsigned_tool_turn)
    OPENROUTER.prepare(body, False, "openai_chat")
    assert "reasoning" in body


def test_the_synthetic_signature_is_never_given_back() -> None:
    body = anthropic_to_chat(_next_turn(SYNTHETIC_SIGNATURE), CLAUDE).body
    assert _assistant(body)["reasoning_details"] == [
        {"type": "reasoning.encrypted", "data": REDACTED, "format": FMT, "index": 0}
    ]
    assert SYNTHETIC_SIGNATURE not in json.dumps(body)


@pytest.mark.parametrize(
    "target",
    [
        OPENROUTER.target("openai/gpt-5"),
        OPENROUTER.target("google/gemini-3-pro-preview"),
        Target(model="gpt-4o"),
        Target(model="deepseek-reasoner", reasoning_content=True),
    ],
    ids=["openrouter-gpt", "openrouter-gemini", "openai", "deepseek"],
)
def test_other_chat_targets_get_no_claude_signature(target: Target) -> None:
    assert not target.claude_details
    body = anthropic_to_chat(_next_turn(SIG), target).body
    assert "reasoning_details" not in _assistant(body)
    assert SIG not in json.dumps(body) and REDACTED not in json.dumps(body)


def test_anthropic_direct_keeps_the_real_signature_and_drops_the_synthetic_one() -> None:
    body = _next_turn(SIG)
    strip_for_anthropic(body)
    assert body["messages"][1]["content"][0]["signature"] == SIG
    body = _next_turn(SYNTHETIC_SIGNATURE)
    strip_for_anthropic(body)
    assert [b["type"] for b in body["messages"][1]["content"]] == ["redacted_thinking", "tool_use"]


def test_codex_gets_the_signature_in_encrypted_content_and_claude_gets_it_back() -> None:
    encoder = ResponsesStreamEncoder(View(model="m"))
    sse = encode(decode(_openrouter_stream(), ChatStreamDecoder()), encoder)
    done = next(
        json.loads(line[6:])
        for line in sse.decode().splitlines()
        if '"response.completed"' in line and line.startswith("data: ")
    )
    [reasoning] = [i for i in done["response"]["output"] if i["type"] == "reasoning"]
    assert decode_thinking(reasoning["encrypted_content"]) == {
        "type": "thinking",
        "thinking": THOUGHT,
        "signature": SIG,
    }
    request = {
        "model": "anthropic/claude-sonnet-4.5",
        "input": [
            {"type": "message", "role": "user", "content": "Weather in Rome?"},
            {"type": "reasoning", "summary": [], "encrypted_content": encode_thinking(THOUGHT, SIG)},
            {"type": "function_call", "call_id": "call_1", "name": "weather", "arguments": '{"city":"Rome"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
        "tools": [{"type": "function", "name": "weather", "parameters": {"type": "object"}}],
    }
    body = responses_to_chat(request, CLAUDE).body
    assert _assistant(body)["reasoning_details"] == [
        {"type": "reasoning.text", "text": THOUGHT, "signature": SIG, "format": FMT, "index": 0}
    ]
    assert SIG not in json.dumps(responses_to_chat(request, OPENROUTER.target("openai/gpt-5")).body)


def test_a_relayed_refusal_of_claudes_signature_retries_without_it() -> None:
    """Anthropic will not take back thinking signed for another model (a switch from sonnet to opus on
    OpenRouter): OpenRouter relays its 400, and the one retry goes without Claude's details and, the last turn
    calling a tool, without ``reasoning`` (else Anthropic wants that turn to begin with thinking)."""
    body = anthropic_to_chat(_next_turn(SIG), CLAUDE).body
    body["reasoning"] = {"max_tokens": 1024}
    gemini = {"type": "reasoning.encrypted", "data": "GemSig", "format": "google-gemini-v1", "index": 2}
    body["messages"][1]["reasoning_details"] = [*body["messages"][1]["reasoning_details"], gemini]
    message = "Provider returned error: messages.1.content.0: Invalid `signature` in `thinking` block"
    retry = json.loads(json.dumps(body))
    assert not strip_refused_for_chat(400, "Provider returned error: rate of requests", retry)
    assert strip_refused_for_chat(400, message, retry)
    assert _assistant(retry)["reasoning_details"] == [gemini]
    assert "reasoning" not in retry and SIG not in json.dumps(retry)
