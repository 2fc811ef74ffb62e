"""Ledger databases with known contents for the ledger, dashboard and /usage tests.

Rows are written through the recorder's ``Store`` (the real writer), then the rollup and read
indexes are built with ``ensure_rollups_sync, suspend_sync`` unless a test wants the plain schema.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from contextlib import closing
from typing import Any

import numpy as np

from services.recorder.rollups import ensure_rollups_sync, suspend_sync
from services.recorder.store import Store
from shared.events import FailedAttempt, UsageEvent

T0 = 1736935200.0  # 2025-01-15T10:00:00Z, on an hour (and 10 h after a day) boundary


def event(
    started_at: float,
    provider: str | None,
    model: str,
    *,
    status: int = 200,
    latency_ms: float = 100.0,
    **fields: Any,
) -> UsageEvent:
    """A UsageEvent with the fields the ledger reads; the rest defaulted."""
    fields.setdefault("request_id", f"req-{started_at}-{model}")
    return UsageEvent(
        endpoint="/v1/chat/completions",
        client_format="openai_chat",
        model=model,
        started_at=started_at,
        finished_at=started_at + latency_ms / 1000,
        provider=provider,
        status=status,
        latency_ms=latency_ms,
        attempts=fields.pop("attempts", 1),
        **fields,
    )


def known_events() -> list[UsageEvent]:
    """Three requests over two days; figures worked out by hand in the tests."""
    return [
        # 2025-01-15 10:10, openai, ok
        event(
            T0 + 600,
            "openai",
            "gpt-4o-mini",
            latency_ms=100.0,
            input_tokens=100,
            output_tokens=50,
            cache_read_tokens=10,
            cost_usd=0.001,
            cache_savings_usd=0.0004,
            api_key_name="alice",
            session_id="sess-a",
            client="claude-cli/2.1.332",
        ),
        # 2025-01-15 11:20, anthropic, ok after a fallback
        event(
            T0 + 4800,
            "anthropic",
            "claude-sonnet-4-5",
            latency_ms=300.0,
            input_tokens=200,
            output_tokens=100,
            cache_write_tokens=20,
            reasoning_tokens=30,
            cost_usd=0.01,
            attempts=2,
            cache_savings_usd=-0.0001,
            failed_attempts=[FailedAttempt(provider="openai", status=529, error_type="overloaded_error")],
            api_key_name="alice",
            session_id="sess-a",
            agent_id="agent-1",
            client="claude-cli/2.1.332",
        ),
        # 2025-01-16 10:00, openai, rate limited, price unknown
        event(
            T0 + 86400,
            "openai",
            "gpt-4o",
            status=429,
            latency_ms=200.0,
            error_type="rate_limit_error",
            api_key_name="bob",
            client="openai-python/1.109.1",
        ),
    ]


def random_events(n: int, start: float, end: float, seed: int = 1) -> list[UsageEvent]:
    """``n`` varied events in [start, end): several providers/models/statuses, some without provider."""
    rng = np.random.default_rng(seed)
    models = {"openai": ["gpt-4o", "gpt-4o-mini"], "anthropic": ["claude-haiku-4-5"], "xai": ["grok-4"]}
    pairs = [(p, m) for p, ms in models.items() for m in ms] + [(None, "unroutable")]
    out = []
    for i in range(n):
        provider, model = pairs[int(rng.integers(len(pairs)))]
        status = int(rng.choice([200, 200, 200, 200, 429, 500]))
        cost = None if rng.random() < 0.2 else float(rng.random() / 100)
        out.append(
            event(
                float(start + rng.random() * (end - start)),
                provider,
                model,
                status=status,
                latency_ms=float(np.round(rng.lognormal(6, 1), 1)),
                input_tokens=int(rng.integers(0, 999)),
                output_tokens=int(rng.integers(0, 99)),
                cost_usd=cost,
                attempts=int(rng.choice([1, 1, 1, 2])),
                request_id=f"r{i}",
            )
        )
    return out


def write_ledger(path: str, events: Sequence[UsageEvent], *, rollup: bool = True) -> str:
    """Create the ledger at ``path`` with ``events``; with ``rollup``, also the rollup and read indexes."""

    async def insert() -> None:
        store = await Store.open(path)
        try:
            await store.insert_many(list(events))
        finally:
            await store.close()

    asyncio.run(insert())
    with closing(sqlite3.connect(path)) as conn:
        if rollup:
            ensure_rollups_sync(conn)
        else:  # the recorder builds the rollup on open; a plain ledger exercises the raw-row path
            suspend_sync(conn)
            conn.execute("DROP TABLE IF EXISTS usage_hourly")
            conn.execute("DROP TABLE IF EXISTS usage_attribution_hourly")
            conn.commit()
    return path


def write_pg_ledger(url: str, events: Sequence[UsageEvent], *, rollup: bool = True) -> str:
    """The same for PostgreSQL at ``url``, through the recorder's ``PgStore`` (whose migrations create the
    rollup); without ``rollup`` the rollup table is dropped afterwards (the raw-row path)."""
    import asyncpg

    from services.recorder.pg_store import PgStore

    async def insert() -> None:
        store = await PgStore.open(url)
        try:
            await store.insert_many(list(events))
        finally:
            await store.close()
        if not rollup:
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("DROP TABLE usage_hourly")
            finally:
                await conn.close()

    asyncio.run(insert())
    return url
