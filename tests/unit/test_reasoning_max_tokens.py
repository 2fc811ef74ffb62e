"""OpenAI's reasoning models take max_completion_tokens only (bugcase 17's kind: an output-token field the
provider refuses): a client's max_tokens is renamed before the body reaches OpenAI, on every path."""

from __future__ import annotations

from typing import Any

import pytest

from services.gateway.providers.openai_compat import OpenAIProvider, XAIProvider


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"model": "o4-mini", "max_tokens": 500}, {"model": "o4-mini", "max_completion_tokens": 500}),
        (
            {"model": "gpt-5", "max_tokens": 9, "max_completion_tokens": 7},
            {"model": "gpt-5", "max_completion_tokens": 7},
        ),
        (
            {"model": "o3-mini-2025-01-31", "max_tokens": 10},
            {"model": "o3-mini-2025-01-31", "max_completion_tokens": 10},
        ),
        ({"model": "gpt-4o-mini", "max_tokens": 500}, {"model": "gpt-4o-mini", "max_tokens": 500}),
        ({"model": "o4-mini", "max_completion_tokens": 5}, {"model": "o4-mini", "max_completion_tokens": 5}),
    ],
)
def test_openai_reasoning_models_get_max_completion_tokens(
    body: dict[str, Any], expected: dict[str, Any]
) -> None:
    provider = OpenAIProvider("openai", "https://api.openai.com/v1", "sk-test")
    provider.prepare(body, False, "openai_chat")
    assert body == expected


def test_the_rename_is_reported_and_other_providers_keep_max_tokens() -> None:
    body: dict[str, Any] = {"model": "o4-mini", "max_tokens": 500}
    assert OpenAIProvider("openai", "https://api.openai.com/v1", "sk-test").prepare(
        body, False, "openai_chat"
    )
    xai: dict[str, Any] = {"model": "grok-3-mini", "max_tokens": 500}
    assert not XAIProvider("xai", "https://api.x.ai/v1", "k").prepare(xai, False, "openai_chat")
    assert xai == {"model": "grok-3-mini", "max_tokens": 500}
    responses: dict[str, Any] = {"model": "o4-mini", "max_output_tokens": 500}
    assert not OpenAIProvider("openai", "https://api.openai.com/v1", "k").prepare(
        responses, True, "openai_responses"
    )
