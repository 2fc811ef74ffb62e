"""Totals and per-group figures for a :class:`~shared.ledger.params.Query` (the body of ``GET /usage``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from shared.events import TOKEN_FIELDS
from shared.ledger.params import Query, iso
from shared.ledger.queries import FIGURES, cube, latency_percentiles

BUCKET_S = {"day": 86400, "hour": 3600}


@dataclass(slots=True)
class Summary:
    """``totals`` and one ``groups`` entry per group key (empty without ``group_by``)."""

    totals: dict[str, Any]
    groups: list[dict[str, Any]]


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else round(float(value), 3)


def figures(
    row: Mapping[Any, Any] | pd.Series, p50: float = math.nan, p95: float = math.nan
) -> dict[str, Any]:
    """JSON-ready figures from one row of :func:`~shared.ledger.queries.cube` plus its percentiles.

    ``cost_usd`` sums the requests with a known price and is None when none has one;
    ``unpriced_requests`` says how many are left out. ``total_tokens`` excludes reasoning tokens,
    which are part of the output tokens. ``cache_hit_rate``: cache-read tokens ÷ all prompt tokens
    (input + cache reads + cache writes), None without prompt tokens. ``cache_savings_usd``: what prompt
    caching saved over the priced requests (uncached cost minus cost; negative when writes cost more than
    reads saved), None when none is priced.
    """
    requests = int(row["requests"])
    errors = int(row["errors"])
    tokens = {kind: int(row[kind]) for kind in TOKEN_FIELDS}
    priced = int(row["priced"])
    prompt = tokens["input_tokens"] + tokens["cache_read_tokens"] + tokens["cache_write_tokens"]
    return {
        "requests": requests,
        "errors": errors,
        "error_rate": round(errors / requests, 6) if requests else 0.0,
        "fallbacks": int(row["fallbacks"]),
        **tokens,
        "total_tokens": sum(v for k, v in tokens.items() if k != "reasoning_tokens"),
        "cost_usd": round(float(row["cost_usd"]), 6) if priced else None,
        "unpriced_requests": requests - priced,
        "cache_hit_rate": round(tokens["cache_read_tokens"] / prompt, 6) if prompt else None,
        "cache_savings_usd": round(float(row["cache_savings_usd"]), 6) if priced else None,
        "latency_p50_ms": _number(p50),
        "latency_p95_ms": _number(p95),
        "latency_mean_ms": round(float(row["latency_sum_ms"]) / requests, 3) if requests else None,
    }


def totals_row(df: pd.DataFrame) -> pd.Series:
    """The column sums of a cube frame (zeros when empty)."""
    if df.empty:
        return pd.Series(0, index=list(FIGURES))
    return df[list(FIGURES)].sum()


def totals(
    path: str, q: Query, df: pd.DataFrame, percentiles: tuple[float, ...] | None = None
) -> dict[str, Any]:
    """Figures over the whole of ``q``, given any cube frame of ``q`` (its rows are summed).

    ``percentiles`` (p50, p95) if already known, else they are computed.
    """
    row = totals_row(df)
    n = int(row["requests"])
    if percentiles is None:
        percentiles = latency_percentiles(path, q, None, {None: n}).get(None) if n else None
    p50, p95 = percentiles or (math.nan, math.nan)
    return figures(row, p50, p95)


def _percentile_key(group_by: str, key: Any) -> Any:
    """Cube key -> the key ``latency_percentiles`` expects (hour or day number for time groups)."""
    return int(key) // BUCKET_S[group_by] if group_by in BUCKET_S else key


def _label(group_by: str, key: Any) -> Any:
    if group_by == "day":
        return iso(int(key))[:10]
    if group_by == "hour":
        return iso(int(key))
    if group_by in ("provider", "key", "session", "client"):
        return key or None  # '' stands for "no provider reached" (no key, no session, no client)
    return key


def summarize(path: str, q: Query, group_by: str | None = None) -> Summary:
    """Totals for ``q`` and, with ``group_by`` (provider, model, day, hour, key, session, client), figures
    per group.

    Groups come by requests (most first) for provider, model, key, session and client, in time order for
    day and hour.
    """
    if group_by is None:
        df = cube(path, q)
        return Summary(totals(path, q, df), [])
    key = "bucket" if group_by in BUCKET_S else group_by
    df = cube(path, q, [key], BUCKET_S.get(group_by))
    if group_by not in BUCKET_S:
        df = df.sort_values(["requests", key], ascending=[False, True], kind="stable")
    counts = {_percentile_key(group_by, k): int(n) for k, n in zip(df[key], df["requests"], strict=True)}
    pct = latency_percentiles(path, q, group_by, counts, overall=True)
    groups = []
    for record in df.to_dict("records"):
        p50, p95 = pct.get(_percentile_key(group_by, record[key]), (math.nan, math.nan))
        groups.append({group_by: _label(group_by, record[key]), **figures(record, p50, p95)})
    return Summary(totals(path, q, df, pct.get(None)), groups)
