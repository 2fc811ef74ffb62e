"""services.recorder.seed: realistic synthetic traffic, written through the recorder's Store."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from services.recorder import seed as seeding


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, float]:
    path = str(tmp_path_factory.mktemp("seed") / "data" / "usage.db")
    before = time.time()
    assert asyncio.run(seeding.seed(path, rows=3000, days=2, seed_value=3)) == 3000
    return path, before


def query(path: str, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


def test_spread_over_the_days_up_to_now(seeded: tuple[str, float]) -> None:
    path, before = seeded
    ((first, last),) = query(path, "SELECT min(started_at), max(started_at) FROM requests")
    assert before - 2 * 86400 <= first < before - 1.9 * 86400
    assert before - 600 < last <= time.time()


def test_providers_statuses_fallbacks_and_costs(seeded: tuple[str, float]) -> None:
    path, _ = seeded
    assert {r[0] for r in query(path, "SELECT DISTINCT provider FROM requests")} == {
        "openai",
        "anthropic",
        "xai",
        "openrouter",
    }
    statuses = dict(query(path, "SELECT status, count(*) FROM requests GROUP BY status"))
    assert statuses[200] > 2500 and {429, 500, 529} <= set(statuses)
    assert 529 not in {s for (s,) in query(path, "SELECT status FROM requests WHERE provider != 'anthropic'")}
    fallbacks = query(path, "SELECT provider, failed_attempts FROM requests WHERE attempts = 2")
    assert 30 < len(fallbacks) < 200
    for provider, failed in fallbacks:
        (attempt,) = json.loads(failed)
        assert attempt["provider"] != provider and attempt["status"] in (429, 529, 500)
    assert query(path, "SELECT DISTINCT model FROM requests WHERE cost_usd IS NULL") == [("x-ai/grok-4",)]
    assert query(path, "SELECT count(*) FROM requests WHERE status >= 400 AND input_tokens > 0") == [(0,)]
    ((cached,),) = query(path, "SELECT avg(cache_read_tokens > 0) FROM requests WHERE status = 200")
    assert 0.3 < cached < 0.5


def test_rollup_and_indexes_are_built(seeded: tuple[str, float]) -> None:
    path, _ = seeded
    assert query(path, "SELECT sum(requests) FROM usage_hourly") == [(3000,)]
    names = {r[0] for r in query(path, "SELECT name FROM sqlite_master")}
    assert {"requests_rollup_delete", "requests_lists_update", "requests_hour_latency"} <= names


def test_rates_from_genai_prices() -> None:
    gpt4o = next(p for p in seeding.PROFILES if p.model == "gpt-4o")
    rates = seeding.resolve_rates(gpt4o)
    assert rates is not None
    assert (rates.input, rates.output, rates.cache_read) == pytest.approx((2.5e-6, 1e-5, 1.25e-6))
    assert seeding.resolve_rates(seeding.ModelProfile("openrouter", "x-ai/grok-4", 1, 1)) is None


def test_cli_respects_database_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "env.db"
    monkeypatch.setenv("DATABASE_PATH", str(path))
    seeding.main(["--rows", "200", "--days", "1"])
    assert query(str(path), "SELECT count(*) FROM requests") == [(200,)]
    assert "seeded 200 rows" in capsys.readouterr().out
