"""Fixtures shared by every test folder: a real PostgreSQL server (``tests/pgserver.py``).

``pg_server`` starts one private cluster per test session, on first use; ``pg_url`` gives each test a
fresh database in it (dropped afterwards). A machine without PostgreSQL fails these tests: never a skip.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pgserver import PgServer


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)
