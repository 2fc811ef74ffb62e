"""Until the read side reads PostgreSQL (issue 14 part 2), ``GET /usage`` with ``DATABASE_URL`` set says so
instead of answering from the SQLite file the recorder no longer writes."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.app import _mount_usage
from shared.settings import load_settings


async def _get(settings_env: dict[str, str]) -> tuple[int, dict[str, object]]:
    app = web.Application()
    _mount_usage(app, load_settings(settings_env))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        resp = await client.get("/usage")
        return resp.status, await resp.json()
    finally:
        await client.close()


async def test_usage_with_database_url_is_a_clear_501(tmp_path: Path) -> None:
    status, body = await _get(
        {"DATABASE_URL": "postgresql://u@127.0.0.1:1/db", "DATABASE_PATH": str(tmp_path / "usage.db")}
    )
    assert status == 501
    assert "PostgreSQL" in str(body["error"]) and body["error"]["type"] == "not_implemented"  # type: ignore[index]


async def test_usage_without_database_url_reads_sqlite(tmp_path: Path) -> None:
    status, body = await _get({"DATABASE_PATH": str(tmp_path / "usage.db")})
    assert status == 200 and body["totals"]["requests"] == 0  # type: ignore[index]
