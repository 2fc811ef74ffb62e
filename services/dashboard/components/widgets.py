"""Layout building blocks: filter bar, KPI cards, chart cards, recent-requests table, empty state.

Element ids are stable and prefixed ``ov-`` (overview) so browser tests can find them.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from dash.dash_table.DataTable import DataTable  # dash.dash_table is `# type: ignore`d as a whole

from services.dashboard.data import DEFAULT_PRESET
from shared.ledger.engine import describe, is_postgres

KPIS: tuple[tuple[str, str], ...] = (
    ("requests", "Requests"),
    ("tokens", "Tokens"),
    ("cost", "Cost"),
    ("error-rate", "Error rate"),
    ("p50", "Latency p50"),
    ("p95", "Latency p95"),
    ("fallbacks", "Fallbacks"),
    ("cache-hit-rate", "Cache hit rate"),
    ("cache-savings", "Cache savings"),
)
CHARTS: tuple[str, ...] = (
    "requests",
    "cost",
    "tokens",
    "errors",
    "cost-model",
    "latency",
    "cache-hit",
    "cost-key",
    "cost-client",
)
TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("time", "Time (UTC)"),
    ("provider", "Provider"),
    ("model", "Model"),
    ("status", "Status"),
    ("tokens", "Tokens"),
    ("cost", "Cost"),
    ("latency", "Latency"),
    ("attempts", "Attempts"),
)
SESSION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("session", "Session"),
    ("client", "Client"),
    ("first", "First seen (UTC)"),
    ("last", "Last seen (UTC)"),
    ("requests", "Requests"),
    ("tokens", "Tokens"),
    ("cost", "Cost"),
)
# The filter bar's multi-select dropdowns, in order: (element id, label, placeholder); their options are filled by
# the page's callbacks
FILTERS: tuple[tuple[str, str, str], ...] = (
    ("ov-provider", "Providers", "All providers"),
    ("ov-model", "Models", "All models"),
    ("ov-key", "Keys", "All keys"),
    ("ov-client", "Clients", "All clients"),
)
PRESET_OPTIONS = [
    {"label": "Last hour", "value": "1h"},
    {"label": "24 hours", "value": "24h"},
    {"label": "7 days", "value": "7d"},
    {"label": "30 days", "value": "30d"},
    {"label": "Custom", "value": "custom"},
]


def kpi_id(name: str) -> str:
    """The id of a KPI's number element, e.g. ``ov-kpi-requests``."""
    return f"ov-kpi-{name}"


def chart_id(name: str) -> str:
    """The id of a chart's ``dcc.Graph``, e.g. ``ov-chart-requests``."""
    return f"ov-chart-{name}"


def _filter(element: str, label: str, placeholder: str) -> html.Div:
    """One filter of the bar: its label over a multi-select dropdown ``element`` with no options yet."""
    return html.Div(
        className="ov-control ov-grow",
        children=[
            html.Label(label, htmlFor=element),
            dcc.Dropdown(id=element, multi=True, placeholder=placeholder, options=[]),
        ],
    )


def controls() -> html.Div:
    """Time range presets, custom dates, and the provider, model, key and client filters (``FILTERS``)."""
    return html.Div(
        className="ov-controls",
        children=[
            html.Div(
                className="ov-control",
                children=[
                    html.Label("Time range", htmlFor="ov-range"),
                    dcc.RadioItems(
                        id="ov-range",
                        options=PRESET_OPTIONS,
                        value=DEFAULT_PRESET,
                        inline=True,
                        className="ov-range",
                    ),
                ],
            ),
            html.Div(
                id="ov-dates-wrap",
                className="ov-control",
                style={"display": "none"},
                children=[
                    html.Label("Dates (UTC, inclusive)"),
                    dcc.DatePickerRange(id="ov-dates", display_format="YYYY-MM-DD", clearable=True),
                ],
            ),
            *(_filter(element, label, placeholder) for element, label, placeholder in FILTERS),
        ],
    )


def kpi_cards() -> html.Div:
    """One card per KPI; the number goes into ``ov-kpi-<name>``, a remark into ``ov-kpi-<name>-note``."""
    return html.Div(
        className="ov-kpis",
        children=[
            html.Div(
                className="ov-kpi",
                children=[
                    html.Div(label, className="ov-kpi-label"),
                    html.Div("—", id=kpi_id(name), className="ov-kpi-value"),
                    html.Div("", id=f"{kpi_id(name)}-note", className="ov-kpi-note"),
                ],
            )
            for name, label in KPIS
        ],
    )


def charts() -> html.Div:
    """The chart grid (hidden while the empty state shows)."""
    return html.Div(
        id="ov-charts",
        className="ov-charts",
        children=[
            html.Div(
                className="ov-card", children=dcc.Graph(id=chart_id(name), config={"displaylogo": False})
            )
            for name in CHARTS
        ],
    )


def _table_card(
    card_id: str,
    title: str,
    table_id: str,
    columns: tuple[tuple[str, str], ...],
    **table_options: Any,
) -> html.Div:
    """A card with a heading over a 25-row DataTable of ``columns`` ((field, heading) pairs), data filled later
    by a callback; ``table_options`` are further DataTable arguments."""
    return html.Div(
        id=card_id,
        className="ov-card ov-recent",
        children=[
            html.H3(title),
            DataTable(
                id=table_id,
                data=[],
                page_size=25,
                columns=[{"id": key, "name": name} for key, name in columns],
                style_cell={
                    "fontFamily": "inherit",
                    "fontSize": 13,
                    "padding": "4px 8px",
                    "textAlign": "left",
                },
                style_header={"fontWeight": 600, "backgroundColor": "#f4f5f7"},
                **table_options,
            ),
        ],
    )


def recent_table() -> html.Div:
    """The newest requests of the selection (errors in red)."""
    return _table_card(
        "ov-recent",
        "Recent requests",
        "ov-table",
        TABLE_COLUMNS,
        style_data_conditional=[{"if": {"filter_query": "{status} >= 400"}, "color": "#c62828"}],
    )


def sessions_table() -> html.Div:
    """Coding sessions (Claude Code's session id, Codex's session-id) of the selection, by cost."""
    return _table_card("ov-sessions-card", "Sessions by cost", "ov-sessions", SESSION_COLUMNS)


def _code(text: str) -> html.Pre:
    return html.Pre(html.Code(text), className="ov-code")


def empty_state(ledger_exists: bool, ledger: str, gateway_url: str, range_text: str) -> list[Any]:
    """What to say when there is nothing to show: no ledger yet, or no request in the range.

    ``ledger``: a SQLite path or a PostgreSQL URL (shown without its password)."""
    shown = describe(ledger)
    curl = (
        f"curl {gateway_url}/v1/chat/completions \\\n  -H 'content-type: application/json' \\\n"
        '  -d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}\''
    )
    if ledger_exists:
        head = [
            html.H3("No requests in this range"),
            html.P(
                f"Nothing matches {range_text}. Widen the time range or clear the filters, "
                "or send a request through the gateway:"
            ),
        ]
    else:
        head = [
            html.H3("No usage recorded yet"),
            html.P(
                [
                    "The ledger ",
                    html.Code(shown),
                    " does not exist yet. Start the stack with ",
                    html.Code("make run"),
                    " and send a first request through the gateway:",
                ]
            ),
        ]
    seed = f"python -m services.recorder.seed --db {shown} --rows 20000 --days 7"
    return [
        *head,
        _code(curl),
        html.P(["Or load synthetic demo data: ", html.Code(seed)]) if not is_postgres(ledger) else "",
        html.P("This page refreshes by itself.", className="ov-muted"),
    ]
