"""Finding and running the Codex CLI that `make clients` installed from ``clients/package-lock.json``.

Codex ignores ``OPENAI_BASE_URL``; it is pointed at a server through a fresh ``CODEX_HOME`` whose
``config.toml`` declares a custom provider (``../shared/docs/real-clients.md``). A custom provider speaks
HTTP SSE to ``{base_url}/responses`` at once (no WebSocket attempt), and sends ``env_key``'s value as
``Authorization: Bearer``.
"""

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
SCOPE = CLIENTS / "node_modules" / "@openai"
CODEX_KEY = "sk-e2e-codex-key"  # what Codex sends as Bearer; the gateway must not forward it
KEY_VAR = "EKAI_E2E_CODEX_KEY"
CODEX_TIMEOUT = 120.0  # seconds for one `codex exec` run; a healthy run takes a few
CODEX_MODEL = "gpt-5.5"  # a name Codex knows (others warn about missing model metadata)
# Outer variables that would steer the child CLI somewhere else: none of them is inherited.
_DROPPED_PREFIXES = (
    "CODEX_",
    "OPENAI_",
    "ANTHROPIC_",
    "CLAUDE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "RUST_LOG",
)


def pinned_version() -> str:
    return str(json.loads((CLIENTS / "package.json").read_text())["dependencies"]["@openai/codex"])


def _target() -> tuple[str, str]:
    """(npm platform package, Rust target triple) carrying this machine's native binary."""
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    rust = {"x64": "x86_64", "arm64": "aarch64"}.get(arch, arch)
    if sys.platform == "darwin":
        return f"codex-darwin-{arch}", f"{rust}-apple-darwin"
    return f"codex-linux-{arch}", f"{rust}-unknown-linux-musl"


def codex_candidates() -> list[Path]:
    """The platform package's native binary (npm installs it as an optional dependency)."""
    package, triple = _target()
    return [
        SCOPE / package / "vendor" / triple / "bin" / "codex",
        SCOPE / "codex" / "vendor" / triple / "codex" / "codex",
    ]


def version_of(path: Path, home: Path) -> str | None:
    """``codex --version`` prints ``codex-cli 0.171.0``; returns ``0.171.0``."""
    if not path.is_file() or not os.access(path, os.X_OK):
        return None
    try:
        out = subprocess.run(
            [str(path), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": os.defpath, "HOME": str(home), "CODEX_HOME": str(home)},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.stdout.split()
    return words[-1] if out.returncode == 0 and words[:1] == ["codex-cli"] else None


def bundled_catalog(binary: Path) -> dict[str, Any]:
    """The model catalog compiled into the Codex binary (``{"models": [ModelInfo, …]}``)."""
    data = binary.read_bytes()
    at = data.find(b'"slug": "' + CODEX_MODEL.encode() + b'"')
    start = data.rfind(b'{\n  "models"', 0, at)
    assert at > 0 and start >= 0, f"no model catalog with {CODEX_MODEL} found in {binary}"
    catalog, _ = json.JSONDecoder().raw_decode(data[start : start + 8_000_000].decode("utf-8", "replace"))
    return dict(catalog)


def write_catalog(binary: Path, codex_home: Path, model: str) -> Path | None:
    """Codex knows GPT models by name; any other name gets "fallback metadata", with a warning and a
    smaller tool set (no ``apply_patch``). So a model it does not know (a Claude model served through
    the gateway) is registered as a copy of the bundled ``gpt-5.5`` entry; returns the catalog path."""
    catalog = bundled_catalog(binary)
    if any(m.get("slug") == model for m in catalog["models"]):
        return None
    template = next(m for m in catalog["models"] if m.get("slug") == CODEX_MODEL)
    catalog["models"].append(template | {"slug": model, "display_name": model, "upgrade": None})
    path = codex_home / "model-catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def write_config(
    codex_home: Path,
    base_url: str,
    model: str = CODEX_MODEL,
    catalog: Path | None = None,
    stream_retries: int = 0,
) -> Path:
    """``config.toml``: the server at ``base_url`` (ending in ``/v1``) as a custom Responses provider;
    no update check, analytics, plugins or other traffic to the internet. ``stream_retries``: the provider's
    ``stream_max_retries`` (a ``response.failed`` that says when to try again is retried within it)."""
    return _write(
        codex_home,
        model,
        catalog,
        f"""\
model_provider = "gateway"

[model_providers.gateway]
name = "ekai gateway (e2e)"
base_url = {json.dumps(base_url)}
env_key = "{KEY_VAR}"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = {stream_retries}
stream_idle_timeout_ms = 30000
""",
    )


def write_openai_config(
    codex_home: Path, base_url: str, model: str = CODEX_MODEL, auto_compact_limit: int = 0
) -> Path:
    """``config.toml`` for Codex's built-in ``openai`` provider at ``base_url``: the provider Codex treats as
    OpenAI, so it tries a WebSocket first (``GET /v1/responses``) and compacts remotely (a streamed
    ``/v1/responses`` whose input ends with a ``compaction_trigger`` item) once a turn's usage passes
    ``auto_compact_limit`` tokens. The key goes in ``CODEX_API_KEY`` (see ``OPENAI_PROVIDER_ENV``)."""
    limit = f"model_auto_compact_token_limit = {auto_compact_limit}\n" if auto_compact_limit else ""
    return _write(
        codex_home,
        model,
        None,
        f'model_provider = "openai"\nopenai_base_url = {json.dumps(base_url)}\n{limit}',
    )


OPENAI_PROVIDER_ENV = {"CODEX_API_KEY": CODEX_KEY}


def _write(codex_home: Path, model: str, catalog: Path | None, provider: str) -> Path:
    codex_home.mkdir(parents=True, exist_ok=True)
    path = codex_home / "config.toml"
    catalog_line = f"model_catalog_json = {json.dumps(str(catalog))}\n" if catalog else ""
    top, _, tables = provider.partition("\n[")
    path.write_text(
        f"""\
{catalog_line}model = {json.dumps(model)}
{top.strip()}
check_for_update_on_startup = false
hide_agent_reasoning = false

[analytics]
enabled = false

[feedback]
enabled = false

[features]
plugins = false
"""
        + (f"\n[{tables}" if tables else "")
    )
    return path


def codex_env(home: Path, codex_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)}
    env.update(
        HOME=str(home),
        CODEX_HOME=str(codex_home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        **{KEY_VAR: CODEX_KEY},
        LANG="C.UTF-8",
        SHELL="/bin/bash",
    )
    return env


@dataclass
class CodexRun:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        """``codex exec --json``: one event per line."""
        out = []
        for line in self.stdout.splitlines():
            if line.strip().startswith("{"):
                out.append(json.loads(line))
        return out

    def items(self, kind: str) -> list[dict[str, Any]]:
        """Completed items of one type: ``agent_message``, ``command_execution``, ``file_change``, …"""
        return [
            e["item"]
            for e in self.events()
            if e.get("type") == "item.completed" and e["item"].get("type") == kind
        ]

    def messages(self) -> list[str]:
        return [str(i.get("text", "")) for i in self.items("agent_message")]

    def describe(self) -> str:
        return (
            f"codex {' '.join(self.args)}\nexit {self.returncode}\n--- stdout ---\n{self.stdout[-6000:]}"
            f"\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def run_codex(
    binary: Path,
    prompt: str,
    *,
    cwd: Path,
    home: Path,
    codex_home: Path,
    sandbox: str = "read-only",
    timeout: float = CODEX_TIMEOUT,
    env: dict[str, str] | None = None,
) -> CodexRun:
    """``codex exec --json`` with one prompt; raises ``subprocess.TimeoutExpired`` past ``timeout``."""
    args = ["exec", "--json", "--skip-git-repo-check", "--ephemeral", "-s", sandbox, "-C", str(cwd), prompt]
    out = subprocess.run(
        [str(binary), *args],
        cwd=cwd,
        env=codex_env(home, codex_home) | (env or {}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return CodexRun(args, out.returncode, out.stdout, out.stderr)
