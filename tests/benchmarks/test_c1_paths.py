"""``bench/c1_paths.py``'s reading of a run's slow share from wrk's upper percentiles (90, 90.05, ..., 100)."""

from __future__ import annotations

from bench.c1_paths import slow_share
from bench.load import Run


def _run(p50_ms: float, tail_us: list[float] | None) -> Run:
    return Run(
        requests=1000,
        rps=500.0,
        p50_ms=p50_ms,
        p99_ms=0.0,
        status_errors=0,
        socket_errors=0,
        cpu_ms_per_req=None,
        tail_us=tail_us,
    )


def test_the_share_above_p50_plus_half_a_millisecond() -> None:
    # 201 percentiles: 90 + i * 0.05; the first above 300 + 500 us is the 99th (i = 180): 1% of requests
    tail = [400.0] * 180 + [900.0] * 21
    assert abs(slow_share(_run(0.3, tail)) - 1.0) < 1e-9
    assert slow_share(_run(0.3, [400.0] * 201)) == 0.0  # none above
    assert slow_share(_run(0.3, [900.0] * 201)) == 10.0  # from the 90th on: 10% or more, read as 10
    assert slow_share(_run(0.3, None)) is None  # no tail line from wrk
