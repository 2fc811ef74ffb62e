"""``status.assess``: the verdict ``/health`` gives (pure; the real processes are in tests/gateway/test_health_e2e.py)."""

from __future__ import annotations

from services.gateway.status import DROPPED_RECENT_S, EventsState, assess

FINE = EventsState(recorder_connected=True, queued=0, max_queued=100, dropped=0, since_drop_s=None)
COOL = {"state": "cooling_down", "reason": "circuit_open"}


def codes(verdict: object) -> list[str]:
    return [r.code for r in verdict.reasons]  # type: ignore[attr-defined]


def test_ok_when_a_provider_serves_and_the_recorder_keeps_up() -> None:
    v = assess(["openai"], {"openai": {"state": "healthy"}}, {"openai": 0.0}, FINE)
    assert (v.status, v.http_status, v.reasons, v.retry_after_s) == ("ok", 200, (), None)


def test_no_provider_is_degraded_not_503() -> None:
    v = assess([], {}, {}, FINE)
    assert (v.status, v.http_status, codes(v)) == ("degraded", 200, ["no_provider_configured"])


def test_some_cooling_is_degraded_all_cooling_is_503_with_the_soonest_retry() -> None:
    some = assess(["a", "b"], {"a": COOL, "b": {"state": "half_open"}}, {"a": 30.0, "b": 0.0}, FINE)
    assert (some.status, codes(some)) == ("degraded", ["provider_cooling_down"])
    every = assess(
        ["a", "b"], {"a": COOL, "b": {**COOL, "reason": "retry_after"}}, {"a": 30.0, "b": 2.2}, FINE
    )
    assert (every.status, every.http_status, every.retry_after_s) == ("unavailable", 503, 3)
    assert "a (circuit_open), b (retry_after)" in every.reasons[0].message


def test_event_troubles_are_each_a_reason() -> None:
    gone = EventsState(recorder_connected=False, queued=50, max_queued=100, dropped=3, since_drop_s=1.0)
    v = assess(["openai"], {}, {}, gone)
    assert codes(v) == ["recorder_not_connected", "events_piling_up", "events_dropped"]
    assert v.http_status == 200
    old_drop = EventsState(True, 49, 100, 3, DROPPED_RECENT_S + 1)
    assert assess(["openai"], {}, {}, old_drop).status == "ok"
