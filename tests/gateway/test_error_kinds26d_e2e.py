"""Session 26 (bug26d) kinds 10 and 17 end to end: GitHub Models' 413 ``tokens_limit_reached`` said as an overflow,
and an output-token field refused by name sent once more by the other (real gateway, recorder and scripted
upstream; the official SDKs as clients)."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog_gateway, ok_stream
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

CATALOG = """
[[providers]]
name = "ghmodels"
base_url = "{up}/ghmodels/v1"
models = ["gpt-4o"]
price = {{ input = 0.1, output = 0.2 }}

[[providers]]
name = "sfgw"
base_url = "{up}/sfgw/v1"
models = ["sfdc-gpt-4o"]
price = {{ input = 0.1, output = 0.2 }}

[[providers]]
name = "azure"
base_url = "{up}/azure/v1"
models = ["reasoning-prod", "o3-mini"]
price = {{ input = 1.1, output = 4.4 }}

[[providers]]
name = "mistral"
base_url = "{up}/mistral/v1"
models = ["mistral-large-latest"]
price = {{ input = 2.0, output = 6.0 }}
"""
GHM = "/ghmodels/v1/chat/completions"
AZURE = "/azure/v1/chat/completions"
SFGW = "/sfgw/v1/chat/completions"
MISTRAL = "/mistral/v1/chat/completions"
AV = {"anthropic-version": "2023-06-01"}
GHM_ERR = {
    "error": {
        "code": "tokens_limit_reached",
        "message": "Request body too large for gpt-4o model. Max size: 8000 tokens.",
        "details": "Request body too large for gpt-4o model. Max size: 8000 tokens.",
    }
}
UNSUPPORTED = {
    "error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
        "'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
}
EXTRA_FORBIDDEN = {
    "object": "error",
    "message": {
        "detail": [
            {
                "type": "extra_forbidden",
                "loc": ["body", "max_completion_tokens"],
                "msg": "Extra inputs are not permitted",
                "input": 32000,
            }
        ]
    },
    "type": "invalid_request_error",
    "param": None,
    "code": None,
}
OK_JSON = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1775000000,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with catalog_gateway(up, tmp_path_factory, "kinds26d", CATALOG) as st:
        yield st


@pytest.fixture(autouse=True)
def fresh(up: ScriptedUpstream) -> None:
    up.reset()


def test_github_models_413_reaches_claude_code_and_codex_as_an_overflow(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s26 variants 10-ghmodels-413-cc-vA, -codex-vB, -chat-vC: Claude Code got a 413 request_too_large (no
    compaction), Codex and a chat client a 413 without code context_length_exceeded."""
    up.script(GHM, json_answer(GHM_ERR, 413), json_answer(GHM_ERR, 413), json_answer(GHM_ERR, 413))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as told:
        with claude.messages.stream(
            model="gpt-4o", max_tokens=8000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            stream.get_final_message()
    assert "prompt is too long" in str(told.value.body)
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    with pytest.raises(openai.BadRequestError) as said:
        client.responses.create(model="gpt-4o", input="hi")
    assert said.value.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError) as said:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert said.value.code == "context_length_exceeded"


def test_input_tokens_exceeding_the_models_token_limit_reach_claude_code_as_an_overflow(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s26 variant 10-input-exceed-model-token-limit-cc-vM: "Request input tokens exceed model token limit" reached
    Claude Code as it came (no "prompt is too long": no compaction)."""
    said = {"error": {"message": "Request input tokens exceed model token limit. Reduce the input size."}}
    up.script(SFGW, json_answer(said, 400))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as told:
        claude.messages.create(
            model="sfdc-gpt-4o", max_tokens=8000, messages=[{"role": "user", "content": "hi"}]
        )
    assert "prompt is too long" in str(told.value.body)


def test_a_refused_max_tokens_is_sent_again_as_max_completion_tokens(gw: Stack, up: ScriptedUpstream) -> None:
    """s26 variant 17-azure-deployment-alias-cc-vB: an Azure deployment of a reasoning model under its owner's name
    refused Claude Code's max_tokens on every request; now once more by max_completion_tokens, and the next request
    asks by it at once."""
    refused = json_answer(UNSUPPORTED, 400, when=lambda body: "max_tokens" in body)
    up.script(AZURE, refused, sse(ok_stream()), sse(ok_stream()))
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="k", max_retries=0)
    for _ in range(2):
        with claude.messages.stream(
            model="reasoning-prod", max_tokens=32000, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            assert stream.get_final_text() == "Hi"
    sent = [(r.json.get("max_tokens"), r.json.get("max_completion_tokens")) for r in up.seen(AZURE)]
    assert sent == [(32000, None), (None, 32000), (None, 32000)]


def test_an_openai_reasoning_model_behind_a_relay_is_asked_by_max_completion_tokens(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s26 variants 17-azure-o3-cc-vA, 17-azure-gpt5-chat-passthrough-vC: o3-mini on a catalog provider was sent the
    catalog's default max_tokens (Claude Code's, a chat client's) and refused."""
    refused = json_answer(UNSUPPORTED, 400, when=lambda body: "max_tokens" in body)
    up.script(AZURE, refused, json_answer(OK_JSON))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    answer = client.chat.completions.create(
        model="o3-mini", max_tokens=4000, messages=[{"role": "user", "content": "hi"}]
    )
    assert answer.choices[0].message.content == "Hi"
    assert [r.json.get("max_completion_tokens") for r in up.seen(AZURE)] == [4000]


def test_mistral_refusing_max_completion_tokens_gets_max_tokens(gw: Stack, up: ScriptedUpstream) -> None:
    """s26 variant 17-mistral-mct-chat-vF: Mistral's 422 extra_forbidden for a chat client's max_completion_tokens
    went back to the client as it came."""
    refused = json_answer(EXTRA_FORBIDDEN, 422, when=lambda body: "max_completion_tokens" in body)
    up.script(MISTRAL, refused, json_answer(OK_JSON))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    answer = client.chat.completions.create(
        model="mistral-large-latest",
        max_completion_tokens=32000,
        messages=[{"role": "user", "content": "hi"}],
    )
    assert answer.choices[0].message.content == "Hi"
    sent = [(r.json.get("max_tokens"), r.json.get("max_completion_tokens")) for r in up.seen(MISTRAL)]
    assert sent == [(None, 32000), (32000, None)]
