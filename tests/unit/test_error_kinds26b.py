"""Session 26 (bug26b): Moonshot's ``exceeded_current_quota_error`` 429 is a quota used up (kind 11); a chat stream
with several choices (``n``) is complete only when each has its finish reason (kind 13); a TTL split that does not add
up to the cache-write total leaves the rest to the request's markers (kind 06). Pure readers, the serve loop, the chat
stream decoder, the ledger event.

Each test names the /tmp/bug26b variant whose right value it holds; each fails on the code before session 26."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import pytest

from services.gateway.calls import Attempt, Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects._anthropic_wire import merge_stream_usage, usage_from_anthropic
from services.gateway.dialects.ir import Delta, Finish, StreamError, TextDelta
from services.gateway.dialects.openai_chat import ChatStreamDecoder
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Answer, Limits, told_not_to_retry
from services.gateway.serve import serve as serve_loop
from shared.pricing import Pricer
from shared.sse import SSEEvent

# Moonshot's 429 for an account out of quota (its error table; forum.moonshot.ai/t/244): OpenAI's very words, its
# own type
KIMI_QUOTA = json.dumps(
    {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details",
            "type": "exceeded_current_quota_error",
        }
    }
).encode()
# Gemini says a per-minute quota in the same words: without the type it stays a rate limit
SAME_WORDS = json.dumps(
    {
        "error": {
            "message": "You exceeded your current quota, please check your plan and billing details",
            "status": "RESOURCE_EXHAUSTED",
        }
    }
).encode()


def test_moonshot_exceeded_current_quota_error_is_a_quota_used_up() -> None:
    """bug26b variant 11-moonshot-quota-vP: read as a rate limit, the gateway waited out retry-after 1 and sent it to
    Moonshot three more times, and the client's SDK, told nothing, would retry it again."""
    assert registry.quota_exhausted(429, KIMI_QUOTA)
    meaning = registry.upstream_error_meaning("openai_chat", 429, KIMI_QUOTA, "")
    assert registry.retry_advice(meaning) == {"x-should-retry": "false"}
    assert told_not_to_retry(
        UpstreamError(429, "refused", provider="moonshot", retryable=True, body=KIMI_QUOTA)
    )
    assert not registry.quota_exhausted(429, SAME_WORDS)


async def test_moonshot_quota_429_with_a_short_wait_is_sent_once() -> None:
    now = [1000.0]  # the breaker's clock, moved on by the loop's waits: no real time involved
    health = ProviderHealth(BreakerConfig(failures=50, cooldown_s=30.0), clock=lambda: now[0])
    sent: list[str] = []

    async def attempt(route: Route) -> Answer[str] | UpstreamError:
        sent.append(route.provider)
        return UpstreamError(
            429, "refused", provider="moonshot", retryable=True, body=KIMI_QUOTA, retry_after_s=1.0
        )

    async def waited(seconds: float) -> None:
        now[0] += seconds

    routes = [Route("moonshot", "kimi-k2-0905-preview")]
    outcome = await serve_loop(routes, attempt, health, Limits(4, 5.0), sleep=waited)
    assert isinstance(outcome, UpstreamError) and outcome.upstream_status == 429
    assert sent == ["moonshot"]


# ---- kind 13: a stream of several choices ends when each has finished ------------------------------------------

USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> SSEEvent:
    obj = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": choices, **extra}
    return SSEEvent(event=None, data=orjson.dumps(obj).decode())


def _choice(index: int, content: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {"index": index, "delta": delta, "finish_reason": finish}


def _feed(dec: ChatStreamDecoder, events: list[SSEEvent]) -> list[Delta]:
    out: list[Delta] = []
    for ev in events:
        out += dec.feed(ev)
    return out


def test_a_stream_ending_with_a_choice_still_open_is_not_done() -> None:
    """bug26b variant 13-n2-one-choice-unfinished-vH: n=2, choice 0 finished with the usage, choice 1 never did, then
    the body ended without [DONE]. ``done`` turned True at choice 0's finish: a 200 in the ledger for a cut answer."""
    dec = ChatStreamDecoder()
    deltas = _feed(
        dec,
        [
            _chunk([_choice(0, "Hello")]),
            _chunk([_choice(1, "Hi")]),
            _chunk([_choice(0, finish="stop")], usage=USAGE),
        ],
    )
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Hello"]  # choice 0 is the translated one
    assert any(isinstance(d, Finish) for d in deltas)
    assert not dec.done
    _feed(dec, [_chunk([_choice(1, finish="length")])])
    assert dec.done  # every choice has its finish reason now


def test_choices_finishing_in_any_order_end_the_stream_once_all_have() -> None:
    dec = ChatStreamDecoder()
    _feed(dec, [_chunk([_choice(0, "a"), _choice(1, "b"), _choice(2, "c")])])
    _feed(dec, [_chunk([_choice(1, finish="stop"), _choice(2, finish="stop")])])
    assert not dec.done
    _feed(dec, [_chunk([_choice(0, finish="stop")]), _chunk([], usage=USAGE)])
    assert dec.done and not dec.closed
    assert dec.usage is not None and dec.usage.input_tokens == 12


def test_one_choice_and_done_sentinel_keep_their_meaning() -> None:
    """The usual stream: done at its one finish reason; [DONE] ends a stream of several choices whatever came."""
    dec = ChatStreamDecoder()
    _feed(dec, [_chunk([_choice(0, "Hi")]), _chunk([_choice(0, finish="stop")])])
    assert dec.done
    several = ChatStreamDecoder()
    _feed(several, [_chunk([_choice(0, "a"), _choice(1, "b")]), _chunk([_choice(0, finish="stop")])])
    assert not several.done
    _feed(several, [SSEEvent(event=None, data="[DONE]")])
    assert several.done
    odd = ChatStreamDecoder()  # an index that is no integer names no choice
    out = _feed(
        odd, [_chunk([_choice(0, "a"), {"index": "1", "delta": {}}]), _chunk([_choice(0, finish="stop")])]
    )
    assert odd.done and not any(isinstance(d, StreamError) for d in out)


# ---- kind 06: a TTL split that does not account for every cache write --------------------------------------------

MARKED_1H = {
    "system": [{"type": "text", "text": "S", "cache_control": {"type": "ephemeral", "ttl": "1h"}}],
    "messages": [],
}


def _cost_of(usage: Any, body: dict[str, Any]) -> tuple[int, float | None]:
    call = Call(registry.ENDPOINTS["/v1/messages"], "req", {}, time.monotonic(), time.time(), body=body)
    call.model = "claude-sonnet-4-5"
    route = Route("anthropic", "claude-sonnet-4-5")
    call.attempts.append(Attempt(route, "anthropic", False, answered=True, status=200, usage=usage))
    call.answer(200)
    ev = event_for(call, Pricer(), time.time(), 1.0)
    return ev.cache_write_1h_tokens, ev.cost_usd


def test_a_zero_split_from_message_start_says_nothing_of_writes_message_delta_adds() -> None:
    """bug26b variant 06-stale-split-1h-markers-vH: message_start's split was 0/0, message_delta (no
    ``cache_creation`` object in its usage) said 5424 writes, every marker said 1h: priced at the 5-minute rate,
    0.020949 instead of 3 × 3 + 5424 × 6 + 40 × 15 µ$ = 0.033153."""
    start = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "output_tokens": 1,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    }
    usage = usage_from_anthropic(
        merge_stream_usage(start, {"output_tokens": 40, "cache_creation_input_tokens": 5424})
    )
    assert usage.cache_write_tokens == 5424 and not usage.cache_write_split
    written_1h, cost = _cost_of(usage, MARKED_1H)
    assert written_1h == 5424 and cost == pytest.approx(0.033153, abs=1e-12)
    assert _cost_of(usage, {"messages": []})[0] == 0  # no marker: no word on the TTL, the 5-minute rate


def test_a_split_that_adds_up_stands_against_the_markers() -> None:
    """The provider's own account (bug8a variant 06-f): 2000 5-minute writes stay so under a 1h marker."""
    said = {
        "input_tokens": 3,
        "cache_creation_input_tokens": 2000,
        "output_tokens": 40,
        "cache_creation": {"ephemeral_5m_input_tokens": 2000, "ephemeral_1h_input_tokens": 0},
    }
    usage = usage_from_anthropic(said)
    assert usage.cache_write_split
    assert _cost_of(usage, MARKED_1H)[0] == 0
    only_split = {
        k: v for k, v in said.items() if k != "cache_creation_input_tokens"
    }  # the total is the split's
    assert usage_from_anthropic(only_split).cache_write_split
