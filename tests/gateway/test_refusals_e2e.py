"""A provider's 429 with a stated window is remembered even when a fallback answered the request.

``Proxy._note_refusals`` (routing/refusals.py; s10 variant 11-a) keeps each provider's last 429 with a
Retry-After so that, once every provider of a model rests, the client hears a provider's own refusal (body,
headers, the time left of its window) instead of the gateway's generic "no provider available". A refusal
answered by a fallback's success must be remembered too: the request succeeded, the provider still refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

ANTHROPIC = "/anthropic/v1/messages"
OPENROUTER = "/openrouter/chat/completions"
AV = {"anthropic-version": "2023-06-01"}
WEEK = {"retry-after": "287441", "anthropic-ratelimit-unified-status": "rejected", "x-should-retry": "false"}
ANTHROPIC_REFUSAL = {
    "type": "error",
    "error": {"type": "rate_limit_error", "message": "Weekly limit reached."},
}
OPENROUTER_REFUSAL = {"error": {"message": "Rate limit exceeded: free-models-per-min.", "code": 429}}
ANSWER = {
    "id": "gen-1",
    "object": "chat.completion",
    "created": 1775000000,
    "model": "anthropic/claude-sonnet-4.5",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    providers = {"anthropic": f"{up.url}/anthropic", "openrouter": up.url + "/openrouter"}
    with stack(tmp_path, providers, ROUTING_POLICY="ordered", ROUTING_ORDER="anthropic,openrouter") as st:
        yield st


def post(gw: Stack, body: dict[str, object], rid: str) -> httpx.Response:
    return httpx.post(
        gw.gateway_url + "/v1/messages", json=body, timeout=30, headers={"x-request-id": rid, **AV}
    )


def test_a_refusal_a_fallback_answered_is_told_once_every_provider_rests(
    gw: Stack, up: ScriptedUpstream
) -> None:
    body = {"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    up.script(ANTHROPIC, json_answer(ANTHROPIC_REFUSAL, 429, headers=WEEK))
    up.script(OPENROUTER, json_answer(ANSWER))
    first = post(gw, body, "rf-1")  # Anthropic refuses for a week, OpenRouter answers
    assert first.status_code == 200 and first.json()["content"][0]["text"] == "ok"
    up.script(OPENROUTER, json_answer(OPENROUTER_REFUSAL, 429, headers={"retry-after": "600"}))
    second = post(gw, body, "rf-2")  # Anthropic rests; OpenRouter refuses for 10 minutes
    assert second.status_code == 429
    third = post(gw, body, "rf-3")  # both rest: the refusal whose window ends first, as it was said
    assert third.status_code == 429
    assert third.json()["error"]["type"] == "rate_limit_error"
    assert third.json()["error"]["message"] == "Rate limit exceeded: free-models-per-min."
    assert 500 < int(third.headers["retry-after"]) <= 600
    assert len(up.seen(ANTHROPIC)) == 1 and len(up.seen(OPENROUTER)) == 2
