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


def writer_pid(recorder: Proc) -> int:
    """The recorder's one child process: its SQLite writer."""
    pid = recorder.popen.pid
    kids = [int(k) for t in Path(f"/proc/{pid}/task").iterdir() for k in (t / "children").read_text().split()]
    assert len(kids) == 1, kids
    return kids[0]


def threads(recorder: Proc) -> list[int]:
    """Every thread of the recorder and of its writer process."""
    pids = [recorder.popen.pid, writer_pid(recorder)]
    return [int(t) for pid in pids for t in os.listdir(f"/proc/{pid}/task")]


def policies(recorder: Proc) -> set[int]:
    """The scheduling policies its threads have (``os.SCHED_*``)."""
    return {os.sched_getscheduler(tid) for tid in threads(recorder)}


def nices(recorder: Proc) -> set[int]:
    return {os.getpriority(os.PRIO_PROCESS, tid) for tid in threads(recorder)}


def metric(cfg: RecorderConfig, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{cfg.metrics_port}/metrics").text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")))


def test_every_thread_of_the_recorder_and_its_writer_runs_at_sched_idle(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    recorder = launch.recorder(RECORDER_PRIORITY="idle")
    assert len(threads(recorder)) >= 4  # the loop, ZeroMQ's I/O threads, the metrics server, the writer
    assert policies(recorder) == {os.SCHED_IDLE}
    assert "recorder priority: idle (SCHED_IDLE while it keeps up" in recorder.stderr()
    assert metric(cfg, "ekai_recorder_background") == 1
    events = [make_event(request_id=f"idle-{i}") for i in range(20)]
    with gateway_socket(cfg.events) as gw:
        send_all(gw, events)
        wait_until(lambda: len(gw.read_acks()) == 20, 20, "the events acknowledged")
    assert policies(recorder) == {os.SCHED_IDLE}  # a recorder keeping up stays idle


def test_a_stopped_writer_brings_the_recorder_to_normal_and_it_goes_back_to_idle(
    cfg: RecorderConfig, launch: Launcher
) -> None:
    recorder = launch.recorder(RECORDER_BATCH_SIZE="10", RECORDER_PRIORITY="idle")
    writer = writer_pid(recorder)
    assert policies(recorder) == {os.SCHED_IDLE}
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
        wait_until(lambda: policies(recorder) == {os.SCHED_IDLE}, 30, "SCHED_IDLE again once caught up")
    assert metric(cfg, "ekai_recorder_priority_raises") >= 1
    assert metric(cfg, "ekai_recorder_background") == 1


def test_events_that_waited_bring_the_recorder_to_normal(cfg: RecorderConfig, launch: Launcher) -> None:
    """Events read long after they finished (the gateways held them: a starved recorder, or resends)."""
    recorder = launch.recorder(RECORDER_PRIORITY="idle")
    old = [make_event(request_id=f"old-{i}", finished_at=time.time() - 30) for i in range(5)]
    with gateway_socket(cfg.events) as gw:
        send_all(gw, old)
        wait_until(lambda: policies(recorder) == {os.SCHED_OTHER}, 20, "SCHED_OTHER after old events")
        wait_until(lambda: len(gw.read_acks()) == 5, 20, "the events acknowledged")
        wait_until(lambda: policies(recorder) == {os.SCHED_IDLE}, 30, "SCHED_IDLE again")


def test_priority_normal_leaves_the_scheduling_alone(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder(RECORDER_PRIORITY="normal")
    assert policies(recorder) == {os.SCHED_OTHER}
    assert nices(recorder) == {os.getpriority(os.PRIO_PROCESS, 0)}
    assert "recorder priority: normal" in recorder.stderr()
    assert metric(cfg, "ekai_recorder_background") == 0


def test_priority_nice_renices_every_thread(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.recorder(RECORDER_PRIORITY="nice")
    assert policies(recorder) == {os.SCHED_OTHER}
    assert nices(recorder) == {NICE_VALUE}
    assert metric(cfg, "ekai_recorder_background") == 1


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


def test_a_saturated_machine_does_not_starve_the_ledger(tmp_path: Path, fake_url: str) -> None:
    """Two gateway workers and a busy loop per CPU: at the default priority (``normal``) every answered
    request is in the ledger, none dropped. (A recorder at SCHED_IDLE for good dropped 833 of 6,000 here;
    ``idle``, which comes back to normal once it sees it is behind, still dropped 586 in one CI run: a starved
    recorder sees it too late for an EVENT_QUEUE_MAX of 2,000. Hence ``normal`` by default.)"""
    env = {
        "GATEWAY_WORKERS": "2",
        "EVENT_QUEUE_MAX": str(SATURATED_QUEUE_MAX),
        "RECORDER_FLUSH_INTERVAL": "0.2",
    }
    with stack(tmp_path, {"openai": fake_url + "/v1"}, **env) as st:
        assert "recorder priority: normal" in st.services["recorder"].log()
        with hogs(os.cpu_count() or 1):
            load = Load(st.gateway_url + "/v1/chat/completions", SATURATED_N, 16, "hog").start()
            load.join(300)
        assert not load.failed and len(load.answered) == SATURATED_N
        assert_exactly_once(st, load, timeout=60)


def test_an_unknown_priority_is_a_bad_setting(cfg: RecorderConfig, launch: Launcher) -> None:
    recorder = launch.spawn_recorder(RECORDER_PRIORITY="fast")
    assert recorder.popen.wait(30) == 2
    assert "RECORDER_PRIORITY must be one of idle, nice, normal, got 'fast'" in recorder.stderr()
