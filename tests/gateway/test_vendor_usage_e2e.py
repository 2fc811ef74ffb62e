"""A model's vendor convention for reasoning tokens, when a relay passes the vendor's usage on (s19 variants 29-a,
29-b, 29-d; bugcase 29's kind).

xAI counts reasoning outside ``completion_tokens`` (docs.x.ai, "Reasoning"); OpenAI inside. Behind a relay configured
as a catalog provider (LiteLLM's proxy, new-api) that passes xAI's counts on without ``total_tokens``, and with less
reasoning than completion, nothing in the answer says where the reasoning is: the model's vendor does. OpenRouter
restates every vendor's usage in OpenAI's convention, so grok there stays inside; a non-xAI model behind the same
relay keeps OpenAI's convention.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.gateway.inproc import InProcGateway, chat_answer

CATALOG = """
[[providers]]
name = "litellm"
base_url = "{UPSTREAM}/litellm/v1"
models = ["xai/grok-4", "grok-3-mini", "qwen3-32b"]
price = { input = 1.0, output = 2.0 }
"""
PATHS = {
    "anthropic": "/v1/messages",
    "openai_chat": "/v1/chat/completions",
    "openai_responses": "/v1/responses",
}
# xAI's counts as the relay passes them: no total_tokens; reasoning (150) below completion (600)
USAGE = {
    "prompt_tokens": 40,
    "completion_tokens": 600,
    "completion_tokens_details": {"reasoning_tokens": 150},
}


def request(client: str, model: str, stream: bool) -> dict[str, Any]:
    if client == "anthropic":
        return {
            "model": model,
            "max_tokens": 100,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": stream,
        }
    if client == "openai_chat":
        return {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return {"model": model, "input": "hi", "stream": stream}


def told_output(client: str, stream: bool, raw: bytes) -> int | None:
    """The output tokens the client was told (translated clients only)."""
    if not stream:
        usage = orjson.loads(raw)["usage"]
        return usage["output_tokens"]
    found = None
    for line in raw.split(b"\n"):
        if line.startswith(b"data:") and line[5:].strip().startswith(b"{"):
            event = orjson.loads(line[5:])
            usage = event.get("usage") or (event.get("response") or {}).get("usage")
            if isinstance(usage, dict) and "output_tokens" in usage:
                found = usage["output_tokens"]
    return found


CASES = [
    pytest.param(model, client, stream, id=f"{model} | {client} | {'stream' if stream else 'whole'}")
    for model in ("xai/grok-4", "grok-3-mini")
    for client in PATHS
    for stream in (False, True)
]


@pytest.mark.parametrize(("model", "client", "stream"), CASES)
async def test_grok_behind_a_relay_keeps_xais_convention(model: str, client: str, stream: bool) -> None:
    """Output 600 + 150 = 750 (reasoning 150), priced (40 × $1 + 750 × $2) µ$; a translated client is told 750.
    Before the fix: 600, as if the relay's usage followed OpenAI's convention."""
    async with InProcGateway([], catalog=CATALOG) as gw:
        gw.answer(chat_answer(USAGE, stream=stream, model=model))
        status, raw = await gw.post(PATHS[client], request(client, model, stream))
        assert status == 200, raw[:300]
        ev = gw.last_event
    assert (ev.provider, ev.input_tokens, ev.output_tokens, ev.reasoning_tokens) == ("litellm", 40, 750, 150)
    assert ev.cost_usd is not None and abs(ev.cost_usd - (40 * 1 + 750 * 2) / 1e6) < 1e-12
    if client != "openai_chat":
        assert told_output(client, stream, raw) == 750


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_other_vendors_behind_the_relay_keep_openais_convention(stream: bool) -> None:
    """A non-xAI model with the same counts: reasoning inside completion_tokens (OpenAI's convention), output 600."""
    async with InProcGateway([], catalog=CATALOG) as gw:
        gw.answer(chat_answer(USAGE, stream=stream, model="qwen3-32b"))
        status, raw = await gw.post(PATHS["anthropic"], request("anthropic", "qwen3-32b", stream))
        assert status == 200, raw[:300]
        ev = gw.last_event
    assert (ev.output_tokens, ev.reasoning_tokens) == (600, 150)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_grok_on_openrouter_stays_in_openais_convention(stream: bool) -> None:
    """OpenRouter restates grok's usage in OpenAI's convention (reasoning inside completion_tokens): output 600."""
    async with InProcGateway(["openrouter"]) as gw:
        gw.answer(chat_answer(USAGE, stream=stream, model="x-ai/grok-4"))
        status, raw = await gw.post(PATHS["anthropic"], request("anthropic", "x-ai/grok-4", stream))
        assert status == 200, raw[:300]
        ev = gw.last_event
    assert (ev.provider, ev.output_tokens, ev.reasoning_tokens) == ("openrouter", 600, 150)


OCI_CATALOG = """
[[providers]]
name = "oci"
base_url = "{UPSTREAM}/oci/v1"
models = ["xai.grok-4", "xai.grok-3-mini", "oci/xai.grok-4", "us.meta.llama3-3-70b-instruct-v1:0"]
price = { input = 1.0, output = 2.0 }
"""


@pytest.mark.parametrize("model", ["xai.grok-4", "xai.grok-3-mini", "oci/xai.grok-4"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_s20_grok_named_with_a_dot_joined_vendor_keeps_xais_convention(
    model: str, stream: bool
) -> None:
    """s20 variants 29-a..29-c, 29-e: Oracle OCI's OpenAI-compatible endpoint names Grok ``xai.grok-4`` (LiteLLM:
    ``oci/xai.grok-4``); the vendor was read only after a ``/``, so xAI's counts were taken in OpenAI's convention:
    600 output tokens billed for 750. Claude Code is told 750."""
    async with InProcGateway([], catalog=OCI_CATALOG) as gw:
        gw.answer(chat_answer(USAGE, stream=stream, model=model))
        status, raw = await gw.post(PATHS["anthropic"], request("anthropic", model, stream))
        assert status == 200, raw[:300]
        ev = gw.last_event
    assert (ev.provider, ev.output_tokens, ev.reasoning_tokens) == ("oci", 750, 150)
    assert told_output("anthropic", stream, raw) == 750


async def test_s20_other_vendors_named_with_a_dot_keep_openais_convention() -> None:
    """A Bedrock-style id of another vendor (``us.meta.llama…``): reasoning inside, output 600."""
    async with InProcGateway([], catalog=OCI_CATALOG) as gw:
        gw.answer(chat_answer(USAGE, stream=False, model="us.meta.llama3-3-70b-instruct-v1:0"))
        status, raw = await gw.post(
            PATHS["anthropic"], request("anthropic", "us.meta.llama3-3-70b-instruct-v1:0", False)
        )
        assert status == 200, raw[:300]
        ev = gw.last_event
    assert (ev.output_tokens, ev.reasoning_tokens) == (600, 150)
