"""``calls.row_for`` (the ledger row built directly, issue 13 session 15) against the event main built.

The reference is main's ``event_for`` before the change (``tests/unit/_old_event.py``, verbatim). Over
random calls (hypothesis: attempts answered, failed or cut off; usage with every token bucket, cache TTL
splits, iterations on other models, provider costs, service tiers, US-only inference, fast mode; catalog,
genai-prices and unknown prices; statuses, attribution), the new row must equal the old event's values in
``FIELD_NAMES`` order, value and type (the event id aside: each build draws its own); its bytes on the wire
must be the old ones; and the rows the recorder stores from each, in SQLite and in PostgreSQL, the same.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.calls import Attempt, Call, event_for, row_for
from services.gateway.dialects import registry
from services.gateway.dialects.ir import Iteration, Usage
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from services.recorder.pg_store import PgStore
from services.recorder.store import COLUMNS, Store
from services.recorder.wire import wire_row
from shared.events import EVENT_ID, FIELD_NAMES, Row, UsageEvent, encode_row, encode_values, row_of
from shared.pricing import ModelRates, Pricer, Rate
from tests.pgserver import PgServer
from tests.unit._old_event import event_for as old_event_for

PRICER = Pricer()
CATALOG = ModelRates("m", Rate(1.0), Rate(2.0), Rate(0.1), Rate(1.25))
ROUTES = (
    Route("openai", "gpt-4o-mini"),
    Route("openai", "gpt-5"),
    Route("anthropic", "claude-sonnet-4-5"),
    Route("anthropic", "claude-opus-4-6"),
    Route("openrouter", "anthropic/claude-3.5-sonnet", direct=False),
    Route("xai", "grok-3"),
    Route("openai", "no-such-model"),
    Route("openai", "catalog-model", rates=CATALOG, price_source="catalog"),
)
ENDPOINTS = tuple(registry.ENDPOINTS.values())
TEXTS = (None, "", "a", "main", "claude-cli/2.1.332", "ünïcode ✓")
ONE_HOUR = {
    "model": "m",
    "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
}


def _count(r: random.Random) -> int:
    return r.choice((0, 0, 1, 7, 19, 1234, 200_001, 2**40))


def _usage(r: random.Random, iterations: bool = True) -> Usage:
    writes = _count(r)
    usage = Usage(
        input_tokens=_count(r),
        output_tokens=_count(r),
        cache_read_tokens=_count(r),
        cache_write_tokens=writes,
        reasoning_tokens=_count(r),
        provider_cost_usd=r.choice((None, None, 0.0, 0.0123)),
        cache_write_1h_tokens=r.choice((0, 0, writes, writes // 2)),
        web_search_requests=r.choice((0, 0, 1, 3)),
        cache_write_split=r.random() < 0.3,
        inference_geo=r.choice((None, None, "us", "global")),
        speed=r.choice((None, None, "fast", "standard")),
        service_tier=r.choice((None, None, "flex", "priority", "scale", "default")),
    )
    if iterations and r.random() < 0.2:
        usage.iterations = tuple(
            Iteration(_usage(r, False), r.choice((None, "claude-haiku-4-5", "no-such-model")))
            for _ in range(r.randint(1, 3))
        )
    return usage


def make_call(r: random.Random) -> Call:
    endpoint = r.choice(ENDPOINTS)
    call = Call(endpoint, f"req_{r.getrandbits(48):012x}", {}, time.monotonic(), 1.7e9 + r.random() * 1e6)
    call.model = r.choice(("gpt-4o-mini", "claude-sonnet-4-5", "", "unknown"))
    call.stream = r.random() < 0.5
    call.body = ONE_HOUR if r.random() < 0.3 else {"model": call.model}
    for i in range(r.choice((0, 1, 1, 1, 2, 3))):
        route = r.choice(ROUTES)
        att = Attempt(route, r.choice(("openai_chat", "anthropic", "openai_responses")), r.random() < 0.5)
        att.client_disconnected = r.random() < 0.1
        outcome = r.random()
        if outcome < 0.6:
            att.answered = True
            att.status = 200
            att.usage = None if r.random() < 0.1 else _usage(r)
            att.served_model = r.choice((None, route.model, route.model + "-2025"))
            att.ttft_ms = r.choice((None, 0.0, 12.5))
        elif outcome < 0.9:
            att.failed(
                UpstreamError(
                    r.choice((None, 429, 500, 503)),
                    "x" * r.choice((0, 5, 400)),
                    provider=route.provider,
                    retryable=True,
                    error_type=r.choice((None, "overloaded", "rate_limit")),
                )
            )
        call.attempts.append(att)
        if i == 0 and r.random() < 0.2:
            break
    status = r.choice((0, 200, 200, 400, 429, 499, 502))
    if status:
        call.answer(status, None if status < 400 else r.choice((None, "invalid_request_error")))
    else:
        call.error_type = r.choice((None, "boom"))
    call.api_key_name, call.session_id, call.agent_id = r.choice(TEXTS), r.choice(TEXTS), r.choice(TEXTS)
    call.client, call.request_class, call.budget_alert = r.choice(TEXTS), r.choice(TEXTS), r.choice(TEXTS)
    return call


def both(call: Call) -> tuple[Row, UsageEvent]:
    """The new row and the old event for ``call``, the old one given the new one's event id."""
    finished, latency = call.started_at + 0.25, 250.0
    row = row_for(call, PRICER, finished, latency)
    old = old_event_for(call, PRICER, finished, latency)
    old.event_id = row[EVENT_ID]
    return row, old


def _typed(values: Any) -> list[tuple[type, str]]:
    return [(type(v), repr(v)) for v in values]


@settings(max_examples=400, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_for_is_the_old_event_value_for_value(r: random.Random) -> None:
    call = make_call(r)
    row, old = both(call)
    assert len(row) == len(FIELD_NAMES)
    assert _typed(row) == _typed(row_of(old))
    assert encode_values(row) == encode_row(old)
    assert wire_row(encode_values(row)) == wire_row(encode_row(old))
    new_event = event_for(call, PRICER, call.started_at + 0.25, 250.0)  # the settle path's event
    new_event.event_id = row[EVENT_ID]
    assert _typed(row_of(new_event)) == _typed(row)


def test_each_row_has_its_own_time_ordered_event_id() -> None:
    call = make_call(random.Random(1))
    ids = [row_for(call, PRICER, 1.0, 1.0)[EVENT_ID] for _ in range(50)]
    assert len(set(ids)) == 50 and all(len(i) == 32 and i[12] == "7" for i in ids)


def _sample(n: int) -> tuple[list[Row], list[Row]]:
    """``n`` calls' ledger rows as the recorder stores them: from the new rows' bytes and the old events'."""
    r = random.Random(15)
    new, old = [], []
    for _ in range(n):
        row, event = both(make_call(r))
        new.append(wire_row(encode_values(row)))
        old.append(wire_row(encode_row(event)))
    return new, old


LEDGER = f"SELECT {', '.join(COLUMNS)} FROM requests ORDER BY event_id"
HOURLY = "SELECT * FROM usage_hourly ORDER BY 1, 2, 3, 4, 5"


async def _sqlite(path: Path, rows: list[Row]) -> tuple[list[Any], list[Any]]:
    store = await Store.open(str(path))
    try:
        assert (await store.insert_counted(rows)).inserted == len(rows)
        db = store._db
        ledger = await (await db.execute(LEDGER)).fetchall()
        hourly = await (await db.execute(HOURLY)).fetchall()
    finally:
        await store.close()
    return [_typed(x) for x in ledger], [_typed(x) for x in hourly]


def test_sqlite_stores_the_same_rows_and_rollups_from_both(tmp_path: Path) -> None:
    new, old = _sample(600)
    stored_new = asyncio.run(_sqlite(tmp_path / "new.db", new))
    stored_old = asyncio.run(_sqlite(tmp_path / "old.db", old))
    assert stored_new == stored_old
    assert len(stored_new[0]) == 600 and stored_new[1]


async def _postgres(url: str, rows: list[Row]) -> tuple[list[Any], list[Any]]:
    store = await PgStore.open(url)
    try:
        assert (await store.insert_counted(rows)).inserted == len(rows)
    finally:
        await store.close()
    conn = await asyncpg.connect(url)
    try:
        ledger = [tuple(x) for x in await conn.fetch(LEDGER)]
        hourly = [tuple(x) for x in await conn.fetch(HOURLY)]
    finally:
        await conn.close()
    return [_typed(x) for x in ledger], [_typed(x) for x in hourly]


def test_postgres_stores_the_same_rows_and_rollups_from_both(pg_server: PgServer) -> None:
    new, old = _sample(600)
    names = [pg_server.create_database(), pg_server.create_database()]
    try:
        stored_new = asyncio.run(_postgres(pg_server.url(names[0]), new))
        stored_old = asyncio.run(_postgres(pg_server.url(names[1]), old))
    finally:
        for name in names:
            pg_server.drop_database(name)
    assert stored_new == stored_old
    assert len(stored_new[0]) == 600 and stored_new[1]
