"""An Anthropic client's thinking budget for Claude on a chat wire fits the clamped output limit (review30).

Session 29 (fix29) sends an Anthropic client's ``thinking`` to Claude behind LiteLLM as it came and its budget to
OpenRouter as ``reasoning.max_tokens``; the translation also clamps ``max_tokens`` to the route's output limit. Claude
Code's ``max_tokens: 32000`` with ``budget_tokens: 31999`` on a route of 8192 output tokens then asked a budget above
the limit: Anthropic's 400 "`max_tokens` must be greater than `thinking.budget_tokens`" (extended-thinking docs:
``budget_tokens`` >= 1024 and below ``max_tokens``). As ``providers.limits.clamp_body`` does for a passthrough: the
budget is lowered to the limit less one, and no thinking is sent when that leaves under 1024.
"""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.dialects._request_common import Target
from services.gateway.dialects._request_to_chat import anthropic_to_chat
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.openai_compat import OpenRouterProvider
from services.gateway.routing.config import parse_catalog


def _litellm(limit: int) -> Target:
    spec = parse_catalog(
        {
            "providers": [
                {
                    "name": "litellm",
                    "base_url": "http://127.0.0.1:9/v1",
                    "models": ["claude-sonnet-4-5"],
                    "max_output_tokens": limit,
                }
            ]
        }
    )
    return ConfiguredProvider(spec.providers[0], None).target_of("claude-sonnet-4-5")


def _openrouter(limit: int) -> Target:
    provider = OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k")
    provider.learn_output_limit(
        "anthropic/claude-sonnet-4.5", limit
    )  # as after the route's refusal stated it
    return provider.target_of("anthropic/claude-sonnet-4.5")


def _claude_code(max_tokens: int, budget: int) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": max_tokens,
        "thinking": {"type": "enabled", "budget_tokens": budget},
        "messages": [{"role": "user", "content": "hi"}],
    }


def _budget(out: dict[str, Any]) -> int | None:
    if "thinking" in out:
        return int(out["thinking"]["budget_tokens"])
    reasoning = out.get("reasoning")
    return None if reasoning is None else int(reasoning["max_tokens"])


@pytest.mark.parametrize("target", [_litellm, _openrouter], ids=["litellm", "openrouter"])
def test_a_budget_above_the_clamped_limit_is_lowered_below_it(target: Any) -> None:
    out = anthropic_to_chat(_claude_code(32000, 31999), target(8192)).body
    assert out["max_tokens"] == 8192
    assert _budget(out) == 8191


@pytest.mark.parametrize("target", [_litellm, _openrouter], ids=["litellm", "openrouter"])
def test_no_room_for_a_budget_under_the_clamped_limit_is_no_thinking(target: Any) -> None:
    out = anthropic_to_chat(_claude_code(32000, 31999), target(1024)).body
    assert out["max_tokens"] == 1024
    assert "thinking" not in out and "reasoning" not in out


@pytest.mark.parametrize("target", [_litellm, _openrouter], ids=["litellm", "openrouter"])
def test_a_budget_that_fits_is_sent_as_the_client_set_it(target: Any) -> None:
    out = anthropic_to_chat(_claude_code(16000, 10000), target(64000)).body
    assert out["max_tokens"] == 16000
    assert _budget(out) == 10000


@pytest.mark.parametrize("target", [_litellm, _openrouter], ids=["litellm", "openrouter"])
def test_the_clients_own_pair_is_sent_as_it_came_when_nothing_was_clamped(target: Any) -> None:
    """(A budget the client set at or above its own ``max_tokens`` is its own 400 at Anthropic, as sent directly.)"""
    out = anthropic_to_chat(_claude_code(512, 1024), target(64000)).body
    assert out["max_tokens"] == 512
    assert _budget(out) == 1024
