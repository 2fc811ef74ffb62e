"""``bench/crit_clock.py``'s ``tail``: which requests are the slow ones and what their time is charged to.

A row is one request's (A, W, B, P thread CPU; wall T0-T3, wall A, wall up, wall B; the timed pieces' CPU
begun in A or B, and in W; their bits; involuntary switches), all in ns.
"""

from __future__ import annotations

from bench.crit_clock import tail

US = 1000


def row(
    cpu_a: int = 100,
    cpu_b: int = 100,
    wall_a: int = 110,
    wall_up: int = 20,
    wall_b: int = 110,
    extra: int = 0,
    mask: int = 0,
    nivcsw: int = 0,
) -> list[int]:
    """One request, in µs (converted to ns), its wall the sum of its three segments."""
    wall = wall_a + wall_up + wall_b
    return [
        x * US if i < 10 else x
        for i, x in enumerate((cpu_a, 10, cpu_b, 5, wall, wall_a, wall_up, wall_b, extra, 0, mask, nivcsw))
    ]


def test_the_slowest_are_charged_to_what_made_them_slow() -> None:
    rows = [row() for _ in range(96)]
    rows.append(row(wall_up=3000))  # the upstream's turn came late
    rows.append(row(wall_a=2000, nivcsw=3))  # preempted in A: wall without CPU
    rows.append(row(cpu_a=400, wall_a=410, extra=300, mask=1))  # a batch built on its path
    rows.append(row(cpu_a=900, wall_a=910))  # its own work
    got = tail(rows, {"batch": 1}, 0.5, 2.0, 0.04)
    assert got["n"] == 100 and got["slow"] == 4
    assert got["median"]["wall"] == 240 and got["median"]["own"] == 200
    assert got["causes"] == {"up": 0.25, "off": 0.25, "extra": 0.25, "own": 0.25}
    assert got["share"]["batch"] == (0.01, 0.25)  # in 1% of all requests, in a quarter of the slow
    assert got["share"]["preempted"] == (0.01, 0.25)
    assert got["over 1 ms"] == 20  # two requests more than 1 ms above the median, per 1,000
    assert got["over 0.5 ms"] == 30
    assert (got["wrk p50"], got["wrk p99"]) == (0.5, 2.0)


def test_the_slow_set_is_the_fraction_asked_and_never_empty() -> None:
    rows = [row(wall_up=20 + i) for i in range(10)]
    assert tail(rows, {}, 0.4, 0.5, 0.2)["slow"] == 2
    assert tail(rows, {}, 0.4, 0.5, 0.001)["slow"] == 1
    assert tail([], {}, 0.4, 0.5, 0.02) == {}
