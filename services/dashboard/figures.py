"""Charts for the overview: pure functions from ledger DataFrames to ``go.Figure`` (no Dash import).

Inputs are :func:`shared.ledger.queries.cube` frames (keyed by ``bucket`` and ``provider``, or by
``provider`` and ``model``) and the per-provider latency frame of :func:`services.dashboard.data.load_overview`.
Times are UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

PROVIDER_COLORS = {
    "openai": "#10a37f",
    "anthropic": "#d97757",
    "xai": "#3b3b3b",
    "openrouter": "#6f5bd3",
    "": "#9aa0a6",
}
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
TOKEN_KINDS = (
    ("input_tokens", "input"),
    ("cache_read_tokens", "cache read"),
    ("cache_write_tokens", "cache write"),
    ("output_tokens", "output"),
)
NO_PROVIDER = "(none)"
NO_KEY = "(no key)"
NO_CLIENT = "(unknown)"


@dataclass(frozen=True, slots=True)
class TimeAxis:
    """The x axis of the time charts: the chosen window ``[start_s, end_s)`` (unix seconds, UTC) and the
    bucket width ``bucket_s`` (seconds).

    The axis spans the window whatever the data holds: left to Plotly, one bucket autoscaled to a few
    tenths of a millisecond around its point (session 25's newcomer run). Bars are as wide as 0.8 of a
    bucket, as Plotly draws them when several buckets set their spacing (one alone was 0.8 ms wide)."""

    start_s: float
    end_s: float
    bucket_s: int

    def layout(self, **axis: Any) -> dict[str, Any]:
        """The ``xaxis`` layout: a date axis whose range is the window (naive UTC, as the bucket times)."""
        return {**_AXIS, "type": "date", "range": [_utc_text(self.start_s), _utc_text(self.end_s)], **axis}

    @property
    def bar_width_ms(self) -> float:
        """Bar width in date-axis units (milliseconds)."""
        return 800.0 * self.bucket_s


def _utc_text(t_s: float) -> str:
    """``YYYY-MM-DD HH:MM:SS.fff`` in UTC: a date-axis value Plotly reads as it is."""
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def provider_color(name: str, index: int = 0) -> str:
    """A stable colour for a provider (known ones fixed, others from a palette)."""
    return PROVIDER_COLORS.get(name, _PALETTE[index % len(_PALETTE)])


# Figures are built in one go.Figure(data=[dicts], layout=dict) call: going through update_layout,
# add_bar or a named template such as "plotly_white" costs 10-15 ms a chart instead of under 1 ms.
# They skip plotly.py's property validation too (1-4 ms a chart, most of the figures' time; the unit
# tests build every chart again with validation and compare).
# Drawing in the browser: ticklabeloverflow "allow" spares plotly.js measuring every tick label to hide
# those past the div (automargin already keeps them inside), and a right margin that fits half a time
# label spares the second drawing pass automargin does when the last x label sticks out (~10 ms each).
_AXIS = {
    "gridcolor": "#eceff3",
    "linecolor": "#d0d7de",
    "zeroline": False,
    "automargin": True,
    "ticklabeloverflow": "allow",
}
VALIDATE = False  # tests turn it on
# The "none" template object, since an unvalidated figure would send the name as it is.
_LOOK = {
    "template": pio.templates["none"],
    "paper_bgcolor": "#fff",
    "plot_bgcolor": "#fff",
    "colorway": list(_PALETTE),
    "font": {"family": "-apple-system, Segoe UI, Roboto, Arial, sans-serif", "size": 12, "color": "#1f2328"},
    "margin": {"l": 55, "r": 25, "t": 45, "b": 40},
    "height": 300,
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": -0.18},
}


def _figure(traces: list[dict[str, Any]], title: str, y_title: str, **layout: Any) -> go.Figure:
    """A chart with the dashboard's look; ``layout`` adds or overrides layout properties."""
    return go.Figure(
        data=traces,
        layout={
            **_LOOK,
            "title": {"text": title, "x": 0.01, "font": {"size": 15}},
            "xaxis": _AXIS,
            "yaxis": {**_AXIS, "title": {"text": y_title}},
            **layout,
        },
        _validate=VALIDATE,
    )


def empty_figure(
    title: str, message: str = "No data in this range", axis: TimeAxis | None = None
) -> go.Figure:
    """A blank chart with ``message`` in the middle (a time chart's hidden x axis still spans ``axis``)."""
    note = {
        "text": message,
        "showarrow": False,
        "font": {"size": 14, "color": "#777"},
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
    }
    xaxis = {"visible": False} if axis is None else axis.layout(visible=False)
    return _figure([], title, "", annotations=[note], xaxis=xaxis, yaxis={"visible": False})


def _times(buckets: pd.Series) -> npt.NDArray[np.datetime64]:
    """Bucket starts as naive UTC datetimes (what plotly.py's validation would make of them)."""
    return pd.to_datetime(buckets.astype("int64"), unit="s").to_numpy()


def _by_provider(series: pd.DataFrame, column: str) -> pd.DataFrame:
    """bucket x provider table of one figure, buckets in order, providers by total (largest first)."""
    table = series.groupby(["bucket", "provider"])[column].sum().unstack(fill_value=0)
    return table[table.sum().sort_values(ascending=False).index]


def stacked_by_provider(
    series: pd.DataFrame, column: str, title: str, y_title: str, axis: TimeAxis
) -> go.Figure:
    """Bars of ``column`` per time bucket, stacked by provider, over ``axis``'s window."""
    if series.empty:
        return empty_figure(title, axis=axis)
    table = _by_provider(series, column)
    x = _times(table.index.to_series())
    traces = [
        {
            "type": "bar",
            "x": x,
            "y": table[provider].to_numpy(),
            "name": provider or NO_PROVIDER,
            "marker": {"color": provider_color(provider, i)},
            "width": axis.bar_width_ms,
        }
        for i, provider in enumerate(table.columns)
    ]
    return _figure(traces, title, y_title, barmode="stack", xaxis=axis.layout())


def requests_over_time(series: pd.DataFrame, axis: TimeAxis) -> go.Figure:
    """Requests per bucket, stacked by provider."""
    return stacked_by_provider(series, "requests", "Requests", "requests", axis)


def cost_over_time(series: pd.DataFrame, axis: TimeAxis) -> go.Figure:
    """Known cost (USD) per bucket, stacked by provider."""
    return stacked_by_provider(series, "cost_usd", "Cost (USD)", "USD", axis)


def tokens_over_time(series: pd.DataFrame, axis: TimeAxis) -> go.Figure:
    """Tokens per bucket by kind (stacked bars), reasoning tokens (part of output) as a dotted line with markers.

    Bars, as the requests and cost charts: a range that holds one bucket (a new ledger, the default 24 h range's
    15-minute buckets) still shows its tokens, where stacked areas of one point drew nothing."""
    title = "Tokens by kind"
    if series.empty:
        return empty_figure(title, axis=axis)
    kinds = [k for k, _ in TOKEN_KINDS] + ["reasoning_tokens"]
    table = series.groupby("bucket")[kinds].sum().sort_index()
    x = _times(table.index.to_series())
    traces = [
        {"type": "bar", "x": x, "y": table[column].to_numpy(), "name": label, "width": axis.bar_width_ms}
        for column, label in TOKEN_KINDS
    ]
    traces.append(
        {
            "type": "scatter",
            "x": x,
            "y": table["reasoning_tokens"].to_numpy(),
            "name": "reasoning (in output)",
            "mode": "lines+markers",
            "line": {"dash": "dot", "color": "#444"},
            "marker": {"size": 4},
        }
    )
    return _figure(traces, title, "tokens", barmode="stack", xaxis=axis.layout())


def cost_by_model(models: pd.DataFrame, top: int = 15) -> go.Figure:
    """Horizontal bars of known cost per model, largest on top (at most ``top`` models).

    ``models``: a cube frame with provider and model keys (any other keys are summed over).
    """
    title = "Cost by model (USD)"
    if models.empty:
        return empty_figure(title)
    table = models.groupby(["model", "provider"], as_index=False)[["cost_usd", "requests", "priced"]].sum()
    table = table.sort_values("cost_usd", ascending=False).head(top).iloc[::-1]
    bars = {
        "type": "bar",
        "orientation": "h",
        "x": table["cost_usd"].to_numpy(),
        "y": table["model"].to_numpy(),
        "marker": {"color": [provider_color(p, i) for i, p in enumerate(table["provider"])]},
        "customdata": (table["requests"] - table["priced"]).to_numpy(),
        "hovertemplate": "%{y}: $%{x:,.2f}<br>unpriced requests: %{customdata}<extra></extra>",
    }
    return _figure([bars], title, "", hovermode="closest", height=max(300, 30 + 22 * len(table)))


def cost_by(frame: pd.DataFrame, column: str, title: str, none_label: str, top: int = 15) -> go.Figure:
    """Horizontal bars of known cost per ``column`` value (key or client), largest on top.

    ``frame``: :func:`shared.ledger.queries.attribution` (rows are summed per value); ``''`` reads
    ``none_label``. Hovering shows the requests and those without a price.
    """
    if frame.empty:
        return empty_figure(title)
    table = frame.groupby(column, as_index=False)[["cost_usd", "requests", "priced"]].sum()
    table = table.sort_values(["cost_usd", "requests"], ascending=False).head(top).iloc[::-1]
    names = [name or none_label for name in table[column]]
    bars = {
        "type": "bar",
        "orientation": "h",
        "x": table["cost_usd"].to_numpy(),
        "y": names,
        "marker": {"color": [_PALETTE[i % len(_PALETTE)] for i in range(len(table))]},
        "customdata": np.stack(
            [table["requests"].to_numpy(), (table["requests"] - table["priced"]).to_numpy()], axis=-1
        ),
        "hovertemplate": "%{y}: $%{x:,.4f}<br>requests: %{customdata[0]}, unpriced: %{customdata[1]}"
        "<extra></extra>",
    }
    return _figure([bars], title, "", hovermode="closest", height=max(300, 30 + 22 * len(table)))


def latency_by_provider(latency: pd.DataFrame) -> go.Figure:
    """p50 and p95 latency (ms) per provider, as grouped bars."""
    title = "Latency by provider"
    if latency.empty:
        return empty_figure(title)
    names = [p or NO_PROVIDER for p in latency["provider"]]
    traces = [
        {
            "type": "bar",
            "x": names,
            "y": latency[column].to_numpy(),
            "name": column,
            "marker": {"color": color},
        }
        for column, color in (("p50", "#4c78a8"), ("p95", "#f58518"))
    ]
    return _figure(traces, title, "ms", barmode="group", hovermode="closest")


def errors_and_fallbacks(series: pd.DataFrame, axis: TimeAxis) -> go.Figure:
    """Errors (bars) and fallbacks (line) per time bucket."""
    title = "Errors and fallbacks"
    if series.empty:
        return empty_figure(title, axis=axis)
    table = series.groupby("bucket")[["errors", "fallbacks"]].sum().sort_index()
    x = _times(table.index.to_series())
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": x,
            "y": table["errors"].to_numpy(),
            "name": "errors (status ≥ 400)",
            "marker": {"color": "#d62728"},
            "width": axis.bar_width_ms,
        },
        {
            "type": "scatter",
            "x": x,
            "y": table["fallbacks"].to_numpy(),
            "name": "fallbacks (attempts > 1)",
            "mode": "lines+markers",
            "line": {"color": "#9467bd"},
            "marker": {"size": 4},
        },
    ]
    return _figure(traces, title, "requests", xaxis=axis.layout())


def cache_hit_rate_over_time(series: pd.DataFrame, axis: TimeAxis) -> go.Figure:
    """Cache hit rate per time bucket, one line per provider: cache-read tokens ÷ all prompt tokens
    (input + cache reads + cache writes). Buckets without prompt tokens are gaps, not zeros."""
    title = "Cache hit rate"
    if series.empty:
        return empty_figure(title, axis=axis)
    sums = series.groupby(["bucket", "provider"])[
        ["input_tokens", "cache_read_tokens", "cache_write_tokens"]
    ].sum()
    prompt = sums.sum(axis=1)
    rate = (sums["cache_read_tokens"] / prompt.where(prompt > 0)).unstack()
    rate = rate[rate.notna().sum().sort_values(ascending=False).index]
    x = _times(rate.index.to_series())
    traces = [
        {
            "type": "scatter",
            "x": x,
            "y": rate[provider].to_numpy(dtype="float64"),
            "name": provider or NO_PROVIDER,
            "mode": "lines+markers",
            "connectgaps": False,
            "line": {"color": provider_color(provider, i)},
            "marker": {"size": 4},
        }
        for i, provider in enumerate(rate.columns)
    ]
    return _figure(
        traces,
        title,
        "cache reads ÷ prompt tokens",
        xaxis=axis.layout(),
        yaxis={**_AXIS, "title": {"text": "share of prompt tokens"}, "tickformat": ".0%", "range": [0, 1]},
    )


def all_charts(
    series: pd.DataFrame,
    models: pd.DataFrame,
    latency: pd.DataFrame,
    axis: TimeAxis,
    attribution: pd.DataFrame | None = None,
) -> dict[str, go.Figure]:
    """The overview's charts by name (the page lays them out in ``widgets.CHARTS`` order).

    ``series``: cube by bucket and provider; ``models``: cube by provider and model; ``latency``: the
    per-provider percentiles of :func:`services.dashboard.data.load_overview`; ``axis``: the chosen
    window and bucket width, the x axis of every time chart; ``attribution``: figures per key, client and
    session.
    """
    who = attribution if attribution is not None else pd.DataFrame()
    return {
        "requests": requests_over_time(series, axis),
        "cost": cost_over_time(series, axis),
        "tokens": tokens_over_time(series, axis),
        "errors": errors_and_fallbacks(series, axis),
        "cost-model": cost_by_model(models),
        "latency": latency_by_provider(latency),
        "cache-hit": cache_hit_rate_over_time(series, axis),
        "cost-key": cost_by(who, "key", "Cost by gateway key (USD)", NO_KEY),
        "cost-client": cost_by(who, "client", "Cost by client (USD)", NO_CLIENT),
    }
