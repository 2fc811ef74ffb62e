"""The dashboard as a user runs it: ``python -m services.dashboard`` (the Procfile's entry) from an installed
wheel, not the source tree, with its settings from the environment, reading the ledger a live recorder is
writing from a live gateway's traffic. The page is read in headless Chromium (dash's ``dash_br``).

Synchronisation is by handshakes only: the ledger rows of the requests sent (read with SQL), the
dashboard's port answering, the page's own text.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import ROOT, Stack, base_env, http_ok, start, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel and installed into a directory of its own (no editable link)."""
    tmp = tmp_path_factory.mktemp("installed")
    source = tmp / "source"  # a copy, so the build leaves nothing in the work tree
    skip = (".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "node_modules")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*skip))
    wheel_cmd = ["pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp / "wheel"), str(source)]
    subprocess.run([sys.executable, "-m", *wheel_cmd], check=True, cwd=tmp)
    wheel = next((tmp / "wheel").glob("ekai_gateway-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(tmp / "site"),
            str(wheel),
        ],
        check=True,
        cwd=tmp,
    )
    return tmp / "site"


@pytest.fixture()
def live(tmp_path: Path) -> Iterator[Stack]:
    """A fake OpenAI, a recorder and a gateway, all real processes but the fake."""
    fake = FakeProvider.start_in_thread(name="openai")
    env = base_env(tmp_path)
    env.update(OPENAI_API_KEY="sk-test-openai-secret-key", OPENAI_BASE_URL=fake.openai_base_url)
    st = Stack(env, tmp_path)
    try:
        st.start_recorder()
        st.start_gateway()
        yield st
    finally:
        st.stop_all()
        fake.stop()


def send(st: Stack, n: int, model: str = "gpt-4o-mini") -> list[str]:
    """``n`` requests through the gateway; returns once the recorder has written each one's row."""
    client = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    ids = []
    for i in range(n):
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": f"dashboard {i}"}]
        )
        ids.append(raw.headers["x-request-id"])
    for request_id in ids:
        st.row_for(request_id, timeout=30)
    return ids


def test_the_dashboard_process_shows_what_the_recorder_writes(
    dash_br: Any, installed: Path, live: Stack
) -> None:
    send(live, 3)
    env = {k: v for k, v in live.env.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=str(installed), DASHBOARD_REFRESH="1")  # the settings a user gives it
    where = subprocess.run(
        [sys.executable, "-c", "import services.dashboard as d; print(d.__file__)"],
        env=env,
        cwd=live.tmp,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert Path(where).is_relative_to(installed), where  # the installed copy runs, not the source tree
    dashboard = start("dashboard", "services.dashboard", env, live.tmp)
    live.services["dashboard"] = dashboard
    url = f"http://127.0.0.1:{env['DASHBOARD_PORT']}"
    try:
        wait_until(lambda: dashboard.proc.poll() is not None or http_ok(url + "/"), timeout=60)
    except TimeoutError:
        raise AssertionError("dashboard did not start:\n" + dashboard.log()) from None
    assert dashboard.proc.poll() is None, dashboard.log()
    assert live.db_path in dashboard.log()  # it says which ledger it reads

    dash_br.server_url = url
    dash_br.wait_for_text_to_equal("#ov-kpi-requests", "3", timeout=30)
    dash_br.wait_for_contains_text("#ov-table", "gpt-4o-mini", timeout=10)

    send(live, 2, model="gpt-4o")  # written by the live recorder while the page is open
    dash_br.wait_for_text_to_equal("#ov-kpi-requests", "5", timeout=30)  # the next refresh tick
    dash_br.wait_for_contains_text("#ov-table", "gpt-4o", timeout=10)
    assert dash_br.driver.execute_script(
        "return !!document.querySelector('#ov-chart-requests .js-plotly-plot .main-svg')"
    )
    version, resources = dash_br.driver.execute_script(
        "return [window.Plotly.version, performance.getEntriesByType('resource').map(e => e.name)]"
    )
    assert any(f"plotly-basic-{version}.min.js" in r for r in resources), resources  # shipped in the wheel
    assert [e for e in dash_br.get_logs() or [] if e.get("level") == "SEVERE"] == []
    assert dashboard.stop() in (0, -15), dashboard.log()
