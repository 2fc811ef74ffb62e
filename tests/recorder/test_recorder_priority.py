"""The recorder's CPU priority (``RECORDER_PRIORITY``, services/recorder/priority.py), as real processes:
every thread of the recorder and of its SQLite writer at ``SCHED_IDLE`` while it keeps up, back at
``SCHED_OTHER`` while it is behind (a stopped writer, events that waited), idle again once caught up;
``normal`` leaves the scheduling alone, ``nice`` renices every thread, and a process that could not leave
``SCHED_IDLE`` (no ``CAP_SYS_NICE``, ``RLIMIT_NICE`` 0) runs at nice instead."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from recorder_procs import (
    Launcher,
    Proc,
    RecorderConfig,
    count_rows,
    gateway_socket,
    make_event,
    send_all,
    spawn,
    wait_for_output,
    wait_until,
)

from services.recorder.priority import NICE_VALUE
from tests.load import Load, assert_exactly_once, fake_provider_process
from tests.procs import stack

SATURATED_N = 6000  # requests under the saturating load...
SATURATED_QUEUE_MAX = 2000  # ...more than a gateway worker may hold unacknowledged (EVENT_QUEUE_MAX)


def kids(recorder: Proc) -> list[int]:
    """The recorder's child processes."""
    pid = recorder.popen.pid
    return [int(k) for t in Path(f"/proc/{pid}/task").iterdir() for k in (t / "children").read_text().split()]


def is_guard(pid: int) -> bool:
    try:
        return b"services.recorder.guard" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False


def writer_pid(recorder: Proc) -> int:
    """The recorder's one child process that is not its starvation guard: its SQLite writer."""
    writers = [k for k in kids(recorder) if not is_guard(k)]
    assert len(writers) == 1, writers
    return writers[0]


def guard_pids(recorder: Proc) -> list[int]:
    """The recorder's starvation guard (guard.py), if any."""
    return [k for k in kids(recorder) if is_guard(k)]


def threads(recorder: Proc) -> list[int]:
    """Every thread of the recorder and of its writer process."""
    pids = [recorder.popen.pid, writer_pid(recorder)]
    return [int(t) for pid in pids for t in os.listdir(f"/proc/{pid}/task")]


def policies(recorder: Proc) -> set[int]:
    """The scheduling policies its threads have (``os.SCHED_*``)."""
    return {os.sched_getscheduler(tid) for tid in threads(recorder)}


IDLE_AGAIN_S = 150  # a busy machine: the guard raises it again and again, each calm doubled up to 60 s


def idle(recorder: Proc) -> None:
    """Wait until every thread is at SCHED_IDLE: at once on a quiet machine; on a busy one the starvation
    guard raises it at once, and it comes back between raises (after its calm)."""
    wait_until(lambda: policies(recorder) == {os.SCHED_IDLE}, IDLE_AGAIN_S, "every thread at SCHED_IDLE")


def nices(recorder: Proc) -> set[int]:
    return {os.getpriority(os.PRIO_PROCESS, tid) for tid in threads(recorder)}


def metric(cfg: RecorderConfig, name: str) -> float:
    """A metric's value; ``name`` may carry its labels as exposed (``raises{by="watchdog"}``)."""
    text = httpx.get(f"http://127.0.0.1:{cfg.metrics_port}/metrics").text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def test_every_thread_of_the_recorder_and_its_writer_runs_at_sched_idle(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    recorder = launch.recorder(RECORDER_PRIORITY="idle")
    assert len(threads(recorder)) >= 4  # the loop, ZeroMQ's I/O threads, the metrics server, the writer
    idle(recorder)
    assert "recorder priority: idle (SCHED_IDLE while it keeps up" in recorder.stderr()
    wait_until(lambda: metric(cfg, "ekai_recorder_background") == 1, IDLE_AGAIN_S, "background 1")
    assert len(guard_pids(recorder)) == 1  # the starvation guard (guard.py) watches it
    events = [make_event(request_id=f"idle-{i}") for i in range(20)]
    with gateway_socket(cfg.events) as gw:
        send_all(gw, events)
        wait_until(lambda: len(gw.read_acks()) == 20, 20, "the events acknowledged")
    # A recorder keeping up never finds itself behind (on a busy machine the starvation guard may raise it)
    assert metric(cfg, 'ekai_recorder_priority_raises{by="recorder"}') == 0


def test_a_stopped_writer_brings_the_recorder_to_normal_and_it_goes_back_to_idle(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    recorder = launch.recorder(RECORDER_BATCH_SIZE="10", RECORDER_PRIORITY="idle")
    writer = writer_pid(recorder)
    idle(recorder)
    sent = 0
    with gateway_socket(cfg.events) as gw:
        os.kill(writer, signal.SIGSTOP)
        try:

            def behind() -> bool:
                nonlocal sent
                send_all(gw, [make_event(request_id=f"stop-{sent}")])  # a batch at a time, a read each
                sent += 1
                return policies(recorder) == {os.SCHED_OTHER}

            wait_until(behind, 30, "the recorder back at SCHED_OTHER")
            assert gw.read_acks() == set()  # nothing committed yet
        finally:
            os.kill(writer, signal.SIGCONT)
        wait_until(lambda: len(gw.read_acks()) == sent, 30, "every event acknowledged")
        wait_until(
            lambda: policies(recorder) == {os.SCHED_IDLE}, IDLE_AGAIN_S, "SCHED_IDLE again once caught up"
        )
    # the recorder's own check, or the starvation guard first when the machine is busy
    raises = [metric(cfg, f'ekai_recorder_priority_raises{{by="{by}"}}') for by in ("recorder", "watchdog")]
    assert sum(raises) >= 1
    wait_until(lambda: metric(cfg, "ekai_recorder_background") == 1, IDLE_AGAIN_S, "background 1 again")


def test_events_that_waited_bring_the_recorder_to_normal(cfg: RecorderConfig, launch: Launcher) -> None:
    """Events read long after they finished (the gateways held them: a starved recorder, or resends)."""
    recorder = launch.recorder(RECORDER_PRIORITY="idle")
    old = [make_event(request_id=f"old-{i}", finished_at=time.time() - 30) for i in range(5)]
    with gateway_socket(cfg.events) as gw:
        send_all(gw, old)
        wait_until(lambda: policies(recorder) == {os.SCHED_OTHER}, 20, "SCHED_OTHER after old events")
        wait_until(lambda: len(gw.read_acks()) == 5, 20, "the events acknowledged")
        wait_until(lambda: policies(recorder) == {os.SCHED_IDLE}, IDLE_AGAIN_S, "SCHED_IDLE again")


def test_priority_normal_leaves_the_scheduling_alone(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder(RECORDER_PRIORITY="normal")
    assert policies(recorder) == {os.SCHED_OTHER}
    assert nices(recorder) == {os.getpriority(os.PRIO_PROCESS, 0)}
    assert "recorder priority: normal" in recorder.stderr()
    assert metric(cfg, "ekai_recorder_background") == 0
    assert guard_pids(recorder) == []  # no starvation guard: nothing to guard
    assert metric(cfg, 'ekai_recorder_priority_raises{by="watchdog"}') == 0


def test_priority_nice_renices_every_thread(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder(RECORDER_PRIORITY="nice")
    assert policies(recorder) == {os.SCHED_OTHER}
    assert nices(recorder) == {NICE_VALUE}
    assert metric(cfg, "ekai_recorder_background") == 1
    assert guard_pids(recorder) == []


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop CAP_SYS_NICE"
)
def test_a_recorder_that_could_not_leave_sched_idle_runs_at_nice_instead(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    """Without CAP_SYS_NICE and with RLIMIT_NICE 0 (an ordinary user's usual limits) SCHED_IDLE would be
    for good, and a saturated machine could starve the ledger: the recorder takes nice instead."""
    setpriv = shutil.which("setpriv")
    assert setpriv is not None
    args = [
        "-c",
        "import os, resource, runpy, sys;"
        "resource.setrlimit(resource.RLIMIT_NICE, (0, 0));"
        f"os.execv({setpriv!r}, [{setpriv!r}, '--bounding-set', '-sys_nice', '--inh-caps', '-sys_nice', "
        f"{sys.executable!r}, '-m', 'services.recorder'])",
    ]
    recorder = spawn("recorder", args, cfg.env(RECORDER_PRIORITY="idle"), cfg.workdir)
    launch.procs.append(recorder)
    wait_for_output(recorder, "recorder started")
    assert "recorder priority: nice (nice 10: RECORDER_PRIORITY=idle wants SCHED_IDLE" in recorder.stderr()
    assert policies(recorder) == {os.SCHED_OTHER}
    assert nices(recorder) == {NICE_VALUE}


@contextmanager
def pinned_hogs() -> Iterator[None]:
    """A busy loop pinned on each CPU (``os.sched_setaffinity``) at normal priority: every CPU always has a
    normal task to run, so a ``SCHED_IDLE`` thread hardly ever runs (weight 3 against 1,024, sched(7))."""
    code = "import os, sys; os.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True: pass"
    cpus = sorted(os.sched_getaffinity(0))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cpu)]) for cpu in cpus]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_the_watchdog_raises_a_starved_recorder(cfg: RecorderConfig, launch: Launcher) -> None:
    """A recorder at SCHED_IDLE on a machine whose every CPU runs a busy loop: its own loop hardly runs
    (and with no events it never finds itself behind), so only the starvation guard, a process of its own
    at normal priority, can see it wait (/proc/PID/task/TID/schedstat, the state R) and raise it."""
    recorder = launch.recorder(RECORDER_PRIORITY="idle")
    idle(recorder)
    guards = guard_pids(recorder)
    assert len(guards) == 1
    assert os.sched_getscheduler(guards[0]) == os.SCHED_OTHER  # the guard itself is never idle

    def poked_and_raised() -> bool:
        # Something for the recorder to do that is no event (its own check cannot call it behind): a
        # /metrics request makes one of its threads runnable, and under the hogs it waits for a CPU. A
        # recorder with nothing at all to do may sleep through the hogs, with nothing to starve (CI, s20).
        try:
            httpx.get(f"http://127.0.0.1:{cfg.metrics_port}/metrics", timeout=0.2)
        except httpx.HTTPError:
            pass
        return policies(recorder) == {os.SCHED_OTHER}

    with pinned_hogs():
        wait_until(poked_and_raised, 120, "the starved recorder raised")
        events = [make_event(request_id=f"starved-{i}") for i in range(200)]
        with gateway_socket(cfg.events) as gw:
            send_all(gw, events)
            wait_until(lambda: len(gw.read_acks()) == 200, 60, "every event acknowledged under the hogs")
    assert count_rows(cfg.ledger) == 200
    wait_until(lambda: metric(cfg, 'ekai_recorder_priority_raises{by="watchdog"}') >= 1, 30, "counted")
    wait_until(
        lambda: policies(recorder) == {os.SCHED_IDLE}, IDLE_AGAIN_S, "SCHED_IDLE again once the hogs are gone"
    )


def test_the_watchdog_dies_with_a_killed_recorder_and_is_restarted_when_it_dies(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    recorder = launch.recorder(RECORDER_PRIORITY="idle")
    first = guard_pids(recorder)
    assert len(first) == 1
    os.kill(first[0], signal.SIGKILL)  # the recorder starts another at its next check (<= 1 s)
    wait_until(lambda: len(again := guard_pids(recorder)) == 1 and again != first, 30, "a new guard")
    second = guard_pids(recorder)[0]
    assert "starvation guard exited (code -9): starting it again" in recorder.stderr()
    # started by an idle thread, it leaves SCHED_IDLE first thing
    wait_until(lambda: os.sched_getscheduler(second) == os.SCHED_OTHER, 30, "the new guard at SCHED_OTHER")
    recorder.popen.kill()
    recorder.popen.wait()
    wait_until(lambda: gone(second), 30, "the guard gone with its recorder (no orphan)")


def gone(pid: int) -> bool:
    """Exited (reaped, or a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with fake_provider_process("openai") as url:
        yield url


@contextmanager
def hogs(n: int) -> Iterator[None]:
    """``n`` busy loops at normal priority: with the gateway's workers they saturate the machine."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


# Its own bounds (the load's 300 s, the ledger's 60 s, the stack's start and stop) rather than the suite's
# 120 s: at a load average of 20-27 on 2 CPUs (session 20) the stop of a stack that had passed took it past 120 s.
@pytest.mark.timeout(600)
def test_a_saturated_machine_does_not_starve_the_ledger(tmp_path: Path, fake_url: str) -> None:
    """Two gateway workers and a busy loop per CPU: at the default priority (``idle``, with its starvation
    guard) every answered request is in the ledger, none dropped. (A recorder at SCHED_IDLE for good dropped
    833 of 6,000 here; ``idle`` guarded only by its own check, which a starved recorder runs too late, 586
    in one CI run of session 19.)"""
    env = {
        "GATEWAY_WORKERS": "2",
        "EVENT_QUEUE_MAX": str(SATURATED_QUEUE_MAX),
        "RECORDER_FLUSH_INTERVAL": "0.2",
    }
    with stack(tmp_path, {"openai": fake_url + "/v1"}, **env) as st:
        assert "recorder priority: idle" in st.services["recorder"].log()
        with hogs(os.cpu_count() or 1):
            load = Load(st.gateway_url + "/v1/chat/completions", SATURATED_N, 16, "hog").start()
            load.join(300)
        assert not load.failed and len(load.answered) == SATURATED_N
        assert_exactly_once(st, load, timeout=60)


def test_an_unknown_priority_is_a_bad_setting(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.spawn_recorder(RECORDER_PRIORITY="fast")
    assert recorder.popen.wait(30) == 2
    assert "RECORDER_PRIORITY must be one of idle, nice, normal, got 'fast'" in recorder.stderr()
