"""OpenAI service tiers in the ledger's cost (pure): the answer's ``service_tier`` ("flex", "priority")
prices the request at genai-prices' variant for that model and tier (``Pricer.tier_rates``); "default",
"auto", an unknown tier, a model without the variant and a provider that lists none keep the standard
price; "scale" (capacity bought ahead, no per-token price) has no cost (None). Rates below are genai-prices' data (``price_variants`` with ``when={"service_tier": ...}``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.gateway.calls import Attempt, Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects._openai_wire import usage_from_openai
from services.gateway.dialects._responses_wire import billed_usage
from services.gateway.dialects.ir import Usage
from services.gateway.dialects.openai_chat import answer_usage
from services.gateway.providers.base import Route
from shared.pricing import ModelRates, Pricer, Rate

# 10,000 prompt tokens of which 4,000 cache reads, 1,000 output tokens
RAW = {"prompt_tokens": 10_000, "completion_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 4000}}


def cost(usage: Usage, route: Route, pricer: Pricer | None = None) -> float | None:
    call = Call(registry.ENDPOINTS["/v1/chat/completions"], "req", {}, time.monotonic(), time.time())
    call.model = route.model
    call.attempts.append(Attempt(route, "openai", False, answered=True, status=200, usage=usage))
    call.answer(200)
    return event_for(call, pricer or Pricer(), time.time(), 1.0).cost_usd


def micro(inp: float, read: float, out: float) -> float:
    """USD of ``RAW``'s counts at these per-MTok rates."""
    return (6000 * inp + 4000 * read + 1000 * out) / 1e6


def chat(tier: Any) -> Usage:
    return answer_usage({"object": "chat.completion", "service_tier": tier, "usage": RAW})


# (model, tier, input, cache read, output per MTok; genai-prices' data)
TIERS = [
    ("gpt-5", "flex", 0.625, 0.0625, 5),  # standard 1.25 / 0.125 / 10
    ("gpt-5-mini", "flex", 0.125, 0.0125, 1),  # standard 0.25 / 0.025 / 2
    ("gpt-5", "priority", 2.5, 0.25, 20),  # 2x
    ("gpt-4.1", "priority", 3.5, 0.875, 14),  # standard 2 / 0.5 / 8
    ("gpt-4o", "priority", 4.25, 2.125, 17),  # standard 2.5 / 1.25 / 10
]


@pytest.mark.parametrize(("model", "tier", "inp", "read", "out"), TIERS)
def test_a_tier_with_a_variant_is_priced_at_it(
    model: str, tier: str, inp: float, read: float, out: float
) -> None:
    assert cost(chat(tier), Route("openai", model)) == pytest.approx(micro(inp, read, out), abs=1e-12)


@pytest.mark.parametrize("tier", ["default", "auto", "turbo", None, 7])
def test_default_auto_unknown_or_no_tier_is_the_standard_price(tier: Any) -> None:
    assert cost(chat(tier), Route("openai", "gpt-5")) == pytest.approx(micro(1.25, 0.125, 10), abs=1e-12)


@pytest.mark.parametrize("model", ["gpt-5", "gpt-4o", "gpt-5.4"])
def test_the_scale_tier_has_no_per_token_price_its_cost_is_unknown(model: str) -> None:
    """OpenAI's Scale Tier is capacity bought ahead by the unit (``shared.pricing.UNPRICED_TIERS``):
    the ledger's cost is None (counted "without a price" by the dashboard), not the standard price."""
    assert cost(chat("scale"), Route("openai", model)) is None
    assert cost(chat("default"), Route("openai", model)) is not None


def test_an_override_prices_the_scale_tier_too() -> None:
    flat = ModelRates("gpt-5", Rate(1), Rate(2), Rate(0.5), Rate(1))
    pricer = Pricer({("openai", "gpt-5"): flat})
    assert cost(chat("scale"), Route("openai", "gpt-5"), pricer) == pytest.approx(micro(1, 0.5, 2))


def test_a_model_without_the_tiers_variant_is_the_standard_price() -> None:
    """gpt-4.1 and gpt-5.3-codex list priority but no flex: flex is their standard price, not unknown."""
    assert cost(chat("flex"), Route("openai", "gpt-5.3-codex")) == pytest.approx(micro(1.75, 0.175, 14))
    assert cost(chat("flex"), Route("openai", "gpt-4.1")) == pytest.approx(micro(2, 0.5, 8))
    assert cost(chat("flex"), Route("openai", "gpt-3.5-turbo")) == pytest.approx(
        (10_000 * 0.5 + 1000 * 1.5) / 1e6
    )


def test_an_override_is_the_price_whatever_the_tier() -> None:
    flat = ModelRates("gpt-5", Rate(1), Rate(2), Rate(0.5), Rate(1))
    pricer = Pricer({("openai", "gpt-5"): flat})
    assert cost(chat("flex"), Route("openai", "gpt-5"), pricer) == pytest.approx(micro(1, 0.5, 2))


def test_the_tier_is_read_from_chat_chunks_and_responses() -> None:
    assert usage_from_openai(RAW, "flex").service_tier == "flex"
    assert usage_from_openai(RAW).service_tier is None
    response = {
        "object": "response",
        "service_tier": "flex",
        "usage": {"input_tokens": 10, "output_tokens": 2},
    }
    assert billed_usage(response).service_tier == "flex"
    assert billed_usage({**response, "service_tier": None}).service_tier is None
    usage = billed_usage(
        {**response, "model": "gpt-5-mini", "usage": {"input_tokens": 10_000, "output_tokens": 1000}}
    )
    assert cost(usage, Route("openai", "gpt-5-mini")) == pytest.approx((10_000 * 0.125 + 1000 * 1) / 1e6)


def test_a_provider_without_the_variant_keeps_its_own_price() -> None:
    """OpenRouter relays ``service_tier`` on the chat wire; genai-prices' OpenRouter listing of
    ``openai/gpt-5`` (its own entry) has no tier variant, so OpenAI's flex price is not applied."""
    route = Route("openrouter", "openai/gpt-5")
    standard = Pricer().rates("openrouter", "openai/gpt-5")
    assert standard is not None
    assert cost(chat("flex"), route) == pytest.approx(cost(chat(None), route))
    assert cost(chat("flex"), route) == pytest.approx(micro(1.25, 0.125, 10))


def test_a_model_found_through_another_providers_listing_keeps_the_standard_price() -> None:
    """A provider whose genai-prices listing falls back to another provider's models (Azure's
    ``fallback_model_providers`` name openai: ``gpt-5`` at "azure" is OpenAI's entry, with OpenAI's tier
    variants) is priced standard at every tier: the variants are that other provider's prices, not this
    one's (genai-prices' own ``calc_price`` ignores a ``price_context`` for such a model)."""
    pricer = Pricer()
    standard = pricer.rates("azure", "gpt-5")
    assert standard is not None and standard.input.base == 1.25  # the fallback found OpenAI's gpt-5
    assert pricer.tier_rates("azure", "gpt-5", "flex") == standard
    assert cost(chat("flex"), Route("azure", "gpt-5")) == pytest.approx(micro(1.25, 0.125, 10))


@pytest.mark.parametrize(("model", "flat"), [("gpt-5.4", (5.0, 0.5, 30.0)), ("gpt-5.5", (12.5, 1.25, 75.0))])
def test_a_tier_price_is_unknown_above_the_standard_long_context_step(
    model: str, flat: tuple[float, float, float]
) -> None:
    """genai-prices' priority price for gpt-5.4 / gpt-5.5 is flat while the standard one steps up above
    272K prompt tokens ("billed at the long-context rates"): below the step the priority price, above it
    unknown (None), not the flat price stated for shorter prompts."""
    short = answer_usage({"object": "chat.completion", "service_tier": "priority", "usage": RAW})
    long_raw = {
        "prompt_tokens": 300_000,
        "completion_tokens": 1000,
        "prompt_tokens_details": {"cached_tokens": 0},
    }
    long = answer_usage({"object": "chat.completion", "service_tier": "priority", "usage": long_raw})
    at_step = {**long_raw, "prompt_tokens": 272_000}
    step = answer_usage({"object": "chat.completion", "service_tier": "priority", "usage": at_step})
    rates = Pricer().tier_rates("openai", model, "priority")
    assert rates is not None and rates.input.base == flat[0] and not rates.input.tiers
    assert cost(short, Route("openai", model)) == pytest.approx(micro(*flat), abs=1e-12)
    assert cost(step, Route("openai", model)) == pytest.approx((272_000 * flat[0] + 1000 * flat[2]) / 1e6)
    assert cost(long, Route("openai", model)) is None
    standard = answer_usage({"object": "chat.completion", "usage": long_raw})
    assert cost(standard, Route("openai", model)) is not None  # the standard price knows long prompts
