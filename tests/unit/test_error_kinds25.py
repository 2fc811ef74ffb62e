"""Session 25 (bug25b): a quota 429 with a short wait is not resent to the same provider (kind 11); a finish reason
that says the server cut the answer is no normal end (kind 13). Pure readers, the chat stream decoder, the serve loop.

Each test names the /tmp/bug25b variant whose right value it holds; each fails on the code before session 25."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from services.gateway.dialects import registry
from services.gateway.dialects.ir import Delta, Finish, StreamError, TextDelta
from services.gateway.dialects.openai_chat import ChatStreamDecoder
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from services.gateway.serve import Answer, Limits, told_not_to_retry
from services.gateway.serve import serve as serve_loop
from shared.sse import SSEEvent

QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
OPENAI_QUOTA = json.dumps(QUOTA).encode()
ANTHROPIC_BILLING = json.dumps(
    {"type": "error", "error": {"type": "billing_error", "message": "Your credit balance is too low."}}
).encode()
XAI_CREDITS = json.dumps(
    {
        "code": "Some resource has been exhausted",
        "error": "Your team 1 has either used all available credits.",
    }
).encode()
# OpenRouter relays the provider's own body as text in error.metadata.raw (OpenRouter docs, "Errors")
OPENROUTER_QUOTA = json.dumps(
    {"error": {"code": 429, "message": "Provider returned error", "metadata": {"raw": json.dumps(QUOTA)}}}
).encode()
OPENROUTER_LIMIT = json.dumps(
    {"error": {"code": 429, "message": "Provider returned error", "metadata": {"raw": "slow down"}}}
).encode()
RATE_LIMITED = json.dumps(
    {"error": {"message": "Rate limit reached for gpt-4o.", "code": "rate_limit_exceeded"}}
).encode()


def test_openrouter_relaying_a_providers_quota_refusal_is_quota_exhausted() -> None:
    """s25 variant 11-or-quota-vG: the quota is only in ``metadata.raw``; a relayed rate limit stays one."""
    assert registry.quota_exhausted(429, OPENROUTER_QUOTA)
    meaning = registry.upstream_error_meaning("openai_chat", 429, OPENROUTER_QUOTA, "")
    assert registry.retry_advice(meaning) == {"x-should-retry": "false"}  # the client's SDK is told too
    assert not registry.quota_exhausted(429, OPENROUTER_LIMIT)
    assert not registry.quota_exhausted(429, b'{"error": {"metadata": {"raw": 5}}}')


@pytest.mark.parametrize(
    "raw",
    [OPENAI_QUOTA, ANTHROPIC_BILLING, XAI_CREDITS, OPENROUTER_QUOTA],
    ids=["openai", "anthropic", "xai", "openrouter"],
)
def test_a_quota_429_is_told_not_to_retry(raw: bytes) -> None:
    assert told_not_to_retry(UpstreamError(429, "refused", provider="p", retryable=True, body=raw))


@pytest.mark.parametrize(
    ("raw", "once"),
    [
        (OPENAI_QUOTA, True),
        (ANTHROPIC_BILLING, True),
        (XAI_CREDITS, True),
        (OPENROUTER_QUOTA, True),
        (RATE_LIMITED, False),
    ],
    ids=["openai", "anthropic", "xai", "openrouter", "rate-limit"],
)
async def test_a_quota_429_with_a_short_retry_after_is_not_sent_again(raw: bytes, once: bool) -> None:
    """s25 variants 11-quota-short-vA, 11-quota-resethdr-vB, 11-billing-short-vC, 11-xai-credits-ms-vD: a quota
    refusal that says "retry after 1 s" was waited out and resent to the same provider up to MAX_ATTEMPTS times;
    a plain rate limit still is (its wait lifts it)."""
    now = [1000.0]  # the breaker's clock, moved on by the loop's waits: no real time involved
    health = ProviderHealth(BreakerConfig(failures=50, cooldown_s=30.0), clock=lambda: now[0])
    sent: list[str] = []

    async def attempt(route: Route) -> Answer[str] | UpstreamError:
        sent.append(route.provider)
        return UpstreamError(429, "refused", provider="openai", retryable=True, body=raw, retry_after_s=1.0)

    async def waited(seconds: float) -> None:
        now[0] += seconds

    outcome = await serve_loop([Route("openai", "gpt-4o")], attempt, health, Limits(3, 5.0), sleep=waited)
    assert isinstance(outcome, UpstreamError) and outcome.upstream_status == 429
    assert (len(sent) == 1) is once


async def test_a_quota_429_still_falls_back_to_another_provider() -> None:
    """Not sent again to the provider that refused, but another route may serve the request."""
    health = ProviderHealth(BreakerConfig(failures=50, cooldown_s=30.0))
    sent: list[str] = []

    async def attempt(route: Route) -> Answer[str] | UpstreamError:
        sent.append(route.provider)
        if route.provider == "openai":
            return UpstreamError(
                429, "refused", provider="openai", retryable=True, body=OPENAI_QUOTA, retry_after_s=0.01
            )
        return Answer("served")

    routes = [Route("openai", "gpt-4o"), Route("openrouter", "openai/gpt-4o")]
    assert await serve_loop(routes, attempt, health, Limits(3, 5.0)) == "served"
    assert sent == ["openai", "openrouter"]


# ---- kind 13: finish reasons that say the answer was cut -------------------------------------------------------


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> SSEEvent:
    obj = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return SSEEvent(event=None, data=orjson.dumps(obj).decode())


def _feed(events: list[SSEEvent]) -> tuple[ChatStreamDecoder, list[Delta]]:
    dec = ChatStreamDecoder()
    out: list[Delta] = []
    for ev in events:
        out += dec.feed(ev)
    return dec, out + dec.finish()


USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


@pytest.mark.parametrize(
    ("reason", "status"),
    [("insufficient_system_resource", 503), ("network_error", 500)],
    ids=["deepseek", "zai"],
)
@pytest.mark.parametrize("done", [True, False], ids=["done", "no-done"])
def test_a_finish_reason_that_says_the_answer_was_cut_is_a_stream_error(
    reason: str, status: int, done: bool
) -> None:
    """s25 variants 13-deepseek-resource-vA (DeepSeek's API reference: "the request is interrupted due to
    insufficient resource of the inference system"), 13-zai-network-vB (Z.ai: "model inference exception"): read as
    a finish, a translated client was told end_turn / completed and the ledger a 200. One StreamError, no Finish;
    the usage in the same chunk is still read (the ledger bills what was made)."""
    events = [_chunk({"role": "assistant", "content": "Hello"}), _chunk({}, reason, usage=USAGE)]
    if done:
        events.append(SSEEvent(event=None, data="[DONE]"))
    dec, deltas = _feed(events)
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Hello"]
    assert not any(isinstance(d, Finish) for d in deltas)
    errors = [d for d in deltas if isinstance(d, StreamError)]
    assert len(errors) == 1 and errors[0].status == status and reason in errors[0].message
    assert dec.usage is not None and (dec.usage.input_tokens, dec.usage.output_tokens) == (12, 3)


def test_other_finish_reasons_still_finish() -> None:
    for reason in ("stop", "length", "eos", "model_length"):
        _, deltas = _feed([_chunk({"content": "Hi"}), _chunk({}, reason)])
        assert any(isinstance(d, Finish) for d in deltas) and not any(
            isinstance(d, StreamError) for d in deltas
        )
