"""BatchHistogram: the same exposition as prometheus_client's Histogram for the same values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from services.recorder.metrics import LAG_BUCKETS, BatchHistogram

VALUES = st.lists(st.one_of(st.floats(0, 5000, allow_nan=False), st.sampled_from(LAG_BUCKETS)), max_size=60)


def _series(registry: CollectorRegistry) -> dict[str, float]:
    """Sample lines -> value, without the _created series (BatchHistogram has none)."""
    out = {}
    for line in generate_latest(registry).decode().splitlines():
        if line and not line.startswith("#") and "_created" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


@given(st.lists(VALUES, max_size=4))
def test_batches_give_the_series_of_one_observe_per_value(batches: list[list[float]]) -> None:
    ours, reference = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("lag_seconds", "lag", LAG_BUCKETS, ours)
    single = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=reference)
    for values in batches:
        batch.observe_many(values)
        for v in values:
            single.observe(v)
    got, want = _series(ours), _series(reference)
    assert got.keys() == want.keys()
    total, want_total = got.pop("lag_seconds_sum"), want.pop("lag_seconds_sum")
    assert got == want  # every bucket and the count, exactly
    assert abs(total - want_total) <= 1e-9 * max(1.0, want_total)


def test_a_value_on_a_bound_is_in_that_bucket() -> None:
    registry = CollectorRegistry()
    BatchHistogram("lag_seconds", "lag", (0.5, 1.0), registry).observe_many([0.5, 1.0, 1.5])
    series = _series(registry)
    assert series['lag_seconds_bucket{le="0.5"}'] == 1
    assert series['lag_seconds_bucket{le="1.0"}'] == 2
    assert series['lag_seconds_bucket{le="+Inf"}'] == 3
    assert series["lag_seconds_count"] == 3
    assert series["lag_seconds_sum"] == 3.0


@pytest.mark.parametrize(
    "values",
    [[math.nan, 0.5], [0.5, math.nan, 2.0, math.inf], [math.inf, -math.inf, 1.0], [1e308, 1e308, 0.1]],
)
def test_nan_and_infinite_values_are_handled_as_prometheus_client_does(values: list[float]) -> None:
    ours, reference = CollectorRegistry(), CollectorRegistry()
    batch = BatchHistogram("lag_seconds", "lag", LAG_BUCKETS, ours)
    single = Histogram("lag_seconds", "lag", buckets=LAG_BUCKETS, registry=reference)
    batch.observe_many(values)
    batch.observe_many([0.2])  # still usable afterwards
    for v in [*values, 0.2]:
        single.observe(v)
    got, want = _series(ours), _series(reference)
    total, want_total = got.pop("lag_seconds_sum"), want.pop("lag_seconds_sum")
    assert got == want  # every bucket and the count (a NaN is in none of them)
    assert math.isnan(total) == math.isnan(want_total)
    assert total == want_total or math.isnan(total)
