"""The gateway process when something is wrong with it rather than with a provider: bad settings, a bad
catalog, an exception inside a handler, a ``/usage`` module that does not import.

Faults inside the process are injected the way Python allows without touching the code: a
``sitecustomize`` module on ``PYTHONPATH`` that runs before the gateway imports anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.procs import ROOT, Stack, base_env, stack


def run_gateway(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.gateway"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("MAX_ATTEMPTS", "0", "MAX_ATTEMPTS must be at least 1"),
        ("ROUTING_POLICY", "fastest", "ROUTING_POLICY must be one of"),
        ("UPSTREAM_CHUNK_TIMEOUT", "soon", "soon"),
        ("GATEWAY_WORKERS", "0", "GATEWAY_WORKERS must be at least 1"),
    ],
)
def test_a_bad_setting_stops_the_gateway_with_one_clear_line(
    tmp_path: Path, name: str, value: str, needle: str
) -> None:
    env = base_env(tmp_path)
    env[name] = value
    proc = run_gateway(env)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("gateway: bad setting:") and needle in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "No such file"),
        ("[models\n", "catalog"),
        ("[surprise]\n", "unknown key(s) surprise"),
    ],
)
def test_a_bad_catalog_stops_the_gateway(tmp_path: Path, content: str | None, needle: str) -> None:
    path = tmp_path / "catalog.toml"
    if content is not None:
        path.write_text(content)
    env = base_env(tmp_path)
    env.update(CATALOG_PATH=str(path), OPENAI_API_KEY="sk-test", OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    proc = run_gateway(env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().startswith("gateway:") and needle in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_bad_catalog_stops_every_worker_and_the_parent(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env.update(CATALOG_PATH=str(tmp_path / "missing.toml"), GATEWAY_WORKERS="2")
    proc = run_gateway(env)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("No such file") == 2  # each worker says why
    assert "exited with status 1 unasked" in proc.stderr
    assert "Traceback" not in proc.stderr


def with_sitecustomize(tmp: Path, code: str) -> dict[str, str]:
    hooks = tmp / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(code)
    return {"PYTHONPATH": f"{hooks}:{ROOT}"}


BROKEN_HANDLER = """
from services.gateway import models_api

async def get_model(request):
    raise RuntimeError("injected failure in get_model")

models_api.get_model = get_model
"""


def test_an_exception_in_a_handler_is_a_500_in_the_clients_shape(tmp_path: Path) -> None:
    with stack(tmp_path, **with_sitecustomize(tmp_path, BROKEN_HANDLER)) as st:
        resp = httpx.get(st.gateway_url + "/v1/models/gpt-4o", headers={"x-request-id": "boom-1"})
        assert resp.status_code == 500 and resp.headers["x-request-id"] == "boom-1"
        assert resp.json()["error"]["message"] == "internal gateway error"
        assert "injected failure" not in resp.text  # details stay in the log
        ant = httpx.post(st.gateway_url + "/v1/messages/count_tokens?x=1", content=b"{}")  # still serving
        assert ant.status_code == 400
        assert "injected failure in get_model" in st.services["gateway"].log()
        assert httpx.get(st.gateway_url + "/health").status_code == 200  # serving (degraded: no provider)


NO_USAGE_MODULE = """
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "services.gateway.usage_api":
            raise ImportError("injected: usage_api cannot be imported")
        return None

sys.meta_path.insert(0, Refuse())
"""


def test_a_usage_module_that_does_not_import_is_said_not_silently_dropped(tmp_path: Path) -> None:
    with stack(tmp_path, **with_sitecustomize(tmp_path, NO_USAGE_MODULE)) as st:
        assert_usage_unavailable(st)


def assert_usage_unavailable(st: Stack) -> None:
    resp = httpx.get(st.gateway_url + "/usage")
    assert resp.status_code == 503, resp.text
    assert "usage_api cannot be imported" in resp.json()["error"]["message"]
    assert "/usage is unavailable" in st.services["gateway"].log()
    assert httpx.get(st.gateway_url + "/health").status_code == 200  # the rest still serves
