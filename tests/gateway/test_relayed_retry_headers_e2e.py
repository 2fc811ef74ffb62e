"""A proxy's prefixed copies of the provider's retry headers reach the client (s17 variants 11-a, 11-b).

LiteLLM's proxy relays an upstream 429's ``retry-after`` and ``x-ratelimit-*`` only as ``llm_provider-<name>``
(BerriAI/litellm#21553). The client, which reads ``retry-after`` (the SDKs' ``_calculate_retry_timeout``, Claude
Code), got the 429 without it and retried blind. ``providers.base.relayed_headers``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

OPENAI = "/openai/chat/completions"
LIMITED = {
    "error": {
        "message": "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached for gpt-4o-mini.",
        "type": "throttling_error",
        "param": None,
        "code": "429",
    }
}
pytestmark = pytest.mark.usefixtures("fresh_up")
BODY = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    with stack(tmp_path, {"openai": f"{up.url}/openai"}) as st:
        yield st


def test_an_anthropic_client_gets_the_relayed_retry_after(gw: Stack, up: ScriptedUpstream) -> None:
    relayed = {"llm_provider-retry-after": "45", "llm_provider-x-ratelimit-remaining-requests": "0"}
    for _ in range(4):
        up.script(OPENAI, json_answer(LIMITED, 429, headers=relayed))
    r = httpx.post(
        gw.gateway_url + "/v1/messages",
        json=BODY,
        timeout=30,
        headers={"x-request-id": "rr-1", "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 429
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert 40 <= int(r.headers["retry-after"]) <= 45
    assert r.headers["x-ratelimit-remaining-requests"] == "0"


def test_an_openai_client_gets_the_relayed_exhausted_window(gw: Stack, up: ScriptedUpstream) -> None:
    relayed = {
        "llm_provider-x-ratelimit-remaining-tokens": "0",
        "llm_provider-x-ratelimit-reset-tokens": "1m0s",
        "llm_provider-x-ratelimit-remaining-requests": "499",
        "llm_provider-x-ratelimit-reset-requests": "120ms",
    }
    for _ in range(4):
        up.script(OPENAI, json_answer(LIMITED, 429, headers=relayed))
    r = httpx.post(
        gw.gateway_url + "/v1/chat/completions", json=BODY, timeout=30, headers={"x-request-id": "rr-2"}
    )
    assert r.status_code == 429
    assert 50 <= int(r.headers["retry-after"]) <= 60
    assert r.headers["x-ratelimit-remaining-tokens"] == "0"
