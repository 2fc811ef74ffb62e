"""Billed usage outside the top-level counters, and each provider's own usage convention (issue 10, cases
28 and 29 and the other instances of their kinds)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.gateway.dialects.anthropic import MessagesStreamDecoder, usage_from_anthropic
from services.gateway.dialects.ir import Iteration, Usage, UsageUpdate
from services.gateway.dialects.openai_chat import usage_from_openai
from services.gateway.dialects.openai_responses import billed_usage
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.openai_compat import (
    OpenAICompatProvider,
    OpenAIProvider,
    OpenRouterProvider,
    XAIProvider,
)
from shared.sse import SSEEvent
from tests.usage_samples import bugcase_28_usage

COMPACTION = bugcase_28_usage()


# ---- Anthropic: iterations, server tools, cache-write TTLs ------------------------------------------


def test_iterations_are_summed_case_28() -> None:
    u = usage_from_anthropic(COMPACTION)
    assert (u.input_tokens, u.cache_write_tokens, u.output_tokens, u.cache_read_tokens) == (
        360,
        40000,
        127,
        0,
    )
    assert [it.usage.output_tokens for it in u.iterations] == [120, 7]
    assert all(it.model is None for it in u.iterations)


def test_an_iteration_on_another_model_keeps_its_model() -> None:
    u = usage_from_anthropic(
        {
            "input_tokens": 5,
            "output_tokens": 1,
            "iterations": [
                {"type": "advisor", "model": "claude-opus-4-8", "input_tokens": 100, "output_tokens": 10},
                {"type": "message", "input_tokens": 5, "output_tokens": 1},
            ],
        }
    )
    assert u.iterations[0] == Iteration(Usage(input_tokens=100, output_tokens=10), model="claude-opus-4-8")
    assert (u.input_tokens, u.output_tokens) == (105, 11)


def test_server_tool_use_web_searches_are_counted() -> None:
    u = usage_from_anthropic(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "server_tool_use": {"web_search_requests": 4, "web_fetch_requests": 2},
        }
    )
    assert u.web_search_requests == 4


@pytest.mark.parametrize(
    ("tools", "searches"),
    [
        ({"web_search_requests": 2}, 2),
        ({"web_search_requests": 2, "tool_search_requests": 1}, 2),
        ({"web_search_requests": None}, 0),
        ({"web_search_requests": True}, 0),
        ({"web_search_requests": -1}, 0),
        (None, 0),
        ("2", 0),
    ],
)
def test_chat_usage_server_tool_use_web_searches_are_counted(tools: Any, searches: int) -> None:
    """s18 variant 28-e: Claude behind LiteLLM's proxy (chat wire) reports its web searches as Anthropic does,
    ``usage.server_tool_use.web_search_requests`` (LiteLLM's ``Usage.server_tool_use``); they are billed per
    search, and were not counted."""
    u = usage_from_openai({"prompt_tokens": 1000, "completion_tokens": 200, "server_tool_use": tools})
    assert u.web_search_requests == searches
    assert (u.input_tokens, u.output_tokens) == (1000, 200)


@pytest.mark.parametrize(
    ("usage", "searches"),
    [
        # Gemini's grounding searches as LiteLLM's proxy relays them (PromptTokensDetailsWrapper.web_search_requests)
        ({"prompt_tokens_details": {"cached_tokens": 0, "text_tokens": 1000, "web_search_requests": 1}}, 1),
        # Claude's, only there (no server_tool_use object)
        ({"prompt_tokens_details": {"cached_tokens": 0, "web_search_requests": 2}}, 2),
        # one count in both places (LiteLLM fills both for Claude): not added together
        (
            {
                "prompt_tokens_details": {"cached_tokens": 0, "web_search_requests": 2},
                "server_tool_use": {"web_search_requests": 2},
            },
            2,
        ),
        ({"prompt_tokens_details": {"web_search_requests": None}}, 0),
        ({"prompt_tokens_details": {"web_search_requests": "3"}}, 0),
    ],
)
def test_chat_usage_prompt_details_web_searches_are_counted(usage: dict[str, Any], searches: int) -> None:
    """s18 variants 28-h..28-j: LiteLLM's proxy relays billed searches (Gemini's grounding, Claude's web search) as
    ``usage.prompt_tokens_details.web_search_requests``; they were not counted (the ledger left out $0.035 per
    Gemini 2.5 grounded prompt, $0.01 per Claude search)."""
    u = usage_from_openai({"prompt_tokens": 1000, "completion_tokens": 200, **usage})
    assert u.web_search_requests == searches
    assert (u.input_tokens, u.output_tokens) == (1000, 200)


def test_web_searches_count_once_with_iterations() -> None:
    u = usage_from_anthropic({**COMPACTION, "server_tool_use": {"web_search_requests": 2}})
    assert u.web_search_requests == 2 and sum(it.usage.web_search_requests for it in u.iterations) == 0


@pytest.mark.parametrize(
    ("usage", "write", "write_1h"),
    [
        (
            {
                "cache_creation_input_tokens": 5424,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 5424},
            },
            5424,
            5424,
        ),
        (
            {
                "cache_creation_input_tokens": 300,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
            },
            300,
            200,
        ),
        ({"cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200}}, 300, 200),
        ({"cache_creation_input_tokens": 300}, 300, 0),
        # a null total beside the split (the SDKs' types make it nullable; s20 variant 06-aa): the split's sum,
        # not 0 writes (the 1-hour writes went unbilled)
        (
            {
                "cache_creation_input_tokens": None,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 5424},
            },
            5424,
            5424,
        ),
        ({"cache_creation_input_tokens": None}, 0, 0),
        # a split larger than the total cannot be right: the 1-hour part is capped at the total
        (
            {"cache_creation_input_tokens": 100, "cache_creation": {"ephemeral_1h_input_tokens": 500}},
            100,
            100,
        ),
    ],
)
def test_cache_write_split(usage: dict[str, Any], write: int, write_1h: int) -> None:
    u = usage_from_anthropic({"input_tokens": 1, "output_tokens": 1, **usage})
    assert (u.cache_write_tokens, u.cache_write_1h_tokens) == (write, write_1h)


def stream_usage(*events: dict[str, Any]) -> Usage:
    decoder = MessagesStreamDecoder()
    updates: list[Usage] = []
    for obj in events:
        updates += [
            d.usage
            for d in decoder.feed(SSEEvent(data=orjson.dumps(obj).decode(), event=obj["type"]))
            if isinstance(d, UsageUpdate)
        ]
    assert decoder.usage is not None and updates[-1] == decoder.usage
    return decoder.usage


def start(usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_start", "message": {"id": "m", "model": "claude-sonnet-4-5", "usage": usage}}


def delta(usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}


def test_stream_delta_wins_where_it_disagrees_with_start() -> None:
    """With server tools, message_start holds the first step's figures; message_delta's are cumulative."""
    u = stream_usage(
        start(
            {
                "input_tokens": 2000,
                "cache_read_input_tokens": 0,
                "cache_creation_input_tokens": 5424,
                "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 5424},
                "output_tokens": 1,
            }
        ),
        delta(
            {
                "input_tokens": 9000,
                "cache_read_input_tokens": 1990,
                "output_tokens": 350,
                "server_tool_use": {"web_search_requests": 2},
            }
        ),
    )
    assert (u.input_tokens, u.cache_read_tokens, u.output_tokens) == (9000, 1990, 350)
    # the delta repeated no cache-write figures: the start's total and its 1-hour split stand
    assert (u.cache_write_tokens, u.cache_write_1h_tokens, u.web_search_requests) == (5424, 5424, 2)


def test_stream_delta_with_a_partial_nested_split_keeps_the_rest() -> None:
    u = stream_usage(
        start(
            {
                "input_tokens": 10,
                "cache_creation_input_tokens": 300,
                "output_tokens": 1,
                "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 200},
            }
        ),
        delta(
            {
                "output_tokens": 20,
                "cache_creation_input_tokens": 500,
                "cache_creation": {"ephemeral_5m_input_tokens": 300},
            }
        ),
    )
    assert (u.cache_write_tokens, u.cache_write_1h_tokens, u.output_tokens, u.input_tokens) == (
        500,
        200,
        20,
        10,
    )


def test_stream_iterations_arrive_in_message_delta_case_28() -> None:
    u = stream_usage(start({"input_tokens": 150, "output_tokens": 1}), delta(COMPACTION))
    assert (u.input_tokens, u.cache_write_tokens, u.output_tokens) == (360, 40000, 127)
    assert len(u.iterations) == 2


def test_stream_iterations_only_in_start_follow_the_deltas_final_counts() -> None:
    """s15 variant 28-e: message_start lists the iterations (the message step with a placeholder output of 1) and
    message_delta gives only the top level's final output: the top level is the message iteration's figures
    (compaction guide), so the totals take the delta's 25, not the start's 1 (before the fix: 301 output)."""
    steps = [
        {"type": "compaction", "input_tokens": 4000, "output_tokens": 300},
        {"type": "message", "input_tokens": 50, "output_tokens": 1},
    ]
    u = stream_usage(
        start({"input_tokens": 50, "output_tokens": 1, "iterations": steps}), delta({"output_tokens": 25})
    )
    assert (u.input_tokens, u.output_tokens) == (4050, 325)
    assert [it.usage.output_tokens for it in u.iterations] == [300, 25]


def test_stream_iterations_null_in_delta_follow_the_deltas_final_counts() -> None:
    """A message_delta that states ``"iterations": null`` gives no list, as one without the key: the start's message
    step still takes the delta's final output (null is "not given" everywhere else in the merge; before: 301)."""
    steps = [
        {"type": "compaction", "input_tokens": 4000, "output_tokens": 300},
        {"type": "message", "input_tokens": 50, "output_tokens": 1},
    ]
    u = stream_usage(
        start({"input_tokens": 50, "output_tokens": 1, "iterations": steps}),
        delta({"output_tokens": 25, "iterations": None}),
    )
    assert (u.input_tokens, u.output_tokens) == (4050, 325)
    assert [it.usage.output_tokens for it in u.iterations] == [300, 25]


def test_stream_iterations_in_both_events_are_the_deltas_list_not_a_sum() -> None:
    """s15 variant 28-b (passed before): a delta that repeats the list replaces the start's, it is not added."""
    comp = {"type": "compaction", "input_tokens": 1000, "output_tokens": 100}
    end = {
        "input_tokens": 50,
        "output_tokens": 20,
        "iterations": [comp, {"type": "message", "input_tokens": 50, "output_tokens": 20}],
    }
    u = stream_usage(start({"input_tokens": 50, "output_tokens": 1, "iterations": [comp]}), delta(end))
    assert (u.input_tokens, u.output_tokens) == (1050, 120)


# ---- OpenAI Responses: web searches are output items, not usage ------------------------------------


def test_responses_web_search_calls_are_billed_searches() -> None:
    response = {
        "usage": {"input_tokens": 100, "output_tokens": 50},
        "output": [
            {"type": "web_search_call", "action": {"type": "search", "query": "x"}},
            {"type": "web_search_call", "action": {"type": "open_page", "url": "https://example.com"}},
            {"type": "web_search_call"},
            {"type": "message", "content": []},
        ],
    }
    assert billed_usage(response).web_search_requests == 2  # opening a page is not a search


# ---- the OpenAI chat wire: each provider's convention ----------------------------------------------

XAI_ANSWER = {
    "prompt_tokens": 40,
    "completion_tokens": 60,
    "total_tokens": 300,
    "prompt_tokens_details": {"cached_tokens": 0, "text_tokens": 40},
    "completion_tokens_details": {"reasoning_tokens": 200},
}


def provider(cls: type, name: str) -> Any:
    return cls(name, "http://127.0.0.1:9", "k")


def test_xai_reasoning_is_outside_completion_tokens_case_29() -> None:
    u = provider(XAIProvider, "xai").usage(usage_from_openai(XAI_ANSWER))
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens) == (40, 260, 200)
    assert u.input_tokens + u.output_tokens == XAI_ANSWER["total_tokens"]  # xAI's total confirms it


def test_xai_rule_does_not_touch_the_wire_readers_value() -> None:
    """Streams re-apply the rule to the decoder's cumulative usage: it must return a new value."""
    read = usage_from_openai(XAI_ANSWER)
    provider(XAIProvider, "xai").usage(read)
    assert read.output_tokens == 60


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (OpenAIProvider, "openai"),
        (OpenRouterProvider, "openrouter"),
        (OpenAICompatProvider, "local"),
        (AnthropicProvider, "anthropic"),
    ],
)
def test_other_providers_count_reasoning_inside_output(cls: type, name: str) -> None:
    openai_style = {
        "prompt_tokens": 40,
        "completion_tokens": 260,
        "total_tokens": 300,
        "completion_tokens_details": {"reasoning_tokens": 200},
    }
    u = provider(cls, name).usage(usage_from_openai(openai_style))
    assert (u.output_tokens, u.reasoning_tokens) == (260, 200)


# Gemini's OpenAI-compatible endpoint (a catalog provider) counts thoughts as xAI does: outside
# completion_tokens, inside total_tokens. The total is the evidence, whatever the provider.
GEMINI_COMPAT_ANSWER = {
    "prompt_tokens": 40,
    "completion_tokens": 60,
    "total_tokens": 300,
    "completion_tokens_details": {"reasoning_tokens": 200},
}


@pytest.mark.parametrize(
    ("cls", "name"),
    [(OpenAICompatProvider, "gemini"), (OpenRouterProvider, "openrouter"), (OpenAIProvider, "openai")],
)
def test_total_tokens_showing_reasoning_outside_adds_it_to_the_output(cls: type, name: str) -> None:
    read = usage_from_openai(GEMINI_COMPAT_ANSWER)
    u = provider(cls, name).usage(read)
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens) == (40, 260, 200)
    assert read.output_tokens == 60  # a new value: streams re-apply the rule to cumulative usage


@pytest.mark.parametrize(
    ("usage", "output"),
    [
        ({"prompt_tokens": 40, "completion_tokens": 260, "total_tokens": 300}, 260),  # the total says inside
        ({"prompt_tokens": 40, "completion_tokens": 60}, 260),  # no total: xAI's documented convention
        (
            {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 999},
            260,
        ),  # a total that tells nothing
    ],
)
def test_xai_convention_gives_way_to_its_own_total(usage: dict[str, Any], output: int) -> None:
    answer = usage | {"completion_tokens_details": {"reasoning_tokens": 200}}
    assert provider(XAIProvider, "xai").usage(usage_from_openai(answer)).output_tokens == output


@pytest.mark.parametrize(
    ("usage", "output"),
    [
        ({"prompt_tokens": 40, "completion_tokens": 60}, 260),  # no total
        ({"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": None}, 260),  # a null total
        (
            {"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 999},
            260,
        ),  # a total that tells nothing
        ({"prompt_tokens": 40, "completion_tokens": 60, "total_tokens": 100}, 60),  # the total says inside
    ],
)
def test_more_reasoning_than_completion_can_only_be_outside(usage: dict[str, Any], output: int) -> None:
    """s14 variant 29-c: a catalog relay in front of xAI drops total_tokens: completion 60, reasoning 200. Under
    OpenAI's convention completion_tokens includes the reasoning, so it is never the smaller: the reasoning is
    outside and billed as output (260). A total that tells still decides."""
    answer = usage | {"completion_tokens_details": {"reasoning_tokens": 200}}
    assert (
        provider(OpenAICompatProvider, "grokproxy").usage(usage_from_openai(answer)).output_tokens == output
    )


def test_without_a_telling_total_openai_convention_holds() -> None:
    answer = {
        "prompt_tokens": 40,
        "completion_tokens": 60,
        "completion_tokens_details": {"reasoning_tokens": 20},
    }
    assert provider(OpenAICompatProvider, "local").usage(usage_from_openai(answer)).output_tokens == 60


@pytest.mark.parametrize(
    ("usage", "paid"),
    [
        ({"cost": 0.0123}, 0.0123),
        ({"cost": 0.00025, "is_byok": True, "cost_details": {"upstream_inference_cost": 0.005}}, 0.00525),
        # not BYOK: cost already covers the upstream (upstream_inference_cost is informational)
        ({"cost": 0.0123, "is_byok": False, "cost_details": {"upstream_inference_cost": 0.0117}}, 0.0123),
        ({"cost": 0}, 0.0),
        ({}, None),
        ({"cost": "0.1"}, None),
    ],
)
def test_openrouter_cost_fields(usage: dict[str, Any], paid: float | None) -> None:
    got = usage_from_openai({"prompt_tokens": 1, "completion_tokens": 1, **usage}).provider_cost_usd
    assert got == (pytest.approx(paid) if paid is not None else None)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({}, Usage()),
        (
            {
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 10},
                "completion_tokens_details": {"reasoning_tokens": 5},
            },
            Usage(
                input_tokens=60,
                output_tokens=20,
                cache_read_tokens=30,
                cache_write_tokens=10,
                reasoning_tokens=5,
            ),
        ),
        # only JSON integers count: booleans, floats, strings and nulls are 0; details must be objects
        (
            {
                "prompt_tokens": True,
                "completion_tokens": 2.0,
                "prompt_tokens_details": {"cached_tokens": "3", "cache_write_tokens": None},
                "completion_tokens_details": {"reasoning_tokens": False},
            },
            Usage(),
        ),
        (
            {
                "prompt_tokens": 7,
                "completion_tokens": 3,
                "prompt_tokens_details": [1],
                "completion_tokens_details": "x",
            },
            Usage(input_tokens=7, output_tokens=3),
        ),
        # more cached than the prompt (a provider's rounding): input is never negative
        ({"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 8}}, Usage(cache_read_tokens=8)),
        ({"prompt_tokens": 5, "cost": 0.25}, Usage(input_tokens=5, provider_cost_usd=0.25)),
        ({"prompt_tokens": 5, "cost": None}, Usage(input_tokens=5)),
    ],
)
def test_openai_usage_counts(usage: dict[str, Any], expected: Usage) -> None:
    assert usage_from_openai(usage) == expected


@pytest.mark.parametrize(
    "usage",
    [
        {"cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000}},
        {
            "prompt_tokens_details": {
                "cached_tokens": 500,
                "cache_write_tokens": 3000,
                "cache_creation": {"ephemeral_1h_input_tokens": 2000},
            }
        },
    ],
)
def test_chat_usage_keeps_a_relayed_ttl_split(usage: dict[str, Any]) -> None:
    """s9 variant 06-n: OpenRouter relays Claude's TTL split beside its OpenAI-style usage; the 1-hour
    part is read (priced 2× input), wherever the object sits."""
    details = {"cached_tokens": 500, "cache_write_tokens": 3000}
    answer = {"prompt_tokens": 3510, "completion_tokens": 40, "prompt_tokens_details": details, **usage}
    u = usage_from_openai(answer)
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.cache_write_1h_tokens) == (
        10,
        500,
        3000,
        2000,
    )
    no_writes = {"prompt_tokens": 10, "completion_tokens": 1, **usage}
    no_writes.pop("prompt_tokens_details", None)
    assert usage_from_openai(no_writes).cache_write_1h_tokens == 0  # no writes: no 1-hour part


def test_groq_stream_usage_in_x_groq_is_read() -> None:
    """s10 variant 28-g: Groq's streams report usage only in the last chunk's ``x_groq.usage``; before, the
    ledger had 0 tokens and cost 0 for every streamed Groq answer."""
    from services.gateway.dialects.openai_chat import ChatStreamDecoder

    usage = {"queue_time": 0.01, "prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
    last = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "llama-3.3-70b-versatile",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "x_groq": {"id": "req_1", "usage": usage},
    }
    dec = ChatStreamDecoder()
    deltas = dec.feed(SSEEvent(data=orjson.dumps(last).decode(), event=None))
    assert dec.usage is not None
    assert (dec.usage.input_tokens, dec.usage.output_tokens) == (50, 20)
    assert any(type(d) is UsageUpdate for d in deltas)
    # a top-level usage wins; an x_groq without usage says nothing
    dec = ChatStreamDecoder()
    dec.feed(
        SSEEvent(
            data=orjson.dumps(last | {"usage": {"prompt_tokens": 7, "completion_tokens": 3}}).decode(),
            event=None,
        )
    )
    assert dec.usage is not None and dec.usage.output_tokens == 3
    dec = ChatStreamDecoder()
    dec.feed(SSEEvent(data=orjson.dumps(last | {"x_groq": {"id": "req_1"}}).decode(), event=None))
    assert dec.usage is None


def test_moonshot_stream_usage_in_the_choice_is_read() -> None:
    """s11 variant 28-a/28-b: Moonshot/Kimi streams report usage only inside the finish chunk's
    ``choices[0].usage`` (higress#1568, vercel/ai#19727); before, the ledger had 0 tokens and cost 0 for
    every streamed Kimi answer."""
    from services.gateway.dialects.openai_chat import ChatStreamDecoder

    usage = {"prompt_tokens": 19, "completion_tokens": 13, "total_tokens": 32}
    last = {
        "id": "c",
        "object": "chat.completion.chunk",
        "model": "kimi-k2-turbo-preview",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "usage": usage}],
    }
    dec = ChatStreamDecoder()
    deltas = dec.feed(SSEEvent(data=orjson.dumps(last).decode(), event=None))
    assert dec.usage is not None
    assert (dec.usage.input_tokens, dec.usage.output_tokens) == (19, 13)
    assert any(type(d) is UsageUpdate for d in deltas)
    # a top-level usage wins over the choice's
    dec = ChatStreamDecoder()
    top = {"prompt_tokens": 7, "completion_tokens": 3}
    dec.feed(SSEEvent(data=orjson.dumps(last | {"usage": top}).decode(), event=None))
    assert dec.usage is not None and dec.usage.output_tokens == 3
    # a choice without usage (or a non-object one) says nothing
    for choice in ({"index": 0, "delta": {}, "finish_reason": "stop"}, {"index": 0, "usage": None}):
        dec = ChatStreamDecoder()
        dec.feed(SSEEvent(data=orjson.dumps(last | {"choices": [choice]}).decode(), event=None))
        assert dec.usage is None


@pytest.mark.parametrize(
    ("usage", "read", "uncached"),
    [
        # DeepSeek ("Context Caching" guide): prompt_cache_hit_tokens / prompt_cache_miss_tokens only
        ({"prompt_tokens": 1000, "prompt_cache_hit_tokens": 800, "prompt_cache_miss_tokens": 200}, 800, 200),
        # Moonshot/Kimi: cached_tokens at the top level of usage
        ({"prompt_tokens": 2000, "cached_tokens": 1500}, 1500, 500),
        # both spellings (newer DeepSeek and Kimi answers): OpenAI's wins, nothing is counted twice
        (
            {
                "prompt_tokens": 1000,
                "prompt_cache_hit_tokens": 800,
                "cached_tokens": 800,
                "prompt_tokens_details": {"cached_tokens": 800},
            },
            800,
            200,
        ),
        ({"prompt_tokens": 1000, "prompt_tokens_details": {"cached_tokens": 0}, "cached_tokens": 0}, 0, 1000),
        # not JSON integers: nothing
        ({"prompt_tokens": 1000, "prompt_cache_hit_tokens": "800", "cached_tokens": None}, 0, 1000),
    ],
)
def test_cache_reads_in_other_providers_spellings(usage: dict[str, Any], read: int, uncached: int) -> None:
    """s11 variants 29-a/29-b: cache hits reported outside ``prompt_tokens_details.cached_tokens`` are still
    cache reads (priced at the cache-read rate), and the uncached input is the rest of the prompt."""
    u = usage_from_openai({"completion_tokens": 5, **usage})
    assert (u.cache_read_tokens, u.input_tokens, u.output_tokens) == (read, uncached, 5)


@pytest.mark.parametrize(
    ("cost", "paid"),
    [
        # Perplexity's chat answers: usage.cost is an object whose total_cost holds the request fee too
        (
            {
                "input_tokens_cost": 0.000012,
                "output_tokens_cost": 0.0002,
                "request_cost": 0.005,
                "total_cost": 0.005212,
            },
            0.005212,
        ),
        ({"total_cost": 0}, 0.0),
        ({"total_cost": "0.1"}, None),
        ({"request_cost": 0.005}, None),
    ],
)
def test_cost_object_with_a_total(cost: dict[str, Any], paid: float | None) -> None:
    """s11 variant 28-c: a provider's own bill given as ``usage.cost.total_cost`` (tokens plus per-request
    fees) is what the request cost; before, only the tokens were priced (0.000212 of 0.005212)."""
    got = usage_from_openai({"prompt_tokens": 12, "completion_tokens": 200, "cost": cost}).provider_cost_usd
    assert got == (pytest.approx(paid) if paid is not None else None)


@pytest.mark.parametrize(
    ("usage", "paid"),
    [
        # xAI: 2 web searches ($5 / 1000) on top of $0.000375 of tokens, billed as 103,750,000 ticks
        ({"cost_in_usd_ticks": 103_750_000, "num_server_side_tools_used": 2}, 0.010375),
        ({"cost_in_usd_ticks": 0}, 0.0),
        ({"cost_in_usd_ticks": -5}, None),
        ({"cost_in_usd_ticks": 1.5e7}, None),
        ({"cost_in_usd_ticks": "103750000"}, None),
        # a cost in dollars, where a server gives both, is the one read
        ({"cost": 0.02, "cost_in_usd_ticks": 103_750_000}, 0.02),
    ],
)
def test_xai_cost_in_usd_ticks_is_the_bill(usage: dict[str, Any], paid: float | None) -> None:
    """s11 variant 28-f: xAI reports each request's exact bill, server-side tool calls included, as
    ``usage.cost_in_usd_ticks`` (10^10 ticks per USD; xAI docs, "Cost Tracking"); the tool calls are billed
    nowhere else in the answer. Before, only the tokens were priced."""
    answer = {"prompt_tokens": 1000, "completion_tokens": 50, **usage}
    got = usage_from_openai(answer).provider_cost_usd
    assert got == (pytest.approx(paid) if paid is not None else None)
    xai = provider(XAIProvider, "xai").usage(usage_from_openai(answer))
    assert xai.provider_cost_usd == got  # the provider's usage rule keeps the bill


@pytest.mark.parametrize(
    ("usage", "write", "write_1h", "read", "uncached"),
    [
        # LiteLLM's proxy before cache_write_tokens: the writes and their split only in its own names
        (
            {
                "prompt_tokens": 5427,
                "prompt_tokens_details": {
                    "cached_tokens": 0,
                    "cache_creation_tokens": 5424,
                    "cache_creation_token_details": {
                        "ephemeral_5m_input_tokens": 0,
                        "ephemeral_1h_input_tokens": 5424,
                    },
                },
                "cache_creation_input_tokens": 5424,
                "cache_read_input_tokens": 0,
            },
            5424,
            5424,
            0,
            3,
        ),
        # current LiteLLM: cache_write_tokens too, the TTL split still in cache_creation_token_details
        (
            {
                "prompt_tokens": 3600,
                "prompt_tokens_details": {
                    "cached_tokens": 500,
                    "cache_write_tokens": 3000,
                    "cache_creation_tokens": 3000,
                    "cache_creation_token_details": {
                        "ephemeral_5m_input_tokens": 1000,
                        "ephemeral_1h_input_tokens": 2000,
                    },
                },
            },
            3000,
            2000,
            500,
            100,
        ),
        # older LiteLLM (and relays copying it): Anthropic's names at the top of usage only, no split
        (
            {
                "prompt_tokens": 2400,
                "prompt_tokens_details": {"cached_tokens": 300},
                "cache_creation_input_tokens": 2000,
                "cache_read_input_tokens": 300,
            },
            2000,
            0,
            300,
            100,
        ),
        (
            {"prompt_tokens": 2300, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 300},
            2000,
            0,
            300,
            0,
        ),
        # QuantumNous/new-api relaying Claude (s17 variant 06-f): cached_creation_tokens, the split at the top
        (
            {
                "prompt_tokens": 5427,
                "prompt_tokens_details": {"cached_tokens": 0, "cached_creation_tokens": 5424},
                "claude_cache_creation_5_m_tokens": 0,
                "claude_cache_creation_1_h_tokens": 5424,
            },
            5424,
            5424,
            0,
            3,
        ),
        # not JSON integers, or zero: no writes
        ({"prompt_tokens": 100, "cache_creation_input_tokens": "2000"}, 0, 0, 0, 100),
        ({"prompt_tokens": 100, "prompt_tokens_details": {"cache_creation_tokens": 0}}, 0, 0, 0, 100),
    ],
)
def test_litellm_claude_cache_writes_are_read(
    usage: dict[str, Any], write: int, write_1h: int, read: int, uncached: int
) -> None:
    """s17 variants 06-a/06-b/06-c/06-f: Claude behind LiteLLM's proxy (or new-api's relay) (a catalog provider) reports its cache writes
    under LiteLLM's names (``prompt_tokens_details.cache_creation_tokens`` with the TTL split in
    ``cache_creation_token_details``; older releases Anthropic's ``cache_creation_input_tokens`` at the top), as
    parts of ``prompt_tokens``: they were priced as plain input and the 1-hour ones at no 1-hour rate."""
    u = usage_from_openai({"completion_tokens": 40, **usage})
    assert (u.cache_write_tokens, u.cache_write_1h_tokens, u.cache_read_tokens, u.input_tokens) == (
        write,
        write_1h,
        read,
        uncached,
    )
    assert u.cache_write_split is (write_1h > 0)


@pytest.mark.parametrize(
    ("usage", "uncached"),
    [
        # a LiteLLM release whose calculate_usage leaves the writes out of prompt_tokens (input 40 + reads 300):
        # the buckets would hold more than prompt_tokens; the uncached input is prompt_tokens less the reads
        ({"prompt_tokens": 340, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 300}, 40),
        (
            {
                "prompt_tokens": 12,
                "prompt_tokens_details": {"cached_tokens": 0},
                "cache_creation_input_tokens": 5000,
            },
            12,
        ),
        # writes that are parts of prompt_tokens (as OpenRouter's): unchanged
        ({"prompt_tokens": 2340, "cache_creation_input_tokens": 2000, "cache_read_input_tokens": 300}, 40),
        # writes named in prompt_tokens_details are parts of it: more than it holds stays 0
        ({"prompt_tokens": 12, "prompt_tokens_details": {"cache_write_tokens": 5000}}, 0),
    ],
)
def test_top_level_writes_outside_prompt_tokens_keep_the_uncached_input(
    usage: dict[str, Any], uncached: int
) -> None:
    """Writes named only at the top (``cache_creation_input_tokens``) that ``prompt_tokens`` less the reads
    cannot hold are outside it (a LiteLLM release's Anthropic usage: ``prompt_tokens`` = input + reads): the
    uncached input was zeroed (billed as nothing) though ``prompt_tokens`` stated it."""
    u = usage_from_openai({"completion_tokens": 40, **usage})
    assert u.input_tokens == uncached
    assert u.cache_write_tokens == next(
        v
        for k, v in {**usage.get("prompt_tokens_details", {}), **usage}.items()
        if "creation" in k or "write" in k
    )


@pytest.mark.parametrize(
    ("cls", "name"),
    [(OpenAICompatProvider, "gemini"), (OpenRouterProvider, "openrouter"), (XAIProvider, "xai")],
)
def test_thoughts_counted_only_in_the_total_are_output(cls: type, name: str) -> None:
    """s18 variant 29-f: Gemini's thinking relayed on the chat wire with only the visible answer in
    completion_tokens and no reasoning_tokens (mozilla-ai/any-llm#1291: prompt 20, completion 151, total 553):
    the 382 tokens the total holds beyond prompt + completion are output (Gemini bills thoughts as output)."""
    read = usage_from_openai({"prompt_tokens": 20, "completion_tokens": 151, "total_tokens": 553})
    u = provider(cls, name).usage(read)
    assert (u.input_tokens, u.output_tokens, u.reasoning_tokens) == (20, 533, 382)
    assert read.output_tokens == 151  # a new value: streams re-apply the rule to cumulative usage


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 20, "completion_tokens": 151, "total_tokens": 171},  # the total adds up
        {"prompt_tokens": 20, "completion_tokens": 151, "total_tokens": 100},  # a total below the counts
        {"prompt_tokens": 20, "completion_tokens": 151},  # no total
        {"total_tokens": 553},  # a bare total: nothing to compare it with
        {  # cache writes outside prompt_tokens (some LiteLLM releases): counted, not hidden output
            "prompt_tokens": 1010,
            "completion_tokens": 40,
            "total_tokens": 1050,
            "cache_creation_input_tokens": 5000,
            "cache_read_input_tokens": 1000,
        },
    ],
)
def test_a_total_that_hides_nothing_adds_nothing(usage: dict[str, Any]) -> None:
    read = usage_from_openai(usage)
    assert provider(OpenAICompatProvider, "local").usage(read) is read


def test_dashscope_explicit_cache_writes_are_read() -> None:
    """Alibaba DashScope's explicit context cache (Qwen on its OpenAI-compatible API) reports writes as
    prompt_tokens_details.cache_creation_input_tokens, inside prompt_tokens, with the 5-minute split beside it:
    they are cache writes, not plain input (s19 variant 06-t: priced as plain input)."""
    usage = {
        "prompt_tokens": 3019,
        "completion_tokens": 40,
        "total_tokens": 3059,
        "prompt_tokens_details": {
            "cached_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 3000},
            "cache_creation_input_tokens": 3000,
            "cache_type": "ephemeral",
        },
    }
    got = usage_from_openai(usage)
    assert (got.input_tokens, got.cache_write_tokens, got.cache_write_1h_tokens, got.cache_read_tokens) == (
        19,
        3000,
        0,
        0,
    )
    assert got.cache_write_split


@pytest.mark.parametrize(
    "usage",
    [
        # Gemini's OpenAI-compatible endpoint grounding a thinking-free answer: reasoning stated 0, the total holds the
        # tool-use prompt (toolUsePromptTokenCount) beside prompt and completion
        {
            "prompt_tokens": 40,
            "completion_tokens": 60,
            "total_tokens": 600,
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        # Perplexity sonar-deep-research (docs.perplexity.ai, "Pricing"), through a relay whose total adds its
        # citation and reasoning tokens (Perplexity's own total is prompt + completion)
        {
            "prompt_tokens": 33,
            "completion_tokens": 7163,
            "total_tokens": 101209,  # 33 + 7163 + 20016 + 73997
            "citation_tokens": 20016,
            "num_search_queries": 18,
            "reasoning_tokens": 73997,
        },
        # ... and as Perplexity itself sends it
        {
            "prompt_tokens": 33,
            "completion_tokens": 7163,
            "total_tokens": 7196,
            "citation_tokens": 20016,
            "num_search_queries": 18,
            "reasoning_tokens": 73997,
        },
    ],
    ids=["gemini-grounding", "perplexity-relayed-total", "perplexity"],
)
@pytest.mark.parametrize(
    ("cls", "name"),
    [(OpenAICompatProvider, "local"), (OpenRouterProvider, "openrouter")],
)
def test_bugd21_counts_beside_prompt_and_completion_are_never_hidden_output(
    usage: dict[str, Any], cls: type, name: str
) -> None:
    """bugd21 variants 29-f..29-h: a total above prompt + completion was read as thoughts left uncounted and priced
    as output (Gemini grounding: 500 tool-use prompt tokens; Perplexity: 94,013 citation + reasoning tokens at the
    output rate). An answer that states its reasoning count (0 included), or Perplexity's own counts, hides none."""
    read = usage_from_openai(usage)
    u = provider(cls, name).usage(read)
    assert (u.output_tokens, u.reasoning_tokens) == (usage["completion_tokens"], 0)


def test_whole_answer_usage_only_in_the_choice_is_read() -> None:
    """bug31a variants 28vK, 28vU: an unstreamed chat answer whose usage is only in ``choices[0].usage`` (Moonshot/Kimi's
    place for it in a stream's finish chunk) or ``x_groq.usage`` (Groq's) is billed, same format (``answer_usage``) and translated
    (``completion_from_chat``), as the stream decoder bills it; a top-level usage wins over the choice's."""
    from services.gateway.dialects.openai_chat import answer_usage, completion_from_chat

    usage = {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    choice = {"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}
    body: dict[str, Any] = {"id": "c", "object": "chat.completion", "choices": [choice | {"usage": usage}]}
    for got in (answer_usage(body), completion_from_chat(body).usage):
        assert (got.input_tokens, got.output_tokens) == (120, 30)
    groq = body | {
        "choices": [choice],
        "x_groq": {"id": "req_1", "usage": usage},
    }  # Groq's place (bug31a 28vU)
    for got in (answer_usage(groq), completion_from_chat(groq).usage):
        assert (got.input_tokens, got.output_tokens) == (120, 30)
    top = body | {"usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    for got in (answer_usage(top), completion_from_chat(top).usage):
        assert (got.input_tokens, got.output_tokens) == (7, 3)
    for bare in (
        body | {"choices": [choice]},
        body | {"choices": [choice | {"usage": None}]},
        body | {"choices": []},
    ):
        for got in (answer_usage(bare), completion_from_chat(bare).usage):
            assert (got.input_tokens, got.output_tokens) == (0, 0)
