"""Session 35 (bug35a) variants 04v10/04v11/04v13, end to end: the official openai and anthropic SDKs, the gateway and
the recorder as processes, OpenAI and OpenRouter replaced by a scripted upstream.

A tool loop begun on DeepSeek carries its call ids, ``call_0_<uuid>`` (43 characters), and the client sends them back
on every turn. Moved to OpenAI (Claude Code switching model, a chat client switching model, or OpenRouter's
``openai/…``), the history was refused on every turn: 400 "Invalid 'messages[1].tool_calls[0].id': string too long.
Expected a string with maximum length 40". Now each id over OpenAI's limit reaches it in one short form
(``openai_compat.openai_call_ids``), the same on the call and on its result.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.e2e_builders import chat_answer, scripted_gw
from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream

OPENAI = "/openai/v1/chat/completions"
OPENROUTER = "/openrouter/api/v1/chat/completions"
DEEPSEEK_ID = "call_0_3ebc9e84-a137-4188-995c-9381586f7097"
TOOL_A = {"name": "weather", "description": "w", "input_schema": {"type": "object", "properties": {}}}
TOOL_C = {
    "type": "function",
    "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}},
}

pytestmark = pytest.mark.usefixtures("fresh_up")
gw = scripted_gw("bug35a-ids", {"openai": "/openai/v1", "openrouter": "/openrouter/api/v1"})


def _like_openai(up: ScriptedUpstream, path: str) -> None:
    """OpenAI's refusal of any call id over 40 characters, else an answer."""

    def too_long(body: dict[str, Any]) -> bool:
        for m in body.get("messages") or []:
            ids = [c.get("id") for c in m.get("tool_calls") or []] + [m.get("tool_call_id")]
            if any(isinstance(i, str) and len(i) > 40 for i in ids):
                return True
        return False

    refusal = {
        "error": {
            "message": "Invalid 'messages[1].tool_calls[0].id': string too long. Expected a string with maximum "
            "length 40, but got a string with length 43 instead.",
            "type": "invalid_request_error",
            "param": "messages[1].tool_calls[0].id",
            "code": "string_above_max_length",
        }
    }
    answer = chat_answer("Sunny in Paris.", ident="chatcmpl-35a", model="gpt-4o-mini", usage=(30, 4))
    up.script(
        path,
        Answer(body=orjson.dumps(refusal), status=400, when=too_long),
        Answer(body=orjson.dumps(answer), when=lambda body: not too_long(body)),
    )


def _sent_ids(up: ScriptedUpstream, path: str) -> tuple[list[str], list[str]]:
    body = up.seen(path)[-1].json
    calls = [c["id"] for m in body["messages"] for c in m.get("tool_calls") or []]
    results = [m["tool_call_id"] for m in body["messages"] if m.get("role") == "tool"]
    return calls, results


def _claude_code_history() -> list[Any]:
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": DEEPSEEK_ID, "name": "weather", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": DEEPSEEK_ID, "content": "sunny"}],
        },
    ]


def test_claude_codes_deepseek_loop_moved_to_gpt(gw: Stack, up: ScriptedUpstream) -> None:
    _like_openai(up, OPENAI)
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    message = client.messages.create(
        model="gpt-4o-mini", max_tokens=1024, tools=[TOOL_A], messages=_claude_code_history()
    )
    assert [b.text for b in message.content if b.type == "text"] == ["Sunny in Paris."]
    calls, results = _sent_ids(up, OPENAI)
    assert calls == results and len(calls[0]) <= 40


def test_chat_clients_deepseek_loop_moved_to_gpt(gw: Stack, up: ScriptedUpstream) -> None:
    _like_openai(up, OPENAI)
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        tools=[TOOL_C],  # type: ignore[list-item]
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": DEEPSEEK_ID,
                        "type": "function",
                        "function": {"name": "weather", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": DEEPSEEK_ID, "content": "sunny"},
        ],
    )
    assert completion.choices[0].message.content == "Sunny in Paris."
    calls, results = _sent_ids(up, OPENAI)
    assert calls == results and len(calls[0]) <= 40


def test_claude_codes_deepseek_loop_moved_to_gpt_on_openrouter(gw: Stack, up: ScriptedUpstream) -> None:
    _like_openai(up, OPENROUTER)
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    message = client.messages.create(
        model="openai/gpt-4o-mini", max_tokens=1024, tools=[TOOL_A], messages=_claude_code_history()
    )
    assert [b.text for b in message.content if b.type == "text"] == ["Sunny in Paris."]
    calls, results = _sent_ids(up, OPENROUTER)
    assert calls == results and len(calls[0]) <= 40
