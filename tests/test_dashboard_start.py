"""The dashboard's start-up lines, from the real ``python -m services.dashboard`` process.

Dash gives its logger a stdout handler of its own unless told not to; with the root logger the process
configures, "Dash is running on …" came out twice (newcomer review, session 11)."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest

from tests.procs import base_env, http_ok, sigterm_while_starting, start, wait_until


def test_the_dashboard_says_where_it_runs_once(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    dashboard = start("dashboard", "services.dashboard", env, tmp_path)
    try:
        url = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/"
        wait_until(lambda: dashboard.proc.poll() is not None or http_ok(url), 60)
        assert dashboard.proc.poll() is None, dashboard.log()
    finally:
        assert dashboard.stop() == 0, dashboard.log()
    log = dashboard.log()
    assert log.count("Dash is running on") == 1, log
    assert f"Dash is running on {url}" in log, log


def test_a_taken_port_stops_the_dashboard_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    """Port 3000 is a common default (Grafana, dev servers). Before: "Dash is running on http://…:3000/", then
    werkzeug's "Port 3000 is in use by another program" without the setting that moves it."""
    env = base_env(tmp_path)
    with socket.socket() as holder:  # another program's listener on the dashboard's port
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        env["DASHBOARD_PORT"] = str(holder.getsockname()[1])
        dashboard = start("dashboard", "services.dashboard", env, tmp_path)
        wait_until(lambda: dashboard.proc.poll() is not None, 60)
    log = dashboard.log()
    assert dashboard.proc.returncode == 1, log
    assert f"dashboard: 127.0.0.1:{env['DASHBOARD_PORT']} is already in use" in log, log
    assert "set DASHBOARD_PORT to a free port" in log, log
    # an example that is not the taken port (before: DASHBOARD_PORT=3010 make run, whatever port was taken), and
    # what a second stack beside a running one needs
    assert (
        f"e.g. DASHBOARD_PORT={int(env['DASHBOARD_PORT']) + 10} in front of `make run` or `make demo`" in log
    ), log
    assert "needs its own GATEWAY_PORT, DASHBOARD_PORT, RECORDER_METRICS_PORT, EVENTS_ENDPOINT" in log, log
    assert "Dash is running on" not in log and "Traceback" not in log, log


@pytest.mark.parametrize("service", ["dashboard", "gateway"])
def test_a_host_that_is_not_this_machines_names_the_host_setting(tmp_path: Path, service: str) -> None:
    """A host no interface of this machine has (192.0.2.1, TEST-NET-1: the bind fails locally, EADDRNOTAVAIL,
    nothing is sent): the port is not what is wrong, so the line names the host's setting. Before: "192.0.2.1:N
    is already in use (Cannot assign requested address): set DASHBOARD_PORT to a free port"."""
    setting = f"{service.upper()}_HOST"
    env = base_env(tmp_path) | {
        setting: "192.0.2.1",
        "GATEWAY_TRUSTED_NETWORK": "1",
    }  # (beyond loopback: allowed)
    proc = start(service, f"services.{service}", env, tmp_path)
    wait_until(lambda: proc.proc.poll() is not None, 60)
    log = proc.log()
    assert proc.proc.returncode == 1, log
    assert f"{service}: 192.0.2.1:{env[f'{service.upper()}_PORT']} cannot be bound" in log, log
    assert f"set {setting} to an address of this machine" in log, log
    assert "already in use" not in log and "to a free port" not in log and "Traceback" not in log, log


def test_a_sigterm_while_it_starts_exits_0_without_a_traceback(tmp_path: Path) -> None:
    """honcho stops every process when one fails at start-up, often while the dashboard still imports Dash and
    pandas (a second or two). Before: the signal's default action killed it (``dashboard.1 stopped (rc=-15)``)
    as its handler was installed only before serving. The signal goes once the handler is in place, or once the
    dashboard has used 0.15 s of CPU (mid-import) if it never comes (``tests/procs.sigterm_while_starting``); a
    round whose signal came only once it served does not count: up to 5 rounds."""
    for round_ in range(5):
        env = base_env(tmp_path)
        dashboard = start(f"dashboard-{round_}", "services.dashboard", env, tmp_path)
        starting = sigterm_while_starting(dashboard, "Dash is running on")
        assert dashboard.stop() == 0, dashboard.log()
        log = dashboard.log()
        assert "Traceback" not in log, log
        if starting:
            assert "Dash is running on" not in log, log  # it was stopped while starting, not while serving
            return
    raise AssertionError("no round signalled the dashboard while it started")


@pytest.mark.parametrize("gap_s", [0.0, 0.01, 0.05, 0.2])
def test_ctrl_c_then_honchos_sigterm_while_a_view_is_computed_exits_0(tmp_path: Path, gap_s: float) -> None:
    """``make run``'s Ctrl-C: SIGINT reaches the whole process group, and honcho sends SIGTERM at once after it.
    The page was just served, so a prefetch thread computes its first view. Before: the second signal found the
    default action again while the interpreter finalized (``dashboard.1 stopped (rc=-15)``), or finalizing under
    the running prefetch aborted the process (``terminate called without an active exception``, rc=-6; session 33's
    CI run). Each gap between the two signals is one way they meet."""
    env = base_env(tmp_path)
    dashboard = start("dashboard", "services.dashboard", env, tmp_path)
    url = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/"
    try:
        wait_until(lambda: dashboard.proc.poll() is not None or http_ok(url), 60)
        assert dashboard.proc.poll() is None, dashboard.log()
        assert http_ok(url)  # GET / again: a prefetch runs as the signals come
        dashboard.proc.send_signal(signal.SIGINT)
        time.sleep(gap_s)
    finally:
        rc = dashboard.stop()
    log = dashboard.log()
    assert rc == 0, log
    assert "Traceback" not in log and "terminate called" not in log, log
