"""Review of session 21's starvation guard (services/recorder/guard.py): its pressure gate against its window
rule. A ``SCHED_IDLE`` thread that waits 15 ms of every 50 ms interval (a slice in each) has waited 60 ms, more
than ``STARVED_NS``, in its last ``WINDOW`` intervals: starved by the window's rule. The kernel's CPU pressure
then grows by at least that wait over the CPUs in each interval, which may stay below the gate (``gate_ns``,
``STARVED_NS`` / CPUs / 2) in every single one: a gate that compared each tick's growth with it called every
tick calm, never looked at the thread, and forgot its waits after each ``WINDOW`` calm ticks. The gate compares
the growth since the last look: it opens every second tick here, and the looks' waits find the thread.

The files the guard reads (``/proc/pressure/cpu``, the thread's ``stat`` and ``schedstat``) are ordinary files
written by the test with the kernel's formats (Documentation/accounting/psi.rst, proc(5), sched-stats.rst)."""

from __future__ import annotations

import os
from pathlib import Path

from services.recorder import guard


def _write(path: Path, text: str) -> None:
    path.write_text(text)  # truncated and rewritten: the guard's descriptor reads the new text at offset 0


def test_a_thread_waiting_a_third_of_each_interval_is_found_though_each_tick_is_calm(tmp_path: Path) -> None:
    pressure, stat, schedstat = tmp_path / "cpu", tmp_path / "stat", tmp_path / "schedstat"
    policy = ["0"] * 40
    policy[38] = str(guard._SCHED_IDLE)  # field 41, the 39th after the command's ")"
    _write(stat, "4242 (recorder) S " + " ".join(policy[1:]) + "\n")
    g = guard.Guard(2**30, os.getpid())  # no such recorder: only the thread the test gives it
    g.relist = lambda: None  # type: ignore[method-assign]
    raised: list[int] = []
    g.raise_all = lambda: raised.append(1)  # type: ignore[method-assign]
    g.pressure = os.open(pressure, os.O_RDONLY | os.O_CREAT)
    g.threads[4242] = guard._Thread(os.open(stat, os.O_RDONLY), os.open(schedstat, os.O_RDONLY | os.O_CREAT))
    wait_ns = 3 * guard.STARVED_NS // 10  # 15 ms an interval
    growth_us = 3 * g.gate_ns // 5 // 1000  # the pressure's least growth for it: 0.6 of the gate a tick
    total_us, ran, waited, runs = 1_000_000, 1_000_000, 5_000_000, 10
    said: list[bool] = []
    try:
        for _ in range(12):
            _write(pressure, f"some avg10=0.00 avg60=0.00 avg300=0.00 total={total_us}\n")
            _write(schedstat, f"{ran} {waited} {runs}\n")
            said.append(g.tick())
            total_us, ran, waited, runs = total_us + growth_us, ran + 200_000, waited + wait_ns, runs + 1
    finally:
        g.threads.pop(4242).close()
        os.close(g.pressure)
    assert any(said) and raised, (said, g.gated)
    assert g.gated > 0  # the gate still spared some looks
