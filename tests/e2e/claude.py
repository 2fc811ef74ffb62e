"""Finding and running the Claude Code CLIs that `make clients` installed: the release pinned in
``clients/package-lock.json`` (the last one whose npm wrapper allows node 20) and the newest release,
pinned in ``clients-latest/`` (its wrapper wants node 22; the native binary runs on node 20's machines)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLIENTS = Path(__file__).resolve().parent / "clients"
CLIENTS_LATEST = Path(__file__).resolve().parent / "clients-latest"
CLIENT_KEY = "sk-e2e-client-key"  # Claude Code's ANTHROPIC_API_KEY; the gateway must not forward it
CLAUDE_TIMEOUT = 90.0  # seconds for one `claude -p` run; a healthy run takes one or two
# Outer variables that would steer the child CLI somewhere else (e.g. when pytest itself runs inside
# Claude Code): none of them is inherited.
_DROPPED_PREFIXES = (
    "ANTHROPIC_",
    "CLAUDE",
    "OPENAI_",
    "DISABLE_",
    "API_TIMEOUT",
    "MCP_",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NODE_OPTIONS",
)


@dataclass(frozen=True)
class Release:
    id: str
    folder: Path  # an npm folder whose package.json pins @anthropic-ai/claude-code exactly

    def pinned(self) -> str:
        return pinned_version(self.folder)


RELEASES = (Release("claude-node20", CLIENTS), Release("claude-latest", CLIENTS_LATEST))


def pinned_version(folder: Path = CLIENTS) -> str:
    spec = json.loads((folder / "package.json").read_text())["dependencies"]["@anthropic-ai/claude-code"]
    return str(spec)


def _native_package() -> str:
    """The optional dependency that carries this machine's native binary, e.g. ``claude-code-linux-x64``."""
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine()
    )
    musl = sys.platform == "linux" and platform.libc_ver()[0] != "glibc"
    return f"claude-code-{sys.platform}-{arch}{'-musl' if musl else ''}"


def claude_candidates(folder: Path = CLIENTS) -> list[Path]:
    """Where npm puts the executable: the platform package's native binary (always there, whether or not
    npm ran the postinstall script), then the wrapper's ``bin/claude.exe`` (the same binary once the
    postinstall has copied it over the placeholder)."""
    scope = folder / "node_modules" / "@anthropic-ai"
    return [scope / _native_package() / "claude", scope / "claude-code" / "bin" / "claude.exe"]


def version_of(path: Path, home: Path) -> str | None:
    if not path.is_file() or not os.access(path, os.X_OK):
        return None
    try:
        out = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": os.defpath, "HOME": str(home)},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 and "Claude Code" in out.stdout else None


@dataclass
class ClaudeRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        """``--output-format json``: one object."""
        return dict(json.loads(self.stdout))

    def events(self) -> list[dict[str, Any]]:
        """``--output-format stream-json``: one object per line."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip().startswith("{")]

    def describe(self) -> str:
        return (
            f"claude {' '.join(self.args)}\nexit {self.returncode}\n--- stdout ---\n{self.stdout[-6000:]}"
            f"\n--- stderr ---\n{self.stderr[-3000:]}"
        )


def claude_env(home: Path, gateway_url: str) -> dict[str, str]:
    """A fresh HOME, the gateway as the Anthropic API, nothing that talks to the internet."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        ANTHROPIC_BASE_URL=gateway_url,
        ANTHROPIC_API_KEY=CLIENT_KEY,
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        DISABLE_TELEMETRY="1",
        DISABLE_ERROR_REPORTING="1",
        DISABLE_BUG_COMMAND="1",
        CLAUDE_CODE_MAX_RETRIES="1",
        API_TIMEOUT_MS="20000",
        LANG="C.UTF-8",
        SHELL="/bin/bash",
    )
    return env
