"""Fixtures shared by the gateway tests that script their upstream answer by answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream


@pytest.fixture(scope="module")
def up() -> Iterator[ScriptedUpstream]:
    """One scripted upstream per test module (``tests/scripted_upstream.py``): a real HTTP server the
    module's gateway stack points its providers at."""
    server = ScriptedUpstream.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def fresh_up(up: ScriptedUpstream) -> None:
    """The module's scripted upstream with no answer queued and no request seen: a module whose tests each
    script their own answers opts in with ``pytestmark = pytest.mark.usefixtures("fresh_up")``."""
    up.reset()


@pytest.fixture(scope="module")
def scripted_stack(
    up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., AbstractContextManager[Stack]]:
    """Recorder + gateway whose providers are served by the module's scripted upstream:
    ``scripted_stack(name, {"openai": "/openai/v1"}, **env)`` is ``tests.procs.stack`` with each provider's
    base URL at that path of ``up``, in a fresh temporary directory named ``name``."""

    def make(name: str, paths: dict[str, str], **env: str) -> AbstractContextManager[Stack]:
        urls = {provider: up.url + path for provider, path in paths.items()}
        return stack(tmp_path_factory.mktemp(name), urls, **env)

    return make
