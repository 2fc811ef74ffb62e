"""The app factory: the filled-in layout, callbacks that don't run on load, the page's scripts, Prefetch."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from services.dashboard import app as dashboard_app
from services.dashboard.app import Prefetch, create_app
from services.dashboard.components import widgets
from tests.procs import wait_until
from tests.unit.dashboard.ledger_fixtures import event, write_ledger


@pytest.fixture
def recent_db(tmp_path: Path) -> str:
    """Two requests of the last hour (inside the default 24 h range)."""
    now = time.time()
    return write_ledger(
        str(tmp_path / "usage.db"),
        [
            event(
                now - 600,
                "openai",
                "gpt-4o",
                latency_ms=120.0,
                input_tokens=10,
                cost_usd=0.5,
                api_key_name="alice",
                session_id="sess-1",
                client="claude-cli/2.1.332",
            ),
            event(
                now - 300,
                "anthropic",
                "claude-haiku-4-5",
                status=500,
                latency_ms=80.0,
                cost_usd=0.25,
                client="openai-python/1.109.1",
            ),
        ],
    )


def props_by_id(node: dict) -> dict[str, dict]:
    """Every component of a serialized layout, by id: its props."""
    found = {}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict) and "props" in item:
            props = item["props"]
            if props.get("id"):
                found[props["id"]] = props
            children = props.get("children")
            stack.extend(children if isinstance(children, list) else [children])
    return found


def test_layout_arrives_filled_in(recent_db: str) -> None:
    client = create_app(recent_db, 10).server.test_client()
    assert client.get("/").status_code == 200
    props = props_by_id(client.get("/_dash-layout").get_json())
    assert props["ov-kpi-requests"]["children"] == "2"
    assert props["ov-kpi-error-rate"]["children"] == "50.00%"
    assert props["ov-kpi-cost"]["children"] == "$0.75"
    assert (
        props["ov-status"]["children"].endswith("UTC")
        and "buckets of 15 min" in props["ov-status"]["children"]
    )
    requests_chart = props[widgets.chart_id("requests")]["figure"]
    assert {t["name"] for t in requests_chart["data"]} == {"openai", "anthropic"}
    assert all(props[widgets.chart_id(name)]["figure"]["data"] for name in widgets.CHARTS)
    assert [row["model"] for row in props["ov-table"]["data"]] == ["claude-haiku-4-5", "gpt-4o"]
    assert props["ov-provider"]["options"] == ["anthropic", "openai"]
    assert props["ov-model"]["options"] == ["claude-haiku-4-5", "gpt-4o"]
    assert props["ov-empty"]["style"] == {"display": "none"} and props["ov-charts"]["style"] == {}
    assert props["ov-key"]["options"] == ["alice"]
    assert props["ov-client"]["options"] == ["claude-cli/2.1.332", "openai-python/1.109.1"]
    key_chart = props[widgets.chart_id("cost-key")]["figure"]["data"][0]
    assert list(key_chart["y"]) == ["(no key)", "alice"]  # largest cost on top
    [session] = props["ov-sessions"]["data"]
    assert (session["session"], session["client"], session["requests"], session["cost"]) == (
        "sess-1",
        "claude-cli/2.1.332",
        "1",
        "$0.50",
    )
    assert props["ov-sessions-card"]["style"] == {}


def test_layout_without_a_ledger_shows_the_empty_state(tmp_path: Path) -> None:
    client = create_app(str(tmp_path / "missing.db"), 10).server.test_client()
    props = props_by_id(client.get("/_dash-layout").get_json())
    assert props["ov-kpi-requests"]["children"] == "0"
    assert props["ov-empty"]["style"] == {} and props["ov-charts"]["style"] == {"display": "none"}
    assert "No usage recorded yet" in json.dumps(props["ov-empty"]["children"])


def test_callbacks_do_not_run_on_load_but_on_changes(recent_db: str) -> None:
    client = create_app(recent_db, 10).server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    assert len(deps) == 5 and all(d["prevent_initial_call"] for d in deps)
    overview = next(d for d in deps if "ov-kpi-requests.children" in d["output"])
    inputs = {(i["id"], i["property"]) for i in overview["inputs"]}
    assert {
        ("ov-range", "value"),
        ("ov-provider", "value"),
        ("ov-key", "value"),
        ("ov-client", "value"),
        ("ov-interval", "n_intervals"),
    } <= inputs


def script_tags(html: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc=\"[^\"]+\"[^>]*>", html)


def test_page_scripts_are_long_cached(recent_db: str) -> None:
    client = create_app(recent_db, 10).server.test_client()
    html = client.get("/").get_data(as_text=True)
    tags = script_tags(html)
    plotly_tags = [t for t in tags if "plotly" in t]
    assert len(plotly_tags) == 1 and "plotly-basic-" in plotly_tags[0] and "defer" not in plotly_tags[0]
    chunks = [t for t in tags if "/async-" in t]
    assert len(chunks) == len(dashboard_app.CHUNKS) and all('defer="defer"' in t for t in chunks)
    for tag in plotly_tags + chunks:
        src = re.search(r'src="([^"]+)"', tag)[1]
        response = client.get(src)
        assert response.status_code == 200 and response.cache_control.max_age == 365 * 86400, src
    assert "window.__dashboardNatives" in html.split("polyfill@")[0]  # saved before Dash's polyfill runs


def test_full_plotly_bundle_without_a_matching_vendored_one(
    recent_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_app, "get_plotlyjs_version", lambda: "0.0.0")
    client = create_app(recent_db, 10).server.test_client()
    plotly_tags = [t for t in script_tags(client.get("/").get_data(as_text=True)) if "plotly" in t]
    assert len(plotly_tags) == 1 and "/_dash-component-suites/plotly/package_data/plotly.v" in plotly_tags[0]
    response = client.get(re.search(r'src="([^"]+)"', plotly_tags[0])[1])
    assert response.status_code == 200 and response.cache_control.max_age == 365 * 86400


def test_the_vendored_bundle_is_the_installed_plotly_js_version() -> None:
    from plotly.offline import get_plotlyjs_version

    version = get_plotlyjs_version()
    path = dashboard_app.VENDOR / f"plotly-basic-{version}.min.js"
    assert path.is_file(), (
        f"no vendored basic bundle for plotly.js {version}: see {dashboard_app.VENDOR}/README.md"
    )
    assert f"plotly.js (basic - minified) v{version}" in path.read_text()[:200]


class Counter:
    """A compute function that counts its calls (and can be held back)."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> int:
        self.release.wait(5)
        self.calls += 1
        return self.calls


def test_prefetch_hands_over_what_it_started() -> None:
    compute = Counter()
    prefetch = Prefetch(compute)
    prefetch.start()
    assert prefetch.take() == 1 and compute.calls == 1
    assert prefetch.take() == 2  # nothing started: computed on the spot


def test_prefetch_waits_for_a_running_value_and_keeps_at_most_keep() -> None:
    compute = Counter()
    compute.release.clear()
    prefetch = Prefetch(compute, keep=2)
    for _ in range(5):
        prefetch.start()
    threading.Timer(0.05, compute.release.set).start()
    assert sorted([prefetch.take(), prefetch.take()]) == [1, 2]
    assert compute.calls == 2


def test_prefetch_drops_stale_values_and_passes_errors_on() -> None:
    compute = Counter()
    now = [100.0]
    prefetch = Prefetch(compute, max_age_s=5.0, clock=lambda: now[0])
    prefetch.start()
    now[0] += 5.0
    assert prefetch.take() == 1  # just within its age: handed over
    prefetch.start()
    wait_until(lambda: compute.calls == 2)  # the prefetched value (2) is ready...
    now[0] += 5.01
    assert prefetch.take() == 3  # ...but too old: a fresh one
    failing = Prefetch(lambda: 1 / 0)
    failing.start()
    with pytest.raises(ZeroDivisionError):
        failing.take()
