"""GET /usage through a real aiohttp server in-process, against a ledger written by the recorder's Store."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.usage_api import setup_usage_routes
from shared.events import FIELD_NAMES
from tests.unit.dashboard.ledger_fixtures import T0, known_events, random_events, write_ledger

RANGE = "from=2025-01-15T00:00:00Z&to=2025-01-17T00:00:00Z"


@pytest.fixture
def db(tmp_path: Path) -> str:
    return write_ledger(str(tmp_path / "usage.db"), known_events())


async def client_for(path: str) -> TestClient:
    app = web.Application()
    setup_usage_routes(app, path)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def client(db: str) -> AsyncIterator[TestClient]:
    client = await client_for(db)
    yield client
    await client.close()


async def test_totals(client: TestClient) -> None:
    response = await client.get(f"/usage?{RANGE}")
    assert response.status == 200
    body = await response.json()
    assert body["from"] == "2025-01-15T00:00:00Z" and body["to"] == "2025-01-17T00:00:00Z"
    assert body["groups"] == []
    totals = body["totals"]
    assert (totals["requests"], totals["errors"], totals["fallbacks"], totals["total_tokens"]) == (
        3,
        1,
        1,
        480,
    )
    assert (totals["latency_p50_ms"], totals["latency_p95_ms"]) == (200.0, 290.0)
    assert totals["cost_usd"] == pytest.approx(0.011) and totals["unpriced_requests"] == 1


@pytest.mark.parametrize(
    ("query", "keys"),
    [
        ("group_by=provider", [("openai", 2), ("anthropic", 1)]),
        ("group_by=model&provider=openai", [("gpt-4o", 1), ("gpt-4o-mini", 1)]),
        ("group_by=day", [("2025-01-15", 2), ("2025-01-16", 1)]),
        ("group_by=hour&status=ok", [("2025-01-15T10:00:00Z", 1), ("2025-01-15T11:00:00Z", 1)]),
        ("group_by=provider&status=429", [("openai", 1)]),
        ("group_by=key", [("alice", 2), ("bob", 1)]),
        ("group_by=session", [("sess-a", 2), (None, 1)]),
        ("group_by=client&key=bob", [("openai-python/1.109.1", 1)]),
        ("group_by=provider&client=claude-cli/2.1.332", [("anthropic", 1), ("openai", 1)]),
        ("group_by=key&session=sess-a&provider=openai", [("alice", 1)]),
    ],
)
async def test_groups(client: TestClient, query: str, keys: list[tuple[str, int]]) -> None:
    body = await (await client.get(f"/usage?{RANGE}&{query}")).json()
    group_by = query.split("&")[0].split("=")[1]
    assert [(g[group_by], g["requests"]) for g in body["groups"]] == keys
    assert body["totals"]["requests"] == sum(n for _, n in keys)


async def test_cost_and_latency_per_key(client: TestClient) -> None:
    body = await (await client.get(f"/usage?{RANGE}&group_by=key")).json()
    alice, bob = body["groups"]
    assert alice["cost_usd"] == pytest.approx(0.011) and bob["cost_usd"] is None
    assert (alice["latency_p50_ms"], bob["latency_p50_ms"]) == (200.0, 200.0)
    assert body["totals"]["latency_p50_ms"] == 200.0


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("from=yesterday", "from"),
        ("to=later", "to"),
        ("from=1h&to=2h", "from"),
        ("status=bad", "status"),
        ("group_by=week", "group_by"),
        ("format=xml", "format"),
        ("provder=openai", "provder"),
    ],
)
async def test_bad_parameters(client: TestClient, query: str, param: str) -> None:
    response = await client.get(f"/usage?{query}")
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["code"] is None
    assert error["message"]


async def test_csv_streams_ledger_rows(client: TestClient) -> None:
    response = await client.get(f"/usage?{RANGE}&format=csv&provider=openai")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(await response.text())))
    assert rows[0] == list(FIELD_NAMES)
    records = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    assert [float(r["started_at"]) for r in records] == [T0 + 600, T0 + 86400]
    assert [r["status"] for r in records] == ["200", "429"]
    assert records[1]["cost_usd"] == "" and records[0]["failed_attempts"] == "[]"


@pytest.fixture
def big_db(tmp_path: Path) -> str:
    """More rows than one CSV batch (5,000)."""
    return write_ledger(str(tmp_path / "big.db"), known_events() + random_events(12_000, T0, T0 + 86400))


async def test_csv_many_rows_and_early_disconnect(big_db: str) -> None:
    client = await client_for(big_db)
    try:
        text = await (await client.get(f"/usage?{RANGE}&format=csv")).text()
        assert len(text.splitlines()) == 1 + 12_003  # header + every row, across several batches
        response = await client.get(f"/usage?{RANGE}&format=csv")
        await response.content.read(1000)
        response.close()  # the handler must release its reader without errors
        again = await client.get(f"/usage?{RANGE}")
        assert (await again.json())["totals"]["requests"] == 12_003
    finally:
        await client.close()


async def test_missing_database_reads_as_empty(tmp_path: Path) -> None:
    client = await client_for(str(tmp_path / "none.db"))
    try:
        body = await (await client.get("/usage?group_by=model")).json()
        assert body["totals"]["requests"] == 0 and body["groups"] == []
        text = await (await client.get("/usage?format=csv")).text()
        assert text.splitlines() == [",".join(FIELD_NAMES)]
    finally:
        await client.close()
