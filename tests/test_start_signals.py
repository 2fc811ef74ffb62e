"""A SIGTERM that reaches the gateway or the recorder while it is still starting (importing its modules: seconds
on a busy machine) ends it with status 0 and no traceback, from the real ``python -m`` processes.

honcho stops every process when one fails at start-up (a taken port, an unreachable PostgreSQL), often while the
others still import. Before: the gateway and the recorder died of the signal's default action (honcho:
``gateway.1 stopped (rc=-15)``, session 25's newcomer run with an unreachable ``DATABASE_URL``), where the README
says the processes' ``stopped (rc=0)`` lines tell a clean stop. The dashboard's twin: test_dashboard_start.py."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.procs import base_env, start, wait_until


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (/proc/PID/status ``SigCgt``, a hex mask: bit 15 - 1)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


@pytest.mark.parametrize(
    ("service", "ready_line"), [("gateway", "listening on"), ("recorder", "recorder started")]
)
def test_a_sigterm_while_it_starts_exits_0_without_a_traceback(
    tmp_path: Path, service: str, ready_line: str
) -> None:
    """The signal goes once a handler is in place, or after 0.6 s (mid-import on these machines) if none comes
    before: without the early handler the first one is the serving loop's, seconds later."""
    env = base_env(tmp_path)
    proc = start(service, f"services.{service}", env, tmp_path)
    try:
        wait_until(lambda: _catches_sigterm(proc.proc.pid), 0.6)
    except TimeoutError:
        pass
    assert proc.stop() == 0, proc.log()
    log = proc.log()
    assert ready_line not in log, log  # it was stopped while starting, not while serving
    assert "Traceback" not in log, log
