"""What the overview page shows, as plain data: controls -> :class:`Query` -> :class:`Overview`.

No Dash import, so unit tests and the benchmark call these directly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from shared.ledger.engine import exists as ledger_exists
from shared.ledger.params import Query
from shared.ledger.queries import (
    attribution,
    attribution_options,
    cube,
    latency_percentiles,
    options,
    recent,
    regroup,
)
from shared.ledger.summary import totals

PRESETS: dict[str, int] = {"1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
DEFAULT_PRESET = "24h"
# Time-bucket widths for the charts: the smallest giving at most MAX_POINTS points is used.
BUCKETS_S = (60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400)
MAX_POINTS = 200
# Buckets below an hour read ledger rows, not the hourly rollup: only for modest row counts.
RAW_ROWS_MAX = 200_000


@dataclass(slots=True)
class Overview:
    """Everything the overview's KPIs and charts need, for one query."""

    query: Query
    bucket_s: int
    ledger_exists: bool
    totals: dict[str, Any]
    series: pd.DataFrame  # bucket, provider + ledger figures
    models: pd.DataFrame = field(
        default_factory=pd.DataFrame
    )  # provider, model + ledger figures, whole range
    latency: pd.DataFrame = field(default_factory=pd.DataFrame)  # provider, requests, p50, p95
    # key, client, session + requests, tokens, cost, first and last seen (shared.ledger.queries.attribution)
    attribution: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def empty(self) -> bool:
        """No request matches the query (or there is no ledger)."""
        return int(self.totals["requests"]) == 0


def _day_start(text: str) -> float:
    day = datetime.fromisoformat(text[:10]).replace(tzinfo=UTC)
    return day.timestamp()


def time_range(
    preset: str | None, start_date: str | None, end_date: str | None, now: float
) -> tuple[float, float]:
    """[start, end) in unix seconds for a preset, or for whole UTC days from the date picker."""
    if preset == "custom" and start_date and end_date:
        start = _day_start(start_date)
        end = _day_start(end_date) + timedelta(days=1).total_seconds()
        if start < end:
            return start, end
    return now - PRESETS.get(preset or DEFAULT_PRESET, PRESETS[DEFAULT_PRESET]), now


def build_query(
    preset: str | None,
    start_date: str | None,
    end_date: str | None,
    providers: list[str] | None,
    models: list[str] | None,
    now: float,
    keys: list[str] | None = None,
    clients: list[str] | None = None,
) -> Query:
    """The ledger query for the page's controls (empty selections mean all)."""
    start, end = time_range(preset, start_date, end_date, now)
    return Query(
        start,
        end,
        tuple(providers or ()),
        tuple(models or ()),
        keys=tuple(keys or ()),
        clients=tuple(clients or ()),
    )


def choose_bucket(span_s: float, rows: int = 0) -> int:
    """Chart bucket width: at most MAX_POINTS points; whole hours when the range holds many rows."""
    bucket = next((b for b in BUCKETS_S if span_s / b <= MAX_POINTS), BUCKETS_S[-1])
    if bucket < 3600 and rows > RAW_ROWS_MAX:
        bucket = 3600
    return bucket


def load_overview(path: str, q: Query) -> Overview:
    """Totals, per-bucket/provider series, per-provider/model figures and per-provider latency for ``q``.

    The figures per provider and model come first (whole hours from the rollup): they give the totals,
    the cost by model, the row count that picks the bucket width and the percentile groups. When the
    range is long enough for buckets of whole hours, the same read (per bucket, provider and model) also
    gives the series; otherwise the series is a second read, with the bucket width chosen from the row
    count. Then the percentiles (latency lists, or a pass over the range's rows).
    """
    exists = ledger_exists(path)
    span = q.end - q.start
    fine = None
    if choose_bucket(span) >= 3600:  # whole hours whatever the row count: one rollup read for both
        fine = cube(path, q, ["bucket", "provider", "model"], choose_bucket(span))
        models = regroup(fine, ["provider", "model"])
    else:
        models = cube(path, q, ["provider", "model"])
    by_provider = models.groupby("provider", as_index=False, sort=True)[["requests"]].sum()
    counts = dict(zip(by_provider["provider"], by_provider["requests"].astype(int), strict=True))
    bucket_s = choose_bucket(span, sum(counts.values()))
    # In the calling thread, one after another: Dash's threaded test runner stops server threads with an
    # asynchronous SystemExit (by thread id), which can land in any helper thread or inside the lock every
    # ThreadPoolExecutor shares, and hang the process. The overlap saved about a third of this call.
    pct = latency_percentiles(path, q, "provider", counts, overall=True)
    who = attribution(path, q)
    series = (
        cube(path, q, ["bucket", "provider"], bucket_s)
        if fine is None
        else regroup(fine, ["bucket", "provider"])
    )
    nan = (math.nan, math.nan)
    by_provider["p50"] = [pct.get(p, nan)[0] for p in by_provider["provider"]]
    by_provider["p95"] = [pct.get(p, nan)[1] for p in by_provider["provider"]]
    return Overview(
        q, bucket_s, exists, totals(path, q, models, pct.get(None, nan)), series, models, by_provider, who
    )


def sessions(frame: pd.DataFrame, limit: int = 50) -> pd.DataFrame:
    """One row per session (client, first and last seen, requests, tokens, cost), most expensive first.

    ``frame``: :func:`shared.ledger.queries.attribution`. Requests without a session are left out; a
    session's client is the one that sent most of its requests."""
    rows = frame[frame["session"] != ""]
    if rows.empty:
        return pd.DataFrame(
            columns=["session", "client", "first_at", "last_at", "requests", "tokens", "cost_usd", "priced"]
        )
    client = (
        rows.sort_values("requests", ascending=False)
        .drop_duplicates("session")
        .set_index("session")["client"]
    )
    table = rows.groupby("session").agg(
        first_at=("first_at", "min"),
        last_at=("last_at", "max"),
        requests=("requests", "sum"),
        tokens=("tokens", "sum"),
        cost_usd=("cost_usd", "sum"),
        priced=("priced", "sum"),
    )
    table["client"] = client
    table = table.reset_index().sort_values(
        ["cost_usd", "requests", "session"], ascending=[False, False, True]
    )
    return table.head(limit).reset_index(drop=True)


def filter_options(path: str, q: Query, providers: list[str] | None) -> tuple[list[str], list[str]]:
    """Providers, and models (of the selected providers, if any), seen in the range of ``q``."""
    pairs = options(path, q)
    chosen = set(providers or ())
    provider_names = sorted({p for p, _ in pairs if p})
    models = sorted({m for p, m in pairs if not chosen or p in chosen})
    return provider_names, models


def who_options(path: str, q: Query) -> tuple[list[str], list[str]]:
    """Gateway key names and clients seen in the range of ``q``."""
    return attribution_options(path, q)


def recent_rows(path: str, q: Query, limit: int = 50) -> pd.DataFrame:
    """The newest requests of ``q`` (see :func:`shared.ledger.queries.recent`)."""
    return recent(path, q, limit)
