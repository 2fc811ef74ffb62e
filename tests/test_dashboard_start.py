"""The dashboard's start-up lines, from the real ``python -m services.dashboard`` process.

Dash gives its logger a stdout handler of its own unless told not to; with the root logger the process
configures, "Dash is running on …" came out twice (newcomer review, session 11)."""

from __future__ import annotations

from pathlib import Path

from tests.procs import base_env, http_ok, start, wait_until


def test_the_dashboard_says_where_it_runs_once(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    dashboard = start("dashboard", "services.dashboard", env, tmp_path)
    try:
        url = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/"
        wait_until(lambda: dashboard.proc.poll() is not None or http_ok(url), 60)
        assert dashboard.proc.poll() is None, dashboard.log()
    finally:
        assert dashboard.stop() in (0, -15), dashboard.log()
    log = dashboard.log()
    assert log.count("Dash is running on") == 1, log
    assert f"Dash is running on {url}" in log, log
