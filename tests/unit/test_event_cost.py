"""``event_for``'s cost and savings (pure): iterations, other models, catalog prices, unknown prices."""

from __future__ import annotations

import time

import pytest

from services.gateway.calls import MESSAGE_LIMIT, Attempt, Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects._anthropic_wire import usage_from_anthropic
from services.gateway.dialects._openai_wire import usage_from_openai
from services.gateway.dialects.ir import Iteration, Usage
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from shared.events import UsageEvent
from shared.pricing import FILE_SEARCH_USD_PER_CALL, ModelRates, Pricer, Rate
from tests.usage_samples import bugcase_28_usage

SONNET = Route("anthropic", "claude-sonnet-4-5")


def event(usage: Usage, route: Route = SONNET) -> UsageEvent:
    call = Call(registry.ENDPOINTS["/v1/messages"], "req", {}, time.monotonic(), time.time())
    call.model = route.model
    att = Attempt(route, "anthropic", False, answered=True, status=200, usage=usage)
    call.attempts.append(att)
    call.answer(200)
    return event_for(call, Pricer(), time.time(), 1.0)


def test_ledger_keeps_the_split_columns() -> None:
    ev = event(
        Usage(
            input_tokens=3,
            output_tokens=40,
            cache_write_tokens=5424,
            cache_write_1h_tokens=5424,
            web_search_requests=2,
        )
    )
    assert (ev.cache_write_tokens, ev.cache_write_1h_tokens, ev.web_search_requests) == (5424, 5424, 2)
    # 9 + 5424 × 6 + 40 × 15 = 33,153 µ$, + 2 searches × $0.01
    assert ev.cost_usd == pytest.approx(0.053153, abs=1e-12)


def test_an_iteration_on_a_model_without_a_price_makes_the_cost_unknown_not_zero() -> None:
    usage = Usage(
        input_tokens=200,
        output_tokens=20,
        iterations=(
            Iteration(Usage(input_tokens=100, output_tokens=10), model="no-such-model"),
            Iteration(Usage(input_tokens=100, output_tokens=10)),
        ),
    )
    ev = event(usage)
    assert ev.cost_usd is None and ev.cache_savings_usd is None and ev.input_tokens == 200


def test_catalog_prices_apply_to_iterations_on_the_routes_model() -> None:
    rates = ModelRates("m", Rate(1.0), Rate(2.0), Rate(0.1), Rate(1.25))
    route = Route("anthropic", "claude-sonnet-4-5", rates, "catalog")
    usage = Usage(
        input_tokens=2_000_000,
        output_tokens=0,
        iterations=(
            Iteration(Usage(input_tokens=1_000_000)),
            Iteration(Usage(input_tokens=1_000_000), model="claude-sonnet-4-5"),
        ),
    )
    assert event(usage, route).cost_usd == pytest.approx(2.0)


def test_provider_cost_wins_and_savings_still_come_from_the_rates() -> None:
    usage = Usage(input_tokens=1000, cache_read_tokens=10_000, output_tokens=100, provider_cost_usd=0.5)
    ev = event(usage, Route("openrouter", "anthropic/claude-sonnet-4.5"))
    assert ev.cost_usd == 0.5
    assert ev.cache_savings_usd == pytest.approx(10_000 * (3 - 0.3) / 1e6)


def test_savings_are_negative_when_writes_are_never_read() -> None:
    ev = event(Usage(input_tokens=0, output_tokens=0, cache_write_tokens=1000, cache_write_1h_tokens=1000))
    assert ev.cache_savings_usd == pytest.approx(-1000 * (6 - 3) / 1e6)


def test_a_model_without_a_price_costs_what_the_provider_says_or_nothing() -> None:
    route = Route("openrouter", "no-such/model")
    assert (
        event(Usage(input_tokens=10), route).cost_usd,
        event(Usage(input_tokens=10), route).cache_savings_usd,
    ) == (
        None,
        None,
    )
    paid = event(Usage(input_tokens=10, provider_cost_usd=0.25), route)
    assert (paid.cost_usd, paid.cache_savings_usd) == (0.25, None)


def test_the_event_reads_every_attempt() -> None:
    """Failed attempts in order, the first answering attempt's usage, a client cut-off on any attempt."""
    call = Call(registry.ENDPOINTS["/v1/messages"], "req", {}, time.monotonic(), time.time())
    call.model = SONNET.model
    first = Attempt(
        Route("anthropic", "a"), "anthropic", False, status=529, error_type="overloaded", message="x" * 400
    )
    first.error = UpstreamError(529, "x", provider="anthropic", retryable=True)
    refused = Attempt(Route("anthropic", "b"), "anthropic", False)  # refused by the gateway: no error
    answered = Attempt(SONNET, "anthropic", False, answered=True, status=200, usage=Usage(output_tokens=7))
    cut = Attempt(SONNET, "anthropic", False, client_disconnected=True)
    call.attempts += [first, refused, answered, cut]
    call.answer(200)
    ev = event_for(call, Pricer(), time.time(), 1.0)
    assert [(f.provider, f.status, f.error_type, len(f.message)) for f in ev.failed_attempts] == [
        ("anthropic", 529, "overloaded", MESSAGE_LIMIT)
    ]
    assert (ev.output_tokens, ev.client_disconnected, ev.attempts, ev.status) == (7, True, 4, 200)
    call.attempts.remove(cut)
    assert event_for(call, Pricer(), time.time(), 1.0).client_disconnected is False


def marked_call(body: dict[str, object], usage: Usage, route: Route) -> UsageEvent:
    call = Call(registry.ENDPOINTS["/v1/messages"], "req", {}, time.monotonic(), time.time(), body=body)
    call.model = route.model
    call.attempts.append(Attempt(route, "openai_chat", True, answered=True, status=200, usage=usage))
    call.answer(200)
    return event_for(call, Pricer(), time.time(), 1.0)


def system(*ttls: str | None) -> dict[str, object]:
    marks = [{"type": "ephemeral", **({"ttl": t} if t else {})} for t in ttls]
    return {"system": [{"type": "text", "text": "S", "cache_control": m} for m in marks], "messages": []}


def test_writes_without_a_ttl_split_are_1h_when_every_marker_says_1h() -> None:
    """s9 variant 06-l: OpenRouter reports Claude's cache writes without Anthropic's TTL split; the
    request's markers, all ``ttl: "1h"``, say they are 1-hour writes: 3 × 3 + 5424 × 6 + 40 × 15 µ$."""
    route = Route("openrouter", "anthropic/claude-sonnet-4.5", direct=False)
    usage = Usage(input_tokens=3, output_tokens=40, cache_write_tokens=5424)
    ev = marked_call(system("1h"), usage, route)
    assert ev.cache_write_1h_tokens == 5424 and ev.cost_usd == pytest.approx(0.033153, abs=1e-12)
    assert marked_call(system("1h", None), usage, route).cache_write_1h_tokens == 0  # a 5-minute one too
    assert marked_call({"messages": []}, usage, route).cache_write_1h_tokens == 0  # no marker: no word
    top = {"cache_control": {"type": "ephemeral", "ttl": "1h"}, "messages": []}  # automatic caching
    assert marked_call(top, usage, route).cache_write_1h_tokens == 5424
    split = Usage(input_tokens=3, output_tokens=40, cache_write_tokens=5424, cache_write_1h_tokens=424)
    assert marked_call(system("1h"), split, route).cache_write_1h_tokens == 424  # a reported split stands


def test_a_reported_split_of_only_5_minute_writes_stands_against_1h_markers() -> None:
    """bug8a variant 06-f: Anthropic's usage said its 2000 writes were 5-minute ones
    (``ephemeral_1h_input_tokens: 0``) while the request's only marker asked 1h; the ledger priced them
    as 1-hour writes from the marker. The provider's own split is its bill: 3 × 3 + 2000 × 3.75 + 40 × 15."""
    raw = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 2000,
        "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 40,
    }
    ev = marked_call(system("1h"), usage_from_anthropic(raw), SONNET)
    assert ev.cache_write_1h_tokens == 0 and ev.cost_usd == pytest.approx(0.008109, abs=1e-12)
    no_split = {k: v for k, v in raw.items() if k != "cache_creation"}  # no split: the markers' word
    assert marked_call(system("1h"), usage_from_anthropic(no_split), SONNET).cache_write_1h_tokens == 2000
    route = Route("openrouter", "anthropic/claude-sonnet-4.5", direct=False)
    relayed = {  # OpenRouter relaying Anthropic's split beside OpenAI-style usage
        "prompt_tokens": 2003,
        "completion_tokens": 40,
        "prompt_tokens_details": {
            "cache_write_tokens": 2000,
            "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
        },
    }
    assert marked_call(system("1h"), usage_from_openai(relayed), route).cache_write_1h_tokens == 0


def test_a_request_the_gateway_refused_itself_cost_nothing_known() -> None:
    """No upstream attempt (unknown model, bad input, a budget): $0 known, not an unknown price, so the
    ledger's 'without a price' counts only requests that used a provider (newcomer review: 404s were
    counted as unpriced); a failed attempt without usage stays unknown."""
    call = Call(registry.ENDPOINTS["/v1/messages"], "req", {}, time.monotonic(), time.time())
    call.model = "no-such-model"
    call.answer(404, "model_not_found")
    assert event_for(call, Pricer(), time.time(), 1.0).cost_usd == 0.0
    tried = Call(registry.ENDPOINTS["/v1/messages"], "req2", {}, time.monotonic(), time.time())
    tried.attempts.append(Attempt(SONNET, "anthropic", False, answered=False, status=503))
    tried.answer(503, "api_error")
    assert event_for(tried, Pricer(), time.time(), 1.0).cost_usd is None


def test_us_only_inference_costs_one_tenth_more_on_every_token() -> None:
    """s12 variant 06-i: Anthropic's usage says ``inference_geo: "us"`` (US-only inference, Opus 4.6 and later:
    1.1× in every token category, data-residency docs); searches keep their price. "global" is the list price."""
    opus = Route("anthropic", "claude-opus-4-6")
    raw = {
        "input_tokens": 100,
        "cache_creation_input_tokens": 2000,
        "cache_read_input_tokens": 1000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 200,
        "server_tool_use": {"web_search_requests": 1},
        "inference_geo": "us",
    }
    usage = usage_from_anthropic(raw)
    assert usage.inference_geo == "us"
    tokens = 100 * 5 + 2000 * 10 + 1000 * 0.5 + 200 * 25  # 26,000 µ$ at the list price
    ev = event(usage, opus)
    assert ev.cost_usd == pytest.approx(1.1 * tokens / 1e6 + 0.01, abs=1e-12)
    everywhere = event(usage_from_anthropic({**raw, "inference_geo": "global"}), opus)
    assert everywhere.cost_usd == pytest.approx(tokens / 1e6 + 0.01, abs=1e-12)
    assert event(
        usage_from_anthropic({k: v for k, v in raw.items() if k != "inference_geo"}), opus
    ).cost_usd == (everywhere.cost_usd)


# bugcase 28's recorded answer: the iterations carry totals, no TTL split
COMPACTION_NO_SPLIT = bugcase_28_usage(iteration_cache_reads=False)


def test_iterations_writes_without_a_split_are_1h_when_every_marker_says_1h() -> None:
    """s14 variant 28-a: Claude Code marks every breakpoint ttl 1h and runs with compaction; the iterations
    report their writes without a TTL split. Each iteration is priced on its own, so the markers' word must
    reach them (it reached only the summed usage): 360 × 3 + 40000 × 6 + 127 × 15 µ$, not 40000 × 3.75."""
    usage = usage_from_anthropic(COMPACTION_NO_SPLIT)
    ev = marked_call(system("1h"), usage, SONNET)
    assert ev.cache_write_1h_tokens == 40000 and ev.cost_usd == pytest.approx(0.242985, abs=1e-12)
    # a 5-minute marker too: no word, the 5-minute rate (bugcase 28's own figure)
    assert marked_call(system("1h", None), usage, SONNET).cost_usd == pytest.approx(0.152985, abs=1e-12)


def test_the_top_level_split_prices_the_message_iteration() -> None:
    """s14 variant 28-b: the top level (which repeats the final message iteration) says its 5000 writes are
    1-hour ones; the iteration entries give the total only. 150 × 3 + 5000 × 6 + 230 × 15 µ$ whatever the
    markers say; a compaction iteration is not given the message's split."""
    raw = {
        "input_tokens": 50,
        "output_tokens": 30,
        "cache_creation_input_tokens": 5000,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 5000},
        "iterations": [
            {
                "type": "compaction",
                "input_tokens": 100,
                "output_tokens": 200,
                "cache_creation_input_tokens": 0,
            },
            {"type": "message", "input_tokens": 50, "output_tokens": 30, "cache_creation_input_tokens": 5000},
        ],
    }
    usage = usage_from_anthropic(raw)
    assert [it.usage.cache_write_1h_tokens for it in usage.iterations] == [0, 5000]
    ev = marked_call(system("1h", None), usage, SONNET)
    assert ev.cache_write_1h_tokens == 5000 and ev.cost_usd == pytest.approx(0.0339, abs=1e-12)
    # an iteration with its own split keeps it; one whose total differs from the top level's is not given it
    own = {
        **raw,
        "iterations": [{**raw["iterations"][1], "cache_creation": {"ephemeral_5m_input_tokens": 5000}}],
    }
    assert usage_from_anthropic(own).cache_write_1h_tokens == 0
    other = {**raw, "iterations": [{**raw["iterations"][1], "cache_creation_input_tokens": 4000}]}
    assert usage_from_anthropic(other).cache_write_1h_tokens == 0


def test_file_search_calls_are_billed_on_the_iterations_path_too() -> None:
    """Per call on top of the tokens whether the usage has iterations or not (the one-part path adds them)."""
    plain = Usage(input_tokens=200, output_tokens=20, file_search_calls=3)
    split = Usage(
        input_tokens=200,
        output_tokens=20,
        file_search_calls=3,
        iterations=(
            Iteration(Usage(input_tokens=100, output_tokens=10)),
            Iteration(Usage(input_tokens=100, output_tokens=10)),
        ),
    )
    tokens = event(Usage(input_tokens=200, output_tokens=20)).cost_usd
    assert tokens is not None
    # 200 × $3/M + 20 × $15/M = 900 µ$, + 3 calls × $0.0025
    assert event(plain).cost_usd == pytest.approx(tokens + 3 * FILE_SEARCH_USD_PER_CALL, abs=1e-12)
    assert event(split).cost_usd == pytest.approx(tokens + 3 * FILE_SEARCH_USD_PER_CALL, abs=1e-12)
