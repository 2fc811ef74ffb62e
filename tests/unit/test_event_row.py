"""``calls.row_for`` (the ledger row built directly, issue 13 session 15) against values computed here.

Over random calls (hypothesis: attempts answered, failed or cut off; usage with every token bucket, cache TTL
splits, iterations on other models, provider costs, service tiers, US-only inference, fast mode; catalog,
genai-prices and unknown prices; statuses, attribution), each of the row's values must be the one
:func:`expected_event` works out from the call by the rules ``row_for`` documents (its docstring and
``calls._cost``'s), field by field and by name, value and type (the event id aside: each build draws its
own); every field placed (the row's length, ``event_for``'s event); its bytes on the wire those of the
expected event; and the rows the recorder stores from each, in SQLite and in PostgreSQL, the same.
The expected costs price each part with ``ModelRates.price`` / ``uncached_price`` on a ``Billed`` (the
per-part path), not ``row_for``'s one-part ``prices_of``.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.attribution import from_headers
from services.gateway.calls import MESSAGE_LIMIT, Attempt, Call, event_for, row_for
from services.gateway.dialects import registry
from services.gateway.dialects.ir import Iteration, Usage
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from services.recorder.pg_store import PgStore
from services.recorder.store import COLUMNS, Store
from services.recorder.wire import wire_row
from shared.events import (
    CACHE_SAVINGS_USD,
    COST_USD,
    EVENT_ID,
    FIELD_NAMES,
    SCHEMA_VERSION,
    FailedAttempt,
    Row,
    UsageEvent,
    encode_row,
    encode_values,
    row_of,
)
from shared.pricing import Billed, ModelRates, Pricer, Rate, geo_multiplier, speed_multiplier
from tests.pgserver import PgServer

PRICER = Pricer()
EVENT_POS = EVENT_ID  # its index in a row
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


def _expected_usage(call: Call, usage: Usage) -> Usage:
    """``usage`` with unsplit cache writes counted as 1-hour ones when the request asked 1 hour for every
    breakpoint (``ONE_HOUR``'s body: this test's only such body); a split the provider reported stands."""

    def unsplit(u: Usage) -> bool:
        return u.cache_write_tokens > 0 and u.cache_write_1h_tokens == 0 and not u.cache_write_split

    if call.body is not ONE_HOUR:
        return usage
    if not usage.iterations:
        if not unsplit(usage):
            return usage
        return Usage(**{**vars_of(usage), "cache_write_1h_tokens": usage.cache_write_tokens})
    if not any(unsplit(it.usage) for it in usage.iterations):
        return usage
    its = tuple(
        Iteration(
            Usage(**{**vars_of(it.usage), "cache_write_1h_tokens": it.usage.cache_write_tokens})
            if unsplit(it.usage)
            else it.usage,
            it.model,
        )
        for it in usage.iterations
    )
    total_1h = sum(it.usage.cache_write_1h_tokens for it in its)
    return Usage(**{**vars_of(usage), "iterations": its, "cache_write_1h_tokens": total_1h})


def vars_of(u: Usage) -> dict[str, Any]:
    return {name: getattr(u, name) for name in Usage.__dataclass_fields__}


def _billed(u: Usage, searches: int) -> Billed:
    return Billed(
        input_tokens=u.input_tokens,
        output_tokens=u.output_tokens,
        cache_read_tokens=u.cache_read_tokens,
        cache_write_tokens=u.cache_write_tokens,
        cache_write_1h_tokens=u.cache_write_1h_tokens,
        reasoning_tokens=u.reasoning_tokens,
        web_search_requests=searches,
    )


def _expected_cost(attempt: Attempt, usage: Usage) -> tuple[float | None, float | None]:
    """(cost, savings) by ``calls._cost``'s documented rules, each part priced on its own with ``Billed``."""
    route = attempt.route
    if route.price_source in ("catalog", "vendor") and route.rates is not None:
        own: ModelRates | None = route.rates
    elif usage.service_tier is None:
        own = PRICER.rates(route.provider, route.model)
    else:
        own = PRICER.tier_rates(route.provider, route.model, usage.service_tier)
    geo = geo_multiplier(usage.inference_geo)
    if usage.iterations:
        parts = [
            (
                own if it.model in (None, route.model) else PRICER.rates(route.provider, it.model),
                it.usage,
                it.model or route.model,
            )
            for it in usage.iterations
        ]
    else:
        parts = [(own, usage, route.model)]
    priced: list[tuple[float, float]] = []
    for rates, u, model in parts:
        fast = 1.0 if usage.speed is None else speed_multiplier(model, usage.speed)
        billed = _billed(u, 0)
        if rates is None or fast is None or not rates.knows(billed):
            return usage.provider_cost_usd, None
        priced.append((rates.price(billed) * geo * fast, rates.uncached_price(billed) * geo * fast))
    if own is None:  # the searches are priced at the route's model: unknown
        return usage.provider_cost_usd, None
    searched = usage.web_search_requests * own.web_search  # searches: at the route's price, no factor
    cost = sum(p for p, _ in priced) + searched
    savings = sum(u - p for p, u in priced)
    return (cost if usage.provider_cost_usd is None else usage.provider_cost_usd), savings


def expected_event(call: Call, finished_at: float, latency_ms: float, event_id: str) -> UsageEvent:
    """The event ``row_for`` must build for ``call``, worked out field by field from its docstring."""
    attempts = call.attempts
    answered = next((a for a in attempts if a.answered), None)
    # the provider whose bytes the client got: the answering attempt's, else the last tried (session 27)
    last = answered or (attempts[-1] if attempts else None)
    usage = _expected_usage(call, (answered.usage if answered else None) or Usage())
    cost, savings = (None, None) if attempts else (0.0, None)
    if answered is not None:
        cost, savings = _expected_cost(answered, usage)
    status = call.status or 500
    return UsageEvent(
        request_id=call.request_id,
        endpoint=call.endpoint.path,
        client_format=call.endpoint.format,
        model=call.model,
        event_id=event_id,
        schema_version=SCHEMA_VERSION,
        started_at=call.started_at,
        finished_at=finished_at,
        provider=last.route.provider if last else None,
        provider_format=last.wire if last else None,
        translated=last.translated if last else False,
        served_model=answered.served_model if answered else None,
        status=status,
        error_type=call.error_type if call.status else (call.error_type or "internal_error"),
        streamed=call.stream,
        client_disconnected=any(a.client_disconnected for a in attempts) if attempts else status == 499,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        ttft_ms=answered.ttft_ms if answered else None,
        attempts=len(attempts),
        failed_attempts=[
            FailedAttempt(a.route.provider, a.status, a.error_type or "error", a.message[:MESSAGE_LIMIT])
            for a in attempts
            if a.error is not None
        ],
        api_key_name=call.api_key_name,
        session_id=call.session_id,
        agent_id=call.agent_id,
        client=call.client,
        request_class=call.request_class,
        budget_alert=call.budget_alert,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        web_search_requests=usage.web_search_requests,
        cache_savings_usd=savings,
    )


def both(call: Call) -> tuple[Row, UsageEvent]:
    """``row_for``'s row and the expected event for ``call``, the expected one given the row's event id."""
    finished, latency = call.started_at + 0.25, 250.0
    row = row_for(call, PRICER, finished, latency)
    return row, expected_event(call, finished, latency, row[EVENT_ID])


def _close(a: Any, b: Any, scale: float = 0.0) -> bool:
    """Equal, floats to 1e-12 relative (the expected costs add the same terms in another order); ``scale``:
    the size of the costs a float was computed from, for a difference of two costs (cache savings: with
    1.1e12 tokens the two costs are ~$36M and the two orders of adding differ by ~7.5e-9 USD, which 1e-12
    of the savings alone does not cover)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=max(1e-15, 1e-14 * scale))
    return bool(a == b)


def _typed(values: Any) -> list[tuple[type, str]]:
    return [(type(v), repr(v)) for v in values]


def _check(call: Call) -> None:
    row, expected = both(call)
    assert len(row) == len(FIELD_NAMES)  # every field placed
    want = row_of(expected)
    scale = abs(expected.cost_usd or 0.0) + abs(expected.cache_savings_usd or 0.0)
    wrong = [
        n
        for n, a, b in zip(FIELD_NAMES, row, want, strict=True)
        if type(a) is not type(b) or not _close(a, b, scale)
    ]
    assert not wrong, {n: (row[FIELD_NAMES.index(n)], want[FIELD_NAMES.index(n)]) for n in wrong}
    new_event = event_for(call, PRICER, call.started_at + 0.25, 250.0)  # the settle path's event
    new_event.event_id = row[EVENT_ID]
    assert _typed(row_of(new_event)) == _typed(row)


@settings(max_examples=400, deadline=None)
@given(st.randoms(use_true_random=False))
def test_row_for_is_the_expected_event_value_for_value(r: random.Random) -> None:
    _check(make_call(r))


def test_row_for_is_the_expected_event_over_seeded_calls() -> None:
    """3,000 calls from seeded generators: hypothesis' shrinking randoms draw few of the rarer mixes (cache
    writes without a split on a one-hour request, iterations all on other models)."""
    for seed in range(3000):
        _check(make_call(random.Random(seed)))


def _deferred(call: Call, r: random.Random) -> Call:
    """``call`` as the gateway's request path leaves it (session 19): its attribution still in its headers
    (``attribution_pending``) and each answered attempt's usage to be read with the event (``read_usage``)."""
    headers: dict[str, str] = {}
    for name, value in (
        ("x-claude-code-session-id", r.choice(TEXTS)),
        ("x-claude-code-agent-id", r.choice(TEXTS)),
        ("x-claude-code-request-class", r.choice(TEXTS)),
        ("user-agent", r.choice((None, "claude-cli/2.1.332 (external, cli)", "OpenAI/Python 1.109.1"))),
    ):
        if value is not None:
            headers[name] = value
    late = replace(
        call, headers=headers, attempts=[replace(a) for a in call.attempts], attribution_pending=True
    )
    for att in late.attempts:
        if att.answered and att.usage is not None and r.random() < 0.8:
            att.read_usage, att.usage = functools.partial(lambda u: u, att.usage), None
    return late


def test_row_for_reads_the_deferred_attribution_and_usage_as_the_eager_ones() -> None:
    """The row of a call whose attribution and answer usage are read with the event is the row of the same call
    with them filled in at once (``attribution.from_headers``, the usage set), value for value and in bytes."""
    r = random.Random(19)
    for _ in range(2000):
        late = _deferred(make_call(r), r)
        eager = replace(late, attribution_pending=False, attempts=[replace(a) for a in late.attempts])
        who = from_headers(late.headers)
        eager.session_id, eager.agent_id, eager.client, eager.request_class = (
            who.session_id,
            who.agent_id,
            who.client,
            who.request_class,
        )
        for att in eager.attempts:
            if att.read_usage is not None:
                att.usage, att.read_usage = att.read_usage(), None
        a, b = row_for(late, PRICER, 1.8e9, 5.0), row_for(eager, PRICER, 1.8e9, 5.0)
        assert a[:EVENT_POS] + a[EVENT_POS + 1 :] == b[:EVENT_POS] + b[EVENT_POS + 1 :]
        _check(eager)


def test_a_deferred_usage_read_that_fails_keeps_the_row_without_tokens() -> None:
    """A usage reader that raises (a bug) costs the row its token counts, not the row: the ledger keeps the
    request as if its answer had said no usage (status, provider, attempts and attribution as they were)."""
    r = random.Random(7)
    checked = 0
    while checked < 50:
        call = _deferred(make_call(r), r)
        readers = [a for a in call.attempts if a.read_usage is not None]
        if not readers:
            continue

        def broken() -> Usage:
            raise KeyError("usage")

        none_said = replace(call, attempts=[replace(a) for a in call.attempts])
        for att in readers:
            att.read_usage = broken
        for att in none_said.attempts:
            if att.read_usage is not None:
                att.usage, att.read_usage = Usage(), None
        a, b = row_for(call, PRICER, 1.8e9, 5.0), row_for(none_said, PRICER, 1.8e9, 5.0)
        assert a[:EVENT_POS] + a[EVENT_POS + 1 :] == b[:EVENT_POS] + b[EVENT_POS + 1 :]
        checked += 1


def test_row_for_bytes_are_the_expected_events() -> None:
    """On the wire, the row's bytes are the expected event's, once its two sums (cost, savings: the same
    terms added in another order, equal to 1e-12) are taken from the row."""
    r = random.Random(3)
    for _ in range(300):
        row, expected = both(make_call(r))
        for name in ("cost_usd", "cache_savings_usd"):
            assert _close(row[FIELD_NAMES.index(name)], getattr(expected, name))
            setattr(expected, name, row[FIELD_NAMES.index(name)])
        assert encode_values(row) == encode_row(expected)
        assert wire_row(encode_values(row)) == wire_row(encode_row(expected))


def test_each_row_has_its_own_time_ordered_event_id() -> None:
    call = make_call(random.Random(1))
    ids = [row_for(call, PRICER, 1.0, 1.0)[EVENT_ID] for _ in range(50)]
    assert len(set(ids)) == 50 and all(len(i) == 32 and i[12] == "7" for i in ids)


def _sample(n: int) -> tuple[list[Row], list[Row]]:
    """``n`` calls' ledger rows as the recorder stores them: from ``row_for``'s bytes and the expected
    events' (their cost and savings the row's, as in :func:`test_row_for_bytes_are_the_expected_events`)."""
    r = random.Random(15)
    new, old = [], []
    for _ in range(n):
        row, event = both(make_call(r))
        event.cost_usd, event.cache_savings_usd = row[COST_USD], row[CACHE_SAVINGS_USD]
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


def test_sqlite_stores_the_expected_rows_and_rollups(tmp_path: Path) -> None:
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


def test_postgres_stores_the_expected_rows_and_rollups(pg_server: PgServer) -> None:
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


def test_a_failing_usage_reader_costs_the_tokens_not_the_row(caplog: Any) -> None:
    """``row_for`` reads a deferred usage inline (session 20); a reader that raises leaves the row whole, with
    no tokens and the request's own figures, and logs the request id (a bug, never the event lost)."""

    def broken() -> Usage:
        raise KeyError("usage")

    call = Call(registry.ENDPOINTS["/v1/chat/completions"], "req_broken", {}, 0.0, 1.0, model="gpt-4o-mini")
    att = Attempt(Route("openai", "gpt-4o-mini"), "openai_chat", False, answered=True, status=200)
    att.read_usage = broken
    call.attempts.append(att)
    call.answer(200)
    with caplog.at_level("ERROR"):
        row = row_for(call, Pricer(), 2.0, 3.0)
    assert row[FIELD_NAMES.index("request_id")] == "req_broken"
    assert row[FIELD_NAMES.index("status")] == 200
    assert [row[FIELD_NAMES.index(f)] for f in ("input_tokens", "output_tokens", "cache_read_tokens")] == [
        0,
        0,
        0,
    ]
    assert "req_broken" in caplog.text
