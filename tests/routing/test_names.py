from __future__ import annotations

import pytest

from services.gateway.routing.names import dashed, dotted, split_pin, undated, unique, without_point_zero


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", (None, "gpt-4o")),
        ("openrouter::openai/gpt-4o", ("openrouter", "openai/gpt-4o")),
        ("OpenRouter::anthropic/claude-sonnet-4.5", ("openrouter", "anthropic/claude-sonnet-4.5")),
        ("ollama::llama3.1:8b", ("ollama", "llama3.1:8b")),  # Ollama's name:tag survives
        ("llama3.1:8b", (None, "llama3.1:8b")),  # one colon is not a pin
        ("openai/gpt-4o:extended", (None, "openai/gpt-4o:extended")),
    ],
)
def test_split_pin(model: str, expected: tuple[str | None, str]) -> None:
    assert split_pin(model) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("claude-3-5-haiku-latest", "claude-3-5-haiku"),
        ("grok-4-0709", "grok-4-0709"),  # xAI's four-digit suffix is part of the name
        ("gpt-4o", "gpt-4o"),
    ],
)
def test_undated(name: str, expected: str) -> None:
    assert undated(name) == expected


@pytest.mark.parametrize(
    ("vendor_name", "openrouter_name"),
    [
        ("claude-sonnet-4-5", "claude-sonnet-4.5"),
        ("claude-3-5-haiku", "claude-3.5-haiku"),
        ("claude-opus-4-1", "claude-opus-4.1"),
        ("grok-4-1-fast", "grok-4.1-fast"),
    ],
)
def test_dotted_and_dashed_are_inverse(vendor_name: str, openrouter_name: str) -> None:
    assert dotted(vendor_name) == openrouter_name
    assert dashed(openrouter_name) == vendor_name


def test_dotted_leaves_dates_and_multi_digit_parts_alone() -> None:
    assert dotted("grok-4-0709") == "grok-4-0709"
    assert dotted("claude-3-5-haiku-20241022") == "claude-3.5-haiku-20241022"


def test_without_point_zero_and_unique() -> None:
    assert without_point_zero("claude-opus-4.0") == "claude-opus-4"
    assert without_point_zero("grok-4.20") == "grok-4.20"
    assert unique(["a", "A", "b", "a"]) == ["a", "b"]
