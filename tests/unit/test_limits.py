from __future__ import annotations

import pytest

from services.gateway.providers.limits import max_output_tokens
from services.gateway.providers.registry import build_providers
from shared.settings import load_settings


@pytest.mark.parametrize(("model", "limit"), [
    ("gpt-4o-mini", 16_384), ("gpt-4o", 16_384), ("openai/gpt-4o-mini", 16_384), ("gpt-4.1-mini", 32_768),
    ("gpt-5", 128_000), ("o3-mini", 100_000), ("claude-sonnet-4-5", 64_000),
    ("anthropic/claude-sonnet-4.5", 64_000), ("claude-opus-4-1-20250805", 32_000), ("claude-opus-4", 32_000),
    ("claude-3-5-haiku-latest", 8_192), ("no-such-model", None),
])
def test_limits(model: str, limit: int | None) -> None:
    assert max_output_tokens(model) == limit


def test_translated_requests_are_clamped_to_the_target() -> None:
    providers = build_providers(load_settings({}))
    assert providers["openai"].target("gpt-4o-mini").max_output_tokens == 16_384
    assert providers["openrouter"].target("anthropic/claude-3.5-haiku").max_output_tokens == 8_192
    assert providers["anthropic"].target("claude-3-5-haiku-latest").default_max_tokens == 8_192
