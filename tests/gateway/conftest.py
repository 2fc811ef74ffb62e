"""Fixtures shared by the gateway tests that script their upstream answer by answer."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

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


@pytest.fixture(scope="module")
def catalog_stack(
    up: ScriptedUpstream,
    scripted_stack: Callable[..., AbstractContextManager[Stack]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., AbstractContextManager[Stack]]:
    """Recorder + gateway whose only providers are a catalog file's (``CATALOG_PATH``), served by the module's
    scripted upstream: ``catalog_stack(name, catalog, **env)`` writes ``catalog`` (TOML, with ``{url}`` for the
    upstream's URL: ``str.format``, so literal braces are doubled) and is ``scripted_stack(name, {}, ...)`` on it."""

    def make(name: str, catalog: str, **env: str) -> AbstractContextManager[Stack]:
        path = tmp_path_factory.mktemp(f"{name}-catalog") / "catalog.toml"
        path.write_text(catalog.format(url=up.url))
        return scripted_stack(name, {}, CATALOG_PATH=str(path), **env)

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
