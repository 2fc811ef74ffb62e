"""The ledger's tables as SQLAlchemy Core sees them, and the few expressions whose SQL differs by engine.

The tables are those the recorder creates (``services/recorder/store.py`` and ``rollups.py`` for SQLite,
``services/recorder/pg_store.py`` for PostgreSQL): only the columns the read side uses are declared.
``usage_attribution_hourly`` is missing from older ledgers (PostgreSQL before schema version 2); readers
check before using it.

Where the engines differ (everything else is written once, in SQLAlchemy Core):

* :func:`time_number`: which hour, day or bucket a time falls in. SQLite truncates with
  ``CAST(x / 3600 AS INTEGER)``, the very text of its expression indexes (``rollups.py``), so that the
  indexes match; PostgreSQL's cast rounds, so there it is ``floor(x / 3600)::bigint`` (``pg_store.py``).
* :func:`int_sum` / :func:`float_sum`: PostgreSQL sums integers as ``numeric``; the cast keeps them integers.
* latency percentiles: on SQLite from the latency lists (whole hours) and one pass over ``requests`` (the
  rest); on PostgreSQL ``percentile_cont`` for a small selection, index walks for a large one
  (``queries.py``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    LargeBinary,
    String,
    cast,
    column,
    func,
    literal_column,
    table,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")

REQUESTS = table(
    "requests",
    column("event_id", String),
    column("started_at", Float),
    column("provider", String),
    column("model", String),
    column("status", Integer),
    column("error_type", String),
    column("attempts", Integer),
    *(column(name, Integer) for name in _TOKENS),
    column("cost_usd", Float),
    column("latency_ms", Float),
    column("cache_savings_usd", Float),
    column("api_key_name", String),
    column("session_id", String),
    column("client", String),
)
HOURLY = table(
    "usage_hourly",
    column("hour", BigInteger),
    column("provider", String),
    column("model", String),
    column("status", Integer),
    column("requests", Integer),
    column("fallbacks", Integer),
    *(column(name, Integer) for name in _TOKENS),
    column("cost_usd", Float),
    column("priced", Integer),
    column("latency_ms", Float),
    column("cache_savings_usd", Float),
)
WHO = table(
    "usage_attribution_hourly",
    column("hour", BigInteger),
    column("api_key_name", String),
    column("client", String),
    column("session_id", String),
    column("provider", String),  # schema version 5 (SQLite), 3 (PostgreSQL)
    column("model", String),
    column("status", Integer),
    column("requests", Integer),
    column("tokens", Integer),
    column("cost_usd", Float),
    column("priced", Integer),
    column("first_at", Float),
    column("last_at", Float),
)


# SQLite only (schema version 6, services/recorder/latency_lists.py): each (hour, provider, model, status)
# group's latencies, as little-endian float64 blobs in one or more parts.
LISTS = table(
    "latency_lists",
    column("hour", BigInteger),
    column("provider", String),
    column("model", String),
    column("status", Integer),
    column("n", Integer),
    column("latencies", LargeBinary),
)


class _TimeNumber(FunctionElement[int]):
    """``floor(seconds / width)``: see :func:`time_number`."""

    type = BigInteger()
    name = "time_number"
    inherit_cache = True


def time_number(seconds: ColumnElement[Any], width_s: int) -> ColumnElement[int]:
    """The number of the ``width_s``-wide time slot (hour: 3600, day: 86400) that ``seconds`` falls in:
    ``floor(seconds / width_s)`` for the non-negative unix times of the ledger."""
    return _TimeNumber(seconds, literal_column(str(int(width_s))))


@compiles(_TimeNumber, "sqlite")
def _time_number_sqlite(element: _TimeNumber, compiler: SQLCompiler, **kw: Any) -> str:
    seconds, width = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST({seconds} / {width} AS INTEGER)"


@compiles(_TimeNumber, "postgresql")
def _time_number_postgresql(element: _TimeNumber, compiler: SQLCompiler, **kw: Any) -> str:
    seconds, width = (compiler.process(c, **kw) for c in element.clauses)
    return f"floor({seconds} / {width})::bigint"


def int_sum(value: ColumnElement[Any]) -> ColumnElement[int]:
    """``sum`` of integers as an integer on both engines (NULL over no rows)."""
    return cast(func.sum(value), BigInteger)


def float_sum(value: ColumnElement[Any]) -> ColumnElement[float]:
    """``sum`` of floats, NULLs skipped, 0.0 over no rows (SQLite's ``total``)."""
    return func.coalesce(func.sum(value), 0.0)
