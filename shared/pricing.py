"""Request cost from the prices shipped in `genai-prices` (used offline: its updater is never created).

Looking a model up in genai-prices costs ~100 µs and its Decimal arithmetic ~50 µs, so each
(provider, model) is resolved once into float rates; costing a request is then a few multiplications.
Token buckets are disjoint here (``input_tokens`` excludes cache reads and writes).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from genai_prices import data_snapshot, types


@dataclass(frozen=True, slots=True)
class Rate:
    """USD per million tokens; ``tiers`` are (input-token threshold, price) from the lowest."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def at(self, prompt_tokens: int) -> float:
        price = self.base
        for start, tier_price in self.tiers:
            if prompt_tokens > start:
                price = tier_price
        return price


@dataclass(frozen=True, slots=True)
class ModelRates:
    model_id: str
    input: Rate
    output: Rate
    cache_read: Rate
    cache_write: Rate

    def cost(self, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0) -> float:
        prompt = input_tokens + cache_read + cache_write
        return (
            input_tokens * self.input.at(prompt)
            + output_tokens * self.output.at(prompt)
            + cache_read * self.cache_read.at(prompt)
            + cache_write * self.cache_write.at(prompt)
        ) / 1_000_000


def _rate(value: Any, fallback: Rate | None = None) -> Rate | None:
    if value is None:
        return fallback
    if isinstance(value, types.TieredPrices):
        return Rate(float(value.base), tuple((int(t.start), float(t.price)) for t in value.tiers))
    return Rate(float(value))


class Pricer:
    """Resolves and caches per-model rates. Thread-safe; misses are cached too."""

    def __init__(self, overrides: dict[tuple[str, str], ModelRates] | None = None) -> None:
        self._cache: dict[tuple[str, str], ModelRates | None] = dict(overrides or {})
        self._lock = threading.Lock()

    def rates(self, provider: str, model: str) -> ModelRates | None:
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = _lookup(provider, model)
        with self._lock:
            self._cache[key] = found
        return found

    def set_override(self, provider: str, model: str, rates: ModelRates) -> None:
        with self._lock:
            self._cache[(provider, model)] = rates

    def cost(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        cache_read: int = 0,
        cache_write: int = 0,
    ) -> float | None:
        """USD for one request, or None when the model's price is unknown (never a silent 0)."""
        rates = self.rates(provider, model)
        if rates is None:
            return None
        return rates.cost(input_tokens, output_tokens, cache_read, cache_write)


def _lookup(provider: str, model: str) -> ModelRates | None:
    snapshot = data_snapshot.get_snapshot()
    try:
        _, info = snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None
    prices = info.get_prices(datetime.now(timezone.utc))
    input_rate = _rate(prices.input_mtok)
    output_rate = _rate(prices.output_mtok)
    if input_rate is None or output_rate is None:
        return None
    return ModelRates(
        model_id=info.id,
        input=input_rate,
        output=output_rate,
        # genai-prices charges uncached-input price when a model lists no cache price.
        cache_read=_rate(prices.cache_read_mtok, input_rate) or input_rate,
        cache_write=_rate(prices.cache_write_mtok, input_rate) or input_rate,
    )
