"""Every package the recorder imports is one pyproject.toml declares (not one it gets through another)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def normalised(name: str) -> str:
    """A distribution's name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The distribution a PEP 508 requirement names (``psycopg[binary]>=3.2`` -> ``psycopg``)."""
    found = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert found, requirement
    return normalised(found.group())


def imported_top_levels(package: Path) -> set[str]:
    """The top-level module names the modules under ``package`` import (absolute imports only)."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_the_recorder_declares_every_third_party_package_it_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {requirement_name(r) for r in project["dependencies"]}
    ours = {"services", "shared"}
    third_party = imported_top_levels(ROOT / "services" / "recorder") - ours - set(sys.stdlib_module_names)
    assert "numpy" in third_party  # the check below is about something
    owners = packages_distributions()
    undeclared = {
        name: owners.get(name)
        for name in third_party
        if not {normalised(d) for d in owners.get(name, [])} & declared
    }
    assert undeclared == {}
