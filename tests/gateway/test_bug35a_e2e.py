"""Session 35 (bug35a) variants, end to end: the official openai and anthropic SDKs, the gateway and the recorder as
processes, a catalog provider (MiniMax, OpenAI-compatible) replaced by a scripted upstream.

Kind 17: MiniMax refuses an output budget above its model's limit with error 2013, "invalid params,
model[MiniMax-M2.7] does not support max tokens > 196608 (2013)" (openclaw/openclaw#86116; its Anthropic- and
OpenAI-compatible APIs word it alike). No pattern of ``limits._REFUSALS`` read "max tokens" with a space, so the
refusal went back to the client unread and every request that asked more failed (variant 17v13). Now the request is
asked again within the stated limit (the number itself is allowed: "> N" is refused).
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, catalog_gw, chat_stream, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

MINIMAX = "/minimax/v1/chat/completions"
CATALOG = catalog(provider("minimax", "MiniMax-M2.7", price=(0.3, 1.2)))
LIMIT = 196608
REFUSAL = {
    "type": "error",
    "error": {
        "type": "invalid_request_error",
        "message": f"invalid params, model[MiniMax-M2.7] does not support max tokens > {LIMIT} (2013)",
    },
    "request_id": "0f1e2d3c",
}

pytestmark = pytest.mark.usefixtures("fresh_up")
gw = catalog_gw("bug35a", CATALOG)


def _asked(body: dict[str, Any]) -> int:
    return int(body.get("max_tokens") or body.get("max_completion_tokens") or 0)


def _script(up: ScriptedUpstream) -> None:
    """Above the limit: MiniMax's refusal; within it: a short stream."""
    up.script(
        MINIMAX,
        json_answer(REFUSAL, 400, when=lambda body: _asked(body) > LIMIT),
        sse(
            chat_stream(
                "Ready.",
                ident="c35a",
                model="MiniMax-M2.7",
                usage={"prompt_tokens": 9, "completion_tokens": 2},
            ),
            when=lambda body: _asked(body) <= LIMIT,
        ),
    )


def test_responses_client_above_minimax_limit_is_asked_again_within_it(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The openai SDK's Responses stream asking 262144 output tokens gets its answer; MiniMax saw 262144, then 196608."""
    _script(up)
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    with client.responses.stream(model="MiniMax-M2.7", input="Warmup", max_output_tokens=262144) as stream:
        final = stream.get_final_response()
    assert final.output_text == "Ready."
    assert [_asked(seen.json) for seen in up.seen(MINIMAX)] == [262144, LIMIT]


def test_claude_code_above_minimax_limit_is_asked_again_within_it(gw: Stack, up: ScriptedUpstream) -> None:
    """The anthropic SDK's stream asking 200000 (above the limit) gets its answer within the limit."""
    _script(up)
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with client.messages.stream(
        model="MiniMax-M2.7", max_tokens=200000, messages=[{"role": "user", "content": "Warmup"}]
    ) as stream:
        text = stream.get_final_text()
    assert text == "Ready."
    assert [_asked(seen.json) for seen in up.seen(MINIMAX)][-1] == LIMIT
