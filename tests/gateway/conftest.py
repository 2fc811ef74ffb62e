"""Fixtures shared by the gateway tests that script their upstream answer by answer."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.fake_provider import ThreadedFakeProvider, provider_urls, running
from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream


@pytest.fixture(scope="module")
def fake() -> Iterator[ThreadedFakeProvider]:
    """One fake provider per test module (``tests/fake_provider.py``, named "openai": OpenAI's wire under
    ``/v1``, Anthropic's at its root), served from a thread of the test process; stopped after the module."""
    with running("openai") as fps:
        yield fps["openai"]


@pytest.fixture(scope="module")
def fake_stack(
    fake: ThreadedFakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., AbstractContextManager[Stack]]:
    """Recorder + gateway whose OpenAI provider is the module's ``fake``: ``fake_stack(name, urls=None, **env)`` is
    ``tests.procs.stack`` in a fresh temporary directory named ``name``, with ``urls`` as its providers (by default
    ``{"openai": <fake>/v1}``)."""

    def make(name: str, urls: dict[str, str] | None = None, **env: str) -> AbstractContextManager[Stack]:
        return stack(tmp_path_factory.mktemp(name), urls or {"openai": f"{fake.base_url}/v1"}, **env)

    return make


@pytest.fixture(scope="module")
def claude_fakes() -> Iterator[dict[str, ThreadedFakeProvider]]:
    """One fake Anthropic provider per test module, by provider name (``running("anthropic")``)."""
    with running("anthropic") as fps:
        yield fps


@pytest.fixture(scope="module")
def claude_gw(
    claude_fakes: dict[str, ThreadedFakeProvider], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Recorder + gateway whose only provider is the module's ``claude_fakes``."""
    with stack(tmp_path_factory.mktemp("claude"), provider_urls(claude_fakes)) as st:
        yield st


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


@pytest.fixture(scope="module")
def catalog_stack(
    up: ScriptedUpstream,
    scripted_stack: Callable[..., AbstractContextManager[Stack]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., AbstractContextManager[Stack]]:
    """Recorder + gateway whose providers are a catalog file's (``CATALOG_PATH``), served by the module's
    scripted upstream: ``catalog_stack(name, catalog, paths=None, **env)`` writes ``catalog`` (TOML, with ``{url}``
    for the upstream's URL: ``str.format``, so literal braces are doubled) and is ``scripted_stack(name, paths or
    {}, ...)`` on it (``paths``: built-in providers beside the catalog's, as ``scripted_stack``'s)."""

    def make(
        name: str, catalog: str, paths: dict[str, str] | None = None, **env: str
    ) -> AbstractContextManager[Stack]:
        path = tmp_path_factory.mktemp(f"{name}-catalog") / "catalog.toml"
        path.write_text(catalog.format(url=up.url))
        return scripted_stack(name, paths or {}, CATALOG_PATH=str(path), **env)

    return make


@pytest.fixture(scope="module")
def routes_stack(
    scripted_stack: Callable[..., AbstractContextManager[Stack]], tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., AbstractContextManager[Stack]]:
    """Recorder + gateway with built-in providers on the module's scripted upstream and a catalog file of
    model names over them: ``routes_stack(name, catalog, paths, **env)`` writes ``catalog`` (TOML, as is) and
    is ``scripted_stack(name, paths, CATALOG_PATH=<it>, **env)``."""

    def make(name: str, catalog: str, paths: dict[str, str], **env: str) -> AbstractContextManager[Stack]:
        path = tmp_path_factory.mktemp(f"{name}-catalog") / "catalog.toml"
        path.write_text(catalog)
        return scripted_stack(name, paths, CATALOG_PATH=str(path), **env)

    return make


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (the openssl CLI; Python's TLS checks the subjectAltName, not
    the CN) and its key: (cert.pem, key.pem), for upstreams served over https."""
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key
