"""Session 30 (bug30c) variants of kinds 08 and 17, on the pure request translators.

- 17-cc-64k-litellm-bedrock-opus41-vF: Claude Code's ``max_tokens: 64000`` with ``thinking.budget_tokens: 63999`` to
  Claude Opus 4.1 behind LiteLLM (Bedrock id, 32000 output max) went out clamped to 32000 with the budget left at
  63999, which Anthropic refuses ("`max_tokens` must be greater than `thinking.budget_tokens`"; extended thinking
  docs: 1024 <= budget_tokens < max_tokens). The same on OpenRouter's ``reasoning.max_tokens``.
- 08-chat-msg-marks-toolcalls-to-anthropic-vF: a chat client's message-level ``cache_control`` (LiteLLM's style) on an
  assistant turn that has only tool calls was dropped on the way to Anthropic; it belongs on the turn's last
  ``tool_use`` block (Anthropic prompt caching: tool_use blocks may carry ``cache_control``).
"""

from __future__ import annotations

from typing import Any

from services.gateway.dialects.translate_request import Target, anthropic_to_chat, chat_to_anthropic

OPUS41 = "us.anthropic.claude-opus-4-1-20250805-v1:0"
LITELLM = Target(
    model=OPUS41, max_output_tokens=32000, max_tokens_field="max_tokens", claude_thinking_blocks=True
)
OPENROUTER = Target(
    model="anthropic/claude-opus-4.1",
    max_output_tokens=32000,
    max_tokens_field="max_tokens",
    claude_details=True,
)


def _claude_code(max_tokens: int, budget: int) -> dict[str, Any]:
    return {
        "model": OPUS41,
        "max_tokens": max_tokens,
        "thinking": {"type": "enabled", "budget_tokens": budget},
        "messages": [{"role": "user", "content": "Say hello."}],
    }


def test_a_clamped_output_limit_keeps_the_thinking_budget_below_it_behind_litellm() -> None:
    out = anthropic_to_chat(_claude_code(64000, 63999), LITELLM).body
    assert out["max_tokens"] == 32000
    assert out["thinking"] == {"type": "enabled", "budget_tokens": 31999}


def test_a_clamped_output_limit_keeps_the_reasoning_budget_below_it_on_openrouter() -> None:
    out = anthropic_to_chat(_claude_code(64000, 40000), OPENROUTER).body
    assert out["max_tokens"] == 32000
    assert out["reasoning"] == {"max_tokens": 31999}


def test_a_budget_under_the_clamped_limit_and_an_unclamped_request_are_left_as_sent() -> None:
    assert anthropic_to_chat(_claude_code(64000, 16000), LITELLM).body["thinking"]["budget_tokens"] == 16000
    # a client's own budget at or above its own max_tokens is the client's error: Anthropic's 400 tells it
    assert anthropic_to_chat(_claude_code(8000, 9000), LITELLM).body["thinking"]["budget_tokens"] == 9000


def test_no_room_left_to_think_leaves_thinking_out() -> None:
    small = Target(model=OPUS41, max_output_tokens=1024, claude_thinking_blocks=True)  # max_completion_tokens
    out = anthropic_to_chat(_claude_code(64000, 60000), small).body
    assert out["max_completion_tokens"] == 1024
    assert "thinking" not in out and "reasoning" not in out and "reasoning_effort" not in out


CALL = {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}


def _chat(assistant: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "tools": [{"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "user", "content": "List files."},
            assistant,
            {"role": "tool", "tool_call_id": "call_1", "content": "a.txt b.txt"},
            {"role": "user", "content": "Thanks."},
        ],
    }


def test_a_message_level_marker_on_a_tool_call_turn_goes_on_its_last_tool_use() -> None:
    marker = {"type": "ephemeral", "ttl": "1h"}
    second = {**CALL, "id": "call_2"}
    assistant = {"role": "assistant", "content": None, "tool_calls": [CALL, second], "cache_control": marker}
    body = _chat(assistant)
    turn = chat_to_anthropic(body, Target(model="claude-sonnet-4-5")).body["messages"][1]
    assert [b["type"] for b in turn["content"]] == ["tool_use", "tool_use"]
    assert "cache_control" not in turn["content"][0]
    assert turn["content"][1]["cache_control"] == marker
    assert (
        body["messages"][1] is assistant and "cache_control" not in CALL
    )  # the client's body is not changed


def test_with_text_too_the_marker_ends_the_turn_not_its_text() -> None:
    assistant = {
        "role": "assistant",
        "content": "Listing.",
        "tool_calls": [CALL],
        "cache_control": {"type": "ephemeral"},
    }
    turn = chat_to_anthropic(_chat(assistant), Target(model="claude-sonnet-4-5")).body["messages"][1]
    assert [b["type"] for b in turn["content"]] == ["text", "tool_use"]
    assert "cache_control" not in turn["content"][0]
    assert turn["content"][1]["cache_control"] == {"type": "ephemeral"}
