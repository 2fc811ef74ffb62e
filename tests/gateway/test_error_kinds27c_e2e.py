"""Session 27 (bug27c) end to end, kinds 10 and 11. OpenRouter answers HTTP 200 with an error BODY ``{"error": {"code": 429,
…}}`` (its docs, "Errors": an error may come in a 200's body). The client gets a 429 in its own format with a
Retry-After from the error's ``metadata.headers`` reset, as when OpenRouter says the same in its stream; before, a
502 ``bad_response`` (Claude Code: 529 ``overloaded_error``) without any wait. Real gateway, recorder and scripted
upstream; the official SDKs as clients. Gemini's one-element error list told in its stream (an overflow, a 429
with RetryInfo) is that error, not a "malformed chunk" 502/529."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

OPENROUTER = "/openrouter/api/v1/chat/completions"
MODEL = "deepseek/deepseek-chat-v3-0324:free"


def _rate_limited() -> dict[str, object]:
    reset_ms = int((time.time() + 40) * 1000)
    return {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded: free-models-per-min. ",
            "metadata": {
                "headers": {
                    "X-RateLimit-Limit": "20",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(reset_ms),
                }
            },
        }
    }


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    """A gateway of its own with only OpenRouter (its rest after a 429 must not reach another test)."""
    up.reset()
    with stack(tmp_path, {"openrouter": f"{up.url}/openrouter/api/v1"}) as st:
        yield st


def test_claude_code_is_told_a_rate_limit_a_200_body_says(gw: Stack, up: ScriptedUpstream) -> None:
    """bug27c variant 11-or-200-body-429-cc-ns-vE: before, 529 overloaded_error."""
    up.script(OPENROUTER, json_answer(_rate_limited(), 200, keep=True))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as told:
        client.messages.create(model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "hi"}])
    assert told.value.status_code == 429
    assert told.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_a_chat_client_gets_the_429_with_a_retry_after(gw: Stack, up: ScriptedUpstream) -> None:
    """bug27c variant 11-or-200-body-429-chat-ns-vJ: before, 502 server_error without retry-after."""
    up.script(OPENROUTER, json_answer(_rate_limited(), 200, keep=True))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as told:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert 30 <= int(told.value.response.headers["retry-after"]) <= 41


# ---- Gemini's one-element error list told in its stream (kinds 10 and 11) ----------------------------------------

GEMINI = "/gemini/v1beta/openai/chat/completions"
GEMINI_CATALOG = """
[[providers]]
name = "gemini"
base_url = "{up}/gemini/v1beta/openai"
models = ["gemini-2.5-pro"]
price = {{ input = 1.25, output = 10 }}
"""


@pytest.fixture()
def gw_gemini(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    up.reset()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(GEMINI_CATALOG.format(up=up.url))
    with stack(tmp_path, {}, CATALOG_PATH=str(catalog)) as st:
        yield st


def _listed(error: dict[str, object]) -> bytes:
    return b"data: " + json.dumps([{"error": error}]).encode() + b"\n\n"


def test_claude_code_compacts_on_geminis_listed_overflow_in_its_stream(
    gw_gemini: Stack, up: ScriptedUpstream
) -> None:
    """bug27c variant 10-gemini-inband-list-cc-vK: before, 529 overloaded_error "malformed chunk from upstream"."""
    overflow = {
        "code": 400,
        "message": "The input token count (1200345) exceeds the maximum number of tokens allowed (1048576).",
        "status": "INVALID_ARGUMENT",
    }
    up.script(GEMINI, sse([_listed(overflow)]))
    client = anthropic.Anthropic(base_url=gw_gemini.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as told:
        with client.messages.stream(
            model="gemini-2.5-pro", max_tokens=8000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert "prompt is too long" in told.value.body["error"]["message"]  # type: ignore[index]


def test_geminis_listed_429_in_its_stream_is_a_429_with_its_wait(
    gw_gemini: Stack, up: ScriptedUpstream
) -> None:
    """bug27c variant 11-gemini-inband-list-429-cc-vM: before, 529 without retry-after."""
    limited = {
        "code": 429,
        "message": "Resource has been exhausted (e.g. check quota).",
        "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
    }
    up.script(GEMINI, sse([_listed(limited)]))
    client = anthropic.Anthropic(base_url=gw_gemini.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as told:
        with client.messages.stream(
            model="gemini-2.5-pro", max_tokens=8000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert 30 <= int(told.value.response.headers["retry-after"]) <= 37


# ---- a Go server's sub-millisecond reset (kind 11) ------------------------------------------------------------------

GROQ = "/groq/openai/v1/chat/completions"
GROQ_CATALOG = """
[[providers]]
name = "groq"
base_url = "{up}/groq/openai/v1"
models = ["llama-3.3-70b-versatile"]
price = {{ input = 0.59, output = 0.79 }}
"""


def test_a_microsecond_reset_is_waited_out_and_the_request_answered(
    up: ScriptedUpstream, tmp_path: Path
) -> None:
    """bug27c variant 11-go-micro-reset-cc-vN: "864µs" (Go's Duration.String) read as no reset: Claude Code got the
    429 without a wait, after one upstream call."""
    up.reset()
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(GROQ_CATALOG.format(up=up.url))
    limited = {
        "error": {
            "message": "Rate limit reached for model `llama-3.3-70b-versatile` on requests per minute (RPM)",
            "type": "requests",
            "code": "rate_limit_exceeded",
        }
    }
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "864\u00b5s"}
    answer = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "llama-3.3-70b-versatile",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello."}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    up.script(GROQ, json_answer(limited, 429, headers=headers), json_answer(answer))
    with stack(tmp_path, {}, CATALOG_PATH=str(catalog)) as st:
        client = anthropic.Anthropic(base_url=st.gateway_url, api_key="k", max_retries=0)
        got = client.messages.create(
            model="llama-3.3-70b-versatile", max_tokens=1024, messages=[{"role": "user", "content": "hi"}]
        )
    assert got.content[0].text == "Hello."  # type: ignore[union-attr]
    assert len(up.seen(GROQ)) == 2
