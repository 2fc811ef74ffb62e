"""The dashboard in headless Chromium (dash_duo) against a seeded ledger, in SQLite and in PostgreSQL.

Expected numbers come from independent SQL on the same database, not from the dashboard's own code.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.dashboard.app import create_app
from services.recorder import migrate_to_postgres
from services.recorder.seed import seed
from services.recorder.store import Store
from shared.ledger import engine
from tests.ledger_db import query
from tests.pgserver import PgServer
from tests.ports import free_port
from tests.unit.dashboard.ledger_fixtures import event, write_ledger

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).with_name("screenshots")
CHARTS = ("requests", "cost", "tokens", "errors", "cost-model", "latency", "cache-hit")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """2,000 synthetic requests over the last 19 hours (all inside the default 24 h) plus 3 known ones: a
    SQLite file, or a PostgreSQL database they were moved into by the recorder's move command."""
    path = str(tmp_path_factory.mktemp("ledger") / "usage.db")
    asyncio.run(seed(path, rows=2000, days=0.8, seed_value=11))
    now = time.time()
    add_events(
        path,
        [
            event(now - 600 - i, "anthropic", "known-model", latency_ms=1234.0, input_tokens=7)
            for i in range(3)
        ],
    )
    if request.param == "sqlite":
        yield path
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.url(server.create_database())
    assert asyncio.run(migrate_to_postgres.move(path, url)).inserted == 2003
    os.remove(path)  # whatever the dashboard shows comes from PostgreSQL
    try:
        yield url
    finally:
        engine.dispose(url)
        server.drop_database(url.rsplit("/", 1)[1])


def add_events(path: str, events: list[Any]) -> None:
    async def add() -> None:
        store = await Store.open(path)
        try:
            await store.insert_many(events)
        finally:
            await store.close()

    asyncio.run(add())


def sql_count(ledger: str, where: str = "1 = 1", *params: Any) -> int:
    return int(query(ledger, f"SELECT count(*) AS n FROM requests WHERE {where}", params)[0]["n"])


def start(dash_duo: Any, path: str) -> None:
    dash_duo.start_server(create_app(path, refresh_s=3600), port=free_port())


def plotted(dash_duo: Any, chart: str) -> tuple[int, float]:
    """(trace count, sum of y over bar traces) of a rendered chart, read from Plotly's graph div."""
    return dash_duo.driver.execute_script(
        "const gd = document.querySelector('#ov-chart-' + arguments[0] + ' .js-plotly-plot');"
        "if (!gd || !gd.data) return [0, 0];"
        # _fullData holds the decoded arrays (gd.data may keep Plotly's base64 typed-array specs)
        "let s = 0; for (const t of gd._fullData) { if (t.type === 'bar' && t.y) for (const v of Array.from(t.y)) s += Number(v); }"
        "return [gd._fullData.length, s];",
        chart,
    )


def test_overview_shows_the_ledger(dash_duo: Any, ledger: str) -> None:
    expected = sql_count(ledger, "started_at >= ?", time.time() - 86400)
    assert expected == 2003
    start(dash_duo, ledger)
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", f"{expected:,}", timeout=20)
    for chart in CHARTS:
        dash_duo.wait_for_element(f"#ov-chart-{chart} .js-plotly-plot .main-svg", timeout=10)
    traces, total = plotted(dash_duo, "requests")
    assert traces == 4 and total == expected  # one trace per provider, bars add up to the KPI
    assert plotted(dash_duo, "latency")[0] == 2  # p50 and p95
    assert dash_duo.find_element("#ov-empty").value_of_css_property("display") == "none"
    assert len(dash_duo.find_elements("#ov-table tbody tr")) > 10
    assert dash_duo.get_logs() == []


def test_provider_filter_changes_the_kpis(dash_duo: Any, ledger: str) -> None:
    start(dash_duo, ledger)
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", f"{sql_count(ledger):,}", timeout=20)
    expected = sql_count(ledger, "provider = ?", "anthropic")
    dash_duo.select_dcc_dropdown("#ov-provider", value="anthropic")
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", f"{expected:,}", timeout=10)
    dash_duo.wait_for_contains_text("#ov-table", "known-model", timeout=10)
    assert plotted(dash_duo, "requests") == [1, expected]
    dash_duo.find_element("h1").click()  # close the drop-down menu before the picture
    SCREENSHOTS.mkdir(exist_ok=True)
    dash_duo.driver.save_screenshot(str(SCREENSHOTS / "overview-anthropic.png"))
    assert dash_duo.get_logs() == []


def test_empty_state_without_a_ledger(dash_duo: Any, tmp_path: Path) -> None:
    start(dash_duo, str(tmp_path / "missing.db"))
    dash_duo.wait_for_contains_text("#ov-empty", "No usage recorded yet", timeout=20)
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "0", timeout=10)
    assert "v1/chat/completions" in dash_duo.find_element("#ov-empty").text
    for hidden in ("#ov-charts", "#ov-recent"):
        assert dash_duo.find_element(hidden).value_of_css_property("display") == "none"
    SCREENSHOTS.mkdir(exist_ok=True)
    dash_duo.driver.save_screenshot(str(SCREENSHOTS / "empty-state.png"))


def test_presets_and_auto_refresh_run_the_callbacks(dash_duo: Any, tmp_path: Path) -> None:
    """The page opens filled in, without a callback; a preset click and the refresh interval run them."""
    now = time.time()
    path = write_ledger(
        str(tmp_path / "usage.db"),
        [
            event(now - 600, "openai", "gpt-4o"),
            event(now - 300, "xai", "grok-4"),
            event(now - 3 * 86400, "anthropic", "claude-haiku-4-5"),
        ],
    )
    dash_duo.start_server(create_app(path, refresh_s=1), port=free_port())
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "2", timeout=20)
    dash_duo.find_element("#ov-range input[value='7d']").click()
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "3", timeout=10)
    assert plotted(dash_duo, "requests")[1] == 3
    add_events(path, [event(time.time() - 1, "openai", "gpt-4o-mini")])
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "4", timeout=10)  # the next refresh tick
    dash_duo.wait_for_contains_text("#ov-table", "gpt-4o-mini", timeout=10)
    page = dash_duo.driver.execute_script(
        "return [window.Plotly.version, performance.getEntriesByType('resource').map(e => e.name),"
        " String.prototype.trim.toString(), parseInt.toString()]"
    )
    version, resources, trim, parse_int = page
    assert not [r for r in resources if "plotly.min.js" in r or "plotly.v" in r]  # the basic bundle only
    assert any(f"plotly-basic-{version}.min.js" in r for r in resources)
    assert "[native code]" in trim and "[native code]" in parse_int
    assert dash_duo.get_logs() == []


def test_key_and_client_filters_cost_by_key_and_sessions(dash_duo: Any, tmp_path: Path) -> None:
    now = time.time()
    path = write_ledger(
        str(tmp_path / "usage.db"),
        [
            event(
                now - 600,
                "openai",
                "gpt-4o",
                cost_usd=0.5,
                api_key_name="alice",
                session_id="sess-expensive",
                client="claude-cli/2.1.332",
                request_id="a1",
            ),
            event(
                now - 500,
                "openai",
                "gpt-4o",
                cost_usd=0.1,
                api_key_name="bob",
                session_id="sess-cheap",
                client="codex_exec/0.171.0",
                request_id="b1",
            ),
            event(
                now - 400,
                "anthropic",
                "claude-haiku-4-5",
                cost_usd=0.2,
                api_key_name="bob",
                client="codex_exec/0.171.0",
                request_id="b2",
            ),
        ],
    )
    start(dash_duo, path)
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "3", timeout=20)
    for chart in ("cost-key", "cost-client"):
        dash_duo.wait_for_element(f"#ov-chart-{chart} .js-plotly-plot .main-svg", timeout=10)
    bars = dash_duo.driver.execute_script(
        "const t = document.querySelector('#ov-chart-cost-key .js-plotly-plot')._fullData[0];"
        "return [Array.from(t.y), Array.from(t.x).map(Number)];"
    )
    assert bars[0] == ["bob", "alice"]  # the largest cost on top
    assert dict(zip(*bars, strict=True)) == pytest.approx({"alice": 0.5, "bob": 0.3})
    rows = dash_duo.find_elements("#ov-sessions tbody tr")
    assert "sess-expensive" in rows[1].text and "sess-cheap" in rows[2].text  # row 0: the header
    dash_duo.select_dcc_dropdown("#ov-key", value="bob")
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "2", timeout=10)
    dash_duo.wait_for_text_to_equal("#ov-kpi-cost", "$0.30", timeout=10)
    dash_duo.wait_for_contains_text("#ov-sessions", "sess-cheap", timeout=10)
    assert "sess-expensive" not in dash_duo.find_element("#ov-sessions").text
    dash_duo.select_dcc_dropdown("#ov-client", value="codex_exec/0.171.0")
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "2", timeout=10)
    assert dash_duo.get_logs() == []


def test_a_first_request_shows_its_tokens_and_its_micro_dollar_cost(dash_duo: Any, tmp_path: Path) -> None:
    """A new user's first minutes: one request, so the default 24 h range holds one 15-minute bucket. Its
    tokens are drawn (stacked areas of one point drew nothing), and its cost of a few micro-dollars reads as
    such in the recent requests (four decimals read ``$0.0000``, as if free)."""
    path = write_ledger(
        str(tmp_path / "usage.db"),
        [event(time.time() - 60, "openai", "gpt-4o-mini", input_tokens=10, output_tokens=4, cost_usd=3.9e-6)],
    )
    start(dash_duo, path)
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "1", timeout=20)
    dash_duo.wait_for_element("#ov-chart-tokens .js-plotly-plot .main-svg", timeout=10)
    assert plotted(dash_duo, "tokens")[1] == 14  # input and output bars, one bucket
    drawn = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#ov-chart-tokens .barlayer .point path'))"
        ".filter(p => p.getBBox().height > 0).length"
    )
    assert drawn == 2  # the two non-zero kinds are on the page, not only in the data
    dash_duo.wait_for_contains_text("#ov-table", "$0.000004", timeout=10)
    assert dash_duo.get_logs() == []


def test_a_one_bucket_ledger_s_time_axes_span_the_range(dash_duo: Any, tmp_path: Path) -> None:
    """A new install's one bucket: the time charts' x axes are the default 24 h range, labelled in hours, not
    ``15:29:59.9996 … 15:30:00.0004`` around the one point (session 25's newcomer run)."""
    path = write_ledger(
        str(tmp_path / "usage.db"),
        [event(time.time() - 60, "openai", "gpt-4o-mini", input_tokens=10, output_tokens=4, cost_usd=3.9e-6)],
    )
    start(dash_duo, path)
    dash_duo.wait_for_text_to_equal("#ov-kpi-requests", "1", timeout=20)
    for chart in ("requests", "cost", "tokens", "errors", "cache-hit"):
        dash_duo.wait_for_element(f"#ov-chart-{chart} .js-plotly-plot .main-svg", timeout=10)
        labels, span_ms = dash_duo.driver.execute_script(
            "const gd = document.querySelector('#ov-chart-' + arguments[0] + ' .js-plotly-plot');"
            "const r = gd._fullLayout.xaxis.range.map(v => new Date(v.replace(' ', 'T') + 'Z').getTime());"
            "return [Array.from(gd.querySelectorAll('.xtick text')).map(t => t.textContent), r[1] - r[0]];",
            chart,
        )
        assert labels, chart
        assert not [text for text in labels if "." in text], (chart, labels)  # no fractions of a second
        assert abs(span_ms - 86_400_000) <= 1, (chart, span_ms)  # to the millisecond the range is written in
    assert dash_duo.get_logs() == []
