"""Ordering the candidate routes of a request. Pure: no I/O, no clock, no provider health.

``cheapest`` (the default) ranks routes by what a *typical request* would cost there:
1,000 input tokens plus 500 output tokens at the route's prices (the base tier, no cache). Ties go to
the model's own vendor before an aggregator (OpenRouter), then to configuration order. Routes whose
price nobody knows come after every priced route, ordered the same way (direct first, then
configuration order).

``ordered`` ignores prices and uses configuration order (``ROUTING_ORDER``, then the providers the
catalog file adds, in file order).

Providers that are cooling down are skipped later, when the request is served (``Proxy.serve``), so a
ranking stays valid while health changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.gateway.providers.base import Route
from shared.pricing import ModelRates

TYPICAL_INPUT_TOKENS = 1_000
TYPICAL_OUTPUT_TOKENS = 500
POLICIES = ("cheapest", "ordered")


def typical_cost(rates: ModelRates | None) -> float | None:
    """USD for the typical request (1,000 in, 500 out), or None when the price is unknown."""
    if rates is None:
        return None
    return rates.cost(TYPICAL_INPUT_TOKENS, TYPICAL_OUTPUT_TOKENS)


def rank(routes: Sequence[Route], policy: str, order: Sequence[str]) -> list[Route]:
    """``routes`` best first under ``policy``. ``order`` lists provider names in configuration order;
    a provider missing from it comes after those listed, keeping its place in ``routes``."""
    if policy not in POLICIES:
        raise ValueError(f"unknown routing policy {policy!r}")
    position = {name: i for i, name in enumerate(order)}

    def configured_position(route: Route) -> int:
        return position.get(route.provider, len(position))

    if policy == "ordered":
        return sorted(routes, key=configured_position)

    def cheapest_first(route: Route) -> tuple[bool, float, bool, int]:
        cost = typical_cost(route.rates)
        # Rounding to a nano-dollar makes equal list prices tie despite float noise.
        return (
            cost is None,
            round(cost, 9) if cost is not None else 0.0,
            not route.direct,
            configured_position(route),
        )

    return sorted(routes, key=cheapest_first)
