"""``make demo`` itself, as a user runs it: a variable set in the shell wins over honcho.env
(``GATEWAY_PORT=3201 make demo`` when 3001 is taken), as it does for ``make run``, while tests/demo/demo.env wins
over both: the demo keeps its fake providers even when the shell holds a provider key and base URL, a PostgreSQL
DATABASE_URL or a CATALOG_PATH (whose keyed providers would otherwise be configured and routed to).

The Makefile runs in a temporary directory (``make -f ROOT/Makefile -C TMP``) holding a copy of honcho.env and a
``tests/`` whose entries link to the project's, but for ``tests/demo/``: its Procfile and demo.env are copies. The
shell names free ports for the fake providers in ``DEMO_FAKE_*_PORT``, as a user whose 3101-3104 are taken does
(the Procfile listens on them, the Makefile moves demo.env's base URLs to them), so that nothing here depends on
the demo's default ports being free. Every other port is a free one set in the shell.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import stat
import urllib.request
from pathlib import Path

from tests.make_targets import make_running, shell_env
from tests.procs import ROOT, free_port, wait_until

FAKES = ("openai", "anthropic", "xai", "openrouter")


def demo_tree(tmp_path: Path) -> None:
    """honcho.env and a tests/ tree in ``tmp_path``: links to the project's, copies of the demo's Procfile and demo.env."""
    shutil.copy(ROOT / "honcho.env", tmp_path / "honcho.env")
    tests = tmp_path / "tests"
    tests.mkdir()
    for entry in (ROOT / "tests").iterdir():
        if entry.name not in ("demo", "__pycache__"):
            (tests / entry.name).symlink_to(entry)
    demo = tests / "demo"
    demo.mkdir()
    for name in ("__init__.py", "traffic.py"):
        (demo / name).symlink_to(ROOT / "tests" / "demo" / name)
    shutil.copy(ROOT / "tests" / "demo" / "Procfile", demo / "Procfile")
    # the project's demo.env as it is: its base URLs name 3101-3104, and ``make demo`` moves them to the shell's
    # DEMO_FAKE_*_PORT (a user whose 3101 is taken has no other way to move them: demo.env wins over the shell)
    text = (ROOT / "tests" / "demo" / "demo.env").read_text()
    for default in (3101, 3102, 3103, 3104):
        assert f"127.0.0.1:{default}" in text, default
    shutil.copy(ROOT / "tests" / "demo" / "demo.env", demo / "demo.env")


def ledger_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return int(db.execute("SELECT count(*) FROM requests").fetchone()[0])
        except sqlite3.OperationalError:  # the recorder has not made the table yet
            return 0


def test_make_demo_lets_the_shell_move_its_ports_but_keeps_its_fake_providers(tmp_path: Path) -> None:
    fake_ports = {name: free_port() for name in FAKES}
    demo_tree(tmp_path)
    gateway_port, dashboard_port, closed_port = free_port(), free_port(), free_port()
    env = shell_env(tmp_path / "honcho.env")
    # a catalog file in the shell (as for ``make run``) with a keyed provider that routes a model the demo's traffic
    # asks for: it loses to demo.env's empty CATALOG_PATH, so no demo request can reach a real provider through it
    catalog = tmp_path / "shell-catalog.toml"
    catalog.write_text(
        f'[[providers]]\nname = "shellcat"\nbase_url = "http://127.0.0.1:{closed_port}/v1"\n'
        'api_key_env = "SHELLCAT_API_KEY"\nmodels = ["gpt-4o-mini"]\nprice = { input = 0, output = 0 }\n'
    )
    env |= {
        "GATEWAY_PORT": str(gateway_port),  # beats honcho.env's 3001
        "DASHBOARD_PORT": str(dashboard_port),
        "EVENTS_ENDPOINT": f"tcp://127.0.0.1:{free_port()}",
        "TAIL_ENDPOINT": f"tcp://127.0.0.1:{free_port()}",
        "RECORDER_METRICS_PORT": str(free_port()),
        # a provider key and base URL in the shell lose to demo.env's: the demo never sends them anywhere
        "OPENAI_API_KEY": "sk-from-the-shell",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port}/v1",
        # a PostgreSQL ledger in the shell loses to demo.env's SQLite one: the demo writes only data/demo.db
        "DATABASE_URL": f"postgresql://nobody:pw@127.0.0.1:{closed_port}/ledger",
        "CATALOG_PATH": str(catalog),
        "SHELLCAT_API_KEY": "sk-shellcat-from-the-shell",
    }
    env |= {f"DEMO_FAKE_{name.upper()}_PORT": str(port) for name, port in fake_ports.items()}
    with make_running(tmp_path, "demo", env, gateway_port, dashboard_port) as out:
        health = f"http://127.0.0.1:{gateway_port}/health"
        with urllib.request.urlopen(health, timeout=10) as resp:
            providers = json.loads(resp.read())["providers"]
        assert providers["openai"]["base_url"] == f"http://127.0.0.1:{fake_ports['openai']}/v1"
        assert providers["anthropic"]["base_url"] == f"http://127.0.0.1:{fake_ports['anthropic']}"
        assert providers["xai"]["base_url"] == f"http://127.0.0.1:{fake_ports['xai']}/v1"
        assert providers["openrouter"]["base_url"] == f"http://127.0.0.1:{fake_ports['openrouter']}/api/v1"
        assert all(providers[name]["configured"] for name in FAKES)
        assert "shellcat" not in providers, providers  # the shell's catalog file was not read
        # the traffic generator found the gateway on the shell's port: rows in the demo's own ledger
        wait_until(lambda: ledger_rows(tmp_path / "data" / "demo.db") > 0, 90, 0.2)
        merged = tmp_path / "data" / ".honcho.demo.env"
        assert stat.S_IMODE(merged.stat().st_mode) == 0o600, oct(merged.stat().st_mode)
        lines = merged.read_text().splitlines()
        assert "RECORDER_BATCH_SIZE=500" in lines  # a default nobody overrode
        assert not any(line.startswith(("GATEWAY_PORT=", "DASHBOARD_PORT=")) for line in lines)  # the shell's
        assert [line for line in lines if line.startswith("OPENAI_API_KEY=")] == ["OPENAI_API_KEY=demo-key"]
    log = out.read_text()
    assert "Traceback" not in log, log
    assert "sk-from-the-shell" not in log, log
    assert "sk-shellcat-from-the-shell" not in log, log
    for name in ("gateway", "recorder", "dashboard", "traffic"):
        assert f"{name}.1 stopped (rc=0)" in log, log
