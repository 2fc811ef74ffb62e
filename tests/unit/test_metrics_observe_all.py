"""``metrics.observe_all`` leaves a histogram exactly as ``observe`` one by one does (session 20: the held
latencies are applied in C loops). Compared as prometheus-client's own text exposition of two registries,
bucket counts and sum alike, over amounts on the bounds, between them, beyond the last, zero, negative,
infinite and NaN, in batches of every size, the histogram's sum carried from batch to batch."""

from __future__ import annotations

import math
import random

from prometheus_client import CollectorRegistry, Histogram, generate_latest

from services.gateway.metrics import LATENCY_BUCKETS, observe_all


def _pair() -> tuple[CollectorRegistry, Histogram, CollectorRegistry, Histogram]:
    ra, rb = CollectorRegistry(), CollectorRegistry()
    a = Histogram("h", "h", ["p"], buckets=LATENCY_BUCKETS, registry=ra)
    b = Histogram("h", "h", ["p"], buckets=LATENCY_BUCKETS, registry=rb)
    a.labels("x"), b.labels("x")
    return ra, a, rb, b


def _text(registry: CollectorRegistry) -> list[bytes]:
    """The exposition less its ``_created`` timestamps (when each child was made: not a figure)."""
    return [line for line in generate_latest(registry).splitlines() if b"_created" not in line]


def _amounts(rng: random.Random, n: int, odd: bool) -> list[float]:
    picks = [*LATENCY_BUCKETS, 0.0, 1e-9, 0.0251, 299.9, 300.0001, 1e6]
    if odd:
        picks += [-1.0, math.inf, -math.inf, math.nan]
    out = []
    for _ in range(n):
        out.append(rng.choice(picks) if rng.random() < 0.5 else rng.lognormvariate(-4, 2))
    return out


def test_observe_all_is_observe_one_by_one() -> None:
    rng = random.Random(20)
    for odd in (False, True):
        ra, a, rb, b = _pair()
        for size in (*range(12), 100, 512, 513):
            amounts = _amounts(rng, size, odd and rng.random() < 0.3)
            for amount in amounts:
                a.labels("x").observe(amount)
            observe_all(b.labels("x"), amounts)
            assert _text(rb) == _text(ra), (odd, size)


def test_the_sum_is_the_running_sum_bit_for_bit() -> None:
    ra, a, rb, b = _pair()
    amounts = [0.1, 0.2, 0.3, 1e-17, 1e16, 1.0, -1e16] * 50
    for amount in amounts:
        a.labels("x").observe(amount)
    observe_all(b.labels("x"), amounts)
    assert _text(rb) == _text(ra)
    running = 0.0
    for amount in amounts:
        running += amount
    assert (
        b.labels("x")._sum.get() == running != math.fsum(amounts)
    )  # the order's rounding, not the exact sum
