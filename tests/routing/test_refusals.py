"""Refusals: a provider's last 429 with a stated window, told again while the window lasts (s10 variant 11-a)."""

from __future__ import annotations

from services.gateway.routing.refusals import Refusals


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_soonest_open_window_is_told_with_its_time_left() -> None:
    clock = Clock()
    refusals: Refusals[str] = Refusals(clock)
    assert not refusals and refusals.current(["a"]) is None
    refusals.remember("a", 287441.0, "weekly")
    refusals.remember("b", 60.0, "minute")
    assert refusals
    clock.now += 10
    assert refusals.current(["a"]) == ("weekly", 287431.0)  # uncapped: the provider's own window
    assert refusals.current(["a", "b"]) == ("minute", 50.0)  # the soonest a client could succeed
    assert refusals.current(["a", "c"]) is None  # c rests for something else (or not at all)
    clock.now += 50
    assert refusals.current(["b"]) is None  # its window is over
    refusals.remember("a", 5.0, "newer")  # the newest refusal wins
    assert refusals.current(["a"]) == ("newer", 5.0)
    refusals.forget("a")
    assert refusals.current(["a"]) is None


def test_held_says_whether_any_refusal_is_kept() -> None:
    """``held`` (what the proxy tests after every request) follows ``remember`` and ``forget``."""
    refusals: Refusals[str] = Refusals(clock=lambda: 1000.0)
    assert not refusals.held and not refusals
    refusals.remember("anthropic", 30, "a")
    refusals.remember("openai", 30, "b")
    assert refusals.held and set(refusals.held) == {"anthropic", "openai"}
    refusals.forget("anthropic")
    assert refusals.held
    refusals.forget("openai")
    assert not refusals.held and not refusals
