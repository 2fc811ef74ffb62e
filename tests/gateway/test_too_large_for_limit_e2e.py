"""A 429 for a request larger than the limit it hit is told as not retryable (s16 variants 11-h, 11-i).

OpenAI answers a request whose tokens alone exceed the organisation's per-minute budget with 429
``rate_limit_exceeded`` "Request too large for gpt-4o … on tokens per min (TPM): Limit 30000, Requested 250011. The
input or output tokens must be reduced in order to run successfully." No wait admits it, yet the SDKs and Claude Code
retry every 429 unless ``x-should-retry: false`` (``_base_client._should_retry``), and the gateway itself sent it
again after the provider's Retry-After. ``_error_meaning.over_the_limit_itself``: a request too large.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

OPENAI = "/openai/chat/completions"
TOO_LARGE = {
    "error": {
        "message": "Request too large for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 30000, "
        "Requested 250011. The input or output tokens must be reduced in order to run successfully.",
        "type": "tokens",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
pytestmark = pytest.mark.usefixtures("fresh_up")

BODY = {"model": "gpt-4o-mini", "max_tokens": 100, "messages": [{"role": "user", "content": "huge"}]}


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    with stack(tmp_path, {"openai": f"{up.url}/openai"}) as st:
        yield st


def test_an_anthropic_client_gets_413_not_retryable_and_openai_is_asked_once(
    gw: Stack, up: ScriptedUpstream
) -> None:
    for _ in range(4):  # what a gateway that sent it again would get
        up.script(OPENAI, json_answer(TOO_LARGE, 429, headers={"retry-after": "1"}))
    r = httpx.post(
        gw.gateway_url + "/v1/messages",
        json=BODY,
        timeout=30,
        headers={"x-request-id": "tl-1", "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "request_too_large"
    assert r.headers["x-should-retry"] == "false"
    assert len(up.seen(OPENAI)) == 1


def test_an_openai_client_keeps_the_429_told_not_to_retry(gw: Stack, up: ScriptedUpstream) -> None:
    for _ in range(4):
        up.script(OPENAI, json_answer(TOO_LARGE, 429, headers={"retry-after": "1"}))
    r = httpx.post(
        gw.gateway_url + "/v1/chat/completions", json=BODY, timeout=30, headers={"x-request-id": "tl-2"}
    )
    assert r.status_code == 429 and r.json() == TOO_LARGE  # OpenAI's own body, as it came
    assert r.headers["x-should-retry"] == "false"
    assert len(up.seen(OPENAI)) == 1


def test_a_too_large_request_does_not_rest_the_provider_for_the_next_one(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The refusal is the request's own size, not the provider's state: a usual request right after it is
    served by the same provider, not told it is resting for the refusal's Retry-After (60 s here)."""
    up.script(OPENAI, json_answer(TOO_LARGE, 429, headers={"retry-after": "60"}))
    ok = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
    up.script(OPENAI, json_answer(ok))
    first = httpx.post(gw.gateway_url + "/v1/chat/completions", json=BODY, timeout=30)
    assert first.status_code == 429 and first.headers["x-should-retry"] == "false"
    second = httpx.post(gw.gateway_url + "/v1/chat/completions", json=BODY, timeout=30)
    assert second.status_code == 200, second.text
    assert second.json()["choices"][0]["message"]["content"] == "fine"
    assert len(up.seen(OPENAI)) == 2
