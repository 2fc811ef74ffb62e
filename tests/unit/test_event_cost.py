"""``event_for``'s cost and savings (pure): iterations, other models, catalog prices, unknown prices."""

from __future__ import annotations

import time

import pytest

from services.gateway.calls import Attempt, Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects.ir import Iteration, Usage
from services.gateway.providers.base import Route
from shared.events import UsageEvent
from shared.pricing import ModelRates, Pricer, Rate

SONNET = Route("anthropic", "claude-sonnet-4-5")


def event(usage: Usage, route: Route = SONNET) -> UsageEvent:
    call = Call(registry.ENDPOINTS["/v1/messages"], "req", {}, time.monotonic(), time.time())
    call.model = route.model
    att = Attempt(route, "anthropic", False, answered=True, status=200, usage=usage)
    call.attempts.append(att)
    call.answer(200)
    return event_for(call, Pricer(), time.time(), 1.0)


def test_ledger_keeps_the_split_columns() -> None:
    ev = event(
        Usage(
            input_tokens=3,
            output_tokens=40,
            cache_write_tokens=5424,
            cache_write_1h_tokens=5424,
            web_search_requests=2,
        )
    )
    assert (ev.cache_write_tokens, ev.cache_write_1h_tokens, ev.web_search_requests) == (5424, 5424, 2)
    # 9 + 5424 × 6 + 40 × 15 = 33,153 µ$, + 2 searches × $0.01
    assert ev.cost_usd == pytest.approx(0.053153, abs=1e-12)


def test_an_iteration_on_a_model_without_a_price_makes_the_cost_unknown_not_zero() -> None:
    usage = Usage(
        input_tokens=200,
        output_tokens=20,
        iterations=(
            Iteration(Usage(input_tokens=100, output_tokens=10), model="no-such-model"),
            Iteration(Usage(input_tokens=100, output_tokens=10)),
        ),
    )
    ev = event(usage)
    assert ev.cost_usd is None and ev.cache_savings_usd is None and ev.input_tokens == 200


def test_catalog_prices_apply_to_iterations_on_the_routes_model() -> None:
    rates = ModelRates("m", Rate(1.0), Rate(2.0), Rate(0.1), Rate(1.25))
    route = Route("anthropic", "claude-sonnet-4-5", rates, "catalog")
    usage = Usage(
        input_tokens=2_000_000,
        output_tokens=0,
        iterations=(
            Iteration(Usage(input_tokens=1_000_000)),
            Iteration(Usage(input_tokens=1_000_000), model="claude-sonnet-4-5"),
        ),
    )
    assert event(usage, route).cost_usd == pytest.approx(2.0)


def test_provider_cost_wins_and_savings_still_come_from_the_rates() -> None:
    usage = Usage(input_tokens=1000, cache_read_tokens=10_000, output_tokens=100, provider_cost_usd=0.5)
    ev = event(usage, Route("openrouter", "anthropic/claude-sonnet-4.5"))
    assert ev.cost_usd == 0.5
    assert ev.cache_savings_usd == pytest.approx(10_000 * (3 - 0.3) / 1e6)


def test_savings_are_negative_when_writes_are_never_read() -> None:
    ev = event(Usage(input_tokens=0, output_tokens=0, cache_write_tokens=1000, cache_write_1h_tokens=1000))
    assert ev.cache_savings_usd == pytest.approx(-1000 * (6 - 3) / 1e6)
