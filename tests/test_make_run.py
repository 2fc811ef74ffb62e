"""``make run`` itself, as a user runs it: the env merge (shell > honcho.local.env > honcho.env) that the
Makefile writes, private (0600), to ``data/.honcho.run.env``, and the three processes honcho starts with it,
stopped the way a terminal does (SIGINT to the whole process group).

The Makefile runs in a temporary directory (``make -f ROOT/Makefile -C TMP``) holding copies of honcho.env
and the Procfile and its own honcho.local.env, so that ``data/`` and the ledger are the test's own; the
project's venv is used as it is (``VENV=…``, its install stamp taken as up to date). Every port is a free
one, set by the local file or the shell, which is what the precedence is checked on: each process serves
where the winning value says.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from tests.make_targets import make_running, shell_env
from tests.procs import ROOT, free_port


def test_make_run_merges_shell_over_local_over_defaults_privately_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    shutil.copy(ROOT / "honcho.env", tmp_path / "honcho.env")
    shutil.copy(ROOT / "Procfile", tmp_path / "Procfile")
    gateway_port, local_dashboard_port, shell_dashboard_port = free_port(), free_port(), free_port()
    (tmp_path / "honcho.local.env").write_text(
        f"GATEWAY_PORT={gateway_port}\n"  # beats honcho.env's 3001
        f"DASHBOARD_PORT={local_dashboard_port}\n"  # loses to the shell's
        f"EVENTS_ENDPOINT=tcp://127.0.0.1:{free_port()}\n"
        f"TAIL_ENDPOINT=tcp://127.0.0.1:{free_port()}\n"
        f"RECORDER_METRICS_PORT={free_port()}\n"
        "DATABASE_PATH=data/usage.db\n"
    )
    env = shell_env(tmp_path / "honcho.env")
    env["DASHBOARD_PORT"] = str(shell_dashboard_port)
    with make_running(tmp_path, "run", env, gateway_port, shell_dashboard_port) as out:
        merged = tmp_path / "data" / ".honcho.run.env"
        assert stat.S_IMODE(merged.stat().st_mode) == 0o600, oct(merged.stat().st_mode)
        lines = merged.read_text().splitlines()
        assert "RECORDER_BATCH_SIZE=500" in lines  # a default nobody overrode
        ports = [line for line in lines if line.startswith("GATEWAY_PORT=")]
        assert ports[-1] == f"GATEWAY_PORT={gateway_port}", ports  # the local file's, after the default
        assert not any(line.startswith("DASHBOARD_PORT=") for line in lines)  # the shell's: left to the shell
        assert not _listens(local_dashboard_port)  # the local file's dashboard port lost to the shell's
        assert (tmp_path / "data" / "usage.db").exists()  # the recorder's ledger: in the test's data/
    log = out.read_text()
    assert not _listens(gateway_port) and not _listens(shell_dashboard_port), log
    assert "Traceback" not in log, log
    # the gateway and recorder drained ("all events acknowledged"); the dashboard leaves its serve loop on
    # SIGTERM as on Ctrl-C (README: the `stopped (rc=0)` lines say that they stopped cleanly)
    for name in ("gateway", "recorder", "dashboard"):
        assert f"{name}.1 stopped (rc=0)" in log, log
    # what the user sees last (README): make got the Ctrl-C too, waited for honcho (whose lines are all above)
    # and reports "make: *** [Makefile:NN: run] Interrupt", or "… Error 130" (honcho's status for SIGINT) when
    # it saw honcho's exit before its own signal (both seen under load), not an error of the processes
    make_lines = [line for line in log.splitlines() if line.startswith("make: *** ")]
    ends = (": run] Interrupt", ": run] Error 130")
    assert len(make_lines) == 1 and make_lines[0].endswith(ends), log[-2000:]
    assert log.index(make_lines[0]) > max(log.index(f"{name}.1 stopped") for name in ("gateway", "recorder"))


def _listens(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0
