"""Read-only queries over the usage ledger, SQLite or PostgreSQL: grouped figures, percentiles, recent rows.

``ledger`` is a SQLite path or a PostgreSQL URL (:mod:`shared.ledger.engine`). Functions are safe from
any thread; a missing SQLite file reads as an empty ledger. Aggregation happens in SQL, written once in
SQLAlchemy Core for both engines (the few differences: :mod:`shared.ledger.sql`); pandas only shapes.

How 1M rows stay fast:

* additive figures: whole hours come from the ``usage_hourly`` rollup (both engines keep it), the partial
  hours at the two edges of the range from ``requests`` (without the rollup, everything comes from
  ``requests``);
* cost by key, client and session: whole hours from the ``usage_attribution_hourly`` rollup (both engines
  keep it, keyed by provider, model and status too, so any filter reads it), the edges from ``requests``;
* latency percentiles are exact, interpolated like ``numpy.percentile`` (linear), from the latency lists
  (SQLite schema version 6, ``services/recorder/latency_lists.py``; PostgreSQL version 4,
  ``services/recorder/pg_lists.py``): the whole hours' latencies of each (hour, provider, model, status)
  group are read as float64 blobs (each engine's byte order: ``sql.list_dtype``), the partial hours at the
  edges (and any group whose lists disagree with ``usage_hourly``) from ``requests`` along
  ``requests_hour_latency``, quantiles by numpy. Percentiles by key, client or session, or under those
  filters (and a ledger without the lists): SQLite reads the range's latencies in one pass along
  ``requests_hour_latency``, quantiles in pandas; PostgreSQL gives them to ``percentile_cont`` in one scan.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    column,
    func,
    literal,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Executable, TableClause
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from shared.events import TOKEN_FIELDS
from shared.ledger.engine import has_column, has_table, reading
from shared.ledger.params import ATTRIBUTION_COLUMNS, Query
from shared.ledger.sql import (
    HOURLY,
    LISTS,
    REQUESTS,
    WHO,
    code_point,
    float_sum,
    int_sum,
    list_dtype,
    time_number,
)

ROLLUP = "usage_hourly"
LATENCY_LISTS = "latency_lists"
WHO_ROLLUP = "usage_attribution_hourly"
FIGURES = (
    "requests",
    "errors",
    "fallbacks",
    *TOKEN_FIELDS,
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
PERCENTILES = (0.5, 0.95)
_R, _H, _W, _L = REQUESTS.c, HOURLY.c, WHO.c, LISTS.c
_LIST_GROUPS = (None, "provider", "model", "hour", "day")  # percentile groups the latency lists can serve


def fetch(
    conn: Connection, sql: Executable, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` as the driver gives them (tuples), for frames of many rows.

    pandas probes each row it is given for attributes, which on SQLAlchemy's ``Row`` goes through a slow
    miss path (seconds for 30,000 rows), and making the ``Row`` objects alone costs more than the query.
    The columns read here need no conversion by SQLAlchemy on either driver (sums are cast to integers).
    """
    result = conn.execute(sql, params)
    try:
        return [] if result.cursor is None else list(result.cursor.fetchall())
    finally:
        result.close()


def fetch_blobs(conn: Connection, sql: Select[Any]) -> list[tuple[Any, ...]]:
    """:func:`fetch` for rows carrying megabytes of ``bytea``/BLOB (the latency lists). PostgreSQL sends
    them in its binary format (raw bytes, where text is hex at twice the size): about half the time for
    a month's lists (8 MB at 1M rows, measured 93 vs 210 ms)."""
    if conn.dialect.name != "postgresql":
        return fetch(conn, sql)
    compiled = sql.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor(binary=True) as cursor:
        return list(cursor.execute(str(compiled), compiled.construct_params()).fetchall())


def _rollup_figures() -> list[ColumnElement[Any]]:
    return [
        int_sum(_H.requests),
        int_sum(case((_H.status >= 400, _H.requests), else_=0)),
        int_sum(_H.fallbacks),
        *(int_sum(_H[name]) for name in TOKEN_FIELDS),
        float_sum(_H.cost_usd),
        int_sum(_H.priced),
        float_sum(_H.latency_ms),
        float_sum(_H.cache_savings_usd),
    ]


def _raw_figures() -> list[ColumnElement[Any]]:
    return [
        func.count(),
        int_sum(case((_R.status >= 400, 1), else_=0)),
        int_sum(case((_R.attempts > 1, 1), else_=0)),
        *(int_sum(_R[name]) for name in TOKEN_FIELDS),
        float_sum(_R.cost_usd),
        func.count(_R.cost_usd),
        float_sum(_R.latency_ms),
        float_sum(_R.cache_savings_usd),
    ]


def filters(q: Query, source: TableClause = REQUESTS) -> list[ColumnElement[bool]]:
    """Conditions for the provider, model, key, session, client and status filters of ``q`` on ``source``
    (``requests``, or a rollup that has the filtered columns)."""
    c = source.c
    conditions: list[ColumnElement[bool]] = []
    for name, values in (
        ("provider", q.providers),
        ("model", q.models),
        ("api_key_name", q.keys),
        ("session_id", q.sessions),
        ("client", q.clients),
    ):
        if values:
            conditions.append(c[name].in_(values))
    if q.status == "ok":
        conditions.append(c.status < 400)
    elif q.status == "error":
        conditions.append(c.status >= 400)
    elif q.status is not None:
        conditions.append(c.status == int(q.status))
    return conditions


def _hour_number(seconds: float) -> int:
    """The hour expression's value (``time_number(started_at, 3600)``, ``CAST(started_at / 3600 AS
    INTEGER)`` on SQLite) for ``seconds``: the same double division, truncated."""
    return int(seconds / 3600)


def _in_hours(start: float, end: float) -> ColumnElement[bool]:
    """The hours a row started in ``[start, end)`` can be in: ``hour`` between those of ``start`` and
    ``end`` (``=`` when they are one). Exact, not a guess with margins: a correctly rounded division and a
    truncation never decrease, so ``started_at >= start`` gives ``hour >= _hour_number(start)`` and
    ``started_at < end`` gives ``hour <= _hour_number(end)``, in SQL as here.

    Why: SQLite's ledger has no index on ``started_at`` alone (schema version 10: it cost the recorder's
    writer about 4,000 instructions a row, docs/benchmarks.md "Session 18: recorder cost"); a range read
    bounded by the hour reads along ``requests_hour_latency`` (hour, started_at, ...), seeking the
    ``started_at`` bounds too when the range lies in one hour. PostgreSQL keeps its ``started_at`` index
    and takes the bound as one more condition."""
    lo, hi = _hour_number(start), _hour_number(end)
    hour = time_number(_R.started_at, 3600)
    return hour == lo if lo == hi else hour.between(lo, hi)


def in_range(start: float, end: float) -> list[ColumnElement[bool]]:
    """Rows started in ``[start, end)`` (unix seconds), bounded by their hours too (:func:`_in_hours`)."""
    return [_in_hours(start, end), _R.started_at >= start, _R.started_at < end]


def time_order(conn: Connection) -> list[ColumnElement[Any]]:
    """``ORDER BY`` terms for ``requests`` in ``started_at`` order (``.desc()`` each for newest first): on
    SQLite the hour first, the order of ``requests_hour_latency`` (the same order: the hour never decreases
    with ``started_at``), so a range is read along it without sorting its rows (the ledger has no index on
    ``started_at`` alone: schema version 10); elsewhere ``started_at`` alone (PostgreSQL's index)."""
    hour = [time_number(_R.started_at, 3600)] if conn.dialect.name == "sqlite" else []
    return [*hour, _R.started_at]


def _blank(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """NULL read as ``''`` (no provider reached; no key, session or client)."""
    return func.coalesce(value, literal_column("''"))


def _bucket_expr(bucket_s: int, rollup: bool) -> ColumnElement[Any]:
    if bucket_s % 3600 == 0:
        hour = _H.hour if rollup else time_number(_R.started_at, 3600)
        return (hour // (bucket_s // 3600)) * bucket_s
    return time_number(_R.started_at, bucket_s) * bucket_s


def _key_exprs(keys: Sequence[str], bucket_s: int | None, rollup: bool) -> list[ColumnElement[Any]]:
    c = HOURLY.c if rollup else REQUESTS.c
    exprs: dict[str, ColumnElement[Any]] = {
        "provider": c.provider if rollup else _blank(c.provider),
        "model": c.model,
        "status": c.status,
    }
    if not rollup:
        exprs.update({k: _blank(_R[column]) for k, column in ATTRIBUTION_COLUMNS.items()})
    if bucket_s is not None:
        exprs["bucket"] = _bucket_expr(bucket_s, rollup)
    return [exprs[k] for k in keys]


def _grouped(
    conn: Connection,
    source: TableClause,
    keys: Sequence[str],
    bucket_s: int | None,
    where: Sequence[ColumnElement[bool]],
) -> pd.DataFrame:
    rollup = source is HOURLY
    exprs = _key_exprs(keys, bucket_s, rollup)
    figures = _rollup_figures() if rollup else _raw_figures()
    sql = select(*exprs, *figures).select_from(source).where(*where)
    if exprs:
        sql = sql.group_by(*exprs)
    return pd.DataFrame(fetch(conn, sql), columns=[*keys, *FIGURES])


def cube(ledger: str, q: Query, keys: Sequence[str] = (), bucket_s: int | None = None) -> pd.DataFrame:
    """Additive figures (:data:`FIGURES`) grouped by ``keys`` ⊆ provider, model, status, bucket, key,
    session, client.

    ``bucket`` is the start (unix seconds, UTC) of a ``bucket_s``-wide time bucket. Rows with no
    provider (key, session, client) have ``''`` there. An empty frame when there is no ledger or nothing
    matches. Attribution groups and filters read ``requests`` only (the rollup has no such columns).
    """
    keys = list(keys)
    if "bucket" in keys and bucket_s is None:
        raise ValueError("grouping by bucket needs bucket_s")
    with reading(ledger) as conn:
        if conn is None:
            return pd.DataFrame(columns=[*keys, *FIGURES])
        flt = filters(q)
        h_lo, h_hi = math.ceil(q.start / 3600), math.floor(q.end / 3600)
        attributed = q.attributed or any(k in ATTRIBUTION_COLUMNS for k in keys)
        whole_hours = (
            h_lo < h_hi
            and (bucket_s is None or bucket_s % 3600 == 0)
            and not attributed
            and has_table(conn, ROLLUP)
        )
        if not whole_hours:
            return _tidy(_grouped(conn, REQUESTS, keys, bucket_s, [*in_range(q.start, q.end), *flt]), keys)
        # The edges select on the same hour expression as the rollup, so no row is counted twice.
        parts = [
            _grouped(conn, HOURLY, keys, bucket_s, [_H.hour >= h_lo, _H.hour < h_hi, *filters(q, HOURLY)]),
            _grouped(conn, REQUESTS, keys, bucket_s, [*_left_edge(q.start, h_lo), *flt]),
            _grouped(conn, REQUESTS, keys, bucket_s, [*_right_edge(h_hi, q.end), *flt]),
        ]
    return _tidy(pd.concat([p for p in parts if not p.empty] or parts[:1], ignore_index=True), keys)


def _left_edge(start: float, h_lo: int) -> list[ColumnElement[bool]]:
    """The rows from ``start`` up to the first whole hour ``h_lo`` (by the hour expression, as the rollups
    count them): those of hour ``h_lo - 1`` started at or after ``start`` (none when ``start`` is on the
    hour: then their hour is at least ``h_lo``, :func:`_in_hours`)."""
    hour = time_number(_R.started_at, 3600)
    return [hour == h_lo - 1, _R.started_at >= start, _R.started_at < h_lo * 3600 + 1]


def _right_edge(h_hi: int, end: float) -> list[ColumnElement[bool]]:
    """The rows from the end of the last whole hour (``h_hi``, by the hour expression) up to ``end``:
    those of hour ``h_hi`` started before ``end`` (a row started before ``end`` is in hour ``h_hi`` at most,
    ``h_hi`` being ``end``'s, :func:`_in_hours`)."""
    hour = time_number(_R.started_at, 3600)
    return [hour == h_hi, _R.started_at >= h_hi * 3600 - 1, _R.started_at < end]


def regroup(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """A :func:`cube` frame summed by fewer of its keys (``keys`` a subset of its key columns), as
    :func:`cube` would give it grouped by ``keys``: one read serves several groupings."""
    return _tidy(frame, keys)


def _tidy(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Sum the parts per key, drop empty groups, and give the figures numeric dtypes."""
    df = df.dropna(subset=["requests"])
    df = df[df["requests"] > 0]
    if keys:
        df = df.groupby(list(keys), as_index=False, sort=True)[list(FIGURES)].sum()
    elif not df.empty:
        df = df[list(FIGURES)].sum().to_frame().T
    for name in FIGURES:
        df[name] = pd.to_numeric(df[name]).astype("float64" if name.endswith(("usd", "ms")) else "int64")
    return df.reset_index(drop=True)


# --- latency percentiles -------------------------------------------------------------------------------


class _Indexed(TableClause):
    """``requests INDEXED BY <index>`` on SQLite (plain ``requests`` elsewhere): the reads of a range's
    latencies must follow the hour's covering index, which SQLite's planner does not always pick by itself."""

    inherit_cache = True
    # The index is part of the cache key, so each index's statements are compiled once and reused.
    _traverse_internals = [*TableClause._traverse_internals, ("index", InternalTraversal.dp_string)]

    def __init__(self, index: str | None) -> None:
        super().__init__("requests", *(column(c.name, c.type) for c in REQUESTS.columns))
        self.index = index


@compiles(_Indexed)
def _indexed(element: _Indexed, compiler: SQLCompiler, **kw: Any) -> str:
    text: str = compiler.visit_table(element, **kw)  # type: ignore[no-untyped-call]
    if compiler.dialect.name == "sqlite" and element.index and kw.get("asfrom"):
        text += f" INDEXED BY {element.index}"
    return text


_INDEXED: dict[str, _Indexed] = {}
_PLAIN = _Indexed(None)


def _group_expr(source: TableClause, group: str | None) -> ColumnElement[Any]:
    """The percentile group key of each row: 0 for one group; '' for NULL provider, key, session, client."""
    c = source.c
    if group is None:
        return literal_column("0")
    if group in ("hour", "day"):
        return time_number(c.started_at, 3600 if group == "hour" else 86400)
    if group == "model":
        return c.model
    return _blank(c[ATTRIBUTION_COLUMNS.get(group, group)])


def _indexed_rows(
    conn: Connection, build: Any, index: str, params: Mapping[str, Any] | None = None
) -> list[Any]:
    """Run the select ``build(table)`` makes, along ``index`` when the database has it."""
    try:
        return fetch(conn, build(_INDEXED.setdefault(index, _Indexed(index))), params)
    except OperationalError as exc:
        if "no such index" not in str(exc):
            raise
        conn.rollback()
    return fetch(conn, build(_PLAIN), params)


def _one_pass(conn: Connection, q: Query, group: str | None) -> pd.DataFrame:
    """SQLite: (key, latency) of every selected row, in one scan of the range along a covering,
    time-ordered index."""

    def build(t: TableClause) -> Select[Any]:
        hour = time_number(t.c.started_at, 3600)
        return select(_group_expr(t, group), t.c.latency_ms).where(
            hour.between(math.floor(q.start / 3600) - 1, math.floor(q.end / 3600) + 1),
            t.c.started_at >= q.start,
            t.c.started_at < q.end,
            *filters(q, t),
        )

    rows = _indexed_rows(conn, build, "requests_hour_latency")
    return pd.DataFrame(rows, columns=["key", "latency"])


def _quantiles(latency: pd.Series) -> tuple[float, ...]:
    return tuple(float(v) for v in latency.quantile(list(PERCENTILES)))


def _sqlite_percentiles(
    conn: Connection, q: Query, group: str | None, counts: dict[Any, int], overall: bool
) -> dict[Any, tuple[float, ...]]:
    """SQLite: every selected latency read in one pass, quantiles in pandas."""
    nan = (math.nan,) * len(PERCENTILES)
    frame = _one_pass(conn, q, group)
    found = {} if frame.empty else {k: _quantiles(g) for k, g in frame.groupby("key")["latency"]}
    result = {key: found.get(0 if group is None else key, nan) for key in counts}
    if overall:
        result[None] = _quantiles(frame["latency"]) if not frame.empty else nan
    return result


def _postgres_percentiles(
    conn: Connection, q: Query, group: str | None, counts: dict[Any, int], overall: bool
) -> dict[Any, tuple[float, ...]]:
    """PostgreSQL: ``percentile_cont`` (linear interpolation, as numpy's default), per
    group and over all groups in one scan (``GROUPING SETS``: the overall row is the one whose
    ``grouping()`` flag is set)."""
    pct = func.percentile_cont(array([literal(p) for p in PERCENTILES])).within_group(_R.latency_ms)
    where = [*in_range(q.start, q.end), *filters(q)]
    found: dict[Any, tuple[float, ...]] = {}
    if group is None:
        quantiles = conn.execute(select(pct).where(*where)).scalar()
        if quantiles is not None:
            found[None] = tuple(float(v) for v in quantiles)
    else:
        key = _group_expr(REQUESTS, group)
        sets = func.grouping_sets(key, tuple_()) if overall else key
        sql = select(key, func.grouping(key), pct).where(*where).group_by(sets)
        for value, everything, quantiles in conn.execute(sql).all():
            found[None if everything else value] = tuple(float(v) for v in quantiles)
    nan = (math.nan,) * len(PERCENTILES)
    result = {key: found.get(key, nan) for key in counts}
    if overall:
        result[None] = found.get(None, nan)
    return result


def _list_key(group: str | None) -> ColumnElement[Any]:
    """The percentile group key of a latency-list row (as :func:`_group_expr` gives it for ``requests``)."""
    if group is None:
        return literal_column("0")
    if group == "day":
        return _L.hour * 3600 // 86400  # a day is 24 whole hours: the hour's day
    return _L[group]


def _list_groups() -> list[ColumnElement[Any]]:
    return [_L.hour, _L.provider, _L.model, _L.status]


def _raw_latencies(
    conn: Connection,
    q: Query,
    group: str | None,
    hours: tuple[int, int],
    only: tuple[Any, ...] | None = None,
) -> dict[Any, np.ndarray[Any, Any]]:
    """Latencies of the rows of the range of ``q`` in ``hours`` (first and last hour number, inclusive) that
    match its filters (and the (provider, model, status) ``only``), per percentile group key, along the
    hour-ordered covering index."""

    def build(t: TableClause) -> Select[Any]:
        hour = time_number(t.c.started_at, 3600)
        where = [hour.between(*hours), t.c.started_at >= q.start, t.c.started_at < q.end, *filters(q, t)]
        if only is not None:
            where += [_blank(t.c.provider) == only[0], t.c.model == only[1], t.c.status == only[2]]
        return select(_group_expr(t, group), t.c.latency_ms).where(*where)

    found: dict[Any, list[float]] = {}
    for key, latency in _indexed_rows(conn, build, "requests_hour_latency"):
        found.setdefault(None if group is None else key, []).append(latency)
    return {key: np.array(values, dtype=np.float64) for key, values in found.items()}


def exact_quantiles(values: np.ndarray[Any, Any]) -> tuple[float, ...]:
    """:data:`PERCENTILES` of ``values`` (a non-empty float64 array), bit for bit as
    ``numpy.quantile(values, PERCENTILES)`` (method ``linear``) gives them, by the same float operations
    (numpy's ``_lerp``), but with one ``partition`` instead of numpy's per-call overhead (about 0.3 ms,
    which hundreds of hourly groups would pay)."""
    n = len(values)
    spots = []
    for p in PERCENTILES:
        virtual = (n - 1) * p
        below = math.floor(virtual)
        spots.append((virtual - below, below, min(below + 1, n - 1)))
    part = np.partition(values, sorted({i for _, lo, hi in spots for i in (lo, hi)}))
    found = []
    for t, lo, hi in spots:
        a, b = float(part[lo]), float(part[hi])
        found.append(b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t)
    return tuple(found)


def _list_percentiles(
    conn: Connection, q: Query, group: str | None, counts: dict[Any, int], overall: bool
) -> dict[Any, tuple[float, ...]]:
    """Both engines: whole hours from the latency lists, each (hour, provider, model, status) group whose lists
    hold as many latencies as ``usage_hourly`` has requests (the others, and the partial hours at the
    edges, from ``requests``); exact quantiles (numpy, linear) over each percentile group's latencies."""
    arrays: dict[Any, list[np.ndarray[Any, Any]]] = {}

    def add(found: Mapping[Any, np.ndarray[Any, Any]]) -> None:
        for key, values in found.items():
            arrays.setdefault(None if group is None else key, []).append(values)

    h_lo, h_hi = math.ceil(q.start / 3600), math.floor(q.end / 3600)
    first, last = math.floor(q.start / 3600), math.floor(q.end / 3600)
    if h_lo >= h_hi:  # no whole hour
        add(_raw_latencies(conn, q, group, (first, last)))
    else:
        in_lists = [_L.hour >= h_lo, _L.hour < h_hi, *filters(q, LISTS)]
        in_hourly = [_H.hour >= h_lo, _H.hour < h_hi, *filters(q, HOURLY)]
        chunks: dict[Any, list[bytes]] = {}
        for key, blob in fetch_blobs(conn, select(_list_key(group), _L.latencies).where(*in_lists)):
            chunks.setdefault(key, []).append(blob)
        listed = sum(len(blob) for blobs in chunks.values() for blob in blobs) // 8
        # A group's lists never hold more than its rows (an edit by hand drops them; a writer without them
        # adds none): equal totals mean every group agrees. Otherwise find the groups that disagree.
        if listed != int(conn.execute(select(int_sum(_H.requests)).where(*in_hourly)).scalar() or 0):
            chunks = {}
            sums = (
                select(*_list_groups(), func.sum(_L.n).label("n"))
                .where(*in_lists)
                .group_by(*_list_groups())
                .subquery()
            )
            same_group = [sums.c[name] == _H[name] for name in ("hour", "provider", "model", "status")]
            wrong = fetch(
                conn,
                select(_H.hour, _H.provider, _H.model, _H.status)
                .select_from(HOURLY.outerjoin(sums, and_(*same_group)))
                .where(*in_hourly, sums.c.n.is_distinct_from(_H.requests)),
            )
            skip = {tuple(r) for r in wrong}  # read from the rows instead
            for *key, blob in fetch_blobs(
                conn, select(_list_key(group), *_list_groups(), _L.latencies).where(*in_lists)
            ):
                if tuple(key[1:]) not in skip:
                    chunks.setdefault(key[0], []).append(blob)
            for hour, *only in wrong:
                add(_raw_latencies(conn, q, group, (hour, hour), tuple(only)))
        dtype = list_dtype(conn.dialect.name)
        add(
            {
                key: np.frombuffer(b"".join(blobs), dtype=dtype).astype(np.float64)
                for key, blobs in chunks.items()
            }
        )
        if first < h_lo:
            add(_raw_latencies(conn, q, group, (first, h_lo - 1)))
        if h_hi <= last:
            add(_raw_latencies(conn, q, group, (h_hi, last)))
    merged = {key: np.concatenate(values) for key, values in arrays.items()}
    nan = (math.nan,) * len(PERCENTILES)

    def quantiles(values: np.ndarray[Any, Any] | None) -> tuple[float, ...]:
        return nan if values is None or not len(values) else exact_quantiles(values)

    result = {key: quantiles(merged.get(key)) for key in counts}
    if overall:
        result[None] = quantiles(np.concatenate(list(merged.values())) if merged else None)
    return result


def latency_percentiles(
    ledger: str, q: Query, group: str | None, counts: dict[Any, int], *, overall: bool = False
) -> dict[Any, tuple[float, ...]]:
    """(p50, p95) latency in ms per group key; ``counts`` are the groups' request counts (from :func:`cube`).

    ``group`` is None (one group, key None), provider, model, hour, day, key, session or client (keys: as
    :func:`cube` gives them; hour or day: the number, ``int(started_at // 3600)`` or ``// 86400``). With
    ``overall``, key None also holds the percentiles over all groups. Missing groups get NaN.
    """
    with reading(ledger) as conn:
        if conn is None or not counts:
            return {}
        listed = group in _LIST_GROUPS and not q.attributed
        if listed and has_table(conn, LATENCY_LISTS) and has_table(conn, ROLLUP):
            return _list_percentiles(conn, q, group, counts, overall)
        if conn.dialect.name == "postgresql":
            return _postgres_percentiles(conn, q, group, counts, overall)
        return _sqlite_percentiles(conn, q, group, counts, overall)


# --- rows and options ----------------------------------------------------------------------------------


def _recent_columns(t: TableClause) -> list[ColumnElement[Any]]:
    c = t.c
    tokens = c.input_tokens + c.output_tokens + c.cache_read_tokens + c.cache_write_tokens
    return [
        c.started_at,
        c.provider,
        c.model,
        c.status,
        tokens,
        c.cost_usd,
        c.latency_ms,
        c.attempts,
        c.error_type,
    ]


def recent(ledger: str, q: Query, limit: int = 50) -> pd.DataFrame:
    """The newest ``limit`` requests in the range, newest first (:data:`RECENT_COLUMNS`); requests that
    started at the same time in descending ``event_id`` order (by code point), on both engines.

    Filtered by provider, model, session, client or status (no key, no ``''`` value), on SQLite with the
    attribution rollup, the rows are read hour by hour, newest first, in the hours that rollup says hold
    matches and only between their first and last match (:func:`_recent_by_hours`), all in one read
    transaction (one snapshot): the ledger has no per-provider or per-model index (schema version 8 dropped
    them: they cost the recorder about a sixth of its writer's time, docs/benchmarks.md "Recorder, session
    10"). Rows written without the recorder's ``Store`` are missed there until it next opens the file and
    rebuilds the rollup (``rollups.ensure_rollups``). A key filter reads along ``requests_key_started`` (SQLite); a ``''`` value (no
    key, client, session or provider: NULL in ``requests``, ``''`` in the rollup) reads the rows as
    PostgreSQL does, where ``IN ('')`` matches no NULL."""
    with reading(ledger) as conn:
        if conn is None:
            rows: list[tuple[Any, ...]] = []
        elif _by_hours(conn, q):
            conn.exec_driver_sql("BEGIN")  # the rollup's spans and the rows from one snapshot
            rows = _recent_by_hours(conn, q, limit)
        else:
            newest = [term.desc() for term in time_order(conn)]  # read backwards along the hour's index
            sql = (
                select(*_recent_columns(REQUESTS))
                .where(*in_range(q.start, q.end), *filters(q))
                .order_by(*newest, code_point(_R.event_id).desc())
                .limit(limit)
            )
            rows = fetch(conn, sql)
    return pd.DataFrame(rows, columns=list(RECENT_COLUMNS))


def _by_hours(conn: Connection, q: Query) -> bool:
    """Whether :func:`recent` reads hour by hour (:func:`_recent_by_hours`) rather than in one statement."""
    values = (*q.providers, *q.models, *q.sessions, *q.clients)
    return (
        conn.dialect.name == "sqlite"
        and bool(filters(q))
        and not q.keys
        and "" not in values
        and has_table(conn, WHO_ROLLUP)
        and has_column(conn, WHO_ROLLUP, "provider")
    )


def _has_index(conn: Connection, name: str) -> bool:
    """SQLite: whether the ledger has index ``name``."""
    sql = "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?"
    return conn.exec_driver_sql(sql, (name,)).first() is not None


def _recent_by_hours(conn: Connection, q: Query, limit: int) -> list[tuple[Any, ...]]:
    """SQLite: :func:`recent`'s rows, in the caller's read transaction. The attribution rollup (every
    filtered column, with the first and last ``started_at`` of each group's rows, exact: store.py) gives
    the hours with matching groups, newest first, each with the span of their rows; each hour is read in
    that span (and the range) along the hour's covering index, newest first, until ``limit`` rows are
    found. An hour's span holds all its matching rows, and with no ``''`` among the filter values every
    group the rollup matches has matching rows, so the rows are those of the plain ``ORDER BY started_at
    DESC, event_id DESC LIMIT``."""
    h_lo, h_hi = _hours(q)
    spans = (
        select(_W.hour, func.min(_W.first_at), func.max(_W.last_at))
        .where(_W.hour.between(h_lo, h_hi), _W.requests > 0, *filters(q, WHO))
        .group_by(_W.hour)
        .order_by(_W.hour.desc())
        .limit(limit + 2)  # each hour but the range's first and last holds a matching row in the range
    )

    def build(t: TableClause) -> Select[Any]:
        c = t.c
        return (
            select(*_recent_columns(t))
            .where(
                time_number(c.started_at, 3600) == bindparam("hour"),
                c.started_at >= bindparam("low"),
                c.started_at <= bindparam("high"),
                c.started_at < q.end,
                *filters(q, t),
            )
            .order_by(c.started_at.desc(), c.event_id.desc())
            .limit(bindparam("left"))
        )

    index = "requests_hour_latency"
    sql = build(_INDEXED.setdefault(index, _Indexed(index)) if _has_index(conn, index) else _PLAIN)
    rows: list[tuple[Any, ...]] = []
    for hour, first, last in conn.execute(spans).all():
        params = {
            "hour": int(hour),
            "low": max(float(first), q.start),
            "high": float(last),
            "left": limit - len(rows),
        }
        rows += fetch(conn, sql, params)
        if len(rows) >= limit:
            break
    return rows


def _hours(q: Query) -> tuple[int, int]:
    return math.floor(q.start / 3600), math.floor(q.end / 3600)


def options(ledger: str, q: Query) -> list[tuple[str, str]]:
    """(provider, model) pairs seen in the range (to the hour), for filter drop-downs; filters ignored.

    Rows that reached no provider have provider ``''``.
    """
    with reading(ledger) as conn:
        if conn is None:
            return []
        if has_table(conn, ROLLUP):
            sql = select(_H.provider, _H.model).distinct().where(_H.hour.between(*_hours(q)))
        else:
            sql = select(_blank(_R.provider), _R.model).distinct().where(*in_range(q.start, q.end))
        return sorted((str(p), str(m)) for p, m in conn.execute(sql).all())


def key_spend(ledger: str, since: Mapping[str, float]) -> dict[str, float]:
    """Each gateway key's total ``cost_usd`` in requests started at or after its time (unix seconds):
    what its budget counter starts from. Keys with no rows (or a ledger without the column yet) get 0.

    Summed from the ledger's rows, exact whatever wrote them (no rollup involved): on SQLite along
    ``requests_key_started`` (api_key_name, started_at, cost_usd), so a key costs the rows it has since its
    time (52 keys from an hour's start, 240,000 rows: ~25 ms; docs/benchmarks.md "Recorder, session 10");
    PostgreSQL's schema has no per-key index (its planner picks the time index or a scan)."""
    spent = dict.fromkeys(since, 0.0)
    with reading(ledger) as conn:
        if conn is None or not since or not has_column(conn, "requests", "api_key_name"):
            return spent
        for name, start in since.items():
            sql = select(float_sum(_R.cost_usd)).where(_R.api_key_name == name, _R.started_at >= start)
            spent[name] = float(conn.execute(sql).scalar() or 0.0)
    return spent


# --- attribution ---------------------------------------------------------------------------------------

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


def has_attribution(conn: Connection) -> bool:
    """Whether the ledger has the attribution columns (schema version 2)."""
    return has_column(conn, "requests", "api_key_name")


def _who_raw(where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    keys = [_blank(_R.api_key_name), _blank(_R.client), _blank(_R.session_id)]
    tokens = _R.input_tokens + _R.output_tokens + _R.cache_read_tokens + _R.cache_write_tokens
    figures = [
        func.count(),
        int_sum(tokens),
        float_sum(_R.cost_usd),
        func.count(_R.cost_usd),
        func.min(_R.started_at),
        func.max(_R.started_at),
    ]
    return select(*keys, *figures).where(*where).group_by(*keys)


def _who_rolled(h_lo: int, h_hi: int, where: Sequence[ColumnElement[bool]]) -> Select[Any]:
    keys = [_W.api_key_name, _W.client, _W.session_id]
    figures = [
        int_sum(_W.requests),
        int_sum(_W.tokens),
        float_sum(_W.cost_usd),
        int_sum(_W.priced),
        func.min(_W.first_at),
        func.max(_W.last_at),
    ]
    # Per hour too, in the order of the rollup's primary key: SQLite aggregates along it without sorting the
    # range's rows (the caller sums the hours).
    where = [_W.hour >= h_lo, _W.hour < h_hi, *where]
    return select(*keys, *figures).where(*where).group_by(_W.hour, *keys)


def attribution(ledger: str, q: Query) -> pd.DataFrame:
    """Figures per (key, client, session) in the range of ``q`` (:data:`ATTRIBUTION_FRAME`), in that order
    (by code point, whatever the database's collation); ``''`` where a
    request had no key, client or session. ``tokens`` counts input, output and cache tokens;
    ``first_at``/``last_at`` are unix seconds.

    Whole hours come from the ``usage_attribution_hourly`` rollup (when the ledger has it) and the edges from
    ``requests``, as in :func:`cube`, whatever the filters (a provider, model or status filter needs the
    rollup of SQLite schema version 5 / PostgreSQL version 3, keyed by them too; an older one serves only
    unfiltered queries)."""
    columns = list(ATTRIBUTION_FRAME)
    with reading(ledger) as conn:
        if conn is None or not has_attribution(conn):
            return pd.DataFrame(columns=columns)
        flt = filters(q)
        h_lo, h_hi = math.ceil(q.start / 3600), math.floor(q.end / 3600)
        plain = not (q.providers or q.models or q.status)
        rolled = h_lo < h_hi and has_table(conn, WHO_ROLLUP)
        if not (rolled and (plain or has_column(conn, WHO_ROLLUP, "provider"))):
            rows = fetch(conn, _who_raw([*in_range(q.start, q.end), *flt]))
            frame = pd.DataFrame(rows, columns=columns).sort_values(["key", "client", "session"])
            return frame.reset_index(drop=True)
        rows = [
            *fetch(conn, _who_rolled(h_lo, h_hi, filters(q, WHO))),
            *fetch(conn, _who_raw([*_left_edge(q.start, h_lo), *flt])),
            *fetch(conn, _who_raw([*_right_edge(h_hi, q.end), *flt])),
        ]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        return frame
    sums = {c: "sum" for c in ("requests", "tokens", "cost_usd", "priced")}
    return frame.groupby(["key", "client", "session"], as_index=False, sort=True).agg(
        {**sums, "first_at": "min", "last_at": "max"}
    )[columns]


def attribution_options(ledger: str, q: Query) -> tuple[list[str], list[str]]:
    """Gateway key names and clients seen in the range (to the hour when the rollup exists; filters
    ignored), for filter drop-downs."""
    with reading(ledger) as conn:
        if conn is None or not has_attribution(conn):
            return [], []
        if has_table(conn, WHO_ROLLUP):
            sql = select(_W.api_key_name, _W.client).distinct().where(_W.hour.between(*_hours(q)))
        else:
            sql = (
                select(_blank(_R.api_key_name), _blank(_R.client)).distinct().where(*in_range(q.start, q.end))
            )
        rows = conn.execute(sql).all()
    return sorted({str(k) for k, _ in rows if k}), sorted({str(c) for _, c in rows if c})
