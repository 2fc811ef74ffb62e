from __future__ import annotations

import pytest

from services.gateway.providers.base import Route
from services.gateway.routing.select import rank, typical_cost
from shared.pricing import ModelRates, Rate

ORDER = ["openai", "anthropic", "xai", "openrouter", "local"]


def rates(input_mtok: float, output_mtok: float) -> ModelRates:
    return ModelRates("m", Rate(input_mtok), Rate(output_mtok), Rate(input_mtok), Rate(input_mtok))


def route(provider: str, price: tuple[float, float] | None, *, direct: bool = True) -> Route:
    return Route(provider, "m", rates(*price) if price else None, "prices" if price else "unknown", direct)


def providers(routes: list[Route]) -> list[str]:
    return [r.provider for r in routes]


def test_typical_request_is_1000_in_500_out() -> None:
    assert typical_cost(rates(2.5, 10.0)) == pytest.approx((1000 * 2.5 + 500 * 10.0) / 1e6)
    assert typical_cost(None) is None


def test_cheapest_first_weighs_input_and_output() -> None:
    # 1000*4 + 500*4 = 6000 beats 1000*1 + 500*12 = 7000, though its input price is higher.
    ranked = rank(
        [route("openai", (1.0, 12.0)), route("openrouter", (4.0, 4.0), direct=False)], "cheapest", ORDER
    )
    assert providers(ranked) == ["openrouter", "openai"]


def test_ties_go_to_the_direct_provider_whatever_the_order() -> None:
    ranked = rank(
        [route("openrouter", (3.0, 15.0), direct=False), route("anthropic", (3.0, 15.0))],
        "cheapest",
        ["openrouter", "anthropic"],
    )
    assert providers(ranked) == ["anthropic", "openrouter"]


def test_float_noise_still_ties() -> None:
    ranked = rank(
        [route("openrouter", (0.1 + 0.2, 1.0), direct=False), route("openai", (0.3, 1.0))], "cheapest", ORDER
    )
    assert providers(ranked) == ["openai", "openrouter"]


def test_unknown_prices_come_last_direct_first_then_configured_order() -> None:
    ranked = rank(
        [
            route("xai", None),
            route("local", None),
            route("openrouter", None, direct=False),
            route("openai", (50.0, 50.0)),
        ],
        "cheapest",
        ORDER,
    )
    assert providers(ranked) == ["openai", "xai", "local", "openrouter"]


def test_ordered_policy_ignores_prices() -> None:
    routes = [route("openrouter", (0.1, 0.1), direct=False), route("anthropic", (30.0, 30.0))]
    assert providers(rank(routes, "ordered", ORDER)) == ["anthropic", "openrouter"]
    assert providers(rank(routes, "ordered", ["openrouter", "anthropic"])) == ["openrouter", "anthropic"]


def test_providers_missing_from_the_order_keep_their_place_after_the_listed_ones() -> None:
    routes = [route("zeta", None), route("alpha", None), route("openai", None)]
    assert providers(rank(routes, "ordered", ["openai"])) == ["openai", "zeta", "alpha"]


def test_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError):
        rank([], "random", ORDER)
