"""The workers' parent forwarding its stop to a worker that has just exited, with real child processes and
asyncio's own child watcher (services/gateway/workers.py ``_Workers``).

``make run``'s Ctrl-C reaches the workers and their parent at once: an idle worker can drain and exit before
the parent forwards the signal. ``asyncio.subprocess.Process.send_signal`` goes through
``subprocess.Popen.send_signal``, which polls the child first (``waitpid(pid, WNOHANG)``, bpo-38630) and so
could reap the exited worker before the child watcher's thread did; the watcher then logged "Unknown child
process pid N, will report returncode 255" and the parent, seeing a worker exit 255, exited 1 after a clean
stop (tests/test_stop_signals.py[0.05-2], once in about 40 runs at load 20; CPython gh-87744, fixed in 3.13 by
sending the signal with ``os.kill``)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from services.gateway.workers import _Workers

ROUNDS = 40


def _exited(pid: int) -> bool:
    """Whether the process has exited: a zombie nobody has reaped yet (``/proc/PID/stat`` state ``Z``), or
    reaped already."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def test_a_stop_forwarded_to_a_worker_that_just_exited_keeps_its_exit_status(tmp_path: Path) -> None:
    """Each round: a child that exits at once (``true``); the moment it is a zombie (exited, not yet reaped by
    the watcher's thread), the parent's stop is forwarded to it. Its status stays 0 in every round. Before:
    the stop's own ``waitpid`` reaped some of them first (14 of 40 rounds here), and those read 255."""
    statuses: list[int] = []
    for _ in range(ROUNDS):
        proc = await asyncio.create_subprocess_exec("true")
        workers = _Workers(str(tmp_path))
        workers.add(proc)
        deadline = time.monotonic() + 10
        while not _exited(proc.pid) and time.monotonic() < deadline:
            pass  # no await: the loop must not take the watcher's report before the stop
        workers.stop(signal.SIGTERM, "test")
        statuses.append(await proc.wait())
    assert statuses == [0] * ROUNDS, f"{len([s for s in statuses if s])} rounds read {set(statuses) - {0}}"
