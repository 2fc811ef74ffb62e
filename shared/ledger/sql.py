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
* latency percentiles: on both engines from the latency lists (whole hours) and ``requests`` (the rest), the
  lists' blobs in each engine's byte order (:func:`list_dtype`); percentiles by gateway key, client or
  session in one pass (SQLite) or by ``percentile_cont`` (PostgreSQL) (``queries.py``).
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

from shared.events import TOKEN_FIELDS

REQUESTS = table(
    "requests",
    column("event_id", String),
    column("started_at", Float),
    column("provider", String),
    column("model", String),
    column("status", Integer),
    column("error_type", String),
    column("attempts", Integer),
    *(column(name, Integer) for name in TOKEN_FIELDS),
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
    *(column(name, Integer) for name in TOKEN_FIELDS),
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


# Each (hour, provider, model, status) group's latencies as float64 blobs in one or more parts: SQLite schema
# version 6 (services/recorder/latency_lists.py), PostgreSQL version 4 (pg_lists.py). Byte order: list_dtype.
LISTS = table(
    "latency_lists",
    column("hour", BigInteger),
    column("provider", String),
    column("model", String),
    column("status", Integer),
    column("n", Integer),
    column("latencies", LargeBinary),
)


# The latency lists' float64 byte order per engine, as each writer packs them: SQLite in Python (numpy,
# little-endian: latency_lists.DTYPE), PostgreSQL in SQL (float8send, big-endian: pg_lists.DTYPE).
_LIST_DTYPES = {"sqlite": "<f8", "postgresql": ">f8"}


def list_dtype(dialect: str) -> str:
    """The numpy dtype of the ``latency_lists.latencies`` blobs on ``dialect`` (``sqlite``, ``postgresql``);
    ``KeyError`` for another engine."""
    return _LIST_DTYPES[dialect]


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


class _CodePoint(FunctionElement[str]):
    """A text column compared by code point: see :func:`code_point`."""

    type = String()
    name = "code_point"
    inherit_cache = True


def code_point(text: ColumnElement[Any]) -> ColumnElement[str]:
    """``text`` ordered by code point on both engines: SQLite's default (BINARY) collation; on PostgreSQL
    ``COLLATE "C"`` (the database's collation may be a locale's, which orders case and punctuation
    otherwise). For tie-breakers that must agree across engines (``queries.recent``)."""
    return _CodePoint(text)


@compiles(_CodePoint, "sqlite")
def _code_point_sqlite(element: _CodePoint, compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(next(iter(element.clauses)), **kw))


@compiles(_CodePoint, "postgresql")
def _code_point_postgresql(element: _CodePoint, compiler: SQLCompiler, **kw: Any) -> str:
    return f'({compiler.process(next(iter(element.clauses)), **kw)} COLLATE "C")'
