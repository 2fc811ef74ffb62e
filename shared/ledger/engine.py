"""Where the ledger is, and read-only connections to it: a SQLite file or a PostgreSQL database.

A *ledger* is a string: a ``postgresql://`` (or ``postgres://``) URL, or else the path of a SQLite file.
:func:`ledger_of` picks it from the settings the recorder uses (``DATABASE_URL`` wins, else
``DATABASE_PATH``), so the readers read what the recorder writes.

Connections go through SQLAlchemy Core (one engine per ledger, made on first use, safe from any thread):

* SQLite: ``file:…?mode=ro`` connections, a new one per read (no pool), so a missing file reads as an
  empty ledger and is never created;
* PostgreSQL: psycopg 3, a small pool; every session is ``default_transaction_read_only``, so the read
  side cannot write whatever SQL it sends, with ``jit=off`` (compiling a big aggregate cost ~190 ms at 1M
  rows, more than it saved) and ``work_mem=32MB`` (a group-by over a month sorted on disk at the default
  4 MB).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from shared.settings import POSTGRES_SCHEMES, Settings

CONNECT_TIMEOUT_S = 10  # PostgreSQL: how long opening a connection may take
POOL_SIZE = 4  # PostgreSQL connections kept per process (the /usage pool has four threads)

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


def ledger_of(settings: Settings) -> str:
    """The ledger the recorder writes: ``DATABASE_URL`` when set, else ``DATABASE_PATH``."""
    return settings.database_url or settings.database_path


def is_postgres(ledger: str) -> bool:
    """Whether ``ledger`` is a PostgreSQL URL (else it is a SQLite path)."""
    return "://" in ledger and ledger.split("://", 1)[0].lower() in POSTGRES_SCHEMES


def describe(ledger: str) -> str:
    """``ledger`` for logs and pages: a URL without its password, or the path."""
    if not is_postgres(ledger):
        return ledger
    return make_url(ledger).render_as_string(hide_password=True)


def exists(ledger: str) -> bool:
    """Whether the ledger can hold rows yet: the SQLite file exists (PostgreSQL: always)."""
    return is_postgres(ledger) or os.path.exists(ledger)


def engine(ledger: str) -> Engine:
    """The (cached) read-only engine for ``ledger``."""
    with _lock:
        found = _engines.get(ledger)
        if found is None:
            found = _engines[ledger] = _postgres(ledger) if is_postgres(ledger) else _sqlite(ledger)
        return found


def _sqlite(path: str) -> Engine:
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    return create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
        poolclass=NullPool,
    )


def _postgres(url: str) -> Engine:
    return create_engine(
        make_url(url).set(drivername="postgresql+psycopg"),
        pool_size=POOL_SIZE,
        max_overflow=POOL_SIZE,
        pool_pre_ping=True,  # a server restart costs one failed ping, not one failed request
        connect_args={
            "connect_timeout": CONNECT_TIMEOUT_S,
            "options": "-c default_transaction_read_only=on -c jit=off -c work_mem=32MB",
        },
    )


def dispose(ledger: str) -> None:
    """Close the pooled connections of ``ledger``'s engine (tests, and servers shutting down)."""
    with _lock:
        found = _engines.pop(ledger, None)
    if found is not None:
        found.dispose()


@contextmanager
def reading(ledger: str) -> Iterator[Connection | None]:
    """A read-only connection, or None while there is no ledger (no SQLite file, or no schema yet).

    Raises ``sqlalchemy.exc.OperationalError`` when PostgreSQL cannot be reached."""
    if not exists(ledger):
        yield None
        return
    with engine(ledger).connect() as conn:
        yield conn if has_table(conn, "requests") else None


def has_table(conn: Connection, name: str) -> bool:
    """Whether the ledger has table ``name``."""
    return inspect(conn).has_table(name)


def has_column(conn: Connection, table: str, name: str) -> bool:
    """Whether ``table`` has column ``name`` (older ledgers lack the attribution columns)."""
    return any(c["name"] == name for c in inspect(conn).get_columns(table))
