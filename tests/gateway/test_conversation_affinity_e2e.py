"""xAI keeps a conversation on one server's prompt cache only when the request says which conversation it is
(s19 variants 08-u..08-w).

xAI caches prompts per server; on Chat Completions the ``x-grok-conv-id`` header routes a conversation's requests
to one server (docs.x.ai, "Prompt Caching › Maximizing cache hits"; ``prompt_cache_key`` counts only on its
Responses API). The gateway builds upstream headers from scratch, so before this every request reached xAI
without it, whatever the client said: Claude Code's session, a Responses client's ``prompt_cache_key``, or the
header itself. ``Provider.conversation_header`` / ``conversation_id``. Real gateway and recorder processes, a
scripted upstream, the official SDKs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

XAI = "/xai/chat/completions"
ANSWER = {
    "id": "c-x",
    "object": "chat.completion",
    "created": 1775000000,
    "model": "grok-4",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}
pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("affinity")
    with stack(tmp, {"xai": f"{up.url}/xai"}) as st:
        yield st


def _conv_id(up: ScriptedUpstream) -> str | None:
    seen = up.seen(XAI)[-1]
    return {k.lower(): v for k, v in seen.headers.items()}.get("x-grok-conv-id")


def test_claude_codes_session_routes_its_turns_on_xai(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(XAI, json_answer(ANSWER))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-client", max_retries=0)
    client.messages.create(
        model="grok-4",
        max_tokens=64,
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"X-Claude-Code-Session-Id": "3f1c9a2e-7b4d-4e8a-9c21-5d6f0a1b2c3d"},
    )
    assert _conv_id(up) == "3f1c9a2e-7b4d-4e8a-9c21-5d6f0a1b2c3d"


def test_a_clients_own_conversation_header_reaches_xai(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(XAI, json_answer(ANSWER))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    client.chat.completions.create(
        model="grok-4",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-grok-conv-id": "conv_abc123"},
    )
    assert _conv_id(up) == "conv_abc123"


def test_a_responses_clients_prompt_cache_key_becomes_the_conversation(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(XAI, json_answer(ANSWER))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    client.responses.create(model="grok-4", input="hi", prompt_cache_key="019a-codex-conv-77")
    assert _conv_id(up) == "019a-codex-conv-77"


def test_no_conversation_named_sends_none(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(XAI, json_answer(ANSWER))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    client.chat.completions.create(model="grok-4", messages=[{"role": "user", "content": "hi"}])
    assert _conv_id(up) is None
