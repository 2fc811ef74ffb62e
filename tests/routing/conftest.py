from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from services.gateway.providers.registry import build_providers
from services.gateway.routing.catalog import Catalog
from shared.settings import load_settings

ALL = ("openai", "anthropic", "xai", "openrouter")
MakeCatalog = Callable[..., Catalog]


@pytest.fixture()
def make_catalog(tmp_path: Path) -> MakeCatalog:
    """A catalog over the given configured built-in providers, an optional catalog file and extra env."""

    def make(configured: tuple[str, ...] = ALL, toml: str = "", **env: str) -> Catalog:
        full = {f"{name.upper()}_API_KEY": f"sk-{name}" for name in configured} | env
        if toml:
            path = tmp_path / "catalog.toml"
            path.write_text(toml)
            full["CATALOG_PATH"] = str(path)
        settings = load_settings(full)
        return Catalog(build_providers(settings, full), settings=settings)

    return make
