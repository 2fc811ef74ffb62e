"""The real Claude Code and Codex CLIs against the real gateway + recorder, with fake providers behind them.

A missing or broken CLI makes the tests fail (never skip): CI must not go green without having run it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e import claude, codex
from tests.e2e.claude import CLAUDE_TIMEOUT, ClaudeRun, claude_env
from tests.fake_provider import FakeProvider, ThreadedFakeProvider
from tests.procs import Stack, stack


@pytest.fixture(scope="session", params=claude.RELEASES, ids=[r.id for r in claude.RELEASES])
def claude_bin(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Each pinned Claude Code release in turn: the last one for node 20 and the newest one."""
    release: claude.Release = request.param
    home = tmp_path_factory.mktemp("claude-version-home")
    tried = []
    for path in claude.claude_candidates(release.folder):
        version = claude.version_of(path, home)
        tried.append(f"{path}: {version or 'missing or not runnable'}")
        if version:
            assert version.split()[0] == release.pinned(), (
                f"{path} is Claude Code {version}, {release.folder.name}/package.json pins {release.pinned()};"
                " run `make clients`"
            )
            return path
    pytest.fail(
        f"Claude Code CLI ({release.id}) not found; run `make clients` (npm in tests/e2e/"
        f"{release.folder.name}).\n" + "\n".join(tried),
        pytrace=False,
    )


@pytest.fixture(scope="session")
def codex_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("codex-version-home")
    tried = []
    for path in codex.codex_candidates():
        version = codex.version_of(path, home)
        tried.append(f"{path}: {version or 'missing or not runnable'}")
        if version:
            assert version == codex.pinned_version(), (
                f"{path} is Codex {version}, the lock file pins {codex.pinned_version()}; run `make clients`"
            )
            return path
    pytest.fail(
        "Codex CLI not found; run `make clients` (npm ci in tests/e2e/clients).\n" + "\n".join(tried),
        pytrace=False,
    )


@pytest.fixture()
def run_claude(claude_bin: Path, gw: Stack, tmp_path: Path) -> Callable[..., ClaudeRun]:
    home = tmp_path / "home"
    home.mkdir()

    def run(*args: str, cwd: Path) -> ClaudeRun:
        try:
            out = subprocess.run(
                [str(claude_bin), *args],
                cwd=cwd,
                env=claude_env(home, gw.gateway_url),
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=CLAUDE_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            pytest.fail(
                f"claude {' '.join(args)} did not finish in {CLAUDE_TIMEOUT}s\n"
                f"stdout: {exc.stdout!r}\nstderr: {exc.stderr!r}\n{gw.logs()}",
                pytrace=False,
            )
        return ClaudeRun(list(args), out.returncode, out.stdout, out.stderr)

    return run


def _start_fake(name: str) -> ThreadedFakeProvider:
    fake = FakeProvider.start_in_thread(name=name)
    # Answer with a tool call only when the prompt names a tool: Claude Code sends 20+ tools on every
    # request, "say hi" must get text, and "... the Bash tool ..." must get Bash {"command": "ls"}.
    fake.set_fault("tools:mention")
    return fake


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[ThreadedFakeProvider]:
    fake = _start_fake("anthropic")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[ThreadedFakeProvider]:
    fake = _start_fake("openai")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def gw(
    fake_anthropic: ThreadedFakeProvider,
    fake_openai: ThreadedFakeProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("stack")
    with stack(tmp, {"anthropic": fake_anthropic.base_url, "openai": f"{fake_openai.base_url}/v1"}) as st:
        yield st
