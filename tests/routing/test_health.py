"""The circuit breaker's state machine and Retry-After windows, on a clock the test moves."""

from __future__ import annotations

import pytest

from services.gateway.routing.health import BreakerConfig, ProviderHealth, is_retryable, retry_after_seconds
from shared.settings import load_settings

HUGE_YEAR = "Mon, 01 Jan 9999999999999999999 00:00:00 GMT"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def health(clock: Clock) -> ProviderHealth:
    return ProviderHealth(BreakerConfig(failures=3, cooldown_s=10.0, retry_after_cap_s=60.0), clock=clock)


def fail(health: ProviderHealth, times: int, status: int | None = 503) -> None:
    for _ in range(times):
        assert health.acquire("openai")
        health.record_failure("openai", status)


def test_unknown_providers_are_healthy(health: ProviderHealth) -> None:
    assert health.available("anything") and health.acquire("anything")
    assert health.snapshot().get("anything")["state"] == "healthy"


def test_opens_after_k_consecutive_failures(health: ProviderHealth) -> None:
    fail(health, 2)
    assert health.available("openai")
    assert health.snapshot()["openai"]["state"] == "healthy"
    fail(health, 1)
    assert not health.acquire("openai")
    assert health.wait_time("openai") == pytest.approx(10.0)
    snap = health.snapshot()["openai"]
    assert snap["state"] == "cooling_down" and snap["reason"] == "circuit_open"
    assert snap["until"] == "2026-01-01T00:00:10.000Z" and snap["consecutive_failures"] == 3


def test_a_success_resets_the_count(health: ProviderHealth) -> None:
    fail(health, 2)
    health.record_success("openai")
    fail(health, 2)
    assert health.available("openai")


def test_half_open_lets_one_probe_through_and_success_closes(health: ProviderHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.advance(10.0)
    assert health.snapshot()["openai"]["state"] == "half_open"
    assert health.acquire("openai")  # the probe
    assert not health.acquire("openai")  # everyone else waits for its verdict
    assert health.snapshot()["openai"]["state"] == "half_open"
    health.record_success("openai")
    assert health.acquire("openai") and health.acquire("openai")
    assert health.snapshot()["openai"]["state"] == "healthy"


def test_a_failed_probe_reopens_for_another_cooldown(health: ProviderHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.advance(10.0)
    assert health.acquire("openai")
    health.record_failure("openai", None, error_type="connection_error")  # one failure is enough now
    assert not health.acquire("openai")
    snap = health.snapshot()["openai"]
    assert snap["state"] == "cooling_down" and snap["until"] == "2026-01-01T00:00:20.000Z"
    assert snap["last_error"] == "no response connection_error"


def test_client_errors_never_count_and_release_the_probe(health: ProviderHealth, clock: Clock) -> None:
    for status in (400, 404, 413, 422, 400, 400):
        health.record_failure("openai", status)
    assert health.available("openai")
    fail(health, 3)
    clock.advance(10.0)
    assert health.acquire("openai")
    health.record_failure("openai", 400)  # the probe's request was bad: no verdict on the provider
    assert health.acquire("openai")  # so another request may probe


@pytest.mark.parametrize("status", [401, 403, 408, 409, 429, 500, 502, 503, 529, None])
def test_provider_faults_count(health: ProviderHealth, status: int | None) -> None:
    fail(health, 3, status)
    assert not health.available("openai")


def test_a_probe_that_never_reports_is_given_up_after_a_cooldown(
    health: ProviderHealth, clock: Clock
) -> None:
    fail(health, 3)
    clock.advance(10.0)
    assert health.acquire("openai")
    clock.advance(5.0)
    assert not health.acquire("openai")
    clock.advance(5.0)
    assert health.acquire("openai")


def test_release_frees_the_probe(health: ProviderHealth, clock: Clock) -> None:
    fail(health, 3)
    clock.advance(10.0)
    assert health.acquire("openai")
    health.release("openai")
    assert health.acquire("openai")


def test_retry_after_skips_the_provider_until_then(health: ProviderHealth, clock: Clock) -> None:
    health.record_failure("openai", 429, retry_after_s=2.0)
    assert not health.acquire("openai") and health.rate_limited("openai")
    assert health.wait_time("openai") == pytest.approx(2.0)
    snap = health.snapshot()["openai"]
    assert snap["state"] == "cooling_down" and snap["reason"] == "retry_after"
    assert snap["until"] == "2026-01-01T00:00:02.000Z"
    clock.advance(2.0)
    assert health.acquire("openai") and not health.rate_limited("openai")


def test_retry_after_is_capped(health: ProviderHealth) -> None:
    health.record_failure("openai", 429, retry_after_s=86_400.0)
    assert health.wait_time("openai") == pytest.approx(60.0)


def test_success_ends_a_retry_after_window(health: ProviderHealth) -> None:
    health.record_failure("openai", 429, retry_after_s=30.0)
    health.record_success("openai")
    assert health.available("openai")


def test_config_comes_from_settings() -> None:
    settings = load_settings({"BREAKER_FAILURES": "2", "BREAKER_COOLDOWN": "0.5", "RETRY_AFTER_CAP": "9"})
    assert BreakerConfig.from_settings(settings) == BreakerConfig(2, 0.5, 9.0)
    assert ProviderHealth.from_settings(settings).config.failures == 2


def test_retryable_statuses() -> None:
    assert [s for s in (400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 503, 529) if is_retryable(s)] == [
        401,
        403,
        408,
        409,
        429,
        500,
        503,
        529,
    ]
    assert is_retryable(None)


def test_retry_after_header_forms() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    # a date whose year no C long holds: parsedate_to_datetime raises OverflowError (review22: was a 500)
    assert retry_after_seconds({"retry-after": HUGE_YEAR}, 429) is None
    assert retry_after_seconds({}) is None


def test_state_names_the_snapshot_state_at_every_step(health: ProviderHealth, clock: Clock) -> None:
    """``state(name)`` (read by the metrics per request) equals ``snapshot()[name]["state"]`` through
    healthy, cooling_down (circuit open, then Retry-After), half_open and back."""
    seen = []

    def check() -> None:
        assert health.state("openai") == health.snapshot().get("openai")["state"]
        seen.append(health.state("openai"))

    check()
    fail(health, 3)
    check()
    clock.advance(10.0)
    check()
    assert health.acquire("openai")
    check()
    health.record_success("openai")
    check()
    health.record_failure("openai", 429, retry_after_s=5.0)
    check()
    clock.advance(6.0)
    check()
    assert health.state("never-seen") == "healthy"
    assert seen == ["healthy", "cooling_down", "half_open", "half_open", "healthy", "cooling_down", "healthy"]


def test_failures_are_logged_at_the_first_in_a_row_and_when_the_circuit_opens_or_closes(
    health: ProviderHealth, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """An operator sees why a provider rests (a wrong key's 401) in the log, in a bounded number of lines
    however many requests fail: the first failure in a row, the circuit opening, the provider answering."""
    with caplog.at_level("WARNING", logger="services.gateway.routing.health"):
        fail(health, 3, status=401)
        clock.advance(11)
        fail(health, 1, status=401)  # the half-open probe fails: the circuit opens again
        clock.advance(11)
        assert health.acquire("openai")
        health.record_success("openai")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "provider openai failed: 401",
        "provider openai: circuit open for 10s after 3 failure(s) in a row (last: 401)",
        "provider openai: circuit open for 10s after 4 failure(s) in a row (last: 401)",
        "provider openai answers again: circuit closed",
    ]


def test_a_429_that_states_its_wait_never_counts_towards_the_breaker(
    health: ProviderHealth, clock: Clock
) -> None:
    for _ in range(5):  # more than failures=3
        assert health.acquire("openai")
        health.record_failure("openai", 429, retry_after_s=1.0)
        clock.advance(1.0)
    snap = health.snapshot()["openai"]
    assert snap["consecutive_failures"] == 0 and health.state("openai") == "healthy"
    fail(health, 2)  # nor did they reset a count of real failures: two more do not open it
    assert health.acquire("openai")
    health.record_failure("openai", 429)  # a 429 that says nothing of when: a failure as before
    assert not health.acquire("openai") and health.snapshot()["openai"]["reason"] == "circuit_open"


def test_a_retry_now_429_rests_the_sdks_backoff(health: ProviderHealth, clock: Clock) -> None:
    rests = []
    for _ in range(6):
        health.record_failure("openai", 429, retry_after_s=0.0)
        rests.append(health.wait_time("openai"))
        clock.advance(rests[-1])
    assert rests == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]  # doubled from 0.5 s, at most 8 s (openai/anthropic SDKs)
    health.record_success("openai")
    health.record_failure("openai", 429, retry_after_s=0.0)
    assert health.wait_time("openai") == 0.5  # an answer in between starts it again


def test_a_half_open_probe_that_meets_a_stated_429_gets_no_verdict(
    health: ProviderHealth, clock: Clock
) -> None:
    fail(health, 3)
    clock.advance(10.0)
    assert health.acquire("openai") and health.state("openai") == "half_open"  # the probe
    health.record_failure("openai", 429, retry_after_s=2.0)
    assert health.wait_time("openai") == pytest.approx(2.0)  # its rest, not another cooldown
    clock.advance(2.0)
    assert health.acquire("openai")  # the next probe
    health.record_success("openai")
    assert health.state("openai") == "healthy"
