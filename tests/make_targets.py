"""What the tests of ``make run`` and ``make demo`` share (``tests/test_make_run.py``, ``tests/test_make_demo.py``):
a user's shell environment, and the target run as a user runs it, in a temporary directory, until its gateway and
dashboard answer, then stopped the way a terminal does (SIGINT to the whole process group)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.procs import PROVIDER_VARS, ROOT, http_ok, wait_until

VENV = ROOT / ".venv"


def names_in(env_file: Path) -> set[str]:
    out = set()
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            out.add(line.split("=", 1)[0].strip())
    return out


def group_alive(pgid: int) -> list[str]:
    """The processes of group ``pgid`` still running (zombies, which a container's PID 1 may never reap,
    do not count)."""
    alive = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(stat_file.parent.name)
    return alive


def shell_env(defaults: Path) -> dict[str, str]:
    """This process's environment as a user's shell that sets none of ``defaults``' names (an env file), no
    provider variable, nothing of an outer make's and none of the settings a test run may hold."""
    names = names_in(defaults)
    env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith(PROVIDER_VARS)}
    for name in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "DATABASE_URL", "CATALOG_PATH", "GATEWAY_WORKERS"):
        env.pop(name, None)
    return env


@contextmanager
def make_running(
    tmp_path: Path, target: str, env: dict[str, str], gateway_port: int, dashboard_port: int
) -> Iterator[Path]:
    """``make -f ROOT/Makefile -C TMP TARGET`` on the project's venv (its install stamp taken as up to date), in
    a session of its own, its output in ``TMP/make-TARGET.log`` (yielded) once the gateway's
    ``/health`` and the dashboard answer on the given ports (90 s at most; the make still running is asserted).
    On exit, SIGINT to the whole group (Ctrl-C in the terminal), and a wait for every process of it to stop
    (30 s, then SIGKILL)."""
    argv = ["make", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), target, f"VENV={VENV}"]
    argv += ["-o", str(VENV / ".installed")]
    out = tmp_path / f"make-{target}.log"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(argv, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        health = f"http://127.0.0.1:{gateway_port}/health"
        dashboard = f"http://127.0.0.1:{dashboard_port}/"
        wait_until(lambda: proc.poll() is not None or (http_ok(health) and http_ok(dashboard)), 90, 0.2)
        assert proc.poll() is None, out.read_text()
        yield out
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in the terminal: the whole foreground group
        try:  # honcho stops the three (they drain), then itself and make exit
            wait_until(lambda: proc.poll() is not None and not group_alive(proc.pid), 30, 0.1)
        finally:
            if group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
