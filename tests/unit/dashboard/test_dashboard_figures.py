"""services.dashboard.figures and .format: pure functions, checked on hand-made frames."""

from __future__ import annotations

import json
import math

import pandas as pd
import plotly.io as pio
import pytest

from services.dashboard import figures
from services.dashboard import format as fmt
from services.dashboard.components import widgets
from shared.ledger.queries import FIGURES

H = 1736935200  # 2025-01-15T10:00:00Z
AXIS = figures.TimeAxis(H - 86400 + 7200, H + 7200, 3600)  # the 24 h before 12:00 UTC, hourly buckets


def cube_frame(rows: list[tuple]) -> pd.DataFrame:
    """(bucket, provider, model, requests, errors, fallbacks, cost) rows -> a cube-shaped frame."""
    records = []
    for bucket, provider, model, requests, errors, fallbacks, cost in rows:
        record = dict.fromkeys(FIGURES, 0)
        record.update(
            bucket=bucket,
            provider=provider,
            model=model,
            requests=requests,
            errors=errors,
            fallbacks=fallbacks,
            cost_usd=cost,
            priced=requests,
            input_tokens=10 * requests,
            output_tokens=2 * requests,
            cache_read_tokens=requests,
            reasoning_tokens=requests,
        )
        records.append(record)
    return pd.DataFrame(records)


SERIES = cube_frame(
    [
        (H, "openai", "gpt-4o", 5, 1, 0, 0.5),
        (H, "anthropic", "claude-haiku-4-5", 3, 0, 1, 0.3),
        (H + 3600, "openai", "gpt-4o-mini", 2, 0, 0, 0.02),
        (H + 3600, "", "unroutable", 1, 1, 0, 0.0),
    ]
)


def test_requests_stacked_by_provider() -> None:
    fig = figures.requests_over_time(SERIES, AXIS)
    assert fig.layout.barmode == "stack"
    traces = {t.name: list(t.y) for t in fig.data}
    assert traces == {"openai": [5, 2], "anthropic": [3, 0], "(none)": [0, 1]}
    assert [t.name for t in fig.data][0] == "openai"  # largest provider first
    assert pd.Timestamp(fig.data[0].x[0]) == pd.Timestamp(H, unit="s")  # UTC, shown as is
    assert fig.data[0].marker.color == figures.PROVIDER_COLORS["openai"]


def test_cost_over_time_sums_cost() -> None:
    fig = figures.cost_over_time(SERIES, AXIS)
    assert {t.name: pytest.approx(sum(t.y)) for t in fig.data} == {
        "openai": 0.52,
        "anthropic": 0.3,
        "(none)": 0.0,
    }


def test_tokens_by_kind() -> None:
    fig = figures.tokens_over_time(SERIES, AXIS)
    assert [t.name for t in fig.data] == [
        "input",
        "cache read",
        "cache write",
        "output",
        "reasoning (in output)",
    ]
    assert list(fig.data[0].y) == [80, 30]
    assert [t.type for t in fig.data] == ["bar"] * 4 + ["scatter"] and fig.layout.barmode == "stack"
    assert fig.data[4].mode == "lines+markers"  # a single bucket's reasoning tokens still show


def test_cost_by_model_largest_on_top() -> None:
    fig = figures.cost_by_model(SERIES)
    bars = fig.data[0]
    assert list(bars.y)[-1] == "gpt-4o" and list(bars.x)[-1] == 0.5
    assert len(bars.y) == 4


def test_latency_by_provider() -> None:
    latency = pd.DataFrame(
        {"provider": ["openai", ""], "requests": [7, 1], "p50": [120.0, 80.0], "p95": [900.0, 80.0]}
    )
    fig = figures.latency_by_provider(latency)
    assert [t.name for t in fig.data] == ["p50", "p95"]
    assert list(fig.data[1].x) == ["openai", "(none)"] and list(fig.data[1].y) == [900.0, 80.0]


def test_errors_and_fallbacks() -> None:
    fig = figures.errors_and_fallbacks(SERIES, AXIS)
    assert list(fig.data[0].y) == [1, 1] and list(fig.data[1].y) == [1, 0]


@pytest.mark.parametrize(
    "build",
    [
        lambda f: figures.requests_over_time(f, AXIS),
        lambda f: figures.cost_over_time(f, AXIS),
        lambda f: figures.tokens_over_time(f, AXIS),
        figures.cost_by_model,
        lambda f: figures.errors_and_fallbacks(f, AXIS),
    ],
)
def test_empty_frames_give_a_message(build) -> None:  # noqa: ANN001
    fig = build(SERIES.iloc[0:0])
    assert fig.data == () and fig.layout.annotations[0].text == "No data in this range"


def test_all_charts_order() -> None:
    charts = figures.all_charts(SERIES, SERIES, pd.DataFrame(), AXIS)
    titles = {name: c.layout.title.text for name, c in charts.items()}
    assert titles == {
        "requests": "Requests",
        "cost": "Cost (USD)",
        "tokens": "Tokens by kind",
        "errors": "Errors and fallbacks",
        "cost-model": "Cost by model (USD)",
        "latency": "Latency by provider",
        "cache-hit": "Cache hit rate",
        "cost-key": "Cost by gateway key (USD)",
        "cost-client": "Cost by client (USD)",
    }
    assert list(charts) == list(widgets.CHARTS)


ATTRIBUTION = pd.DataFrame(
    {
        "key": ["alice", "alice", ""],
        "client": ["claude-cli/2.1.332", "curl/8.5.0", ""],
        "session": ["s1", "", ""],
        "requests": [3, 1, 2],
        "tokens": [300, 10, 20],
        "cost_usd": [0.5, 0.25, 0.0],
        "priced": [3, 1, 0],
        "first_at": [H, H, H],
        "last_at": [H + 60, H, H],
    }
)


def test_cost_by_key_and_client() -> None:
    charts = figures.all_charts(SERIES, SERIES, pd.DataFrame(), AXIS, ATTRIBUTION)
    by_key = charts["cost-key"].data[0]
    assert list(by_key.y) == ["(no key)", "alice"] and list(by_key.x) == [0.0, 0.75]
    assert [list(c) for c in by_key.customdata] == [[2, 2], [4, 0]]  # requests, unpriced
    assert list(charts["cost-client"].data[0].y) == ["(unknown)", "curl/8.5.0", "claude-cli/2.1.332"]


@pytest.mark.parametrize("frame", [SERIES, SERIES.iloc[0:0]], ids=["data", "empty"])
def test_charts_pass_plotly_validation(frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    """Charts skip plotly.py's validation when built; built with it, they come out the same."""
    latency = pd.DataFrame({"provider": ["openai"], "requests": [7], "p50": [120.0], "p95": [900.0]})
    who = ATTRIBUTION if len(frame) else ATTRIBUTION.iloc[0:0]
    fast = figures.all_charts(frame, frame, latency if len(frame) else latency.iloc[0:0], AXIS, who)
    monkeypatch.setattr(figures, "VALIDATE", True)
    checked = figures.all_charts(frame, frame, latency if len(frame) else latency.iloc[0:0], AXIS, who)
    for name, fig in fast.items():
        assert json.loads(pio.to_json(fig)) == json.loads(pio.to_json(checked[name])), name
        assert json.loads(pio.to_json(fig))["layout"]["template"] == {
            "data": {"scatter": [{"type": "scatter"}]}
        }


@pytest.mark.parametrize(
    ("func", "value", "text"),
    [
        (fmt.count, 1234567, "1,234,567"),
        (fmt.count, None, "—"),
        (fmt.compact, 9876, "9,876"),
        (fmt.compact, 12_345, "12.3k"),
        (fmt.compact, 4_560_000, "4.56M"),
        (fmt.compact, 1_230_000_000, "1.23B"),
        (fmt.usd, 1234.5, "$1,234.50"),
        (fmt.usd, 0.0042, "$0.0042"),
        (fmt.usd, 3.9e-6, "$0.000004"),  # gpt-4o-mini's "hi": the ledger's micro-dollar, not $0.0000
        (fmt.usd, 0.0001, "$0.0001"),
        (fmt.usd, 0.0, "$0.00"),
        (fmt.usd, None, "—"),
        (fmt.percent, 0.03811, "3.81%"),
        (fmt.latency, 850.4, "850 ms"),
        (fmt.latency, 1950.0, "1.95 s"),
        (fmt.latency, math.nan, "—"),
        (fmt.bucket_label, 900, "15 min"),
        (fmt.bucket_label, 21600, "6 h"),
        (fmt.bucket_label, 86400, "1 day"),
        (fmt.moment, H, "2025-01-15 10:00:00"),
    ],
)
def test_format(func, value, text: str) -> None:  # noqa: ANN001
    assert func(value) == text


def test_cache_hit_rate_over_time_per_provider() -> None:
    """cache reads ÷ (input + cache reads + cache writes) per bucket and provider; no prompt, no point."""
    series = pd.DataFrame(
        {
            "bucket": [0, 0, 3600, 3600],
            "provider": ["anthropic", "openai", "anthropic", "openai"],
            "input_tokens": [100, 50, 0, 0],
            "cache_read_tokens": [300, 50, 0, 0],
            "cache_write_tokens": [100, 0, 0, 0],
        }
    )
    fig = figures.cache_hit_rate_over_time(series, AXIS)
    lines = {t.name: list(t.y) for t in fig.data}
    assert lines["anthropic"][0] == pytest.approx(0.6) and lines["openai"][0] == pytest.approx(0.5)
    assert all(math.isnan(v) for v in (lines["anthropic"][1], lines["openai"][1]))
    assert fig.layout.yaxis.tickformat == ".0%"
    assert (
        figures.cache_hit_rate_over_time(series.iloc[0:0], AXIS).layout.annotations[0].text
        == "No data in this range"
    )


TIME_CHARTS = ("requests", "cost", "tokens", "errors", "cache-hit")


@pytest.mark.parametrize(
    "frame",
    [SERIES.iloc[0:0], SERIES[SERIES["bucket"] == H], SERIES],
    ids=["empty", "one-bucket", "two-buckets"],
)
def test_time_charts_span_the_chosen_window(frame: pd.DataFrame) -> None:
    """Every time chart's x axis is the window, whatever the data holds: one bucket alone was autoscaled to
    ``09:59:59.9996 … 10:00:00.0004`` (session 25's newcomer run); bars keep 0.8 of a bucket's width."""
    charts = figures.all_charts(frame, frame, pd.DataFrame(), AXIS)
    window = ["2025-01-14 12:00:00.000", "2025-01-15 12:00:00.000"]
    for name in TIME_CHARTS:
        layout = json.loads(pio.to_json(charts[name]))["layout"]["xaxis"]
        assert (layout["type"], layout["range"]) == ("date", window), name
        for trace in charts[name].data:
            assert trace.type != "bar" or trace.width == 3600 * 800, name
    assert "range" not in json.loads(pio.to_json(charts["cost-model"]))["layout"]["xaxis"]
