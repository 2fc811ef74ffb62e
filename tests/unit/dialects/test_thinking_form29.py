"""s29 fix29 lead 2: a Claude model's thinking form read from the version in its id, on every host's spelling."""

from __future__ import annotations

import pytest

from services.gateway.dialects._thinking_form import other_form, takes_adaptive


@pytest.mark.parametrize(
    "model",
    [
        "claude-opus-4-8",
        "claude-sonnet-4-6-20260101",
        "anthropic/claude-opus-4.7",
        "anthropic.claude-opus-4-7-v1:0",
        "us.anthropic.claude-sonnet-4-7-v1:0",
        "claude-opus-5",
        "claude-mythos-preview",
    ],
)
def test_claude_46_and_later_take_adaptive(model: str) -> None:
    assert takes_adaptive(model)


@pytest.mark.parametrize(
    "model",
    [
        "claude-sonnet-4-5",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "claude-opus-4-20250514",
        "claude-opus-4-1",
        "claude-3-7-sonnet-20250219",
        "anthropic/claude-3.5-sonnet",
        "claude-haiku-4-5",
    ],
)
def test_older_claude_takes_a_budget(model: str) -> None:
    assert not takes_adaptive(model)


def test_a_refused_budget_becomes_adaptive_with_the_nearest_effort() -> None:
    body = {"max_tokens": 32768, "thinking": {"type": "enabled", "budget_tokens": 24576}}
    said = '"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and …'
    assert other_form(400, said, body)
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "high"}


def test_refused_adaptive_becomes_a_budget_below_max_tokens() -> None:
    config = {"effort": "max", "format": {"type": "json_schema"}}
    body = {"max_tokens": 16000, "thinking": {"type": "adaptive"}, "output_config": config}
    assert other_form(400, "adaptive thinking is not supported on this model", body)
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 15999}
    assert body["output_config"] == {"format": {"type": "json_schema"}} and "effort" in config  # a copy


def test_other_refusals_change_nothing() -> None:
    body = {"max_tokens": 100, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    assert not other_form(400, "prompt is too long", body)
    assert not other_form(500, '"thinking.type.enabled" is not supported', body)
    assert body == {"max_tokens": 100, "thinking": {"type": "enabled", "budget_tokens": 1024}}
