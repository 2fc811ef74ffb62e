"""Raw ledger rows of a query, in time order and in batches (the CSV export of ``GET /usage``)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnClause, CursorResult, column, select

from shared.ledger.engine import reading
from shared.ledger.params import Query
from shared.ledger.queries import filters, in_range, time_order
from shared.ledger.sql import REQUESTS


@dataclass(slots=True)
class RowReader:
    """Raw ledger rows of a range in time order, fetched in batches (for CSV export).

    On PostgreSQL the rows come through a server-side cursor: a large export never sits in memory."""

    columns: list[str]
    result: CursorResult[Any] | None
    resources: ExitStack = field(default_factory=ExitStack)

    def fetch(self, n: int = 5000) -> list[tuple[Any, ...]]:
        """The next ``n`` rows; an empty list at the end."""
        return [] if self.result is None else [tuple(r) for r in self.result.fetchmany(n)]

    def close(self) -> None:
        """Release the connection (idempotent)."""
        self.result = None
        self.resources.close()


def read_rows(ledger: str, q: Query, columns: Sequence[str]) -> RowReader:
    """Open a :class:`RowReader` over the rows of ``q`` with the given ledger ``columns``."""
    resources = ExitStack()
    try:
        conn = resources.enter_context(reading(ledger))
        if conn is None:
            resources.close()
            return RowReader(list(columns), None)
        names: list[ColumnClause[Any]] = [column(c) for c in columns]
        sql = (
            select(*names)
            .select_from(REQUESTS)
            .where(*in_range(q.start, q.end), *filters(q))
            .order_by(*time_order(conn))  # along the hour's index on SQLite, no sort
        )
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(sql)
    except BaseException:
        resources.close()
        raise
    return RowReader(list(columns), result, resources)
