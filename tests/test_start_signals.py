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

from tests.procs import base_env, sigterm_while_starting, start, wait_until


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


def _maps(pid: int, name: str) -> bool:
    """Whether the process has mapped a file whose path holds ``name`` (``/proc/PID/maps``): an extension
    module it imported, e.g. ``orjson``."""
    try:
        return name in Path(f"/proc/{pid}/maps").read_text()
    except (FileNotFoundError, ProcessLookupError):  # it exited
        return False


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize(
    ("program", "module", "args", "ready_line"),
    [
        ("tail", "services.recorder.tail", (), "ekai-tail: following"),
        ("fake provider", "tests.fake_provider", ("--port", "0"), "listening on"),
    ],
)
def test_the_tail_and_the_fake_provider_stopped_while_importing_exit_0(
    tmp_path: Path, program: str, module: str, args: tuple[str, ...], ready_line: str, sig: signal.Signals
) -> None:
    """``ekai-tail`` and ``python -m tests.fake_provider`` (``make demo``'s fake providers) stopped by Ctrl-C or
    SIGTERM in the middle of their imports: the signal goes once the process has mapped orjson's extension, the
    first of their heavy imports (zmq comes after it in the tail, aiohttp in the fake). The start-up's handler is
    in place before any of them, so wherever the poller is descheduled the process has it. Before (session 34's
    leftovers): both imported these before any handler of their own, so the signal met its default action, all 4
    cases failed: SIGTERM ``rc=-15``; SIGINT a KeyboardInterrupt out of the imports, ``rc=-2`` (the fake), or
    inside zmq's, ``rc=-11`` (the tail). A round whose signal came only once the process served (this poller
    descheduled) does not count: up to 5 rounds."""
    for round_ in range(5):
        svc = start(f"{program}-{round_}", module, base_env(tmp_path), tmp_path, *args)
        try:
            wait_until(lambda s=svc: s.proc.poll() is not None or _maps(s.proc.pid, "orjson"), 60, 0.001)
            starting = ready_line not in svc.log()
            svc.proc.send_signal(sig)
            rc = svc.proc.wait(30)
        finally:
            svc.stop()
        log = svc.log()
        assert rc == 0, f"{program} exited {rc}:\n{log}"
        assert "Traceback" not in log, log
        if starting:
            return
    raise AssertionError(f"no round signalled the {program} while it started")
