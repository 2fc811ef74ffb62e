"""A tool loop that reaches Gemini 3 with function calls Gemini did not sign (s21 variant 04-vA; bugcase 04's kind).

Gemini 3 validates the thought signature of the function calls in a conversation's history and refuses a call
without one: 400 "Function call is missing a thought_signature in functionCall parts" (Gemini API docs, "Thought
signatures": Gemini 3 enforces it; a history from another model, or calls the application injected, carry the
documented dummy "skip_thought_signature_validator"; on Google's OpenAI-compatible endpoint the signature sits in
``tool_calls[].extra_content.google.thought_signature``). A conversation begun on Claude or gpt-4o and moved to
Gemini 3, or carried by a translated client whose format has no place for Gemini's signature, has none.
Real processes: recorder and gateway; the scripted upstream stands for Google's endpoint (a catalog provider),
answering as Gemini 3 does; the official anthropic and openai SDKs are the clients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog_gw
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer

GEMINI = "/gemini/v1/chat/completions"
CATALOG = """
[[providers]]
name = "gemini"
base_url = "{url}/gemini/v1"
models = ["gemini-3-pro-preview", "gemini-2.5-flash"]
price = {{ input = 2, output = 12 }}
"""
PARAMS = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOL = {"type": "function", "function": {"name": "weather", "parameters": PARAMS}}
MISSING = [
    {
        "error": {
            "code": 400,
            "message": "Function call is missing a thought_signature in functionCall parts. This is required for "
            "tools to work correctly, and missing thought_signature may lead to degraded model performance.",
            "status": "INVALID_ARGUMENT",
        }
    }
]

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("gemini-signature", CATALOG)


def _signatures(body: dict[str, Any]) -> list[Any]:
    """The thought signature of each assistant message's first tool call (None: none)."""
    firsts = [
        m["tool_calls"][0] for m in body["messages"] if m.get("role") == "assistant" and m.get("tool_calls")
    ]
    return [((c.get("extra_content") or {}).get("google") or {}).get("thought_signature") for c in firsts]


def _signed(body: dict[str, Any]) -> bool:
    return all(isinstance(s, str) and s for s in _signatures(body))


def script_gemini_3(up: ScriptedUpstream) -> None:
    """Gemini 3 as its API behaves: the next turn of a tool loop only with every step's first call signed."""
    message = {"role": "assistant", "content": "Sunny, 24 C."}
    answer = {
        "id": "g1",
        "object": "chat.completion",
        "created": 1,
        "model": "gemini-3-pro-preview",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 5, "total_tokens": 65},
    }
    up.script(GEMINI, json_answer(answer, when=_signed))
    up.script(GEMINI, json_answer(MISSING, status=400))


def _chat_history(call_extra: dict[str, Any] | None) -> list[dict[str, Any]]:
    call: dict[str, Any] = {"id": "call_1", "type": "function"}
    call["function"] = {"name": "weather", "arguments": '{"city": "Rome"}'}
    if call_extra is not None:
        call["extra_content"] = call_extra
    return [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 24 C"},
    ]


def test_claude_code_moving_a_claude_tool_loop_to_gemini_3_is_answered(
    gw: Stack, up: ScriptedUpstream
) -> None:
    script_gemini_3(up)
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    turn = [
        {"type": "thinking", "thinking": "Call the tool.", "signature": "EqAnthropicSignature=="},
        {"type": "tool_use", "id": "toolu_01R", "name": "weather", "input": {"city": "Rome"}},
    ]
    messages: list[Any] = [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": turn},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01R", "content": "sunny, 24 C"}],
        },
    ]
    tool: Any = {"name": "weather", "input_schema": PARAMS}
    answer = client.messages.create(
        model="gemini-3-pro-preview", max_tokens=512, tools=[tool], messages=messages
    )
    assert (
        answer.content[0].type == "text" and answer.content[0].text == "Sunny, 24 C."
    )  # (raises on the 400)
    assert _signatures(up.seen(GEMINI)[-1].json) == ["skip_thought_signature_validator"]


def test_a_chat_client_history_from_another_model_reaches_gemini_3_signed(
    gw: Stack, up: ScriptedUpstream
) -> None:
    script_gemini_3(up)
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    history: Any = _chat_history(None)  # gpt-4o's call: no extra_content
    answer = client.chat.completions.create(model="gemini-3-pro-preview", messages=history, tools=[CHAT_TOOL])  # type: ignore[list-item]
    assert answer.choices[0].message.content == "Sunny, 24 C."
    assert _signatures(up.seen(GEMINI)[-1].json) == ["skip_thought_signature_validator"]
    assert "extra_content" not in history[1]["tool_calls"][0]  # the client's own body untouched


def test_gemini_own_signature_and_older_models_are_left_as_they_are(gw: Stack, up: ScriptedUpstream) -> None:
    ok = {"role": "assistant", "content": "ok"}
    answer = {
        "id": "g2",
        "object": "chat.completion",
        "created": 1,
        "model": "gemini",
        "choices": [{"index": 0, "message": ok, "finish_reason": "stop"}],
    }
    up.script(GEMINI, json_answer(answer), json_answer(answer))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    own: Any = _chat_history({"google": {"thought_signature": "GeminiSignedIt=="}})
    client.chat.completions.create(model="gemini-3-pro-preview", messages=own, tools=[CHAT_TOOL])  # type: ignore[list-item]
    assert _signatures(up.seen(GEMINI)[-1].json) == ["GeminiSignedIt=="]
    older: Any = _chat_history(None)
    client.chat.completions.create(model="gemini-2.5-flash", messages=older, tools=[CHAT_TOOL])  # type: ignore[list-item]
    assert _signatures(up.seen(GEMINI)[-1].json) == [None]  # Gemini 2.5 does not validate them


OPENROUTER = "/openrouter/api/v1/chat/completions"
OR_GEMINI = "google/gemini-3-pro-preview"
# OpenRouter's refusal of a Gemini 3 tool loop without Gemini's signatures (LibreChat-AI/agents#37)
OR_MISSING = {
    "error": {
        "message": "Provider returned error",
        "code": 400,
        "metadata": {
            "raw": "Gemini models require OpenRouter reasoning details to be preserved in each request. Upstream "
            "error: Function call is missing a thought_signature in functionCall parts.",
            "provider_name": "Google AI Studio",
        },
    }
}


@pytest.fixture(scope="module")
def gw_openrouter(
    up: ScriptedUpstream, scripted_stack: Callable[..., AbstractContextManager[Stack]]
) -> Iterator[Stack]:
    with scripted_stack("gemini-signature-openrouter", {"openrouter": "/openrouter/api/v1"}) as st:
        yield st


def _details_signatures(body: dict[str, Any]) -> list[list[Any]]:
    """Per assistant message with tool calls: the data of its Gemini reasoning_details naming its first call."""
    return [
        [
            d.get("data")
            for d in m.get("reasoning_details") or []
            if d.get("type") == "reasoning.encrypted"
            and d.get("format") == "google-gemini-v1"
            and d.get("id") == m["tool_calls"][0]["id"]
        ]
        for m in body["messages"]
        if m.get("role") == "assistant" and m.get("tool_calls")
    ]


def _details_signed(body: dict[str, Any]) -> bool:
    return all(s and all(isinstance(x, str) and x for x in s) for s in _details_signatures(body))


def script_openrouter_gemini_3(up: ScriptedUpstream) -> None:
    """OpenRouter with Gemini 3: the next turn only when every step's first call has Gemini's reasoning detail."""
    message = {"role": "assistant", "content": "Sunny, 24 C."}
    answer = {
        "id": "gen-1",
        "object": "chat.completion",
        "created": 1,
        "model": OR_GEMINI,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 5, "total_tokens": 65},
    }
    up.script(OPENROUTER, json_answer(answer, when=_details_signed))
    up.script(OPENROUTER, json_answer(OR_MISSING, status=400))


def test_claude_code_moving_a_claude_tool_loop_to_gemini_3_on_openrouter_is_answered(
    gw_openrouter: Stack, up: ScriptedUpstream
) -> None:
    """OpenRouter carries Gemini's signature as a reasoning_details entry (reasoning.encrypted, format
    google-gemini-v1, id = the call's id: OpenRouter docs, "Reasoning Tokens"); a step Gemini did not make gets the
    documented dummy there, and Anthropic's signature is not passed off as Gemini's (s22 variant 04-orgem-vA)."""
    script_openrouter_gemini_3(up)
    client = anthropic.Anthropic(base_url=gw_openrouter.gateway_url, api_key="sk-ant-client", max_retries=0)
    turn = [
        {"type": "thinking", "thinking": "Call the tool.", "signature": "EqAnthropicSignature=="},
        {"type": "tool_use", "id": "toolu_01R", "name": "weather", "input": {"city": "Rome"}},
    ]
    messages: list[Any] = [
        {"role": "user", "content": "Weather in Rome?"},
        {"role": "assistant", "content": turn},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_01R", "content": "sunny, 24 C"}],
        },
    ]
    tool: Any = {"name": "weather", "input_schema": PARAMS}
    answer = client.messages.create(model=OR_GEMINI, max_tokens=512, tools=[tool], messages=messages)
    assert (
        answer.content[0].type == "text" and answer.content[0].text == "Sunny, 24 C."
    )  # (raises on the 400)
    sent = up.seen(OPENROUTER)[-1].json
    assert _details_signatures(sent) == [["skip_thought_signature_validator"]]
    assert "EqAnthropicSignature==" not in str(sent)


def test_a_chat_client_on_openrouter_gemini_3_keeps_gemini_details_and_signs_other_steps(
    gw_openrouter: Stack, up: ScriptedUpstream
) -> None:
    script_openrouter_gemini_3(up)
    client = openai.OpenAI(base_url=gw_openrouter.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    own = [
        {
            "type": "reasoning.encrypted",
            "data": "GemSig==",
            "id": "tool_0_weather",
            "format": "google-gemini-v1",
        }
    ]
    history: Any = [
        *_chat_history(None),  # gpt-4o's step: no reasoning_details
        {"role": "user", "content": "And Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_details": own,
            "tool_calls": [
                {
                    "id": "tool_0_weather",
                    "type": "function",
                    "function": {"name": "weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "tool_0_weather", "content": "cold"},
    ]
    answer = client.chat.completions.create(model=OR_GEMINI, messages=history, tools=[CHAT_TOOL])  # type: ignore[list-item]
    assert answer.choices[0].message.content == "Sunny, 24 C."
    sent = up.seen(OPENROUTER)[-1].json
    assert _details_signatures(sent) == [["skip_thought_signature_validator"], ["GemSig=="]]
    assert sent["messages"][4]["reasoning_details"] == own
    assert "reasoning_details" not in history[1]  # the client's own body untouched
