"""Fixtures for the recorder process tests: a per-test config and a launcher that never leaks processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helpers sit next to the tests; make them importable whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

from recorder_procs import Launcher, RecorderConfig  # noqa: E402


@pytest.fixture
def cfg(request: pytest.FixtureRequest, tmp_path: Path) -> RecorderConfig:
    """SQLite by default; ``@BOTH_ENGINES`` (recorder_procs) also runs a test against PostgreSQL."""
    config = RecorderConfig(tmp_path)
    if getattr(request, "param", "sqlite") == "postgresql":
        config.db_url = request.getfixturevalue("pg_url")
    return config


@pytest.fixture
def launch(cfg: RecorderConfig) -> Iterator[Launcher]:
    launcher = Launcher(cfg)
    yield launcher
    launcher.cleanup()
