"""Session 27 (bug27c), kind 11: Go's sub-millisecond durations as a reset (``ratelimit_reset.reset_seconds``).

A server written in Go prints a reset with ``time.Duration.String``: below a millisecond "864µs" (U+00B5) or "500ns";
``time.ParseDuration`` also reads "us" and the Greek "μs" (U+03BC). Before, these read as no reset at all: a 429
without a wait (bug27c variant 11-go-micro-reset-cc-vN)."""

from __future__ import annotations

import pytest

from services.gateway.routing.ratelimit_reset import rate_limit_reset_seconds, reset_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("864\u00b5s", 0.000864),
        ("864\u03bcs", 0.000864),
        ("864us", 0.000864),
        ("500ns", 5e-7),
        ("1s500ms", 1.5),
    ],
)
def test_go_durations_below_a_millisecond(value: str, seconds: float) -> None:
    got = reset_seconds(value, 0.0)
    assert got is not None
    assert got == pytest.approx(seconds)


def test_the_exhausted_limits_microsecond_reset_is_its_wait() -> None:
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "864\u00b5s"}
    got = rate_limit_reset_seconds(headers, 0.0)
    assert got is not None
    assert got == pytest.approx(0.000864)


def test_an_unknown_unit_is_still_no_reset() -> None:
    assert reset_seconds("864xs", 0.0) is None
