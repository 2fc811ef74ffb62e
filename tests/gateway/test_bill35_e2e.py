"""Session 35 (bill35) end to end: the ledger row of a request whose failed attempts their providers billed.

bug34a saw two billing edges in ``calls.row_for`` (no case built):

- (a) a failed attempt's cache writes reported without a TTL split were priced before the rule "every breakpoint
  of the request asked ``ttl: "1h"``: they are 1-hour writes" (``_prompt_cache.writes_all_1h``), so at the 5-minute
  rate, while the row's ``cache_write_1h_tokens`` said 1 hour;
- (b) with several billed failed attempts on the row's provider and none answering, the row's token columns were
  their input and output tokens only (cache reads and writes 0), while its cost included them.

Each case checks every token column of the row, the 5m/1h split, its cost to the micro-dollar against the price
data (genai-prices' rates for Claude Haiku 4.5, the catalog's for the fallback pair) computed by hand here, its
status and its attempts. Real gateway and recorder processes, the scripted upstream speaking Anthropic's and
OpenAI's wire formats, the official SDKs as clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from tests.e2e_builders import DEAR, HI, catalog, catalog_gw, chat_stream, provider, scripted_gw
from tests.e2e_builders import frame as _frame
from tests.pgserver import PgServer
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

pytestmark = pytest.mark.usefixtures("fresh_up")

MODEL = "claude-haiku-4-5"
ANTHROPIC = "/anthropic/v1/messages"
claude = scripted_gw("bill35-claude", {"anthropic": "/anthropic"}, BREAKER_FAILURES="1000", MAX_ATTEMPTS="2")


@pytest.fixture(scope="module")
def claude_pg(
    scripted_stack: Callable[..., AbstractContextManager[Stack]], pg_server: PgServer
) -> Iterator[Stack]:
    """``claude``'s stack with its ledger in PostgreSQL (a private cluster, ``tests/pgserver.py``)."""
    name = pg_server.create_database()
    try:
        env = {"DATABASE_URL": pg_server.url(name), "BREAKER_FAILURES": "1000", "MAX_ATTEMPTS": "2"}
        with scripted_stack("bill35-claude-pg", {"anthropic": "/anthropic"}, **env) as st:
            assert st.ledger.startswith("postgresql://")
            yield st
    finally:
        pg_server.drop_database(name)


# genai-prices' own figures for the model (USD per million tokens), read from its data, not from the gateway's
_PRICE = calc_price(PriceUsage(input_tokens=1), model_ref=MODEL, provider_id="anthropic").model_price
IN, OUT = float(_PRICE.input_mtok or 0), float(_PRICE.output_mtok or 0)
READ, WRITE_5M, WRITE_1H = (
    float(_PRICE.cache_read_mtok or 0),
    float(_PRICE.cache_write_mtok or 0),
    float(_PRICE.cache_write_1h_mtok or 0),
)


def _event(name: str, obj: object) -> bytes:
    return f"event: {name}\n".encode() + _frame(obj)


def _said_then_failed(usage: dict[str, Any], error: str = "overloaded_error") -> list[bytes]:
    """An Anthropic stream that says its usage (``message_start``) and then fails before any token."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_bill35",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage,
        },
    }
    failure = {"type": "error", "error": {"type": error, "message": "try later"}}
    return [_event("message_start", start), _event("error", failure)]


def _claude_stream(gw: Stack, rid: str, ttl: str | None) -> None:
    """A streamed Anthropic request whose system prompt carries one cache breakpoint (``ttl``: its TTL, None: the
    default 5 minutes); the stream must end in an error."""
    marker: dict[str, Any] = {"type": "ephemeral", **({"ttl": ttl} if ttl else {})}
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0, timeout=30) as client:
        with pytest.raises(anthropic.APIError):
            with client.messages.stream(
                model=MODEL,
                max_tokens=64,
                system=[{"type": "text", "text": "You are terse. " * 200, "cache_control": marker}],  # type: ignore[list-item]
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"x-request-id": rid},
            ) as stream:
                for _ in stream:
                    pass


def _buckets(billed: dict[str, Any]) -> tuple[int, ...]:
    """A billed failed attempt's token buckets, in ``_columns``' order (0 where its entry lacks one)."""
    names = (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
    )
    return (*(billed.get(n, 0) for n in names), billed.get("reasoning_tokens", 0))


def _columns(row: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    return (
        row["input_tokens"],
        row["output_tokens"],
        row["cache_read_tokens"],
        row["cache_write_tokens"],
        row["cache_write_1h_tokens"],
        row["reasoning_tokens"],
    )


# a prompt of 25 fresh tokens, 300 read from the cache and 1000 written to it (no TTL split said), 1 output token
UNSPLIT = {
    "input_tokens": 25,
    "cache_read_input_tokens": 300,
    "cache_creation_input_tokens": 1000,
    "output_tokens": 1,
}


@pytest.mark.parametrize(("ttl", "write_rate"), [("1h", WRITE_1H), (None, WRITE_5M)], ids=["1h", "5m"])
def test_a_failed_attempts_unsplit_cache_writes_are_priced_at_the_ttl_the_request_asked(
    claude: Stack, up: ScriptedUpstream, ttl: str | None, write_rate: float
) -> None:
    """Edge (a): one billed failed attempt, no route left. Before: the row said 1000 1-hour writes but cost them at
    the 5-minute rate (1.25 against 2 USD per million)."""
    up.script(ANTHROPIC, sse(_said_then_failed(UNSPLIT, "invalid_request_error")))
    rid = f"bill35-a-{ttl}"
    _claude_stream(claude, rid, ttl)
    row = claude.row_for(rid)
    assert (row["provider"], row["attempts"], row["status"] >= 400) == ("anthropic", 1, True)
    assert _columns(row) == (25, 1, 300, 1000, 1000 if ttl else 0, 0)
    want = (25 * IN + 1 * OUT + 300 * READ + 1000 * write_rate) / 1e6
    assert round(row["cost_usd"], 6) == round(want, 6) and row["cost_usd"] == pytest.approx(want)
    (billed,) = json.loads(row["failed_attempts"])
    assert billed["provider"] == "anthropic" and _buckets(billed) == _columns(row)
    assert billed["cost_usd"] == pytest.approx(want)


@pytest.mark.parametrize("ledger", ["claude", "claude_pg"], ids=["sqlite", "postgresql"])
def test_several_billed_attempts_on_one_provider_keep_every_bucket_on_the_row(
    request: pytest.FixtureRequest, up: ScriptedUpstream, ledger: str
) -> None:
    """Edge (b), with (a): a rate-limited stream after its usage, retried on the same provider once its short
    ``retry-after-ms`` is over (the limit retry), and cut again; no route left. Before: the row's cache read and
    write columns were 0 while its cost included both attempts' cache tokens; the PostgreSQL ledger the same."""
    first = {**UNSPLIT, "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000}}
    second = {
        **UNSPLIT,
        "input_tokens": 40,
        "cache_read_input_tokens": 1300,
        "cache_creation_input_tokens": 0,
    }
    for usage in (first, second):
        up.script(
            ANTHROPIC, sse(_said_then_failed(usage, "rate_limit_error"), headers={"retry-after-ms": "50"})
        )
    claude: Stack = request.getfixturevalue(ledger)
    rid = f"bill35-b-retried-{ledger}"
    _claude_stream(claude, rid, "1h")
    row = claude.row_for(rid)
    assert (row["provider"], row["attempts"], row["status"]) == ("anthropic", 2, 429)
    assert _columns(row) == (25 + 40, 2, 300 + 1300, 1000, 1000, 0)
    first_cost = (25 * IN + OUT + 300 * READ + 1000 * WRITE_1H) / 1e6
    second_cost = (40 * IN + OUT + 1300 * READ) / 1e6
    assert row["cost_usd"] == pytest.approx(first_cost + second_cost)
    assert round(row["cost_usd"], 6) == round(first_cost + second_cost, 6)
    got = [(f["provider"], f["status"], _buckets(f)) for f in json.loads(row["failed_attempts"])]
    assert got == [
        ("anthropic", 429, (25, 1, 300, 1000, 1000, 0)),
        ("anthropic", 429, (40, 1, 1300, 0, 0, 0)),
    ]


FALLBACK = catalog(
    provider("cheap", MODEL, price=(0.8, 4.0)),
    provider("dear", MODEL, price=(1.0, 5.0)),
)
pair = catalog_gw("bill35-pair", FALLBACK, BREAKER_FAILURES="1000")
CHEAP_CHAT = "/cheap/v1/chat/completions"
# OpenRouter's chat usage: cache writes without their TTL split (``prompt_tokens_details.cache_write_tokens``)
CHAT_WRITES = {
    "prompt_tokens": 1325,
    "completion_tokens": 1,
    "total_tokens": 1326,
    "prompt_tokens_details": {"cached_tokens": 300, "cache_write_tokens": 1000},
}
OVERLOADED = {"error": {"message": "The server is overloaded", "type": "server_error", "code": "overloaded"}}


def test_a_fallback_after_a_billed_cut_prices_its_writes_at_the_ttl_the_request_asked(
    pair: Stack, up: ScriptedUpstream
) -> None:
    """Edge (a) across providers: cheap says its usage (1000 cache writes, no split) and fails; dear answers. The
    row's token columns are dear's answer; its cost adds cheap's, whose writes every 1h breakpoint made 1-hour
    ones (a Claude catalog price: Anthropic's multiples, 2x input). Before: 1.25x."""
    head = {"id": "c35", "object": "chat.completion.chunk", "model": MODEL}
    up.script(CHEAP_CHAT, sse([_frame({**head, "choices": [], "usage": CHAT_WRITES}), _frame(OVERLOADED)]))
    up.script(
        DEAR,
        sse(
            chat_stream(
                "Hi.",
                ident="c35",
                model=MODEL,
                usage={"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
            )
        ),
    )
    marked = [
        {
            "role": "system",
            "content": [
                {"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral", "ttl": "1h"}}
            ],
        },
        *HI,
    ]
    text = ""
    with openai.OpenAI(base_url=pair.gateway_url + "/v1", api_key="k", max_retries=0, timeout=30) as client:
        for part in client.chat.completions.create(
            model=MODEL,
            messages=marked,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
            extra_headers={"x-request-id": "bill35-a-fallback"},
        ):
            if part.choices and part.choices[0].delta.content:
                text += part.choices[0].delta.content
    assert text == "Hi."
    row = pair.row_for("bill35-a-fallback")
    assert (row["provider"], row["attempts"], row["status"]) == ("dear", 2, 200)
    assert _columns(row) == (12, 3, 0, 0, 0, 0)
    cheap = (25 * 0.8 + 1 * 4.0 + 300 * 0.8 * 0.1 + 1000 * 0.8 * 2) / 1e6
    dear = (12 * 1.0 + 3 * 5.0) / 1e6
    assert row["cost_usd"] == pytest.approx(cheap + dear)
    assert round(row["cost_usd"], 6) == round(cheap + dear, 6)
    (billed,) = json.loads(row["failed_attempts"])
    assert (billed["provider"], billed["input_tokens"], billed["output_tokens"]) == ("cheap", 25, 1)
    assert billed["cost_usd"] == pytest.approx(cheap)
    # every bucket cheap billed is in the ledger, not only in the cost (before: input and output only)
    assert _buckets(billed) == (25, 1, 300, 1000, 1000, 0)
