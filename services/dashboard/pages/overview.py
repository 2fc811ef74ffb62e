"""The overview page: layout and thin callbacks.

Each callback body is a module-level function taking the database path first (``*_outputs``), so
tests and the benchmark call exactly what Dash calls. The page arrives filled in with what they
return for the default range (:func:`first_view`), so they don't run when it loads. Queries live in
``shared.ledger`` (through ``services.dashboard.data``), charts in ``services.dashboard.figures``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import dash
from dash import Input, Output, dcc, html

from services.dashboard import figures
from services.dashboard import format as fmt
from services.dashboard.components import widgets
from services.dashboard.data import (
    DEFAULT_PRESET,
    build_query,
    filter_options,
    load_overview,
    recent_rows,
    sessions,
    who_options,
)

HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}
_CONTROLS = {
    "preset": Input("ov-range", "value"),
    "start_date": Input("ov-dates", "start_date"),
    "end_date": Input("ov-dates", "end_date"),
    "providers": Input("ov-provider", "value"),
    "models": Input("ov-model", "value"),
    "keys": Input("ov-key", "value"),
    "clients": Input("ov-client", "value"),
    "tick": Input("ov-interval", "n_intervals"),
}


def _overview_targets() -> dict[str, tuple[str, str]]:
    kpis = [widgets.kpi_id(name) for name, _ in widgets.KPIS]
    notes = [
        "ov-kpi-tokens-note",
        "ov-kpi-cost-note",
        "ov-kpi-error-rate-note",
        "ov-kpi-cache-hit-rate-note",
        "ov-kpi-cache-savings-note",
    ]
    targets = {i: (i, "children") for i in [*kpis, *notes, "ov-empty", "ov-status"]}
    targets |= {widgets.chart_id(n): (widgets.chart_id(n), "figure") for n in widgets.CHARTS}
    targets |= {
        f"{i}-style": (i, "style") for i in ("ov-empty", "ov-charts", "ov-recent", "ov-sessions-card")
    }
    targets["ov-sessions"] = ("ov-sessions", "data")
    return targets


# Where each value of overview_outputs goes: key -> (element id, property).
OVERVIEW_TARGETS = _overview_targets()
View = Mapping[tuple[str, str], Any]  # values by (element id, property)


def first_view(path: str, gateway_url: str, now: float | None = None) -> dict[tuple[str, str], Any]:
    """What the page opens with (default range, no filter): the three data callbacks' outputs, by target."""
    now = time.time() if now is None else now
    out = overview_outputs(path, gateway_url, DEFAULT_PRESET, None, None, None, None, now)
    view = {OVERVIEW_TARGETS[key]: value for key, value in out.items()}
    view["ov-table", "data"] = table_outputs(path, DEFAULT_PRESET, None, None, None, None, now)
    view["ov-provider", "options"], view["ov-model", "options"] = options_outputs(
        path, DEFAULT_PRESET, None, None, None, now
    )
    view["ov-key", "options"], view["ov-client", "options"] = who_outputs(
        path, DEFAULT_PRESET, None, None, now=now
    )
    return view


def _components(node: Any) -> Iterator[Any]:
    """``node`` and every component below it."""
    yield node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if hasattr(child, "to_plotly_json"):
            yield from _components(child)


def layout(refresh_s: float, view: View | None = None) -> html.Div:
    """The whole page; built per page load. ``refresh_s <= 0`` turns auto-refresh off.

    With ``view`` (see :func:`first_view`) the page arrives filled in, so its first paint needs no
    callback; the callbacks then run only when a control changes or the refresh interval fires.
    """
    page = _skeleton(refresh_s)
    if view:
        props: dict[str, dict[str, Any]] = {}
        for (element, prop), value in view.items():
            props.setdefault(element, {})[prop] = value
        for component in list(_components(page)):
            for prop, value in props.get(getattr(component, "id", None) or "", {}).items():
                setattr(component, prop, value)
    return page


def _skeleton(refresh_s: float) -> html.Div:
    return html.Div(
        className="ov-page",
        children=[
            html.Div(
                className="ov-header",
                children=[
                    html.H1("Ekai Gateway · usage"),
                    html.Div(id="ov-status", className="ov-muted"),
                ],
            ),
            widgets.controls(),
            html.Div(id="ov-empty", className="ov-empty", style=HIDDEN),
            widgets.kpi_cards(),
            widgets.charts(),
            widgets.recent_table(),
            widgets.sessions_table(),
            dcc.Interval(
                id="ov-interval", interval=max(int(refresh_s * 1000), 1000), disabled=refresh_s <= 0
            ),
        ],
    )


def _range_text(start: float, end: float) -> str:
    return f"{fmt.moment(start)} and {fmt.moment(end)} UTC"


def overview_outputs(
    path: str,
    gateway_url: str,
    preset: str | None,
    start_date: str | None,
    end_date: str | None,
    providers: list[str] | None,
    models: list[str] | None,
    now: float | None = None,
    keys: list[str] | None = None,
    clients: list[str] | None = None,
) -> dict[str, Any]:
    """KPIs, charts, sessions, empty state and status line for the current controls (keys: element ids)."""
    q = build_query(
        preset, start_date, end_date, providers, models, time.time() if now is None else now, keys, clients
    )
    view = load_overview(path, q)
    t = view.totals
    out: dict[str, Any] = {
        widgets.kpi_id("requests"): fmt.count(t["requests"]),
        widgets.kpi_id("tokens"): fmt.compact(t["total_tokens"]),
        widgets.kpi_id("cost"): fmt.usd(t["cost_usd"]),
        widgets.kpi_id("error-rate"): fmt.percent(t["error_rate"]),
        widgets.kpi_id("p50"): fmt.latency(t["latency_p50_ms"]),
        widgets.kpi_id("p95"): fmt.latency(t["latency_p95_ms"]),
        widgets.kpi_id("fallbacks"): fmt.count(t["fallbacks"]),
        widgets.kpi_id("cache-hit-rate"): fmt.percent(t["cache_hit_rate"]),
        widgets.kpi_id("cache-savings"): fmt.usd(t["cache_savings_usd"]),
        "ov-kpi-cache-hit-rate-note": f"{fmt.compact(t['cache_read_tokens'])} prompt tokens read from cache",
        "ov-kpi-cache-savings-note": "net of cache-write premiums",
        "ov-kpi-tokens-note": f"{fmt.compact(t['reasoning_tokens'])} reasoning"
        if t["reasoning_tokens"]
        else "",
        "ov-kpi-cost-note": f"{fmt.count(t['unpriced_requests'])} without a price"
        if t["unpriced_requests"]
        else "",
        "ov-kpi-error-rate-note": f"{fmt.count(t['errors'])} errors",
    }
    axis = figures.TimeAxis(q.start, q.end, view.bucket_s)
    charts = figures.all_charts(view.series, view.models, view.latency, axis, view.attribution)
    out.update({widgets.chart_id(name): fig for name, fig in charts.items()})
    span = _range_text(q.start, q.end)
    out["ov-empty"] = widgets.empty_state(view.ledger_exists, path, gateway_url, span) if view.empty else []
    out["ov-empty-style"] = SHOWN if view.empty else HIDDEN
    out["ov-charts-style"] = out["ov-recent-style"] = HIDDEN if view.empty else SHOWN
    out["ov-sessions"] = session_rows(sessions(view.attribution))
    out["ov-sessions-card-style"] = HIDDEN if view.empty or not out["ov-sessions"] else SHOWN
    out["ov-status"] = (
        f"{span.replace(' and ', ' – ')} · buckets of {fmt.bucket_label(view.bucket_s)} · "
        f"updated {fmt.moment(time.time())[11:]} UTC"
    )
    return out


def session_rows(table: Any) -> list[dict[str, Any]]:
    """The sessions table (:func:`services.dashboard.data.sessions`), formatted for display."""
    return [
        {
            "session": r.session,
            "client": r.client or "—",
            "first": fmt.moment(r.first_at),
            "last": fmt.moment(r.last_at),
            "requests": fmt.count(r.requests),
            "tokens": fmt.count(r.tokens),
            "cost": fmt.usd(r.cost_usd if r.priced else None),
        }
        for r in table.itertuples(index=False)
    ]


def table_outputs(
    path: str,
    preset: str | None,
    start_date: str | None,
    end_date: str | None,
    providers: list[str] | None,
    models: list[str] | None,
    now: float | None = None,
    keys: list[str] | None = None,
    clients: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Rows for the recent-requests table, formatted for display."""
    q = build_query(
        preset, start_date, end_date, providers, models, time.time() if now is None else now, keys, clients
    )
    rows: Iterable[Any] = recent_rows(path, q).itertuples(
        index=False
    )  # RECENT_COLUMNS; stubs type fields as any scalar
    return [
        {
            "time": fmt.moment(r.started_at),
            "provider": r.provider or "—",
            "model": r.model,
            "status": r.status,
            "tokens": fmt.count(r.tokens),
            "cost": fmt.usd(None if r.cost_usd != r.cost_usd else r.cost_usd),
            "latency": fmt.latency(r.latency_ms),
            "attempts": r.attempts,
        }
        for r in rows
    ]


def options_outputs(
    path: str,
    preset: str | None,
    start_date: str | None,
    end_date: str | None,
    providers: list[str] | None,
    now: float | None = None,
) -> tuple[list[str], list[str]]:
    """Drop-down choices: providers in the range, and models of the chosen providers."""
    q = build_query(preset, start_date, end_date, None, None, time.time() if now is None else now)
    provider_names, models = filter_options(path, q, providers)
    # Keep chosen values selectable even when the new range has none of them.
    return sorted(set(provider_names) | set(providers or ())), models


def who_outputs(
    path: str,
    preset: str | None,
    start_date: str | None,
    end_date: str | None,
    keys: list[str] | None = None,
    clients: list[str] | None = None,
    now: float | None = None,
) -> tuple[list[str], list[str]]:
    """Drop-down choices: gateway keys and clients in the range (chosen ones stay selectable)."""
    q = build_query(preset, start_date, end_date, None, None, time.time() if now is None else now)
    key_names, client_names = who_options(path, q)
    return sorted(set(key_names) | set(keys or ())), sorted(set(client_names) | set(clients or ()))


def dates_style(preset: str | None) -> dict[str, str]:
    """Show the date picker only for the custom range."""
    return SHOWN if preset == "custom" else HIDDEN


def register_callbacks(app: dash.Dash, path: str, gateway_url: str) -> None:
    """Wire the page's callbacks on ``app`` (not the global registry, so several apps can coexist)."""
    outputs = {key: Output(element, prop) for key, (element, prop) in OVERVIEW_TARGETS.items()}

    # prevent_initial_call: the layout already holds what the first call would return.
    @app.callback(output=outputs, inputs=_CONTROLS, prevent_initial_call=True)
    def update_overview(
        preset: str | None,
        start_date: str | None,
        end_date: str | None,
        providers: list[str] | None,
        models: list[str] | None,
        keys: list[str] | None,
        clients: list[str] | None,
        tick: int | None,
    ) -> dict[str, Any]:
        return overview_outputs(
            path, gateway_url, preset, start_date, end_date, providers, models, keys=keys, clients=clients
        )

    @app.callback(output=Output("ov-table", "data"), inputs=_CONTROLS, prevent_initial_call=True)
    def update_table(
        preset: str | None,
        start_date: str | None,
        end_date: str | None,
        providers: list[str] | None,
        models: list[str] | None,
        keys: list[str] | None,
        clients: list[str] | None,
        tick: int | None,
    ) -> list[dict[str, Any]]:
        return table_outputs(
            path, preset, start_date, end_date, providers, models, keys=keys, clients=clients
        )

    @app.callback(
        Output("ov-provider", "options"),
        Output("ov-model", "options"),
        Input("ov-range", "value"),
        Input("ov-dates", "start_date"),
        Input("ov-dates", "end_date"),
        Input("ov-provider", "value"),
        Input("ov-interval", "n_intervals"),
        prevent_initial_call=True,
    )
    def update_options(
        preset: str | None,
        start_date: str | None,
        end_date: str | None,
        providers: list[str] | None,
        tick: int | None,
    ) -> tuple[list[str], list[str]]:
        return options_outputs(path, preset, start_date, end_date, providers)

    @app.callback(
        Output("ov-key", "options"),
        Output("ov-client", "options"),
        Input("ov-range", "value"),
        Input("ov-dates", "start_date"),
        Input("ov-dates", "end_date"),
        Input("ov-key", "value"),
        Input("ov-client", "value"),
        Input("ov-interval", "n_intervals"),
        prevent_initial_call=True,
    )
    def update_who_options(
        preset: str | None,
        start_date: str | None,
        end_date: str | None,
        keys: list[str] | None,
        clients: list[str] | None,
        tick: int | None,
    ) -> tuple[list[str], list[str]]:
        return who_outputs(path, preset, start_date, end_date, keys, clients)

    app.callback(Output("ov-dates-wrap", "style"), Input("ov-range", "value"), prevent_initial_call=True)(
        dates_style
    )
