from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from shared.pricing import ModelRates, Pricer, Rate


@pytest.mark.parametrize(
    ("provider", "model", "tokens"),
    [
        ("openai", "gpt-4o", (1000, 500, 200, 0)),
        ("openai", "gpt-4o-mini", (10, 3000, 0, 0)),
        ("anthropic", "claude-sonnet-4-5", (1000, 500, 300, 400)),
        ("anthropic", "claude-sonnet-4-5", (250_000, 500, 300, 400)),  # long-context tier
        ("xai", "grok-4", (1000, 50, 0, 0)),
        ("openrouter", "openai/gpt-4o", (10, 10, 0, 0)),
    ],
)
def test_cost_matches_genai_prices(provider: str, model: str, tokens: tuple[int, int, int, int]) -> None:
    uncached, out, cache_read, cache_write = tokens
    # genai-prices wants the whole prompt as input_tokens; our buckets are disjoint.
    ref = calc_price(Usage(input_tokens=uncached + cache_read + cache_write, output_tokens=out,
                           cache_read_tokens=cache_read, cache_write_tokens=cache_write),
                     model_ref=model, provider_id=provider).total_price
    got = Pricer().cost(provider, model, uncached, out, cache_read, cache_write)
    assert got == pytest.approx(float(ref), rel=1e-9)


def test_unknown_model_costs_none_not_zero() -> None:
    assert Pricer().cost("openai", "definitely-not-a-model", 100, 100) is None


def test_cached_tokens_are_cheaper_than_input() -> None:
    pricer = Pricer()
    all_input = pricer.cost("openai", "gpt-4o", 1000, 0)
    half_cached = pricer.cost("openai", "gpt-4o", 500, 0, cache_read=500)
    assert all_input is not None and half_cached is not None and half_cached < all_input


def test_override_wins() -> None:
    pricer = Pricer()
    pricer.set_override("openai", "gpt-4o", ModelRates("gpt-4o", Rate(1.0), Rate(2.0), Rate(0.5), Rate(1.0)))
    assert pricer.cost("openai", "gpt-4o", 1_000_000, 1_000_000) == pytest.approx(3.0)
