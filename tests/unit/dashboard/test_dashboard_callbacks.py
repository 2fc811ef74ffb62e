"""The overview's callback bodies (what Dash calls) and the data layer, on a ledger with known rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.dashboard import data, figures
from services.dashboard.app import create_app
from services.dashboard.components import widgets
from services.dashboard.pages import overview
from tests.unit.dashboard.ledger_fixtures import T0, event, known_events, write_ledger
from tests.unit.dashboard.test_dashboard_figures import TIME_CHARTS

NOW = T0 + 2 * 86400 - 60  # all three known requests are in the last 7 days, two in the last 30 hours


@pytest.fixture
def db(tmp_path: Path) -> str:
    return write_ledger(str(tmp_path / "usage.db"), known_events())


def test_overview_kpis_and_charts(db: str) -> None:
    out = overview.overview_outputs(db, "http://gw", "7d", None, None, None, None, now=NOW)
    assert out["ov-kpi-requests"] == "3"
    assert out["ov-kpi-tokens"] == "480"
    assert out["ov-kpi-cost"] == "$0.01"
    assert out["ov-kpi-error-rate"] == "33.33%"
    assert out["ov-kpi-p50"] == "200 ms" and out["ov-kpi-p95"] == "290 ms"
    assert out["ov-kpi-fallbacks"] == "1"
    assert out["ov-kpi-cost-note"] == "1 without a price"
    # 10 cache-read tokens of 330 prompt tokens; savings $0.0004 - $0.0001
    assert out["ov-kpi-cache-hit-rate"] == "3.03%" and out["ov-kpi-cache-savings"] == "$0.0003"
    hit = out[widgets.chart_id("cache-hit")]
    assert {t.name for t in hit.data} == {"openai", "anthropic"}
    assert out["ov-empty"] == [] and out["ov-empty-style"] == overview.HIDDEN
    assert out["ov-charts-style"] == overview.SHOWN
    requests_chart = out[widgets.chart_id("requests")]
    assert sum(sum(t.y) for t in requests_chart.data) == 3
    assert "buckets of 1 h" in out["ov-status"]


def test_overview_filters(db: str) -> None:
    out = overview.overview_outputs(db, "http://gw", "7d", None, None, ["openai"], None, now=NOW)
    assert out["ov-kpi-requests"] == "2" and out["ov-kpi-p50"] == "150 ms"
    out = overview.overview_outputs(db, "http://gw", "7d", None, None, ["openai"], ["gpt-4o"], now=NOW)
    assert out["ov-kpi-requests"] == "1" and out["ov-kpi-cost"] == "—"
    assert out["ov-kpi-cache-hit-rate"] == "—" and out["ov-kpi-cache-savings"] == "—"  # no prompt, no price


def test_custom_dates_are_whole_utc_days(db: str) -> None:
    out = overview.overview_outputs(
        db, "http://gw", "custom", "2025-01-16", "2025-01-16", None, None, now=NOW
    )
    assert out["ov-kpi-requests"] == "1"
    assert data.time_range("custom", "2025-01-15", "2025-01-16", NOW) == (T0 - 36000, T0 - 36000 + 2 * 86400)
    assert data.time_range("custom", None, None, NOW) == (NOW - 86400, NOW)  # incomplete: default preset


def test_empty_states(db: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.db")
    out = overview.overview_outputs(missing, "http://gw:3001", "24h", None, None, None, None, now=NOW)
    assert out["ov-kpi-requests"] == "0" and out["ov-empty-style"] == overview.SHOWN
    text = str(out["ov-empty"])
    assert "No usage recorded yet" in text and "http://gw:3001/v1/chat/completions" in text
    assert "services.recorder.seed" in text and missing in text
    out = overview.overview_outputs(db, "http://gw", "1h", None, None, None, None, now=NOW)
    assert "No requests in this range" in str(out["ov-empty"]) and out["ov-charts-style"] == overview.HIDDEN


def test_table_and_options(db: str) -> None:
    rows = overview.table_outputs(db, "7d", None, None, None, None, now=NOW)
    assert [(r["model"], r["status"], r["tokens"], r["cost"]) for r in rows] == [
        ("gpt-4o", 429, "0", "—"),
        ("claude-sonnet-4-5", 200, "320", "$0.01"),
        ("gpt-4o-mini", 200, "160", "$0.0010"),
    ]
    assert rows[0]["time"] == "2025-01-16 10:00:00"
    providers, models = overview.options_outputs(db, "7d", None, None, ["anthropic"], now=NOW)
    assert providers == ["anthropic", "openai"] and models == ["claude-sonnet-4-5"]


def test_key_and_client_filters_cost_by_key_and_client_and_sessions(db: str) -> None:
    out = overview.overview_outputs(db, "http://gw", "7d", None, None, None, None, now=NOW, keys=["bob"])
    assert out["ov-kpi-requests"] == "1" and out["ov-sessions"] == []
    assert out["ov-sessions-card-style"] == overview.HIDDEN
    out = overview.overview_outputs(
        db, "http://gw", "7d", None, None, None, None, now=NOW, clients=["claude-cli/2.1.332"]
    )
    assert out["ov-kpi-requests"] == "2" and out["ov-kpi-cost"] == "$0.01"
    out = overview.overview_outputs(db, "http://gw", "7d", None, None, None, None, now=NOW)
    by_key = out[widgets.chart_id("cost-key")].data[0]
    assert list(by_key.y) == ["bob", "alice"] and list(by_key.x) == pytest.approx([0.0, 0.011])
    by_client = out[widgets.chart_id("cost-client")].data[0]
    assert list(by_client.y) == ["openai-python/1.109.1", "claude-cli/2.1.332"]
    assert out["ov-sessions"] == [
        {
            "session": "sess-a",
            "client": "claude-cli/2.1.332",
            "first": "2025-01-15 10:10:00",
            "last": "2025-01-15 11:20:00",
            "requests": "2",
            "tokens": "480",
            "cost": "$0.01",
        }
    ]
    rows = overview.table_outputs(db, "7d", None, None, None, None, now=NOW, keys=["alice"])
    assert [r["model"] for r in rows] == ["claude-sonnet-4-5", "gpt-4o-mini"]
    assert overview.who_outputs(db, "7d", None, None, now=NOW) == (
        ["alice", "bob"],
        ["claude-cli/2.1.332", "openai-python/1.109.1"],
    )


@pytest.mark.parametrize(
    ("span", "rows", "bucket"),
    [
        (3600, 0, 60),
        (86400, 0, 900),
        (7 * 86400, 0, 3600),
        (30 * 86400, 0, 21600),
        (86400, 10**6, 3600),
    ],
)
def test_choose_bucket(span: float, rows: int, bucket: int) -> None:
    assert data.choose_bucket(span, rows) == bucket


def test_create_app_has_stable_ids(db: str) -> None:
    app = create_app(db, 5.0)
    page = app.layout()
    ids = set()

    def walk(node) -> None:  # noqa: ANN001
        if getattr(node, "id", None):
            ids.add(node.id)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children] if children is not None else []:
            walk(child)

    walk(page)
    expected = {widgets.kpi_id(n) for n, _ in widgets.KPIS} | {widgets.chart_id(n) for n in widgets.CHARTS}
    assert expected | {"ov-range", "ov-provider", "ov-model", "ov-dates", "ov-table", "ov-interval"} <= ids
    interval = next(c for c in page.children if getattr(c, "id", None) == "ov-interval")
    assert interval.interval == 5000 and not interval.disabled
    assert len(app.callback_map) == 5


@pytest.mark.parametrize(
    ("preset", "dates", "start", "end", "bucket_s"),
    [
        ("1h", (None, None), NOW - 3600, NOW, 60),
        ("24h", (None, None), NOW - 86400, NOW, 900),
        ("7d", (None, None), NOW - 7 * 86400, NOW, 3600),
        ("30d", (None, None), NOW - 30 * 86400, NOW, 21600),
        ("custom", ("2025-01-17", "2025-01-17"), T0 - 36000 + 2 * 86400, T0 - 36000 + 3 * 86400, 900),
    ],
)
def test_each_range_choice_sets_the_time_charts_axes(
    tmp_path: Path, preset: str, dates: tuple[str | None, str | None], start: float, end: float, bucket_s: int
) -> None:
    """One request in the ledger (one bucket in every range): each time chart spans the chosen window, from its
    start to now (presets) or to the end of the last chosen day, not a fraction of a millisecond around it."""
    path = write_ledger(str(tmp_path / "usage.db"), [event(NOW - 120, "openai", "gpt-4o")])
    out = overview.overview_outputs(path, "http://gw", preset, *dates, None, None, now=NOW)
    assert out["ov-kpi-requests"] == "1"
    window = [figures.TimeAxis(start, end, bucket_s).layout()["range"]] * len(TIME_CHARTS)
    axes = [out[widgets.chart_id(name)].layout.xaxis for name in TIME_CHARTS]
    assert [list(a.range) for a in axes] == window
    widths = {t.width for name in TIME_CHARTS for t in out[widgets.chart_id(name)].data if t.type == "bar"}
    assert widths == {bucket_s * 800}
