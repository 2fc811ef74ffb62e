"""A SIGTERM that reaches the gateway or the recorder while it is still starting (importing its modules: seconds
on a busy machine) ends it with status 0 and no traceback, from the real ``python -m`` processes.

honcho stops every process when one fails at start-up (a taken port, an unreachable PostgreSQL), often while the
others still import. Before: the gateway and the recorder died of the signal's default action (honcho:
``gateway.1 stopped (rc=-15)``, session 25's newcomer run with an unreachable ``DATABASE_URL``), where the README
says the processes' ``stopped (rc=0)`` lines tell a clean stop. The dashboard's twin: test_dashboard_start.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.procs import base_env, sigterm_while_starting, start


@pytest.mark.parametrize(
    ("service", "ready_line"), [("gateway", "listening on"), ("recorder", "recorder started")]
)
def test_a_sigterm_while_it_starts_exits_0_without_a_traceback(
    tmp_path: Path, service: str, ready_line: str
) -> None:
    """The signal goes once a handler is in place, or once the process has used 0.15 s of CPU (into its imports)
    if none comes before: without the early handler the first one is the serving loop's, well after. A round
    whose signal came only once it served (this test's poller descheduled) does not count: up to 5 rounds."""
    for round_ in range(5):
        env = base_env(tmp_path)
        proc = start(f"{service}-{round_}", f"services.{service}", env, tmp_path)
        starting = sigterm_while_starting(proc, ready_line)
        assert proc.stop() == 0, proc.log()
        log = proc.log()
        assert "Traceback" not in log, log
        if starting:
            assert ready_line not in log, log  # it was stopped while starting, not while serving
            return
    raise AssertionError(f"no round signalled the {service} while it started")
