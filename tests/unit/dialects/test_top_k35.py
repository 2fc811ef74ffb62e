"""bug35b variant 08w35c: an Anthropic client's ``top_k`` reaches Claude on OpenRouter, whose chat API takes it
(OpenRouter docs, "API Parameters": ``top_k``), and stays out of the bodies of other OpenAI-format targets (OpenAI's
chat API has no such field)."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.dialects._request_common import Target
from services.gateway.dialects._request_to_chat import anthropic_to_chat
from services.gateway.providers.openai_compat import OpenAICompatProvider, OpenRouterProvider

OPENROUTER = OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k")


def _body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **extra,
    }


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4.5", "google/gemini-2.5-pro"])
def test_top_k_reaches_openrouter(model: str) -> None:
    out = anthropic_to_chat(_body(top_k=5, temperature=0.3), OPENROUTER.target(model)).body
    assert (out["top_k"], out["temperature"]) == (5, 0.3)


def test_top_k_alone_reaches_openrouter() -> None:
    assert (
        anthropic_to_chat(_body(top_k=40), OPENROUTER.target("anthropic/claude-sonnet-4.5")).body["top_k"]
        == 40
    )


@pytest.mark.parametrize(
    "target",
    [
        Target(model="gpt-4o-mini"),
        OpenAICompatProvider("openai", "http://127.0.0.1:9", "k").target("gpt-4o-mini"),
        Target(model="grok-4", reasoning="reasoning_effort", top_k=True),  # sampling refused there
    ],
)
def test_top_k_stays_out_elsewhere(target: Target) -> None:
    assert "top_k" not in anthropic_to_chat(_body(top_k=5), target).body
