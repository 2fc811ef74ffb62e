"""The golden cost table: for each provider and each billed token class, one request whose exact cost was
worked out by hand from the provider's published prices, sent through the real gateway app (in-process,
scripted upstream) from every client format that reaches that provider, streamed and not, and asserted to
the micro-dollar in the ledger event.

Published prices used (USD per million tokens unless said otherwise; the same figures genai-prices ships):
- Anthropic claude-sonnet-4-5: input 3, output 15, cache read 0.30, 5-minute cache write 3.75 (1.25×),
  1-hour cache write 6 (2×), web search $10 per 1,000; prompts over 200k tokens: 6 / 22.50 / 0.60 / 7.50 / 12.
  claude-haiku-4-5: input 1, output 5.
- OpenAI gpt-4o: input 2.50, cached input 1.25, output 10, web search $10 per 1,000 calls.
  gpt-5: input 1.25, cached input 0.125, output 10 (reasoning tokens are output tokens).
- xAI grok-3-mini: input 0.30, cached input 0.075, output 0.50 (reasoning billed as output).
- OpenRouter anthropic/claude-sonnet-4.5: Anthropic's prices; OpenRouter's own ``usage.cost`` is what the
  account is charged, plus ``cost_details.upstream_inference_cost`` for BYOK requests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from tests.gateway.inproc import InProcGateway, anthropic_answer, chat_answer, responses_answer
from tests.usage_samples import bugcase_28_usage

CLIENT_PATHS = {
    "anthropic": "/v1/messages",
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
}
# The wire each client format reaches each provider on (the client's own when the provider speaks it).
WIRE = {
    "anthropic": {"anthropic": "anthropic", "openai_chat": "anthropic", "openai_responses": "anthropic"},
    "openai": {
        "anthropic": "openai_chat",
        "openai_chat": "openai_chat",
        "openai_responses": "openai_responses",
    },
    "xai": {"anthropic": "openai_chat", "openai_chat": "openai_chat", "openai_responses": "openai_chat"},
    "openrouter": {
        "anthropic": "openai_chat",
        "openai_chat": "openai_chat",
        "openai_responses": "openai_chat",
    },
}


@dataclass(frozen=True)
class Row:
    name: str
    provider: str
    model: str  # what the client asks for
    usage: dict[str, dict[str, Any]]  # wire → the upstream's usage object on that wire
    cost: float  # worked out by hand (see each row)
    tokens: tuple[int, int, int, int]  # ledger (input, output, cache read, cache write)
    extra: dict[str, int] = field(default_factory=dict)  # other ledger columns to check
    clients: tuple[str, ...] = ("anthropic", "openai_chat", "openai_responses")
    responses_output: tuple[dict[str, Any], ...] = ()


def chat(prompt: int, completion: int, cached: int = 0, reasoning: int = 0, **more: Any) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
        **more,
    }


def responses(prompt: int, output: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + output,
    }


ROWS = [
    # ---- Anthropic: claude-sonnet-4-5 -------------------------------------------------------------------
    # 1000 × $3 + 500 × $15 = 3000 + 7500 µ$ = $0.0105
    Row(
        "anthropic input+output",
        "anthropic",
        "claude-sonnet-4-5",
        {"anthropic": {"input_tokens": 1000, "output_tokens": 500}},
        0.0105,
        (1000, 500, 0, 0),
    ),
    # 10 × $3 + 20,000 × $0.30 + 100 × $15 = 30 + 6000 + 1500 µ$ = $0.00753
    Row(
        "anthropic cache read",
        "anthropic",
        "claude-sonnet-4-5",
        {"anthropic": {"input_tokens": 10, "cache_read_input_tokens": 20000, "output_tokens": 100}},
        0.00753,
        (10, 100, 20000, 0),
    ),
    # 10 × $3 + 4000 × $3.75 + 100 × $15 = 30 + 15000 + 1500 µ$ = $0.01653
    Row(
        "anthropic 5-minute cache write",
        "anthropic",
        "claude-sonnet-4-5",
        {
            "anthropic": {
                "input_tokens": 10,
                "cache_creation_input_tokens": 4000,
                "output_tokens": 100,
                "cache_creation": {"ephemeral_5m_input_tokens": 4000, "ephemeral_1h_input_tokens": 0},
            }
        },
        0.01653,
        (10, 100, 0, 4000),
        {"cache_write_1h_tokens": 0},
    ),
    # bug case 06: 3 × $3 + 5424 × $6 + 40 × $15 = 9 + 32544 + 600 µ$ = $0.033153
    Row(
        "anthropic 1-hour cache write (case 06)",
        "anthropic",
        "claude-sonnet-4-5",
        {
            "anthropic": {
                "input_tokens": 3,
                "cache_creation_input_tokens": 5424,
                "cache_read_input_tokens": 0,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 5424},
                "output_tokens": 40,
            }
        },
        0.033153,
        (3, 40, 0, 5424),
        {"cache_write_1h_tokens": 5424},
    ),
    # mixed TTLs: 1000 × $3.75 + 2000 × $6 = 3750 + 12000 µ$, + 20 × $3 + 10 × $15 = 60 + 150 → $0.01596
    Row(
        "anthropic 5-minute and 1-hour writes",
        "anthropic",
        "claude-sonnet-4-5",
        {
            "anthropic": {
                "input_tokens": 20,
                "cache_creation_input_tokens": 3000,
                "output_tokens": 10,
                "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
            }
        },
        0.01596,
        (20, 10, 0, 3000),
        {"cache_write_1h_tokens": 2000},
    ),
    # 100 × $3 + 200 × $15 = 300 + 3000 µ$, + 3 searches × $0.01 = $0.03 → $0.0333
    Row(
        "anthropic web search",
        "anthropic",
        "claude-sonnet-4-5",
        {
            "anthropic": {
                "input_tokens": 100,
                "output_tokens": 200,
                "server_tool_use": {"web_search_requests": 3},
            }
        },
        0.0333,
        (100, 200, 0, 0),
        {"web_search_requests": 3},
    ),
    # long context: the prompt is 150,000 + 60,000 = 210,000 > 200,000, so every token takes the tier price:
    # 150,000 × $6 + 60,000 × $0.60 + 1000 × $22.50 = 900,000 + 36,000 + 22,500 µ$ = $0.9585
    Row(
        "anthropic long-context tier",
        "anthropic",
        "claude-sonnet-4-5",
        {"anthropic": {"input_tokens": 150000, "cache_read_input_tokens": 60000, "output_tokens": 1000}},
        0.9585,
        (150000, 1000, 60000, 0),
    ),
    # Sonnet 4 (1M beta) past 200K by its 1-hour writes (bug29c variant 06-sonnet4-long-context-1h-chat-stream-vB):
    # the long-context step genai-prices lists for Sonnet 4.5 only (Anthropic's pricing page, "Long context pricing")
    # 5000 × $6 + 196,000 × $12 + 100 × $22.50 = 30,000 + 2,352,000 + 2,250 µ$ = $2.38425
    Row(
        "anthropic sonnet 4 long-context tier, 1h writes",
        "anthropic",
        "claude-sonnet-4-20250514",
        {
            "anthropic": {
                "input_tokens": 5000,
                "cache_creation_input_tokens": 196000,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 196000},
                "output_tokens": 100,
            }
        },
        2.38425,
        (5000, 100, 0, 196000),
        {"cache_write_1h_tokens": 196000},
    ),
    # bug case 28, compaction: iterations (150 in, 40,000 5-minute writes, 120 out) + (210 in, 7 out):
    # 360 × $3 + 40,000 × $3.75 + 127 × $15 = 1080 + 150,000 + 1905 µ$ = $0.152985
    Row(
        "anthropic compaction iterations (case 28)",
        "anthropic",
        "claude-sonnet-4-5",
        {"anthropic": bugcase_28_usage()},
        0.152985,
        (360, 127, 0, 40000),
    ),
    # an iteration on another model: haiku 4.5 (1000 × $1 + 200 × $5 = 2000 µ$) then sonnet 4.5
    # (500 × $3 + 100 × $15 = 3000 µ$) → $0.005
    Row(
        "anthropic iteration on another model",
        "anthropic",
        "claude-sonnet-4-5",
        {
            "anthropic": {
                "input_tokens": 500,
                "output_tokens": 100,
                "iterations": [
                    {
                        "type": "compaction",
                        "model": "claude-haiku-4-5",
                        "input_tokens": 1000,
                        "output_tokens": 200,
                    },
                    {"type": "message", "input_tokens": 500, "output_tokens": 100},
                ],
            }
        },
        0.005,
        (1500, 300, 0, 0),
    ),
    # ---- OpenAI --------------------------------------------------------------------------------------
    # gpt-4o: 1000 × $2.50 + 500 × $10 = 2500 + 5000 µ$ = $0.0075
    Row(
        "openai input+output",
        "openai",
        "gpt-4o",
        {"openai_chat": chat(1000, 500), "openai_responses": responses(1000, 500)},
        0.0075,
        (1000, 500, 0, 0),
    ),
    # gpt-4o, 3000-token prompt of which 2048 cached: 952 × $2.50 + 2048 × $1.25 + 100 × $10
    # = 2380 + 2560 + 1000 µ$ = $0.00594
    Row(
        "openai cached input",
        "openai",
        "gpt-4o",
        {"openai_chat": chat(3000, 100, cached=2048), "openai_responses": responses(3000, 100, cached=2048)},
        0.00594,
        (952, 100, 2048, 0),
    ),
    # gpt-5, reasoning inside completion_tokens (OpenAI's convention): 100 × $1.25 + 300 × $10 = 125 + 3000 µ$
    Row(
        "openai reasoning",
        "openai",
        "gpt-5",
        {
            "openai_chat": chat(100, 300, reasoning=200),
            "openai_responses": responses(100, 300, reasoning=200),
        },
        0.003125,
        (100, 300, 0, 0),
        {"reasoning_tokens": 200},
    ),
    # gpt-4o over Responses with two web_search_call items: 100 × $2.50 + 50 × $10 = 250 + 500 µ$,
    # + 2 × $0.01 → $0.02075
    Row(
        "openai web search (Responses)",
        "openai",
        "gpt-4o",
        {"openai_responses": responses(100, 50)},
        0.02075,
        (100, 50, 0, 0),
        {"web_search_requests": 2},
        clients=("openai_responses",),
        responses_output=(
            {
                "type": "web_search_call",
                "id": "ws_1",
                "status": "completed",
                "action": {"type": "search", "query": "a"},
            },
            {
                "type": "web_search_call",
                "id": "ws_2",
                "status": "completed",
                "action": {"type": "search", "query": "b"},
            },
        ),
    ),
    # gpt-4o over Responses with two file_search_call items (s20 variants 28-a, 28-b: the calls were left out):
    # 100 × $2.50 + 50 × $10 = 250 + 500 µ$, + 2 × $0.0025 (OpenAI pricing, "Built-in tools") → $0.00575
    Row(
        "openai file search (Responses)",
        "openai",
        "gpt-4o",
        {"openai_responses": responses(100, 50)},
        0.00575,
        (100, 50, 0, 0),
        {},
        clients=("openai_responses",),
        responses_output=(
            {
                "type": "file_search_call",
                "id": "fs_1",
                "status": "completed",
                "queries": ["a"],
                "results": None,
            },
            {
                "type": "file_search_call",
                "id": "fs_2",
                "status": "completed",
                "queries": ["b"],
                "results": None,
            },
        ),
    ),
    # ---- xAI: grok-3-mini, reasoning outside completion_tokens ----------------------------------------
    # bug case 29: output = 60 + 200 = 260; 40 × $0.30 + 260 × $0.50 = 12 + 130 µ$ = $0.000142
    Row(
        "xai reasoning outside completion (case 29)",
        "xai",
        "grok-3-mini",
        {"openai_chat": chat(40, 60, reasoning=200) | {"total_tokens": 300}},
        0.000142,
        (40, 260, 0, 0),
        {"reasoning_tokens": 200},
    ),
    # 1000-token prompt, 800 cached; 10 + 90 reasoning out: 200 × $0.30 + 800 × $0.075 + 100 × $0.50
    # = 60 + 60 + 50 µ$ = $0.00017
    Row(
        "xai cached input",
        "xai",
        "grok-3-mini",
        # xAI's total_tokens includes the reasoning (docs.x.ai, "Reasoning"): 1000 + 10 + 90
        {"openai_chat": chat(1000, 10, cached=800, reasoning=90, total_tokens=1100)},
        0.00017,
        (200, 100, 800, 0),
    ),
    # Gemini's thinking relayed on the chat wire with only the visible answer in completion_tokens and no reasoning
    # count: the total holds 200 more (s18 variant 29-f; mozilla-ai/any-llm#1291); they are output:
    # 40 × $0.30 + 260 × $2.50 = 12 + 650 µ$ = $0.000662
    Row(
        "thoughts only in total_tokens (s18 29-f)",
        "openrouter",
        "google/gemini-2.5-flash",
        # no reasoning count at all, as the relay sent it (any-llm#1291): a stated 0 would say no thoughts (bugd21)
        {"openai_chat": {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 300}},
        0.000662,
        (40, 260, 0, 0),
        {"reasoning_tokens": 200},
    ),
    # Gemini grounding a thinking-free answer on the chat wire: reasoning stated 0, the total holds 500 tool-use prompt
    # tokens beside prompt and completion (bugd21 variant 29-f): no hidden thoughts, never output (before: 560 output
    # tokens, $0.001412): 40 × $0.30 + 60 × $2.50 = 12 + 150 µ$ = $0.000162
    Row(
        "grounding tokens in total_tokens, reasoning stated 0 (bugd21 29-f)",
        "openrouter",
        "google/gemini-2.5-flash",
        {"openai_chat": chat(40, 60, total_tokens=600)},
        0.000162,
        (40, 60, 0, 0),
    ),
    # Anthropic fast mode (``usage.speed: "fast"``): Opus 4.6 at 6× every category ($30 / $150, fast-mode
    # docs): 1000 × $30 + 100 × $150 = 45,000 µ$ (the standard price would be 7,500 µ$)
    Row(
        "anthropic fast mode",
        "anthropic",
        "claude-opus-4-6",
        {"anthropic": {"input_tokens": 1000, "output_tokens": 100, "speed": "fast"}},
        0.045,
        (1000, 100, 0, 0),
    ),
    # gpt-audio's audio tokens (parts of prompt_tokens and completion_tokens) at its audio rates ($32 / $64,
    # text $2.50 / $10): 400 × $2.50 + 600 × $32 + 100 × $10 + 400 × $64 = 1000 + 19,200 + 1000 + 25,600 µ$
    Row(
        "openai audio tokens",
        "openai",
        "gpt-audio",
        {
            "openai_chat": chat(
                1000,
                500,
                prompt_tokens_details={"cached_tokens": 0, "audio_tokens": 600},
                completion_tokens_details={"reasoning_tokens": 0, "audio_tokens": 400},
            )
        },
        0.0468,
        (1000, 500, 0, 0),
        clients=("anthropic", "openai_chat"),
    ),
    # ---- OpenRouter: anthropic/claude-sonnet-4.5 ------------------------------------------------------
    # no cost reported: priced from tokens: 1000 × $3 + 10,000 × $0.30 + 100 × $15 = 3000 + 3000 + 1500 µ$
    Row(
        "openrouter priced from tokens",
        "openrouter",
        "claude-sonnet-4-5",
        {"openai_chat": chat(11000, 100, cached=10000)},
        0.0075,
        (1000, 100, 10000, 0),
    ),
    # s10 variant 29-d: x-ai/grok-3-mini, missing from the OpenRouter price data, is priced as xAI's model
    # (OpenRouter passes the vendor's list price through); OpenRouter's counts are OpenAI's convention
    # (reasoning inside completion_tokens: 260 = 60 + 200, total 300): 40 × $0.30 + 260 × $0.50 = 142 µ$.
    # Before: the route's vendor price was ignored when costing, so the ledger had no cost at all.
    Row(
        "openrouter xai priced as the vendor's",
        "openrouter",
        "x-ai/grok-3-mini",
        {"openai_chat": chat(40, 260, reasoning=200)},
        0.000142,
        (40, 260, 0, 0),
        {"reasoning_tokens": 200},
    ),
    # OpenRouter sells fast mode as its own model id, listed at $30 / $150 (no fast multiple on top):
    # 1000 × $30 + 100 × $150 = 45,000 µ$
    Row(
        "openrouter fast model id",
        "openrouter",
        "anthropic/claude-opus-4.6-fast",
        {"openai_chat": chat(1000, 100)},
        0.045,
        (1000, 100, 0, 0),
    ),
    # usage.cost is what the account is charged: $0.0123 whatever the tokens say
    Row(
        "openrouter reported cost",
        "openrouter",
        "claude-sonnet-4-5",
        {"openai_chat": chat(1000, 100, cost=0.0123)},
        0.0123,
        (1000, 100, 0, 0),
    ),
    # Claude's usage as a LiteLLM release relays it (its calculate_usage: prompt_tokens = input 40 + reads 300,
    # the writes outside, named only at the top): 40 × $3 + 300 × $0.30 + 2000 × $3.75 + 100 × $15
    # = 120 + 90 + 7500 + 1500 µ$ = $0.00921 (the uncached input was 0: $0.00909)
    Row(
        "relayed claude writes outside prompt_tokens",
        "openrouter",
        "claude-sonnet-4-5",
        {"openai_chat": chat(340, 100, cache_creation_input_tokens=2000, cache_read_input_tokens=300)},
        0.00921,
        (40, 100, 300, 2000),
    ),
    # Claude's web searches as LiteLLM's proxy relays them on the chat wire (its Usage.server_tool_use, Anthropic's
    # object beside the OpenAI counts; s18 variant 28-e): counted (were 0). 1000 × $3 + 200 × $15 = 3000 + 3000 µ$;
    # OpenRouter's listing has no per-search price, so the searches add nothing here (a catalog provider serving
    # claude-sonnet-4-5 prices them at Anthropic's $0.01: the variant's $0.026)
    Row(
        "relayed claude web searches",
        "openrouter",
        "claude-sonnet-4-5",
        {"openai_chat": chat(1000, 200, server_tool_use={"web_search_requests": 2})},
        0.006,
        (1000, 200, 0, 0),
        {"web_search_requests": 2},
    ),
    # BYOK: OpenRouter's 5% fee ($0.00025) plus the upstream's own charge ($0.005) → $0.00525
    Row(
        "openrouter BYOK cost",
        "openrouter",
        "claude-sonnet-4-5",
        {
            "openai_chat": chat(
                1000, 100, cost=0.00025, is_byok=True, cost_details={"upstream_inference_cost": 0.005}
            )
        },
        0.00525,
        (1000, 100, 0, 0),
    ),
]


def request(client: str, model: str, stream: bool) -> dict[str, Any]:
    if client == "anthropic":
        return {
            "model": model,
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": stream,
        }
    if client == "openai_chat":
        return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return {"model": model, "input": "hi", "stream": stream}


def upstream(row: Row, wire: str, stream: bool) -> dict[str, Any] | bytes:
    usage = row.usage[wire]
    if wire == "anthropic":
        return anthropic_answer(usage, stream=stream)
    if wire == "openai_chat":
        return chat_answer(usage, stream=stream)
    return responses_answer(usage, stream=stream, extra_output=list(row.responses_output))


CASES = [
    pytest.param(row, client, stream, id=f"{row.name} | {client} | {'stream' if stream else 'whole'}")
    for row in ROWS
    for client in row.clients
    if WIRE[row.provider][client] in row.usage
    for stream in (False, True)
]


@pytest.mark.parametrize(("row", "client", "stream"), CASES)
async def test_golden_cost(row: Row, client: str, stream: bool) -> None:
    wire = WIRE[row.provider][client]
    async with InProcGateway([row.provider]) as gw:
        gw.answer(upstream(row, wire, stream))
        status, raw = await gw.post(CLIENT_PATHS[client], request(client, row.model, stream))
        assert status == 200, raw[:300]
        ev = gw.last_event
    assert (ev.provider, ev.translated) == (row.provider, wire != client)
    assert (ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, ev.cache_write_tokens) == row.tokens
    for column, value in row.extra.items():
        assert getattr(ev, column) == value, column
    assert ev.cost_usd is not None and abs(ev.cost_usd - row.cost) < 1e-9, (ev.cost_usd, row.cost)


def test_the_table_covers_every_provider_and_every_client_format() -> None:
    """Each provider is in the table, each client format that reaches it is exercised, translated and not."""
    seen = {
        (r.provider, c, WIRE[r.provider][c] != c)
        for r in ROWS
        for c in r.clients
        if WIRE[r.provider][c] in r.usage
    }
    assert {p for p, _, _ in seen} == set(WIRE)
    assert {(p, t) for p, _, t in seen} >= {(p, True) for p in WIRE} | {
        ("anthropic", False),
        ("openai", False),
        ("xai", False),
        ("openrouter", False),
    }


# ---- what a translated client is told --------------------------------------------------------------


async def test_case_28_openai_client_is_told_the_billed_totals() -> None:
    row = next(r for r in ROWS if "case 28" in r.name)
    async with InProcGateway(["anthropic"]) as gw:
        gw.answer(upstream(row, "anthropic", False))
        _, raw = await gw.post("/v1/chat/completions", request("openai_chat", row.model, False))
    usage = orjson.loads(raw)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (40360, 127)


@pytest.mark.parametrize("stream", [False, True])
async def test_case_29_anthropic_client_is_told_reasoning_as_output(stream: bool) -> None:
    row = next(r for r in ROWS if "case 29" in r.name)
    async with InProcGateway(["xai"]) as gw:
        gw.answer(upstream(row, "openai_chat", stream))
        _, raw = await gw.post("/v1/messages", request("anthropic", row.model, stream))
    if stream:
        deltas = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: ")]
        usage = next(d["usage"] for d in deltas if d.get("type") == "message_delta")
    else:
        usage = orjson.loads(raw)["usage"]
    assert usage["output_tokens"] == 260


async def test_openai_client_of_xai_passthrough_keeps_the_providers_bytes_but_the_ledger_counts_reasoning() -> (
    None
):
    row = next(r for r in ROWS if "case 29" in r.name)
    async with InProcGateway(["xai"]) as gw:
        gw.answer(upstream(row, "openai_chat", False))
        _, raw = await gw.post("/v1/chat/completions", request("openai_chat", row.model, False))
        ev = gw.last_event
    assert (
        orjson.loads(raw)["usage"]["completion_tokens"] == 60
    )  # the same API: the answer goes back untouched
    assert ev.output_tokens == 260


@pytest.mark.parametrize(
    ("name", "savings"),
    [
        # uncached: (10 + 20,000) × $3 + 100 × $15 = 61,530 µ$; cost 7,530 µ$ → saved $0.054
        ("anthropic cache read", 0.054),
        # uncached: (3 + 5424) × $3 + 40 × $15 = 16,881 µ$; cost 33,153 µ$ → the 1-hour writes cost $0.016272 more
        ("anthropic 1-hour cache write (case 06)", -0.016272),
        # gpt-4o: uncached 3000 × $2.50 + 1000 = 8500 µ$; cost 5940 µ$ → saved $0.00256
        ("openai cached input", 0.00256),
        # nothing cached: nothing saved
        ("openai input+output", 0.0),
        # OpenRouter reports its cost; the saving still comes from the rates: 10,000 × ($3 - $0.30) = $0.027
        ("openrouter priced from tokens", 0.027),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_cache_savings_per_row(name: str, savings: float, stream: bool) -> None:
    row = next(r for r in ROWS if r.name == name)
    client = "openai_chat" if row.provider != "anthropic" else "anthropic"
    async with InProcGateway([row.provider]) as gw:
        gw.answer(upstream(row, WIRE[row.provider][client], stream))
        await gw.post(CLIENT_PATHS[client], request(client, row.model, stream))
        ev = gw.last_event
    assert ev.cache_savings_usd is not None and abs(ev.cache_savings_usd - savings) < 1e-9, (
        ev.cache_savings_usd
    )
