"""The recorder's CPU priority (``RECORDER_PRIORITY``): the ledger yields the CPU to the request path.

Why (issue 13, docs/benchmarks.md "Session 19: the recorder's priority"): on a quiet two-core machine one
connection's added p99 was the recorder (its event loop, ZeroMQ's I/O threads, the SQLite writer process)
taking a CPU just when the request's chain (client -> gateway -> provider -> gateway -> client) needed it;
the recorder at ``SCHED_IDLE`` took that tail away. Nothing of the ledger is urgent: rows wait for their
commit (``RECORDER_FLUSH_INTERVAL``) and the gateways hold every event until it is acknowledged.

The choices (``choose``), each applied by the recorder itself at start (``Priority.start``), so every way of
starting it (honcho, ``python -m services.recorder``, the tests, the benchmarks) gets the same:

* ``idle`` (the default: the lowest one-connection tail on a single host): every thread of the recorder
  and of its writer process runs at ``SCHED_IDLE`` (sched(7): it runs only when no normal task wants the
  CPU, weight 3 against nice 0's 1,024) while the recorder keeps up, and back at ``SCHED_OTHER`` (its nice
  unchanged) while it is behind (``Priority.check``: the caller says when) or starved. Starved is seen from
  outside: a starved process cannot see it is starved (session 19's CI on this default without it: 586 of
  6,000 events dropped at ``EVENT_QUEUE_MAX`` 2,000 under two gateway workers and a busy loop per CPU; a
  recorder that did not finish a ZeroMQ handshake in a minute under a test's 100 Hz polling). So ``start``
  first starts the starvation guard (``guard.py``: a process of its own, at the scheduling this one was
  started with, never idle), which every 50 ms reads the kernel's own count of each thread's waits for a
  CPU (``/proc/PID/task/TID/schedstat``, the state ``R``) and moves every thread to ``SCHED_OTHER`` when
  one at ``SCHED_IDLE`` waited 50 ms; ``check`` finds its thread raised (one ``sched_getscheduler``) and
  counts it (``guard_raises``) like a raise of its own. It goes back to ``SCHED_IDLE`` after ``CALM_S``
  without falling behind or being raised; when either happens again soon after (``STARVED_S``: the
  machine is saturated, each return would starve it again) that calm doubles, up to ``CALM_MAX_S``.
  Leaving ``SCHED_IDLE`` needs ``CAP_SYS_NICE`` or an
  ``RLIMIT_NICE`` of at least 20 minus the thread's nice (kernel/sched/syscalls.c
  ``user_check_sched_setscheduler`` -> ``can_nice``; sched(7) "SCHED_IDLE"): root can, an ordinary user
  with the usual ``RLIMIT_NICE`` of 0 cannot. ``can_leave_idle`` tries it on a throwaway thread; a process
  that could not come back gets ``nice`` instead (and says so in its start-up log line), and no guard.
* ``normal``: nothing is changed (the scheduling the process was started with); no guard.
* ``nice``: every thread at nice ``NICE_VALUE`` for good (setpriority(2) with ``PRIO_PROCESS`` on a thread id is
  per thread on Linux; raising one's own nice needs no privilege). It can never be starved: weight 110
  against 1,024, about a tenth of a contended CPU.

New threads and the writer process inherit the policy and nice of the thread that creates them
(pthread_create(3) inherits by default, fork(2) and execve(2) keep both), and every switch applies to every
thread of this process and of the processes ``others()`` names (the writer), as ``/proc/PID/task`` lists
them. Linux only (``os.sched_setscheduler``); elsewhere ``idle`` and ``nice`` fall back to ``normal``.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from services.recorder import guard

log = logging.getLogger("recorder")

IDLE, NICE, NORMAL = "idle", "nice", "normal"
PRIORITIES = (IDLE, NICE, NORMAL)
NICE_VALUE = 10  # the ``nice`` choice's value (and ``idle``'s fallback): weight 110 against nice 0's 1,024
CALM_S = 1.0  # back to SCHED_IDLE once the recorder has not been behind for this long (seconds)...
CALM_MAX_S = 60.0  # ...doubled, up to this, each time it falls behind again within STARVED_S of going idle
STARVED_S = 10.0  # (a saturated machine: each return to SCHED_IDLE would starve it again); reset after
GUARD_STARTS_MAX = 5  # the starvation guard (guard.py) started at most this often; then normal for good


def can_leave_idle() -> bool:
    """Whether this process may go from ``SCHED_IDLE`` back to ``SCHED_OTHER``: tried on a throwaway
    thread (which inherits this thread's policy and nice), since only the kernel knows every rule
    (capabilities, ``RLIMIT_NICE``, seccomp, containers). False where there is no ``SCHED_IDLE``."""
    if not hasattr(os, "sched_setscheduler") or not hasattr(os, "SCHED_IDLE"):
        return False
    result: list[bool] = []

    def probe() -> None:
        tid = threading.get_native_id()
        try:
            os.sched_setscheduler(tid, os.SCHED_IDLE, os.sched_param(0))
            os.sched_setscheduler(tid, os.SCHED_OTHER, os.sched_param(0))
        except OSError:  # PermissionError: no CAP_SYS_NICE and RLIMIT_NICE too low
            result.append(False)
        else:
            result.append(True)

    thread = threading.Thread(target=probe, name="recorder-priority-probe")
    thread.start()
    thread.join()
    return result == [True]


def choose(wanted: str) -> tuple[str, str]:
    """The priority to run at for ``RECORDER_PRIORITY=wanted`` (one of ``PRIORITIES``) and why, for the
    log: ``idle`` only when this process can leave it again (``can_leave_idle``), else ``nice``; ``normal``
    when the kernel does not give what the starvation guard reads (``guard.can_see``)."""
    if wanted == NORMAL:
        return NORMAL, "RECORDER_PRIORITY=normal: scheduling left as started"
    if not hasattr(os, "setpriority") or not hasattr(os, "sched_setscheduler"):
        return NORMAL, f"RECORDER_PRIORITY={wanted}, but this system has no per-thread priorities"
    if wanted == NICE:
        return NICE, f"every thread at nice {NICE_VALUE} (RECORDER_PRIORITY=nice)"
    if (missing := guard.can_see(os.getpid())) is not None:
        return NORMAL, (
            f"RECORDER_PRIORITY=idle, but this kernel has no {missing}: the starvation guard could not see a "
            "starved recorder, and a ledger at SCHED_IDLE unguarded could starve on a saturated machine"
        )
    if can_leave_idle():
        return IDLE, f"SCHED_IDLE while it keeps up, SCHED_OTHER while behind (back after {CALM_S:g} s calm)"
    return NICE, (
        f"nice {NICE_VALUE}: RECORDER_PRIORITY=idle wants SCHED_IDLE, but this process could not leave it again "
        "while behind (no CAP_SYS_NICE and RLIMIT_NICE too low, sched(7)), and a ledger at SCHED_IDLE for "
        "good could starve on a saturated machine"
    )


def threads(pids: Iterable[int]) -> list[int]:
    """The thread ids of ``pids`` (``/proc/PID/task``); a process gone meanwhile has none."""
    found: list[int] = []
    for pid in pids:
        try:
            found.extend(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return found


@dataclass(slots=True)
class Priority:
    """The recorder's priority as it runs: ``mode`` (from ``choose``), ``others()`` the pids of the
    processes that share it (the SQLite writer). ``background`` is True while the threads are at
    ``SCHED_IDLE`` or at ``NICE_VALUE``; ``raises`` counts the times a behind recorder went back to normal,
    ``guard_raises`` the times the starvation guard (``guard.py``) moved it there."""

    mode: str
    others: Callable[[], Iterable[int]] = tuple
    background: bool = False
    raises: int = 0
    guard_raises: int = 0  # the times the starvation guard (guard.py) had raised it
    calm_s: float = CALM_S  # the calm it now waits for before going back to SCHED_IDLE
    _calm_since: float | None = field(default=None)
    _idle_since: float | None = field(default=None)
    _guard: subprocess.Popen[bytes] | None = field(default=None)
    _guard_starts: int = 0

    def start(self) -> None:
        """Apply ``mode`` to every thread (``idle``: the starvation guard started first, at the scheduling
        this process started with, then ``SCHED_IDLE``; ``nice``: nice ``NICE_VALUE``). Call it from the
        main thread: the guard dies with the thread that started it (``PR_SET_PDEATHSIG``)."""
        if self.mode == IDLE:
            try:
                self._start_guard()
            except OSError as exc:  # no guard, no idle: a ledger at SCHED_IDLE unguarded could starve
                log.warning("recorder starvation guard cannot start (%s): normal priority", exc)
                self.mode = NORMAL
                return
            self._set(background=True)
        elif self.mode == NICE:
            for tid in threads([os.getpid(), *self.others()]):
                try:
                    os.setpriority(os.PRIO_PROCESS, tid, NICE_VALUE)
                except (ProcessLookupError, PermissionError):
                    continue
            self.background = True

    def check(self, behind: bool, now: float) -> None:
        """Say whether the recorder is behind at ``now`` (seconds, a monotonic clock). ``idle`` only: a
        behind recorder goes to ``SCHED_OTHER`` at once, and back to ``SCHED_IDLE`` once it has not been
        behind for ``calm_s``: ``CALM_S``, doubled (up to ``CALM_MAX_S``) each time it fell behind again
        within ``STARVED_S`` of going idle (a saturated machine), back to ``CALM_S`` when it fell behind
        later than that. A calling thread found at ``SCHED_OTHER`` while it should be idle was raised by
        the starvation guard (``guard.py``): counted in ``guard_raises`` and handled as a raise of its own.
        A guard that exited is started again (at most ``GUARD_STARTS_MAX`` times, then ``normal`` for
        good). Two system calls (``sched_getscheduler``, ``waitpid``) when nothing changes."""
        if self.mode != IDLE:
            return
        if self._guard is not None and self._guard.poll() is not None:
            self._restart_guard()
            if self.mode != IDLE:
                return
        if self.background and os.sched_getscheduler(0) != os.SCHED_IDLE:
            self.guard_raises += 1
            self._raise(now, "the starvation guard found it starved")
            return
        if behind:
            self._calm_since = None
            if self.background:
                self.raises += 1
                self._raise(now, "recorder behind")
        elif not self.background:
            if self._calm_since is None:
                self._calm_since = now
            elif now - self._calm_since >= self.calm_s:
                self._calm_since = None
                self._idle_since = now
                self._set(background=True)
                log.debug("recorder caught up: SCHED_IDLE again")

    def close(self) -> None:
        """Stop the starvation guard (if any) and wait for it."""
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.kill()
            guard.wait()

    @property
    def guard_pid(self) -> int:
        """The starvation guard's process id (0: none)."""
        return self._guard.pid if self._guard is not None else 0

    def _raise(self, now: float, why: str) -> None:
        self._calm_since = None
        starved = self._idle_since is not None and now - self._idle_since < STARVED_S
        self.calm_s = min(self.calm_s * 2, CALM_MAX_S) if starved else CALM_S
        self._set(background=False)
        log.debug("%s: SCHED_OTHER (#%d, then %g s calm)", why, self.raises + self.guard_raises, self.calm_s)

    def _start_guard(self) -> None:
        self._guard_starts += 1
        self._guard = subprocess.Popen(
            [sys.executable, "-m", "services.recorder.guard", str(os.getpid())],
            stdin=subprocess.DEVNULL,
        )

    def _restart_guard(self) -> None:
        code = self._guard.returncode if self._guard is not None else None
        self._guard = None
        if self._guard_starts >= GUARD_STARTS_MAX:
            log.warning(
                "recorder starvation guard exited (code %s) %d times: normal priority for good",
                code,
                self._guard_starts,
            )
            self._set(background=False)
            self.mode = NORMAL
            return
        log.warning("recorder starvation guard exited (code %s): starting it again", code)
        try:
            self._start_guard()
        except OSError as exc:
            log.warning("recorder starvation guard cannot start (%s): normal priority for good", exc)
            self._set(background=False)
            self.mode = NORMAL

    def _set(self, *, background: bool) -> None:
        policy = os.SCHED_IDLE if background else os.SCHED_OTHER
        param = os.sched_param(0)
        for tid in threads([os.getpid(), *self.others()]):
            try:
                os.sched_setscheduler(tid, policy, param)
            except ProcessLookupError:  # a thread that ended meanwhile
                continue
            except PermissionError:  # cannot happen after can_leave_idle; never run idle for good
                log.warning("recorder priority: cannot change thread %d's policy: staying normal", tid)
                self.mode = NORMAL
                if background:
                    self._set(background=False)
                self.background = False
                return
        self.background = background
