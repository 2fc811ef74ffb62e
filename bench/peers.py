"""LiteLLM, the best-known Python peer, for the benchmark table (bench/bench_table.py); and /proc readings.

What is here:

* ``ensure_peer`` installs a pinned ``litellm[proxy]`` into ``.venv-peers/`` (once, ~40 s; never into our
  own venv), with the same interpreter as ours;
* ``start_peer`` starts the LiteLLM proxy on a free port on 127.0.0.1 against the benchmark's upstream;
* ``tree``, ``cpu_seconds``, ``rss_mb`` read a process tree's CPU time and resident memory from /proc.

LiteLLM setup (the fairest single-worker setup it ships with): ``litellm --config <yaml> --host 127.0.0.1
--port N --num_workers 1`` (uvicorn + uvloop, its default server; ``server="granian"`` tries the Granian
server that ``litellm[proxy]`` also ships), a master key (it refuses to start without one; the client sends
it, a cheap in-memory check as no DB is configured), ``LITELLM_LOG=ERROR`` (also silences uvicorn's access
log), no database, no Redis, no callbacks, admin UI and API docs off, telemetry off, the bundled cost map
(``LITELLM_LOCAL_MODEL_COST_MAP=True``: no network), and
``LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES=True`` so that an Anthropic-format request for a
GPT model goes upstream to ``/v1/chat/completions`` as ours does (by default LiteLLM would call the
Responses API). Models: ``gpt-4o-mini`` as ``openai/gpt-4o-mini`` at ``{upstream}/v1`` and
``claude-haiku-4-5`` as ``anthropic/claude-haiku-4-5`` at ``{upstream}``. Usage records differ: ours writes
every request to its ledger (through the recorder process); LiteLLM, without a database, only computes each
request's cost in memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.procs import free_port, http_ok, wait_until  # noqa: E402

PEER_VERSION = "1.108.7"
PEER_SPEC = f"litellm[proxy]=={PEER_VERSION}"
DEFAULT_PEER_VENV = ROOT / ".venv-peers"


# --- measuring ----------------------------------------------------------------------------------------


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    return children


def tree(pids: list[int]) -> list[int]:
    """The given processes and all their descendants (LiteLLM under Granian forks a worker)."""
    if not Path("/proc/self/stat").exists():
        return pids
    children, out, todo = _proc_children(), [], list(pids)
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU of these processes, or None off Linux."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def rss_mb(pids: list[int]) -> float | None:
    """Resident memory (VmRSS) of these processes in MB, or None when one has gone."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
    return total / 1024


# --- the peer -----------------------------------------------------------------------------------------


class PeerUnavailable(Exception):
    pass


def peer_version(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def ensure_peer(venv: Path) -> Path:
    """The litellm executable of a venv holding exactly PEER_SPEC; installs it there when missing."""
    python, litellm = venv / "bin" / "python", venv / "bin" / "litellm"
    stamp = venv / f".installed-litellm-{PEER_VERSION}"
    if stamp.exists() and litellm.exists() and peer_version(python) == PEER_VERSION:
        return litellm
    print(f"installing {PEER_SPEC} into {venv} (first time only, ~40 s) ...", flush=True)
    try:
        if not python.exists():
            # the same interpreter as ours, so both gateways run on the same Python
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", PEER_SPEC],
            capture_output=True,
            text=True,
            timeout=900,
        )
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise PeerUnavailable(
            f"could not install {PEER_SPEC} into {venv} ({exc}); is PyPI reachable?"
        ) from exc
    if pip.returncode != 0:
        tail = "\n".join((pip.stdout + pip.stderr).strip().splitlines()[-15:])
        raise PeerUnavailable(
            f"could not install {PEER_SPEC} into {venv} (pip exited {pip.returncode}); "
            f"is PyPI reachable?\n{tail}"
        )
    got = peer_version(python)
    if got != PEER_VERSION or not litellm.exists():
        raise PeerUnavailable(f"{venv} holds litellm {got}, not {PEER_VERSION}, after installing")
    stamp.touch()
    return litellm


def peer_config(upstream_url: str, upstream_key: str) -> str:
    """LiteLLM's config (YAML; JSON is valid YAML, so no YAML library is needed on our side)."""
    return json.dumps(
        {
            "model_list": [
                {
                    "model_name": "gpt-4o-mini",
                    "litellm_params": {
                        "model": "openai/gpt-4o-mini",
                        "api_base": upstream_url + "/v1",
                        "api_key": upstream_key,
                    },
                },
                {
                    "model_name": "claude-haiku-4-5",
                    "litellm_params": {
                        "model": "anthropic/claude-haiku-4-5",
                        "api_base": upstream_url,
                        "api_key": upstream_key,
                    },
                },
            ],
            "litellm_settings": {"set_verbose": False, "json_logs": False, "telemetry": False},
            "general_settings": {},
        },
        indent=1,
    )


PEER_ENV = {
    "LITELLM_LOG": "ERROR",  # minimal logging; uvicorn's log level (and so its access log) follows it
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # the bundled price list: no fetch from GitHub
    "LITELLM_TELEMETRY_DISABLED": "True",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
    "LITELLM_USE_CHAT_COMPLETIONS_URL_FOR_ANTHROPIC_MESSAGES": "True",
}
# never inherited by the peer: a database, a cache, provider keys or LiteLLM settings from the caller's shell
_PEER_ENV_DROP = (
    "LITELLM_",
    "DATABASE_URL",
    "DIRECT_URL",
    "REDIS_",
    "OPENAI_",
    "ANTHROPIC_",
    "XAI_",
    "OPENROUTER_",
    "VIRTUAL_ENV",
    "PYTHONPATH",
    "STORE_MODEL_IN_DB",
    "PROXY_",
)


@dataclass
class Peer:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    config: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: the proxy and any worker it forked
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def start_peer(litellm: Path, tmp: Path, upstream_url: str, master_key: str, server: str) -> Peer:
    """LiteLLM serving ``upstream_url``'s models (see the module docstring); PeerUnavailable when it cannot."""
    config = peer_config(upstream_url, "sk-bench-upstream-key")
    cfg = tmp / "litellm.yaml"
    cfg.write_text(config)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(_PEER_ENV_DROP)}
    env.update(PEER_ENV, LITELLM_MASTER_KEY=master_key, PYTHONUNBUFFERED="1")
    command = [
        str(litellm),
        "--config",
        str(cfg),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    if server == "granian":
        command.append("--run_granian")
    log = tmp / "litellm.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            command, cwd=tmp, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    peer = Peer(proc, f"http://127.0.0.1:{port}", log, config, command, env)
    try:
        wait_until(lambda: proc.poll() is not None or http_ok(peer.url + "/health/liveliness"), 180, 0.25)
    except TimeoutError:
        peer.stop()
        raise PeerUnavailable(
            "LiteLLM did not answer /health/liveliness within 180 s:\n" + peer.log_tail()
        ) from None
    if proc.poll() is not None:
        raise PeerUnavailable(f"LiteLLM exited with status {proc.returncode}:\n" + peer.log_tail())
    return peer
