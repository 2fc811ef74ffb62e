"""Fixtures shared by the gateway tests that script their upstream answer by answer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
