"""Session 28 (bug28c), kinds 10 and 17, pure parts.

Kind 10: an overflow said only in words (no ``context_length_exceeded`` code) is still an overflow: Groq's own words
("Please reduce the length of the messages or completion.", letta-ai/letta#1963), alone or relayed by a LiteLLM proxy
under its code "400" (s28 variants 10-groq-words-no-code-codex-vD, 10-litellm-groq-words-cc-vI).

Kind 17: the thinking a chat or Responses client's reasoning effort turns into is one the model takes, and fits the
output budget: adaptive thinking only on the models that have it (Opus/Sonnet 4.6, Opus 4.7, 4.8; "Older models
(Claude Sonnet 4.5, Claude Opus 4.5, etc.) do not support adaptive thinking", Anthropic's adaptive-thinking docs as
Amazon Bedrock's user guide repeats them), and a max_tokens the gateway chooses (the client set none) leaves the answer
its default room beside the thinking budget (before: 8192 with a budget of 8191). s28 variants 17-vA, vB, vG, vH.
"""

from __future__ import annotations

import json

import pytest

from services.gateway.dialects._error_meaning import meaning_from_openai
from services.gateway.dialects.translate_request import chat_to_anthropic, responses_to_anthropic
from services.gateway.providers.anthropic import AnthropicProvider

GROQ_WORDS = "Please reduce the length of the messages or completion."


@pytest.mark.parametrize(
    "error",
    [
        {"message": GROQ_WORDS, "type": "invalid_request_error", "param": "messages"},
        {"message": f"litellm.BadRequestError: GroqException - {GROQ_WORDS}", "type": None, "code": "400"},
    ],
)
def test_groqs_overflow_words_without_their_code_are_an_overflow(error: dict[str, object]) -> None:
    assert meaning_from_openai(400, json.dumps({"error": error}).encode()) == "context_overflow"


def test_a_rate_limit_is_not_read_as_an_overflow() -> None:
    body = {"error": {"message": "Rate limit reached for requests", "code": "rate_limit_exceeded"}}
    assert meaning_from_openai(429, json.dumps(body).encode()) == "rate_limit"


ANTHROPIC = AnthropicProvider("anthropic", "http://127.0.0.1:9", "k")


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("claude-sonnet-4-5", "anthropic_budget"),
        ("claude-sonnet-4-5-20250929", "anthropic_budget"),
        ("claude-opus-4-5", "anthropic_budget"),
        ("claude-opus-4-1", "anthropic_budget"),
        ("claude-opus-4-6", "anthropic_adaptive"),
        ("claude-sonnet-4-6", "anthropic_adaptive"),
        ("claude-opus-4-7", "anthropic_adaptive"),
        ("claude-opus-4-8", "anthropic_adaptive"),
    ],
)
def test_adaptive_thinking_only_where_the_model_has_it(model: str, reasoning: str) -> None:
    assert ANTHROPIC.target(model).reasoning == reasoning


def _chat(model: str, **kw: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **kw}


def test_a_chat_effort_without_a_limit_leaves_the_answer_room_beside_the_budget() -> None:
    sent = chat_to_anthropic(
        _chat("claude-sonnet-4-5", reasoning_effort="high"), ANTHROPIC.target("claude-sonnet-4-5")
    )
    body = sent.body
    assert body["thinking"]["type"] == "enabled"
    assert body["max_tokens"] - body["thinking"]["budget_tokens"] >= 8192
    assert body["max_tokens"] <= 64000


def test_the_room_stays_within_the_models_limit() -> None:
    target = ANTHROPIC.target("claude-opus-4-1")  # 32000
    body = chat_to_anthropic(_chat("claude-opus-4-1", reasoning_effort="high"), target).body
    assert body["max_tokens"] == 32000 and body["thinking"]["budget_tokens"] < 32000 - 4096


def test_a_clients_own_limit_is_kept() -> None:
    target = ANTHROPIC.target("claude-sonnet-4-5")
    body = chat_to_anthropic(
        _chat("claude-sonnet-4-5", reasoning_effort="high", max_tokens=6000), target
    ).body
    assert body["max_tokens"] == 6000 and body["thinking"]["budget_tokens"] == 5999
    plain = chat_to_anthropic(_chat("claude-sonnet-4-5"), target).body  # no effort: the default as before
    assert plain["max_tokens"] == 8192 and "thinking" not in plain


def test_a_responses_effort_without_a_limit_leaves_the_answer_room() -> None:
    request = {
        "model": "claude-opus-4-1",
        "input": [{"role": "user", "content": "hi"}],
        "reasoning": {"effort": "high"},
    }
    body = responses_to_anthropic(request, ANTHROPIC.target("claude-opus-4-1")).body
    assert body["max_tokens"] == 32000
    assert body["max_tokens"] - body["thinking"]["budget_tokens"] >= 4096


def test_opus_47_gets_adaptive_thinking_and_the_effort() -> None:
    target = ANTHROPIC.target("claude-opus-4-7")
    body = chat_to_anthropic(
        _chat("claude-opus-4-7", reasoning_effort="medium", max_completion_tokens=20000), target
    )
    assert body.body["thinking"] == {"type": "adaptive"}
    assert body.body["output_config"] == {"effort": "medium"}
