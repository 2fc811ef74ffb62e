"""The starvation guard: a small process of its own that raises a starved ``SCHED_IDLE`` recorder.

Why a process of its own (issue 13, docs/benchmarks.md "Session 20: the recorder's starvation guard"): a
``SCHED_IDLE`` thread has weight 3 against a nice-0 thread's 1,024 (sched(7)); on a saturated machine it
runs a few milliseconds a second, so the recorder's own check (``priority.Priority.check``, run by its
event loop) sees it is behind only once it runs, too late for the gateways' ``EVENT_QUEUE_MAX`` (session 19:
586 of 6,000 events dropped; a ZeroMQ handshake that did not finish in a minute). A thread in the recorder
would wait for a GIL held by a starved idle thread; this process has its own interpreter, stays at the
scheduling the recorder was started with (``SCHED_OTHER``, nice 0 under honcho) and reads the kernel's
own measure of each thread's waiting, which needs nothing from the starved threads.

What it does (``Guard.tick``, every ``INTERVAL_S``): for every thread of the recorder (its parent) and of
the recorder's other children (the SQLite writer), it reads ``/proc/PID/task/TID/stat`` (field 3, the
state; field 41, the policy) and, for the threads at ``SCHED_IDLE``, ``/proc/PID/task/TID/schedstat``
(Documentation/scheduler/sched-stats.rst: ns on the CPU, ns runnable waiting on a run queue, times run).
A thread *waited* in an interval

* the growth of its run-queue wait (the kernel adds a wait when the thread gets the CPU), plus
* the whole interval when it was runnable (``R``) at both ends and did not run in between (same CPU time,
  same count of runs): the wait the kernel has not added yet, because the thread has not run.

When a ``SCHED_IDLE`` thread waited ``STARVED_NS`` or more in its last ``WINDOW`` intervals (the sum of its waits
in them: ``_Thread.look``), every thread of both processes
still at ``SCHED_IDLE`` goes to ``SCHED_OTHER`` (nice unchanged; the recorder's ``can_leave_idle`` checked
at start that the kernel allows it: the same user, ``CAP_SYS_NICE`` or ``RLIMIT_NICE``). It never puts a
thread back to ``SCHED_IDLE``: the recorder sees its own policy changed at its next check, counts the raise
(``ekai_recorder_priority_raises{by="watchdog"}``) and goes back after its calm as for its own raises
(``priority.Priority``: 1 s, doubled each time it is starved again within 10 s, up to 60 s). A thread
that was not at ``SCHED_IDLE`` at the previous look only gets its baseline (its waits at normal priority
are the machine's ordinary contention, not starvation). While the kernel's CPU pressure
(``/proc/pressure/cpu``, where there is one) grew too little since the last look at the threads for any
thread to have waited half that long, a tick reads that one file and nothing else (``Guard.calm``).

Why a window, not one interval (s21): a thread that gets a slice inside every interval has the wait before
each slice added when it runs (sched-stats.rst: the run-queue wait is counted at arrival on the CPU), so each
interval shows a wait below ``STARVED_NS`` however little it runs (a recording here: 41.5 ms, then 49.0 ms of
50), and the never-ran rule does not apply (it ran); summed over ``WINDOW`` intervals that is 90 ms of 100.
A calm tick (the gate) reads no thread: the next look's wait covers it too (the kernel's figure is a running
sum), and ``WINDOW`` calm ticks in a row start every thread's window again. A look after fewer calm ticks may
sum a little more than ``WINDOW`` intervals of wait: the rule errs towards a raise, never past a starved thread.

Its life: started by ``priority.Priority.start`` (``RECORDER_PRIORITY=idle`` only) before the recorder's
threads go idle, from the recorder's main thread; it asks the kernel for ``SIGKILL`` when that thread ends
(prctl(2) ``PR_SET_PDEATHSIG``) and also exits when its parent is no longer the recorder (``os.getppid``,
checked every interval: the parent died before the prctl, or the signal was lost). Started again by the
recorder when it died (``priority.Priority.check``); a starved recorder runs that check late, so a guard
that ends by an error while its recorder lives first raises every watched thread (``main``'s ``finally``):
the recorder then runs its check at normal priority, starts a new guard and goes back after its calm. A
guard ended by a signal's default action (``SIGKILL``, the OOM killer, ``SIGHUP``; it ignores ``SIGINT`` and
``SIGTERM``) runs nothing more: it is found only by the recorder's own check (what the recorder had before
session 20: late when starved); no process of ours at normal priority is left to do it. Linux only
(``/proc``); its cost: a few ``pread`` calls per thread per interval (docs/benchmarks.md, Sessions 20-21).

``python -m services.recorder.guard RECORDER_PID``; exit 0 when the recorder is gone.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field

log = logging.getLogger("recorder.guard")

INTERVAL_S = 0.05  # how often it looks (seconds): a starved recorder is raised within about two of these
STARVED_NS = 50_000_000  # a SCHED_IDLE thread that waited this long (ns) in its last WINDOW intervals is
# starved: a whole interval runnable and not run, or as much wait added (a nice-0 task waits a few ms at most on
# a busy 2-CPU machine; a SCHED_IDLE one under busy loops about half a second to a second between runs)
WINDOW = 4  # intervals whose waits are summed (200 ms): a quarter of it spent waiting for a CPU is starving
RELIST_EVERY = 10  # intervals between looks at which threads and processes there are (and on a failed read)
_SCHED_IDLE = 5  # /proc/PID/task/TID/stat field 41 (policy) of a SCHED_IDLE thread (os.SCHED_IDLE)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass(slots=True)
class _Thread:
    """One watched thread: its ``stat`` and ``schedstat`` kept open (``pread`` at 0 reads them anew)."""

    stat: int
    schedstat: int
    idle: bool = False  # at SCHED_IDLE at the last look
    runnable: bool = False  # state R at the last look
    ran_ns: int = -1  # schedstat field 1 at the last look (-1: no baseline)
    waited_ns: int = 0  # schedstat field 2
    runs: int = 0  # schedstat field 3
    recent: list[int] = field(default_factory=lambda: [0] * WINDOW)  # waits (ns) of the last intervals
    at: int = 0  # where in ``recent`` the next interval's wait goes

    def look(self, runnable: bool, ran_ns: int, waited_ns: int, runs: int, interval_ns: int) -> int:
        """One look at a thread at ``SCHED_IDLE``: its state is ``R`` (``runnable``), its schedstat fields
        (ns on the CPU, ns waited on a run queue, times run: Documentation/scheduler/sched-stats.rst),
        ``interval_ns`` since the last look. Returns what it waited (ns) in the last ``WINDOW`` intervals,
        0 when this look is its baseline (not at ``SCHED_IDLE``, or no reading, at the last look). Pure."""
        total = 0
        if self.idle and self.ran_ns >= 0:
            waited = waited_ns - self.waited_ns
            if runnable and self.runnable and ran_ns == self.ran_ns and runs == self.runs:
                waited += interval_ns  # runnable all along and never ran: a wait not yet added
            self.recent[self.at] = waited
            self.at = (self.at + 1) % len(self.recent)
            total = sum(self.recent)
        self.idle, self.runnable = True, runnable
        self.ran_ns, self.waited_ns, self.runs = ran_ns, waited_ns, runs
        return total

    def forget(self) -> None:
        """A baseline again at the next look, the window empty (not at ``SCHED_IDLE``, or a calm tick)."""
        self.ran_ns = -1
        self.recent[:] = [0] * WINDOW

    def close(self) -> None:
        for fd in (self.stat, self.schedstat):
            try:
                os.close(fd)
            except OSError:
                pass


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (``/proc/PID/task/TID/children``, every thread's), [] if gone."""
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return found


def can_see(pid: int) -> str | None:
    """None when this kernel gives what the guard reads of ``pid`` (``/proc/PID/task/TID/schedstat``:
    CONFIG_SCHED_INFO; ``/proc/PID/task/TID/children``: CONFIG_PROC_CHILDREN, to find the writer), else the
    missing file's name: a guard that cannot see a starved thread (or the writer) would never raise it."""
    tid = os.listdir(f"/proc/{pid}/task")[0]
    for name in ("schedstat", "children"):
        if not os.path.exists(f"/proc/{pid}/task/{tid}/{name}"):
            return f"/proc/PID/task/TID/{name}"
    return None


def _open_pressure() -> int:
    """``/proc/pressure/cpu`` kept open (-1 where there is none: no CONFIG_PSI, or ``psi=0``)."""
    try:
        return os.open("/proc/pressure/cpu", os.O_RDONLY)
    except OSError:
        return -1


class Guard:
    """Watches the threads of ``recorder`` and of its children but ``me`` (this process); ``tick`` once
    an interval. ``raises`` counts the times it moved starved threads back to ``SCHED_OTHER``.

    The gate (``pressure``): where the kernel keeps CPU pressure (PSI, Documentation/accounting/psi.rst),
    ``/proc/pressure/cpu``'s ``some total`` (us in which some task waited for a CPU, averaged over the
    CPUs by their busy time) grows by at least a thread's wait divided by the number of CPUs; while it
    grew less than ``starved_ns`` / CPUs / 2 since the last look at the threads no thread can have waited
    ``starved_ns`` / 2 since then, and the tick reads that one file instead of two per thread (the next look's
    waits cover these ticks too). Since the last look, not since the last tick (review21b): a thread that
    waits a quarter of each interval starves by the window's rule (``WINDOW``), yet the pressure may grow
    less than the gate in every single interval, and a gate per tick then never let a look find it."""

    def __init__(self, recorder: int, me: int, starved_ns: int = STARVED_NS) -> None:
        self.recorder, self.me, self.starved_ns = recorder, me, starved_ns
        self.raises = 0
        self.threads: dict[int, _Thread] = {}
        self.pressure = _open_pressure()
        self.gate_ns = (
            starved_ns
            // max(
                1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            )
            // 2
        )
        self.gated = 0  # ticks that read only the pressure
        self._pressure_us = -1  # the pressure at the last look at the threads (the gate's baseline)
        self._ticks = 0
        self._calm_run = 0  # calm ticks since the last look at the threads
        self._looked_ns = time.monotonic_ns()  # when the threads were last looked at

    def calm(self) -> bool:
        """Whether the CPU pressure grew too little since the last look at the threads for any thread to
        have waited ``starved_ns`` / 2 since (the gate, ``gate_ns``); when it did not, its reading is the
        baseline of the next ticks."""
        if self.pressure < 0:
            return False
        try:
            first = os.pread(self.pressure, 256, 0).split(b"\n", 1)[0]
            total = int(first.rsplit(b"total=", 1)[1])
        except (OSError, IndexError, ValueError):
            return False
        last = self._pressure_us
        if last >= 0 and (total - last) * 1000 < self.gate_ns:
            return True  # (the baseline stays: the growth of calm ticks adds up until a look)
        self._pressure_us = total
        return False

    def relist(self) -> None:
        """Open the threads that appeared, close those that ended."""
        pids = [self.recorder] + [c for c in children(self.recorder) if c != self.me]
        seen: set[int] = set()
        for pid in pids:
            try:
                tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
            except OSError:
                continue
            for tid in tids:
                seen.add(tid)
                if tid in self.threads:
                    continue
                try:
                    stat = os.open(f"/proc/{pid}/task/{tid}/stat", os.O_RDONLY)
                except OSError:
                    continue
                try:
                    schedstat = os.open(f"/proc/{pid}/task/{tid}/schedstat", os.O_RDONLY)
                except OSError:
                    os.close(stat)
                    continue
                self.threads[tid] = _Thread(stat, schedstat)
        for tid in [t for t in self.threads if t not in seen]:
            self.threads.pop(tid).close()

    def tick(self) -> bool:
        """One look at every thread; raise them all when one at ``SCHED_IDLE`` was starved. Returns
        whether it raised."""
        if self.calm():
            self.gated += 1
            self._calm_run += 1
            if self._calm_run == WINDOW:  # a window's worth of calm: every window starts again
                for thread in self.threads.values():
                    thread.forget()
            return False
        now = time.monotonic_ns()
        interval_ns, self._looked_ns, self._calm_run = now - self._looked_ns, now, 0
        if self._ticks % RELIST_EVERY == 0:
            self.relist()
        self._ticks += 1
        starved = 0
        stale = False
        for thread in self.threads.values():
            try:
                fields = os.pread(thread.stat, 1024, 0).rsplit(b")", 1)[1].split()
            except (OSError, IndexError):  # ended (ESRCH) since the last list
                stale = True
                continue
            runnable = fields[0] == b"R"
            idle = int(fields[38]) == _SCHED_IDLE
            if not idle:
                thread.idle = False
                thread.forget()
                continue
            try:
                ran_ns, waited_ns, runs = (int(x) for x in os.pread(thread.schedstat, 128, 0).split())
            except (OSError, ValueError):
                stale = True
                continue
            starved = max(starved, thread.look(runnable, ran_ns, waited_ns, runs, interval_ns))
        if stale:
            self._ticks = 0  # list again at the next tick
        if starved < self.starved_ns:
            return False
        self.raise_all()
        log.debug(
            "recorder starved (a SCHED_IDLE thread waited %.0f ms in %d intervals): SCHED_OTHER",
            starved / 1e6,
            WINDOW,
        )
        return True

    def raise_all(self) -> None:
        """Every watched thread still at ``SCHED_IDLE`` to ``SCHED_OTHER`` (its nice unchanged)."""
        self.raises += 1
        param = os.sched_param(0)
        self.relist()  # threads started since the last list (a new writer) too
        for tid, thread in self.threads.items():
            try:
                if os.sched_getscheduler(tid) == os.SCHED_IDLE:
                    os.sched_setscheduler(tid, os.SCHED_OTHER, param)
            except ProcessLookupError:
                continue
            except PermissionError:
                log.warning("recorder guard: cannot move thread %d off SCHED_IDLE", tid)
            thread.idle = False
            thread.forget()


def _die_with(recorder: int) -> bool:
    """Ask for SIGKILL when the parent thread ends; False when the parent is already not ``recorder``."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl: the getppid check below and in the loop still holds
        pass
    return os.getppid() == recorder


def main(argv: list[str] | None = None) -> int:
    """``python -m services.recorder.guard RECORDER_PID``: guard the recorder until it is gone."""
    args = sys.argv[1:] if argv is None else argv
    recorder = int(args[0])
    for sig in (signal.SIGINT, signal.SIGTERM):  # a terminal's Ctrl-C: the recorder stops us when it ends
        signal.signal(sig, signal.SIG_IGN)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not _die_with(recorder):
        return 0
    if os.sched_getscheduler(0) == os.SCHED_IDLE:  # started by a recorder thread already idle
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    guard = Guard(recorder, os.getpid())
    try:
        while os.getppid() == recorder:
            time.sleep(INTERVAL_S)
            guard.tick()
    finally:
        if os.getppid() == recorder:  # ending while the recorder lives: raise it, so its check runs soon
            log.warning("recorder guard ending: the recorder to SCHED_OTHER until it starts another")
            guard.raise_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
