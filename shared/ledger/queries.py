"""Read-only SQL over the usage ledger: grouped figures, percentiles, recent rows, raw rows.

Every call opens its own ``file:…?mode=ro`` connection, so the functions are safe from any thread,
and a missing database file reads as an empty ledger. Aggregation happens in SQL; pandas only shapes.

How 1M rows stay fast (see ``services/recorder/rollups.py`` for the objects used):

* additive figures: whole hours come from the ``usage_hourly`` rollup, the partial hours at the two
  edges of the range from ``requests`` (without the rollup, everything comes from ``requests``);
* latency percentiles are exact, interpolated like ``numpy.percentile``: a small selection is read
  in one pass over a covering index; otherwise each (group, percentile) is a single
  ``ORDER BY latency_ms LIMIT 2 OFFSET k`` walk along a latency-ordered covering index.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any
from urllib.parse import quote

import pandas as pd

from shared.ledger.params import ATTRIBUTION_COLUMNS, DAY_EXPR, HOUR_EXPR, Query

ROLLUP = "usage_hourly"
FIGURES = (
    "requests",
    "errors",
    "fallbacks",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost_usd",
    "priced",
    "latency_sum_ms",
    "cache_savings_usd",
)
RECENT_COLUMNS = (
    "started_at",
    "provider",
    "model",
    "status",
    "tokens",
    "cost_usd",
    "latency_ms",
    "attempts",
    "error_type",
)
SMALL_SELECTION = 50_000  # below this, percentiles come from one pass over the range
PERCENTILES = (0.5, 0.95)

_ROLLUP_FIGURES = (
    "sum(requests), sum(CASE WHEN status >= 400 THEN requests ELSE 0 END), sum(fallbacks), "
    "sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens), "
    "sum(reasoning_tokens), total(cost_usd), sum(priced), total(latency_ms), total(cache_savings_usd)"
)
_RAW_FIGURES = (
    "count(*), sum(status >= 400), sum(attempts > 1), sum(input_tokens), sum(output_tokens), "
    "sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), total(cost_usd), "
    "count(cost_usd), total(latency_ms), total(cache_savings_usd)"
)
# Percentile group -> (SQL expression of its key, latency-ordered covering index that starts with it)
_LATENCY_INDEX: dict[str | None, tuple[str, str]] = {
    None: ("0", "requests_latency"),
    "provider": ("provider", "requests_provider_latency"),  # NULL provider: key '', see _walk/_one_pass
    "model": ("model", "requests_model_latency"),
    "hour": (HOUR_EXPR, "requests_hour_latency"),
    "day": (DAY_EXPR, "requests_day_latency"),
    # Attribution groups (no latency-ordered index of their own); NULL reads as '' (no key, no session).
    **{
        group: (f"COALESCE({column}, '')", "requests_latency")
        for group, column in ATTRIBUTION_COLUMNS.items()
    },
}


def connect(path: str) -> sqlite3.Connection | None:
    """A read-only connection to the ledger at ``path``, or None when the file does not exist yet."""
    if not os.path.exists(path):
        return None
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)


@contextmanager
def _reading(path: str) -> Iterator[sqlite3.Connection | None]:
    """A read-only connection, or None while there is no ledger (no file, or no schema yet)."""
    conn = connect(path)
    if conn is None:
        yield None
        return
    with closing(conn):
        yield conn if has_table(conn, "requests") else None


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Whether the database has table ``name``."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone()
    return row is not None


def _execute(
    conn: sqlite3.Connection, sql: str, params: Sequence[Any], index: str | None = None
) -> list[Any]:
    """Run ``sql``, forcing ``index`` (``{index}`` in the text) when the database has it."""
    if index is not None:
        try:
            return conn.execute(sql.format(index=f"INDEXED BY {index}"), params).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such index" not in str(exc):
                raise
    return conn.execute(sql.format(index=""), params).fetchall()


def filter_sql(q: Query) -> tuple[str, list[Any]]:
    """SQL conditions (each prefixed with AND) for the provider, model and status filters."""
    sql, params = "", list[Any]()
    for column, values in (
        ("provider", q.providers),
        ("model", q.models),
        ("api_key_name", q.keys),
        ("session_id", q.sessions),
        ("client", q.clients),
    ):
        if values:
            sql += f" AND {column} IN ({', '.join('?' * len(values))})"
            params += list(values)
    if q.status == "ok":
        sql += " AND status < 400"
    elif q.status == "error":
        sql += " AND status >= 400"
    elif q.status is not None:
        sql += " AND status = ?"
        params.append(int(q.status))
    return sql, params


def _bucket_expr(bucket_s: int, rollup: bool) -> str:
    if bucket_s % 3600 == 0:
        hour = "hour" if rollup else HOUR_EXPR
        return f"({hour} / {bucket_s // 3600}) * {bucket_s}"
    return f"CAST(started_at / {bucket_s} AS INTEGER) * {bucket_s}"


def _key_exprs(keys: Sequence[str], bucket_s: int | None, rollup: bool) -> list[str]:
    exprs = {
        "provider": "provider" if rollup else "COALESCE(provider, '')",
        "model": "model",
        "status": "status",
        **{k: f"COALESCE({c}, '')" for k, c in ATTRIBUTION_COLUMNS.items()},
    }
    if bucket_s is not None:
        exprs["bucket"] = _bucket_expr(bucket_s, rollup)
    return [exprs[k] for k in keys]


def _grouped(
    conn: sqlite3.Connection,
    table: str,
    keys: Sequence[str],
    bucket_s: int | None,
    where: str,
    params: Sequence[Any],
) -> pd.DataFrame:
    rollup = table == ROLLUP
    exprs = _key_exprs(keys, bucket_s, rollup)
    select = ", ".join([*exprs, _ROLLUP_FIGURES if rollup else _RAW_FIGURES])
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(exprs)))}" if exprs else ""
    rows = conn.execute(f"SELECT {select} FROM {table} WHERE {where}{group}", params).fetchall()
    return pd.DataFrame(rows, columns=[*keys, *FIGURES])


def cube(path: str, q: Query, keys: Sequence[str] = (), bucket_s: int | None = None) -> pd.DataFrame:
    """Additive figures (:data:`FIGURES`) grouped by ``keys`` ⊆ provider, model, status, bucket, key,
    session, client.

    ``bucket`` is the start (unix seconds, UTC) of a ``bucket_s``-wide time bucket. Rows with no
    provider (key, session, client) have ``''`` there. An empty frame when there is no ledger or nothing
    matches. Attribution groups and filters read ``requests`` only (the rollup has no such columns).
    """
    keys = list(keys)
    if "bucket" in keys and bucket_s is None:
        raise ValueError("grouping by bucket needs bucket_s")
    with _reading(path) as conn:
        if conn is None:
            return pd.DataFrame(columns=[*keys, *FIGURES])
        flt, fparams = filter_sql(q)
        h_lo, h_hi = math.ceil(q.start / 3600), math.floor(q.end / 3600)
        attributed = q.attributed or any(k in ATTRIBUTION_COLUMNS for k in keys)
        whole_hours = (
            h_lo < h_hi
            and (bucket_s is None or bucket_s % 3600 == 0)
            and not attributed
            and has_table(conn, ROLLUP)
        )
        if not whole_hours:
            return _tidy(
                _grouped(
                    conn,
                    "requests",
                    keys,
                    bucket_s,
                    "started_at >= ? AND started_at < ?" + flt,
                    [q.start, q.end, *fparams],
                ),
                keys,
            )
        # The edges select on the same hour expression as the rollup, so no row is counted twice.
        parts = [
            _grouped(conn, ROLLUP, keys, bucket_s, "hour >= ? AND hour < ?" + flt, [h_lo, h_hi, *fparams]),
            _grouped(
                conn,
                "requests",
                keys,
                bucket_s,
                f"started_at >= ? AND started_at < ? AND {HOUR_EXPR} < ?" + flt,
                [q.start, h_lo * 3600 + 1, h_lo, *fparams],
            ),
            _grouped(
                conn,
                "requests",
                keys,
                bucket_s,
                f"started_at >= ? AND started_at < ? AND {HOUR_EXPR} >= ?" + flt,
                [h_hi * 3600 - 1, q.end, h_hi, *fparams],
            ),
        ]
    return _tidy(pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True), keys)


def _tidy(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Sum the parts per key, drop empty groups, and give the figures numeric dtypes."""
    df = df.dropna(subset=["requests"])
    df = df[df["requests"] > 0]
    if keys:
        df = df.groupby(list(keys), as_index=False, sort=True)[list(FIGURES)].sum()
    elif not df.empty:
        df = df[list(FIGURES)].sum().to_frame().T
    for column in FIGURES:
        df[column] = pd.to_numeric(df[column]).astype(
            "float64" if column.endswith(("usd", "ms")) else "int64"
        )
    return df.reset_index(drop=True)


def _walk(conn: sqlite3.Connection, q: Query, group: str | None, key: Any, n: int) -> tuple[float, ...]:
    """Exact percentiles of one group: OFFSET walks along its latency-ordered covering index.

    Upper percentiles walk down from the top, so p95 steps over 5% of the rows, not 95%.
    """
    expr, index = _LATENCY_INDEX[group]
    flt, fparams = filter_sql(q)
    cond, cparams = (f"{expr} = ?", [key]) if group else ("1", [])
    if group == "provider" and key == "":
        cond, cparams = "provider IS NULL", []
    sql = (
        f"SELECT latency_ms FROM requests {{index}} WHERE {cond} AND started_at >= ? AND started_at < ?"
        f"{flt} ORDER BY latency_ms {{order}} LIMIT ? OFFSET ?"
    )
    values = []
    for p in PERCENTILES:
        pos = p * (n - 1)
        k_lo, k_hi = math.floor(pos), math.ceil(pos)
        descending = p > 0.5
        offset = n - 1 - k_hi if descending else k_lo
        text = sql.replace("{order}", "DESC" if descending else "ASC")
        rows = _execute(conn, text, [*cparams, q.start, q.end, *fparams, k_hi - k_lo + 1, offset], index)
        if not rows:
            values.append(math.nan)
            continue
        lo, hi = (rows[-1][0], rows[0][0]) if descending else (rows[0][0], rows[-1][0])
        values.append(lo + (pos - k_lo) * (hi - lo))
    return tuple(values)


def _one_pass(conn: sqlite3.Connection, q: Query, group: str | None) -> pd.DataFrame:
    """(key, latency) of every selected row: one scan of the range along a covering, time-ordered index."""
    expr = "COALESCE(provider, '')" if group == "provider" else _LATENCY_INDEX[group][0]
    flt, fparams = filter_sql(q)
    sql = (
        f"SELECT {expr}, latency_ms FROM requests {{index}} WHERE {HOUR_EXPR} BETWEEN ? AND ? "
        f"AND started_at >= ? AND started_at < ?{flt}"
    )
    params = [math.floor(q.start / 3600) - 1, math.floor(q.end / 3600) + 1, q.start, q.end, *fparams]
    return pd.DataFrame(_execute(conn, sql, params, "requests_hour_latency"), columns=["key", "latency"])


def _quantiles(latency: pd.Series) -> tuple[float, ...]:
    return tuple(float(v) for v in latency.quantile(list(PERCENTILES)))


def _range_rows(conn: sqlite3.Connection, q: Query) -> int:
    """Ledger rows in the range, filters ignored (to the hour when the rollup exists): the cost of a scan."""
    params: list[float]
    if has_table(conn, ROLLUP):
        sql, params = (
            "SELECT sum(requests) FROM usage_hourly WHERE hour BETWEEN ? AND ?",
            [math.floor(q.start / 3600), math.floor(q.end / 3600)],
        )
    else:
        sql, params = (
            "SELECT count(*) FROM requests WHERE started_at >= ? AND started_at < ?",
            [q.start, q.end],
        )
    return int(conn.execute(sql, params).fetchone()[0] or 0)


def latency_percentiles(
    path: str, q: Query, group: str | None, counts: dict[Any, int], *, overall: bool = False
) -> dict[Any, tuple[float, ...]]:
    """(p50, p95) latency in ms per group key; ``counts`` are the groups' request counts (from :func:`cube`).

    ``group`` is None (one group, key None), provider, model, hour or day (keys: the hour or day
    number, ``int(started_at // 3600)`` or ``// 86400``). With ``overall``, key None also holds the
    percentiles over all groups. Missing groups get NaN.
    """
    with _reading(path) as conn:
        if conn is None or not counts:
            return {}
        nan = (math.nan,) * len(PERCENTILES)
        if _range_rows(conn, q) <= SMALL_SELECTION:  # reading the whole range is cheap: one pass
            frame = _one_pass(conn, q, group)
            found = {} if frame.empty else {k: _quantiles(g) for k, g in frame.groupby("key")["latency"]}
            result = {key: found.get(0 if group is None else key, nan) for key in counts}
            if overall:
                result[None] = _quantiles(frame["latency"]) if not frame.empty else nan
            return result
        result = {key: _walk(conn, q, group, key, n) for key, n in counts.items() if n > 0}
        if overall and group is not None:
            result[None] = _walk(conn, q, None, None, sum(counts.values()))
        return result


def recent(path: str, q: Query, limit: int = 50) -> pd.DataFrame:
    """The newest ``limit`` requests in the range, newest first (:data:`RECENT_COLUMNS`)."""
    flt, fparams = filter_sql(q)
    sql = (
        "SELECT started_at, provider, model, status, "
        "input_tokens + output_tokens + cache_read_tokens + cache_write_tokens, cost_usd, latency_ms, "
        f"attempts, error_type FROM requests WHERE started_at >= ? AND started_at < ?{flt} "
        "ORDER BY started_at DESC LIMIT ?"
    )
    with _reading(path) as conn:
        rows = [] if conn is None else conn.execute(sql, [q.start, q.end, *fparams, limit]).fetchall()
    return pd.DataFrame(rows, columns=list(RECENT_COLUMNS))


def options(path: str, q: Query) -> list[tuple[str, str]]:
    """(provider, model) pairs seen in the range (to the hour), for filter drop-downs; filters ignored.

    Rows that reached no provider have provider ``''``.
    """
    with _reading(path) as conn:
        if conn is None:
            return []
        if has_table(conn, ROLLUP):
            sql = "SELECT DISTINCT provider, model FROM usage_hourly WHERE hour BETWEEN ? AND ?"
            params: list[Any] = [math.floor(q.start / 3600), math.floor(q.end / 3600)]
        else:
            sql = (
                "SELECT DISTINCT COALESCE(provider, ''), model FROM requests "
                "WHERE started_at >= ? AND started_at < ?"
            )
            params = [q.start, q.end]
        return sorted(conn.execute(sql, params).fetchall())


def key_spend(path: str, since: Mapping[str, float]) -> dict[str, float]:
    """Each gateway key's total ``cost_usd`` in requests started at or after its time (unix seconds):
    what its budget counter starts from. Keys with no rows (or a ledger without the column yet) get 0."""
    spent = dict.fromkeys(since, 0.0)
    with _reading(path) as conn:
        if conn is None or not since:
            return spent
        if "api_key_name" not in {row[1] for row in conn.execute("PRAGMA table_info(requests)")}:
            return spent
        for name, start in since.items():
            row = conn.execute(
                "SELECT total(cost_usd) FROM requests WHERE api_key_name = ? AND started_at >= ?",
                (name, start),
            ).fetchone()
            spent[name] = float(row[0] or 0.0)
    return spent


ATTRIBUTION_FRAME = (
    "key",
    "client",
    "session",
    "requests",
    "tokens",
    "cost_usd",
    "priced",
    "first_at",
    "last_at",
)


def has_attribution(conn: sqlite3.Connection) -> bool:
    """Whether the ledger has the attribution columns (schema version 2)."""
    return "api_key_name" in {row[1] for row in conn.execute("PRAGMA table_info(requests)")}


WHO_ROLLUP = "usage_attribution_hourly"
_WHO_RAW = (
    "SELECT COALESCE(api_key_name, ''), COALESCE(client, ''), COALESCE(session_id, ''), count(*), "
    "sum(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens), total(cost_usd), "
    "count(cost_usd), min(started_at), max(started_at) FROM requests WHERE {where} GROUP BY 1, 2, 3"
)
_WHO_ROLLED = (
    "SELECT api_key_name, client, session_id, sum(requests), sum(tokens), total(cost_usd), sum(priced), "
    f"min(first_at), max(last_at) FROM {WHO_ROLLUP} WHERE {{where}} GROUP BY 1, 2, 3"
)


def attribution(path: str, q: Query) -> pd.DataFrame:
    """Figures per (key, client, session) in the range of ``q`` (:data:`ATTRIBUTION_FRAME`); ``''`` where a
    request had no key, client or session. ``tokens`` counts input, output and cache tokens;
    ``first_at``/``last_at`` are unix seconds.

    Whole hours come from the ``usage_attribution_hourly`` rollup and the edges from ``requests``, as in
    :func:`cube`, unless a provider, model or status filter is set (the rollup has no such columns)."""
    columns = list(ATTRIBUTION_FRAME)
    with _reading(path) as conn:
        if conn is None or not has_attribution(conn):
            return pd.DataFrame(columns=columns)
        flt, fparams = filter_sql(q)
        h_lo, h_hi = math.ceil(q.start / 3600), math.floor(q.end / 3600)
        plain = not (q.providers or q.models or q.status)
        if not (plain and h_lo < h_hi and has_table(conn, WHO_ROLLUP)):
            rows = conn.execute(
                _WHO_RAW.format(where="started_at >= ? AND started_at < ?" + flt), [q.start, q.end, *fparams]
            ).fetchall()
            return pd.DataFrame(rows, columns=columns)
        rows = [
            *conn.execute(_WHO_ROLLED.format(where="hour >= ? AND hour < ?" + flt), [h_lo, h_hi, *fparams]),
            *conn.execute(
                _WHO_RAW.format(where=f"started_at >= ? AND started_at < ? AND {HOUR_EXPR} < ?" + flt),
                [q.start, h_lo * 3600 + 1, h_lo, *fparams],
            ),
            *conn.execute(
                _WHO_RAW.format(where=f"started_at >= ? AND started_at < ? AND {HOUR_EXPR} >= ?" + flt),
                [h_hi * 3600 - 1, q.end, h_hi, *fparams],
            ),
        ]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    sums = {c: "sum" for c in ("requests", "tokens", "cost_usd", "priced")}
    return frame.groupby(["key", "client", "session"], as_index=False, sort=True).agg(
        {**sums, "first_at": "min", "last_at": "max"}
    )[columns]


def attribution_options(path: str, q: Query) -> tuple[list[str], list[str]]:
    """Gateway key names and clients seen in the range (to the hour when the rollup exists; filters
    ignored), for filter drop-downs."""
    with _reading(path) as conn:
        if conn is None or not has_attribution(conn):
            return [], []
        if has_table(conn, WHO_ROLLUP):
            rows = conn.execute(
                f"SELECT DISTINCT api_key_name, client FROM {WHO_ROLLUP} WHERE hour BETWEEN ? AND ?",
                [math.floor(q.start / 3600), math.floor(q.end / 3600)],
            ).fetchall()
        else:
            rows = conn.execute(
                "SELECT DISTINCT COALESCE(api_key_name, ''), COALESCE(client, '') FROM requests "
                "WHERE started_at >= ? AND started_at < ?",
                [q.start, q.end],
            ).fetchall()
    return sorted({k for k, _ in rows if k}), sorted({c for _, c in rows if c})
