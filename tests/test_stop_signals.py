"""Every process we start, stopped the ways a user and honcho stop it, from the real ``python -m`` processes:
``make run``'s Ctrl-C is SIGINT to the whole process group and honcho's SIGTERM right after it, so each process
gets two signals or more, at any gap, while it serves, drains or still starts. Each must exit 0 without a
traceback, and the gateway and the recorder without losing an answered request's event.

Before (session 34's stop probe; ``shared/stopping.py`` says why each happened):
- the gateway (``GATEWAY_WORKERS=1``) under load: aiohttp's handler raised ``GracefulExit`` again mid-drain,
  in-flight requests were cut (``InvalidStateError`` tracebacks), exit 1; idle, the copy landing after the
  drain killed it (``rc=-15``);
- the workers' parent and the recorder: a copy after the loop had closed found the default action (``rc=-15``);
- a worker given both signals while it still started (they are blocked until it serves): "OSError: Signal 15
  ignored due to race condition", a traceback;
- the fake provider (``tests/fake_provider.py``): ``rc=-15`` / ``rc=-2`` on the second signal.
The dashboard's twin is ``tests/test_dashboard_start.py``; the tail's ``tests/recorder/test_tail_process.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load import Load, assert_exactly_once, fake_provider_process
from tests.procs import ROOT, Service, Stack, base_env, catches_sigterm, free_port, http_ok, wait_until

GAPS = [0.0, 0.01, 0.05, 0.2]  # between Ctrl-C's SIGINT and honcho's SIGTERM
BAD = ("Traceback", "race condition", "terminate called", "Exception ignored")
KEY = "sk-test-openai-secret-key"


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with fake_provider_process("openai") as url:
        yield url


def _start(name: str, argv: list[str], tmp: Path, env: dict[str, str], group: int | None) -> Service:
    """``argv`` (after the interpreter) as ``name``, its output in ``TMP/NAME.log``: in a process group of its
    own (``group`` None: the one a terminal gives ``make run``), or in ``group``."""
    log_path = tmp / f"{name}.log"
    with open(log_path, "ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            env=env,
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
            process_group=0 if group is None else group,
        )
    return Service(name, proc, log_path)


def _ctrl_c_then_sigterm(group: int, pids: list[int], gap_s: float) -> None:
    """SIGINT to the whole group (Ctrl-C), ``gap_s`` later SIGTERM to each of ``pids`` (honcho's stop)."""
    os.killpg(group, signal.SIGINT)
    if gap_s:
        time.sleep(gap_s)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass


def _post(url: str) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, b"", method="POST"), timeout=10) as resp:
        resp.read()


def _upstream_received(fake_url: str) -> int:
    """How many requests the fake provider has received since its last reset (``GET /_fake/requests``)."""
    with urllib.request.urlopen(fake_url + "/_fake/requests", timeout=10) as resp:
        return len(json.loads(resp.read()))


def _ended_cleanly(svc: Service, timeout: float = 30.0) -> str:
    """Wait for ``svc`` to exit; assert status 0 and no traceback in its log. Returns the log."""
    try:
        rc = svc.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        svc.proc.kill()
        svc.proc.wait(5)
        raise AssertionError(f"{svc.name} did not exit in {timeout}s:\n{svc.log()[-3000:]}") from None
    log = svc.log()
    assert rc == 0, f"{svc.name} exited {rc}:\n{log[-3000:]}"
    assert not [bad for bad in BAD if bad in log], log[-3000:]
    return log


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("gap_s", GAPS)
def test_ctrl_c_then_honchos_sigterm_mid_load_drains_the_gateway_and_the_recorder(
    tmp_path: Path, fake_url: str, workers: int, gap_s: float
) -> None:
    """Requests (0.2 s upstream each) are in flight as the two signals come; every answered one is in the
    ledger (SQLite: aiosqlite's thread and the writer process busy), both processes exit 0."""
    _stop_mid_load(tmp_path, fake_url, {"GATEWAY_WORKERS": str(workers)}, gap_s)


@pytest.mark.parametrize("gap_s", [0.01, 0.2])
def test_ctrl_c_then_honchos_sigterm_mid_load_with_a_postgresql_ledger(
    tmp_path: Path, fake_url: str, pg_url: str, gap_s: float
) -> None:
    """The same with the ledger in PostgreSQL: asyncpg's connections busy as the signals come."""
    _stop_mid_load(tmp_path, fake_url, {"DATABASE_URL": pg_url}, gap_s)


def _stop_mid_load(tmp_path: Path, fake_url: str, extra_env: dict[str, str], gap_s: float) -> None:
    env = base_env(tmp_path) | {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": fake_url + "/v1"} | extra_env
    _post(fake_url + "/_fake/reset")  # its requests counted from here (_upstream_received)
    st = Stack(env, tmp_path)
    recorder = _start("recorder", ["-m", "services.recorder"], tmp_path, env, None)
    st.services["recorder"] = recorder
    gateway = _start("gateway", ["-m", "services.gateway"], tmp_path, env, recorder.proc.pid)
    st.services["gateway"] = gateway
    try:
        if "DATABASE_URL" in env:
            wait_until(lambda: "recorder started" in recorder.log() or recorder.proc.poll() is not None, 30)
        wait_until(lambda: gateway.proc.poll() is not None or http_ok(st.gateway_url + "/health"), 60)
        assert gateway.proc.poll() is None, gateway.log()
        load = Load(
            st.gateway_url + "/v1/chat/completions",
            400,  # about 5 s of load: the stop comes after 100, the rest are refused
            16,
            f"stop-{gap_s}",
            body={
                "model": "gpt-4o-mini@fault=latency:0.2",
                "messages": [{"role": "user", "content": "hello ledger"}],
            },
        ).start()
        load.wait_for(100)
        # ... and goes while the gateway holds requests: ones the provider has received and not yet answered
        # (0.2 s each). Right after a round of 16 answers the next 16 may still be unread in the gateway's
        # sockets, on a busy machine for longer than the signal takes: aiohttp then closes those connections
        # as idle (a keep-alive race every HTTP/1.1 client meets, RFC 9112 9.6), all 16 fail, and none is in
        # flight below (session 35: once in about 40 runs of the 2-worker cases at load 15-20, [0.0-2]: 112
        # answered, 7 rounds of 16, then the 16 of the next round refused).
        wait_until(lambda: _upstream_received(fake_url) > load.done, 30, 0.01)
        signal_at = time.perf_counter()
        _ctrl_c_then_sigterm(recorder.proc.pid, [gateway.proc.pid, recorder.proc.pid], gap_s)
        gateway_log = _ended_cleanly(gateway)
        recorder_log = _ended_cleanly(recorder)
        load.join()
    finally:
        st.stop_all()
    assert "all events acknowledged" in gateway_log, gateway_log[-3000:]
    # the gateway's goodbye reached the recorder (were it lost at the gateway's exit, the recorder waited its
    # 4.6 s for a gateway already gone: honcho, which kills after 5 s, then killed it in make demo)
    assert "still draining; stopping anyway" not in recorder_log, recorder_log[-3000:]
    in_flight = [rid for rid, (sent, done) in load.spans.items() if sent < signal_at < done]
    assert in_flight, (len(load.answered), load.failed)  # the drain let requests in flight finish
    counts = assert_exactly_once(st, load, timeout=2, live=False)  # both are gone: it is all there
    assert sum(counts.values()) == len(load.answered)


def test_both_signals_while_the_workers_still_start_exit_0_without_a_traceback(tmp_path: Path) -> None:
    """The workers start with SIGTERM and SIGINT blocked, so a Ctrl-C and honcho's SIGTERM that come while
    they import are both pending as a worker begins to serve: both are caught at once. Three rounds: the
    race needs both to land inside the start."""
    for round_ in range(3):
        tmp = tmp_path / str(round_)
        tmp.mkdir()
        env = base_env(tmp) | {"GATEWAY_WORKERS": "2"}
        gateway = _start("gateway", ["-m", "services.gateway"], tmp, env, None)
        try:
            wait_until(
                lambda g=gateway: "started 2 workers" in g.log() or g.proc.poll() is not None, 60, 0.01
            )
            os.killpg(gateway.proc.pid, signal.SIGINT)
            os.killpg(gateway.proc.pid, signal.SIGTERM)
            _ended_cleanly(gateway)
        finally:
            gateway.stop()


@pytest.mark.parametrize("program", ["fake provider", "demo traffic"])
@pytest.mark.parametrize("gap_s", GAPS)
def test_the_demos_other_processes_stop_on_two_signals(tmp_path: Path, gap_s: float, program: str) -> None:
    """``make demo``'s fake provider servers (``python -m tests.fake_provider``, which the load tests start and
    stop too) and its traffic generator (``python -m tests.demo.traffic``), serving: SIGINT then SIGTERM, and
    SIGTERM then SIGINT. Before: the second signal killed them (rc=-15, rc=-2), or a SIGINT after SIGTERM raised
    KeyboardInterrupt in the traffic generator."""
    for first, second in ((signal.SIGINT, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)):
        port = free_port()
        env = base_env(tmp_path)
        if program == "fake provider":
            argv = ["-m", "tests.fake_provider", "--port", str(port)]
            ready = f"http://127.0.0.1:{port}/v1/models"
        else:  # sends to the gateway's port, where nothing listens: it retries every second
            env |= {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}
            argv = ["-m", "tests.demo.traffic"]
        proc = _start(f"{program}-{first.name}", argv, tmp_path, env, None)
        try:
            if program == "fake provider":
                wait_until(lambda p=proc, u=ready: p.proc.poll() is not None or http_ok(u), 30)
            else:  # its loop runs (the handler, set up before it, is in place)
                wait_until(lambda p=proc: p.proc.poll() is not None or catches_sigterm(p.proc.pid), 30, 0.01)
                time.sleep(0.5)  # into its loop: the first request tried (not a timed assertion)
            assert proc.proc.poll() is None, proc.log()
            proc.proc.send_signal(first)
            if gap_s:
                time.sleep(gap_s)
            proc.proc.send_signal(second)
            _ended_cleanly(proc)
        finally:
            proc.stop()
