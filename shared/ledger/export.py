"""Raw ledger rows of a query, in time order and in batches (the CSV export of ``GET /usage``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.ledger.params import Query
from shared.ledger.queries import connect, filter_sql, has_table


@dataclass(slots=True)
class RowReader:
    """Raw ledger rows of a range in time order, fetched in batches (for CSV export)."""

    columns: list[str]
    cursor: sqlite3.Cursor | None
    conn: sqlite3.Connection | None

    def fetch(self, n: int = 5000) -> list[tuple[Any, ...]]:
        """The next ``n`` rows; an empty list at the end."""
        return [] if self.cursor is None else self.cursor.fetchmany(n)

    def close(self) -> None:
        """Release the connection (idempotent)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = self.cursor = None


def read_rows(path: str, q: Query, columns: Sequence[str]) -> RowReader:
    """Open a :class:`RowReader` over the rows of ``q`` with the given ledger ``columns``."""
    conn = connect(path)
    if conn is None or not has_table(conn, "requests"):
        if conn is not None:
            conn.close()
        return RowReader(list(columns), None, None)
    flt, fparams = filter_sql(q)
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = conn.execute(
        f"SELECT {names} FROM requests WHERE started_at >= ? AND started_at < ?{flt} ORDER BY started_at",
        [q.start, q.end, *fparams],
    )
    return RowReader(list(columns), cursor, conn)
