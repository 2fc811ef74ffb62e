"""Anthropic fast mode in the ledger's cost (pure): ``usage.speed: "fast"`` prices every token category at
the model's fast multiple of its standard rates (``shared.pricing.FAST_MULTIPLIERS``, sources there), cache
prices on top of the fast base, searches at their own price, a fallback to standard at standard."""

from __future__ import annotations

import time

import pytest

from services.gateway.calls import Attempt, Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects._anthropic_wire import merge_stream_usage, usage_from_anthropic
from services.gateway.dialects.ir import Iteration, Usage
from services.gateway.providers.base import Route
from shared.events import UsageEvent
from shared.pricing import ModelRates, Pricer, Rate, speed_multiplier

RAW = {
    "input_tokens": 1000,
    "cache_creation_input_tokens": 3000,
    "cache_read_input_tokens": 20_000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "output_tokens": 500,
}


def event(usage: Usage, route: Route, pricer: Pricer | None = None) -> UsageEvent:
    call = Call(registry.ENDPOINTS["/v1/messages"], "req", {}, time.monotonic(), time.time())
    call.model = route.model
    call.attempts.append(Attempt(route, "anthropic", False, answered=True, status=200, usage=usage))
    call.answer(200)
    return event_for(call, pricer or Pricer(), time.time(), 1.0)


def micro(
    inp: float, out: float, read: float, write_5m: float, write_1h: float, raw: dict[str, object] = RAW
) -> float:
    """USD of ``RAW``'s counts at these per-MTok rates."""
    return (1000 * inp + 500 * out + 20_000 * read + 1000 * write_5m + 2000 * write_1h) / 1e6


# (model, fast multiple, standard input, output, cache read, 5-minute write, 1-hour write per MTok)
MODELS = [
    ("claude-opus-4-6", 6, 5, 25, 0.5, 6.25, 10),  # $30 / $150
    ("claude-opus-4-7", 6, 5, 25, 0.5, 6.25, 10),  # $30 / $150
    ("claude-opus-4-8", 2, 5, 25, 0.5, 6.25, 10),  # $10 / $50
    ("claude-opus-5", 2, 5, 25, 0.5, 6.25, 10),  # $10 / $50
    ("claude-opus-5-5", 2, 4, 20, 0.2, 5, 8),  # $8 / $40, cache hits $0.40
    ("claude-fable-5-2", 2, 8, 40, 0.2, 10, 16),  # $16 / $80
    ("claude-mythos-5-2", 2, 8, 40, 0.2, 10, 16),  # Fable 5.2's prices
]


@pytest.mark.parametrize(("model", "times", "inp", "out", "read", "w5", "w1"), MODELS)
def test_each_documented_models_fast_rates_with_cache_on_top(
    model: str, times: float, inp: float, out: float, read: float, w5: float, w1: float
) -> None:
    route = Route("anthropic", model)
    fast = event(usage_from_anthropic({**RAW, "speed": "fast"}), route)
    standard = micro(inp, out, read, w5, w1)
    assert fast.cost_usd == pytest.approx(times * standard, abs=1e-12)
    plain = (24_000 * inp + 500 * out) / 1e6  # every prompt token at the (fast) input price
    assert fast.cache_savings_usd == pytest.approx(times * (plain - standard), abs=1e-12)


def test_the_exact_figures_of_the_fast_mode_docs() -> None:
    """Opus 4.6: $30 / $150 per MTok; Opus 4.8: $10 / $50; Opus 5.5: $8 / $40 (1M input, 1M output)."""
    for model, want in (("claude-opus-4-6", 180.0), ("claude-opus-4-8", 60.0), ("claude-opus-5-5", 48.0)):
        usage = usage_from_anthropic({"input_tokens": 1_000_000, "output_tokens": 1_000_000, "speed": "fast"})
        assert event(usage, Route("anthropic", model)).cost_usd == pytest.approx(want, abs=1e-9), model


def test_a_request_that_fell_back_to_standard_is_billed_at_standard() -> None:
    route = Route("anthropic", "claude-opus-4-6")
    standard = micro(5, 25, 0.5, 6.25, 10)
    assert event(usage_from_anthropic({**RAW, "speed": "standard"}), route).cost_usd == pytest.approx(
        standard
    )
    assert event(usage_from_anthropic(RAW), route).cost_usd == pytest.approx(standard)  # not stated


def test_the_long_context_tier_is_multiplied_tier_by_tier() -> None:
    """Where a model's standard rates have a long-context tier, fast mode multiplies each tier ("across the
    full context window, including requests over 200k input tokens"): the first fast-mode table of Opus 4.6
    ($10 / $37.50 standard above 200K) read $60 / $225 above 200K. genai-prices now lists Opus 4.6 flat
    (1M context at standard prices), so this tiered listing is given as the route's own rates."""
    tiered = ModelRates(
        "claude-opus-4-6",
        Rate(5.0, ((200_000, 10.0),)),
        Rate(25.0, ((200_000, 37.5),)),
        Rate(0.5, ((200_000, 1.0),)),
        Rate(6.25, ((200_000, 12.5),)),
        Rate(10.0, ((200_000, 20.0),)),
    )
    route = Route("anthropic", "claude-opus-4-6", tiered, "catalog")
    long = usage_from_anthropic({"input_tokens": 300_000, "output_tokens": 10_000, "speed": "fast"})
    assert event(long, route).cost_usd == pytest.approx((300_000 * 60 + 10_000 * 225) / 1e6, abs=1e-9)
    short = usage_from_anthropic({"input_tokens": 100_000, "output_tokens": 10_000, "speed": "fast"})
    assert event(short, route).cost_usd == pytest.approx((100_000 * 30 + 10_000 * 150) / 1e6, abs=1e-9)


def test_searches_keep_their_price_and_us_only_inference_stacks() -> None:
    """Fable 5.2: "Web search tool calls are billed at the standard rate"; US-only inference (1.1×) applies
    on top of the fast rates (both are multipliers on the token prices)."""
    route = Route("anthropic", "claude-fable-5-2")
    raw = {**RAW, "speed": "fast", "server_tool_use": {"web_search_requests": 2}}
    tokens = micro(8, 40, 0.2, 10, 16)
    assert event(usage_from_anthropic(raw), route).cost_usd == pytest.approx(2 * tokens + 0.02, abs=1e-12)
    us = event(usage_from_anthropic({**raw, "inference_geo": "us"}), route)
    assert us.cost_usd == pytest.approx(2 * 1.1 * tokens + 0.02, abs=1e-12)


def test_fast_on_a_model_without_a_known_fast_price_is_unknown_not_standard() -> None:
    route = Route("anthropic", "claude-sonnet-4-5")
    assert event(usage_from_anthropic({**RAW, "speed": "fast"}), route).cost_usd is None
    assert event(usage_from_anthropic({**RAW, "speed": "standard"}), route).cost_usd is not None


def test_iterations_are_priced_fast_at_their_own_models_multiple() -> None:
    """A fast request with server-side compaction: each iteration at its model's fast rates."""
    usage = usage_from_anthropic(
        {
            "input_tokens": 100,
            "output_tokens": 10,
            "speed": "fast",
            "iterations": [
                {"input_tokens": 1000, "output_tokens": 100},
                {"input_tokens": 100, "output_tokens": 10, "model": "claude-opus-4-6"},
            ],
        }
    )
    assert usage.speed == "fast" and usage.iterations
    ev = event(usage, Route("anthropic", "claude-opus-4-8"))
    assert ev.cost_usd == pytest.approx(
        (2 * (1000 * 5 + 100 * 25) + 6 * (100 * 5 + 10 * 25)) / 1e6, abs=1e-12
    )


def test_the_speed_is_read_from_a_stream_start_and_its_delta() -> None:
    start = {"input_tokens": 10, "output_tokens": 1, "speed": "fast"}
    assert usage_from_anthropic(merge_stream_usage(start, {"output_tokens": 20})).speed == "fast"
    told_again = merge_stream_usage({"input_tokens": 10}, {"output_tokens": 20, "speed": "fast"})
    assert usage_from_anthropic(told_again).speed == "fast"
    assert usage_from_anthropic({"input_tokens": 1, "speed": 7}).speed is None  # not a string: not stated


def test_model_ids_are_read_dated_and_vendor_prefixed() -> None:
    assert speed_multiplier("claude-opus-4-6-20260205", "fast") == 6.0
    assert speed_multiplier("anthropic/claude-opus-4.8", "fast") == 2.0
    assert (
        speed_multiplier("claude-opus-5-5", "fast") == 2.0
        and speed_multiplier("claude-opus-5", "fast") == 2.0
    )
    assert speed_multiplier("claude-opus-5-5", "standard") == 1.0 and speed_multiplier("x", None) == 1.0
    assert speed_multiplier("claude-opus-5-6", "fast") is None


def test_openrouters_fast_model_ids_are_priced_by_openrouters_cost_or_their_own_rates() -> None:
    """OpenRouter sells fast mode as its own model ids (``anthropic/claude-opus-4.6-fast``, $30 / $150):
    its reported ``usage.cost`` is the cost; without it, the id's own listed rates (no multiple on top)."""
    route = Route("openrouter", "anthropic/claude-opus-4.6-fast", direct=False)
    assert (
        event(Usage(input_tokens=1000, output_tokens=100, provider_cost_usd=0.045), route).cost_usd == 0.045
    )
    assert event(Usage(input_tokens=1000, output_tokens=100), route).cost_usd == pytest.approx(
        0.045, abs=1e-12
    )


def test_savings_and_unknown_parts_with_iterations_still_read_the_speed() -> None:
    usage = Usage(
        input_tokens=10,
        speed="fast",
        iterations=(Iteration(Usage(input_tokens=10), model="claude-sonnet-4-5"),),
    )
    assert event(usage, Route("anthropic", "claude-opus-4-8")).cost_usd is None


def test_fast_opus_4_6_above_200k_is_the_flat_fast_rate() -> None:
    """The fast-mode docs now price "across the full context window, including requests over 200k input
    tokens", and Opus 4.6 is listed flat to 1M: 300K input at $30 and 10K output at $150 (not the first
    table's $60 / $225, which ``shared/pricing.py`` once quoted as the price charged)."""
    long = usage_from_anthropic({"input_tokens": 300_000, "output_tokens": 10_000, "speed": "fast"})
    cost = event(long, Route("anthropic", "claude-opus-4-6")).cost_usd
    assert cost == pytest.approx((300_000 * 30 + 10_000 * 150) / 1e6, abs=1e-9)
