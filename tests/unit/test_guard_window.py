"""The starvation guard's rule (services/recorder/guard.py, s21): a ``SCHED_IDLE`` thread that gets a slice inside
every interval has each interval's wait below ``STARVED_NS`` and never trips the never-ran rule, yet waits most
of its time; the waits summed over ``WINDOW`` intervals find it. And a guard that ends while its recorder lives
raises the recorder first, so that the recorder's own check, at normal priority, starts another at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.recorder import guard

# /proc/PID/schedstat and the state of a SCHED_IDLE spinner (0.2 ms of work a millisecond) pinned on a CPU whose
# nice-0 neighbour spins 25 ms then sleeps 4 ms (s21, Linux 6.18, looks ~55 ms apart): it runs in every gap, so
# each interval adds its wait at once (sched-stats.rst: counted at arrival). The recording's first reading, then
# its four intervals that stayed below the 50 ms one interval alone takes to starve (41.5 ms, 49.0 ms, 31.9 ms,
# 24.5 ms waited; 0.21-0.42 ms run) put one after another. (monotonic ns, state, ns run, ns waited, runs)
STARVED_SLICES = [
    (58011334587017, "R", 35608121, 626117013, 53),
    (58011423887017, "R", 35818121, 667617013, 54),
    (58011491587017, "R", 36038121, 716617013, 55),
    (58011553487017, "R", 36438121, 748517013, 58),
    (58011621087017, "R", 36858121, 773017013, 60),
]
# a thread at SCHED_IDLE on a machine with room: a few µs of wait now and then (same fields)
AT_EASE = [
    (1_000_000_000 + i * 50_000_000, "S", 1_000_000 + i * 200_000, 40_000 + i * 3_000, 10 + i)
    for i in range(12)
]


def waits(readings: list[tuple[int, str, int, int, int]], rule: int = guard.WINDOW) -> list[int]:
    """What ``_Thread.look`` says at each reading after the first (``rule``: the window's length)."""
    thread = guard._Thread(-1, -1)
    thread.recent = [0] * rule
    said: list[int] = []
    last = readings[0][0]
    for at, state, ran, waited, runs in readings:
        thread.idle = True  # at SCHED_IDLE all along
        said.append(thread.look(state == "R", ran, waited, runs, at - last))
        last = at
    return said[1:]


def test_a_thread_with_a_slice_in_every_interval_is_starved_within_two_intervals() -> None:
    said = waits(STARVED_SLICES)
    assert max(waits(STARVED_SLICES, rule=1)) < guard.STARVED_NS  # the one-interval rule misses it (s20's)
    assert said[0] < guard.STARVED_NS <= said[1]  # 41.5 ms, then 90.5 ms in two intervals


def test_a_thread_at_ease_is_never_starved() -> None:
    assert max(waits(AT_EASE)) < guard.STARVED_NS / 100


def test_a_thread_runnable_and_never_run_is_starved_in_one_interval() -> None:
    stuck = [(i * 60_000_000, "R", 5_000, 7_000, 3) for i in range(3)]
    assert waits(stuck)[0] >= guard.STARVED_NS


def test_a_forgotten_thread_starts_its_window_again() -> None:
    thread = guard._Thread(-1, -1)
    thread.idle = True
    for _at, state, ran, waited, runs in STARVED_SLICES[:3]:
        thread.look(state == "R", ran, waited, runs, 55_000_000)
    thread.forget()
    at, state, ran, waited, runs = STARVED_SLICES[3]
    assert thread.look(state == "R", ran, waited, runs, 55_000_000) == 0  # a baseline: nothing summed


IDLE_PARENT = """
import os, subprocess, sys, time
os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
# a guard whose every look fails: it ends by an error, as a bug would end it
code = ("import sys; from services.recorder import guard\\n"
        "def broken(self): raise RuntimeError('a bug')\\n"
        "guard.Guard.tick = broken\\n"
        "sys.exit(guard.main([sys.argv[1]]))")
child = subprocess.Popen([sys.executable, "-c", code, str(os.getpid())])
print(child.wait(), flush=True)
time.sleep(60)
"""


def test_a_guard_that_ends_by_an_error_raises_its_recorder_first() -> None:
    """A real process at SCHED_IDLE (the recorder's place) and its guard, whose look raises: the guard ends
    with its error, and the parent is at SCHED_OTHER by then (before: left at SCHED_IDLE, where a starved
    recorder would run the check that restarts its guard only a second or more later)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", IDLE_PARENT],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert parent.stdout is not None
        code = parent.stdout.readline().strip()
        assert code == b"1", parent.stderr.read() if parent.stderr is not None else b""
        assert os.sched_getscheduler(parent.pid) == os.SCHED_OTHER
    finally:
        parent.kill()
        parent.wait()
