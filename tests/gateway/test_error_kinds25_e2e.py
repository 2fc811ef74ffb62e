"""Session 25 (bug25b) end to end: a quota-exhausted 429 with a short Retry-After is answered after ONE upstream call
(kind 11), and a stream whose finish reason says the server cut the answer (DeepSeek's
``insufficient_system_resource``, Z.ai's ``network_error``) is a failure to a translated client and to the ledger, not
a normal end (kind 13). Real gateway, recorder and scripted upstream; the official SDKs as clients."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

CATALOG = """
[[providers]]
name = "deepseek"
base_url = "{up}/deepseek/v1"
models = ["deepseek-chat"]
price = {{ input = 0.27, output = 1.10 }}

[[providers]]
name = "zai"
base_url = "{up}/zai/v1"
models = ["glm-4.6"]
price = {{ input = 0.6, output = 2.2 }}
"""
OPENAI = "/openai/v1/chat/completions"
XAI = "/xai/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
DEEPSEEK = "/deepseek/v1/chat/completions"
ZAI = "/zai/v1/chat/completions"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("kinds25")
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(up=up.url))
    providers = {
        "openai": f"{up.url}/openai/v1",
        "xai": f"{up.url}/xai/v1",
        "anthropic": f"{up.url}/anthropic",
    }
    # every quota refusal counts toward the breaker: none may open it for the next test
    with stack(tmp, providers, CATALOG_PATH=str(catalog), BREAKER_FAILURES="1000") as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
XAI_CREDITS = {
    "code": "Some resource has been exhausted",
    "error": "Your team 0b1d has either used all available credits or reached its monthly spending limit.",
}


@pytest.mark.parametrize(
    ("path", "model", "body", "headers"),
    [
        (
            OPENAI,
            "gpt-4o-mini",
            QUOTA,
            {"x-ratelimit-remaining-requests": "4999", "x-ratelimit-reset-requests": "12ms"},
        ),
        (OPENAI, "gpt-4o", QUOTA, {"retry-after": "1"}),
        (XAI, "grok-3-mini", XAI_CREDITS, {"retry-after-ms": "700"}),
    ],
    ids=["openai-reset-header", "openai-retry-after-1", "xai-retry-after-ms"],
)
def test_a_quota_429_with_a_short_wait_is_not_sent_again(
    gw: Stack, up: ScriptedUpstream, path: str, model: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """s25 variants 11-quota-short-vA, 11-quota-resethdr-vB, 11-xai-credits-ms-vD: the gateway waited out the short
    wait and sent the same request to the same provider again, four times in all (MAX_ATTEMPTS)."""
    up.script(path, json_answer(body, 429, headers=headers, keep=True))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.RateLimitError) as told:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    assert told.value.response.headers.get("x-should-retry") == "false"
    assert len(up.seen(path)) == 1


def test_an_anthropic_billing_429_with_retry_after_reaches_claude_code_after_one_call(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s25 variant 11-billing-short-vC."""
    billing = {
        "type": "error",
        "error": {"type": "billing_error", "message": "Your credit balance is too low."},
    }
    up.script(ANTHROPIC, json_answer(billing, 429, headers={"retry-after": "2"}, keep=True))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as told:
        with claude.messages.stream(
            model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert told.value.response.headers.get("x-should-retry") == "false"
    assert told.value.response.headers.get("retry-after") == "2"
    assert len(up.seen(ANTHROPIC)) == 1


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    obj = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1775000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _cut(model: str, reason: str, done: bool) -> list[bytes]:
    pieces = [
        _chunk(model, {"role": "assistant", "content": ""}),
        _chunk(model, {"content": "Hello"}),
        _chunk(model, {"content": " there!"}),
        _chunk(model, {}, reason, usage=USAGE),
    ]
    return [*pieces, b"data: [DONE]\n\n"] if done else pieces


def test_deepseek_insufficient_system_resource_is_no_normal_end(gw: Stack, up: ScriptedUpstream) -> None:
    """s25 variant 13-deepseek-resource-vA: DeepSeek's "the request is interrupted due to insufficient resource of
    the inference system", then the body's end without [DONE]. Claude Code was told end_turn and the ledger 200."""
    up.script(DEEPSEEK, sse(_cut("deepseek-chat", "insufficient_system_resource", done=False)))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as failed:
        with claude.messages.stream(
            model="deepseek-chat",
            max_tokens=100,
            messages=[{"role": "user", "content": "Say hello."}],
            extra_headers={"x-request-id": "kinds25-deepseek"},
        ) as stream:
            stream.get_final_message()
    assert "insufficient_system_resource" in str(failed.value)
    row = gw.row_for("kinds25-deepseek")
    assert row["status"] == 503
    assert (row["input_tokens"], row["output_tokens"]) == (12, 3)  # what was made is billed


def test_zai_network_error_is_a_failed_response(gw: Stack, up: ScriptedUpstream) -> None:
    """s25 variant 13-zai-network-vB: Z.ai's "model inference exception", then [DONE]: a Responses client got
    response.completed."""
    up.script(ZAI, sse(_cut("glm-4.6", "network_error", done=True)))
    with httpx.stream(
        "POST",
        gw.gateway_url + "/v1/responses",
        json={"model": "glm-4.6", "input": "Say hello.", "stream": True},
        headers={"x-request-id": "kinds25-zai"},
        timeout=30,
    ) as r:
        body = r.read().decode()
    types = [json.loads(line[6:]).get("type") for line in body.splitlines() if line.startswith("data: {")]
    assert "response.completed" not in types
    assert "response.failed" in types
    assert gw.row_for("kinds25-zai")["status"] == 500


# The same finish reasons on a WHOLE (non-streamed) chat answer (review25: the non-streamed path still answered
# Claude Code ``end_turn`` and Codex ``completed``): a failure to a translated client and to the ledger too.


def _cut_whole(model: str, reason: str) -> dict[str, object]:
    choice = {"index": 0, "message": {"role": "assistant", "content": "Hel"}, "finish_reason": reason}
    return {"id": "c1", "object": "chat.completion", "model": model, "choices": [choice], "usage": USAGE}


def test_claude_code_is_told_a_whole_deepseek_answer_was_cut(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(DEEPSEEK, json_answer(_cut_whole("deepseek-chat", "insufficient_system_resource")))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as failed:
        claude.messages.create(
            model="deepseek-chat",
            max_tokens=100,
            messages=[{"role": "user", "content": "Say hello."}],
            extra_headers={"x-request-id": "review25-cut-deepseek"},
        )
    assert failed.value.status_code == 529  # overloaded_error: how Anthropic says 503
    assert "insufficient_system_resource" in str(failed.value)
    assert gw.row_for("review25-cut-deepseek")["status"] >= 500  # not the 200 of a whole answer


def test_codex_is_told_a_whole_zai_answer_was_cut(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(ZAI, json_answer(_cut_whole("glm-4.6", "network_error")))
    codex = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.APIStatusError) as failed:
        codex.responses.create(
            model="glm-4.6", input="Say hello.", extra_headers={"x-request-id": "review25-cut-zai"}
        )
    assert failed.value.status_code >= 500
    assert "network_error" in str(failed.value)
    assert gw.row_for("review25-cut-zai")["status"] >= 500
