"""``GET /usage`` reads the ledger the recorder writes: PostgreSQL when ``DATABASE_URL`` is set (never the
SQLite file), and says so clearly, without the password, when that database cannot be reached."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.app import _mount_usage
from shared.settings import load_settings
from tests.unit.dashboard.ledger_fixtures import T0, known_events, write_ledger, write_pg_ledger


async def _get(settings_env: dict[str, str], query: str = "") -> tuple[int, dict[str, object]]:
    app = web.Application()
    _mount_usage(app, load_settings(settings_env))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        resp = await client.get("/usage" + query)
        return resp.status, await resp.json()
    finally:
        await client.close()


async def test_unreachable_postgres_is_a_503_without_the_password(tmp_path: Path) -> None:
    status, body = await _get(
        {"DATABASE_URL": "postgresql://u:s3cret@127.0.0.1:1/db", "DATABASE_PATH": str(tmp_path / "usage.db")}
    )
    assert status == 503 and body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "cannot be read" in str(body) and "s3cret" not in str(body)


@pytest.fixture
def ledgers(tmp_path: Path, pg_url: str) -> tuple[str, str]:
    """A SQLite file with one of the known events, PostgreSQL with all three."""
    return write_ledger(str(tmp_path / "usage.db"), known_events()[:1]), write_pg_ledger(
        pg_url, known_events()
    )


async def test_database_url_reads_postgres_not_the_sqlite_file(ledgers: tuple[str, str]) -> None:
    sqlite_path, pg_url = ledgers
    window = f"?from={T0:.0f}&to={T0 + 2 * 86400:.0f}"
    status, body = await _get({"DATABASE_URL": pg_url, "DATABASE_PATH": sqlite_path}, window)
    assert status == 200 and body["totals"]["requests"] == 3, body  # type: ignore[index]
    status, body = await _get({"DATABASE_PATH": sqlite_path}, window)
    assert status == 200 and body["totals"]["requests"] == 1  # type: ignore[index]


async def test_without_database_url_a_missing_sqlite_file_is_empty(tmp_path: Path) -> None:
    status, body = await _get({"DATABASE_PATH": str(tmp_path / "usage.db")})
    assert status == 200 and body["totals"]["requests"] == 0  # type: ignore[index]
    assert not (tmp_path / "usage.db").exists()
