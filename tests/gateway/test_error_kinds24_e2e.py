"""Session 24 (bug24b) error kinds end to end: Cohere's overflow and output refusals, a relay's 5xx around an
output-limit refusal, and a quota-exhausted 429 with Retry-After (real gateway, recorder and scripted upstream;
the official SDKs as clients)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import Pause, ScriptedUpstream, json_answer, sse

CATALOG = """
[[providers]]
name = "cohere"
base_url = "{up}/cohere/v1"
models = ["command-r-08-2024"]
price = {{ input = 0.15, output = 0.60 }}

[[providers]]
name = "relay"
base_url = "{up}/relay/v1"
models = ["relay-chat", "relay-vllm", "relay-litellm", "relay-inband", "relay-twice"]
price = {{ input = 0.27, output = 1.10 }}
"""
COHERE = "/cohere/v1/chat/completions"
RELAY = "/relay/v1/chat/completions"
OPENAI = "/openai/v1/chat/completions"
XAI = "/xai/v1/chat/completions"
AV = {"anthropic-version": "2023-06-01"}


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("kinds24")
    catalog = tmp / "catalog.toml"
    catalog.write_text(CATALOG.format(up=up.url))
    providers = {"openai": f"{up.url}/openai/v1", "xai": f"{up.url}/xai/v1"}
    with stack(tmp, providers, CATALOG_PATH=str(catalog)) as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


def ok_stream(model: str) -> list[bytes | Pause]:
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}},
    ]
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1775000000, "model": model}
    pieces: list[bytes | Pause] = [b"data: " + json.dumps({**head, **c}).encode() + b"\n\n" for c in chunks]
    return [*pieces, b"data: [DONE]\n\n"]


def sent_limits(up: ScriptedUpstream, path: str) -> list[Any]:
    return [r.json.get("max_tokens") for r in up.seen(path)]


def claude_stream_error(gw: Stack, model: str, max_tokens: int) -> anthropic.APIStatusError:
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as told:
        with claude.messages.stream(
            model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    return told.value


COHERE_PROMPT = (
    "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4950. Try using a shorter "
    "prompt, or enabling prompt truncating."
)


def test_cohere_overflow_reaches_claude_code_and_openai_clients_with_its_counts(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s24 variants 10-cohere-prompt-vA, 10-cohere-openai-vB: Cohere's "total number of tokens in the prompt cannot
    exceed 4081 - received 4950" reached Claude Code as "prompt is too long: too many tokens: …" without the counts
    its compaction reads, and an OpenAI client without them."""
    up.script(COHERE, json_answer({"id": "c0ffee", "message": COHERE_PROMPT}, 400))
    told = claude_stream_error(gw, "command-r-08-2024", 4000)
    assert told.status_code == 400 and isinstance(told.body, dict)
    assert told.body["error"] == {
        "type": "invalid_request_error",
        "message": "prompt is too long: 4950 tokens > 4081 maximum",
    }
    up.script(COHERE, json_answer({"id": "c0ffee", "message": COHERE_PROMPT}, 400))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as failed:
        client.chat.completions.create(
            model="command-r-08-2024", messages=[{"role": "user", "content": "hi"}]
        )
    assert failed.value.code == "context_length_exceeded"
    assert "maximum context length is 4081 tokens" in failed.value.message
    assert "resulted in 4950 tokens" in failed.value.message


def cohere_total(window: int, received: int) -> dict[str, Any]:
    return {
        "id": "c0ffee",
        "message": f"too many tokens: total number of tokens (prompt and prediction) cannot exceed {window} - received "
        f"{received}. Try using a shorter prompt or a smaller max_tokens value.",
    }


def test_cohere_prompt_and_prediction_refusal_is_retried_or_restated(gw: Stack, up: ScriptedUpstream) -> None:
    """s24 variants 17-cohere-total-vA, 10-cohere-total-vC: Cohere's "(prompt and prediction) cannot exceed 4096 -
    received 32050" counts the max_tokens asked: Claude Code's 32000 over a 50-token prompt is asked again within
    4046 (it went back as an overflow); a 12000-token request asking 1000 has an 11000-token prompt past 8192, said
    with the prompt's count."""

    def too_many(body: dict[str, Any]) -> bool:
        return int(body.get("max_tokens") or 0) > 4046

    up.script(COHERE, json_answer(cohere_total(4096, 32050), 400, when=too_many), sse(ok_stream("command-r")))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(
        model="command-r-08-2024", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text() == "Hi"
    assert sent_limits(up, COHERE) == [32000, 4046]
    up.script(COHERE, json_answer(cohere_total(8192, 12000), 400))
    told = claude_stream_error(gw, "command-r-08-2024", 1000)
    assert isinstance(told.body, dict)
    assert told.body["error"]["message"] == "prompt is too long: 11000 tokens > 8192 maximum"


VLLM_OUTPUT = (
    "'max_tokens' or 'max_completion_tokens' is too large: 32000. This model's maximum context length is 32768 "
    "tokens and your request has 1000 input tokens (32000 > 32768 - 1000)."
)
LITELLM_503 = (
    "litellm.ServiceUnavailableError: OpenAIException - max_tokens=32000 cannot be greater than "
    "max_model_len=max_total_tokens=28672. Please request fewer output tokens."
)


@pytest.mark.parametrize(
    ("model", "status", "body", "within"),
    [
        (
            "relay-vllm",
            500,
            {"object": "error", "message": VLLM_OUTPUT, "type": "BadRequestError", "code": 500},
            31768,
        ),
        (
            "relay-litellm",
            503,
            {"error": {"message": LITELLM_503, "type": None, "param": None, "code": "503"}},
            28672,
        ),
    ],
    ids=["vllm-500", "litellm-503"],
)
def test_an_output_limit_stated_in_a_5xx_is_retried_within(
    gw: Stack, up: ScriptedUpstream, model: str, status: int, body: dict[str, Any], within: int
) -> None:
    """s24 variants 17-5xx-vllm-vB, 17-503-litellm-vC: a relay answers vLLM's refusal of max_tokens with a 500 or
    LiteLLM's 503: the limit it states went unread (Claude Code got "prompt is too long" or a 529); now asked again
    within it, and answered."""

    def too_many(req: dict[str, Any]) -> bool:
        return int(req.get("max_tokens") or 0) > within

    up.script(RELAY, json_answer(body, status, when=too_many), sse(ok_stream(model)))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(
        model=model, max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text() == "Hi"
    assert sent_limits(up, RELAY) == [32000, within]


def test_an_output_limit_refusal_in_a_500_is_no_overflow_for_claude_code(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s24 variant 10-5xx-output-vllm-vD: when the retry within the stated limit is refused too, vLLM's output-limit
    words under a 500 went to Claude Code as "prompt is too long" (it would compact a 1000-token conversation); they
    are the server's refusal as it came."""
    refusal = {"object": "error", "message": VLLM_OUTPUT, "type": "BadRequestError", "code": 500}
    up.script(RELAY, *[json_answer(refusal, 500)] * 2)
    told = claude_stream_error(gw, "relay-chat", 32000)
    assert told.status_code == 500 and isinstance(told.body, dict)
    assert told.body["error"] == {"type": "api_error", "message": VLLM_OUTPUT}


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
    ("path", "provider", "model", "body"),
    [(OPENAI, "openai", "gpt-4o", QUOTA), (XAI, "xai", "grok-3-mini", XAI_CREDITS)],
    ids=["openai-insufficient-quota", "xai-credits"],
)
def test_a_quota_exhausted_429_with_retry_after_counts_toward_the_breaker(
    gw: Stack, up: ScriptedUpstream, path: str, provider: str, model: str, body: dict[str, Any]
) -> None:
    """s24 variants 11-quota-breaker-vE, 11-xai-credits-breaker-vF: a 429 for a quota or credit used up that carried
    a Retry-After only rested the provider, as a rate limit: it never counted toward the breaker. It counts now (and
    still rests the provider for its Retry-After)."""
    up.script(path, json_answer(body, 429, headers={"retry-after": "3600"}))
    r = httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert r.status_code == 429
    state = gw.health()["providers"][provider]
    assert state["consecutive_failures"] == 1
    assert state["state"] == "cooling_down"


def test_an_output_limit_stated_in_band_with_a_5xx_code_is_retried_within(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s24 variant 17-inband-503-vF: LiteLLM's proxy streams its fallback's 503 after a 200 as ``{"error": {…, "code":
    "503"}}`` around vLLM's max_model_len refusal: Claude Code got a 529 (its SDK retries the same request); now asked
    again within 28672 before anything reached it."""
    refusal = {"error": {"message": LITELLM_503, "type": "None", "param": "None", "code": "503"}}

    def too_many(req: dict[str, Any]) -> bool:
        return int(req.get("max_tokens") or 0) > 28672

    up.script(
        RELAY,
        sse([b"data: " + json.dumps(refusal).encode() + b"\n\n"], when=too_many),
        sse(ok_stream("relay-inband")),
    )
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(
        model="relay-inband", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text() == "Hi"
    assert sent_limits(up, RELAY) == [32000, 28672]


def test_a_second_5xx_refusal_stating_what_the_prompt_leaves_is_retried_within_it(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s24 variant 17-503-twice-vG: LiteLLM answers vLLM's two refusals (the window, then what the 50-token prompt
    leaves of it) as 503s: the second was not read, and Claude Code got a 529 after the first retry."""
    left = (
        "litellm.ServiceUnavailableError: OpenAIException - 'max_tokens' or 'max_completion_tokens' is too large: "
        "28672. This model's maximum context length is 28672 tokens and your request has 50 input tokens "
        "(28672 > 28672 - 50)."
    )
    up.script(
        RELAY,
        json_answer({"error": {"message": LITELLM_503, "code": "503"}}, 503),
        json_answer({"error": {"message": left, "code": "503"}}, 503),
        sse(ok_stream("relay-twice")),
    )
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with claude.messages.stream(
        model="relay-twice", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        assert stream.get_final_text() == "Hi"
    assert sent_limits(up, RELAY) == [32000, 28672, 28622]
