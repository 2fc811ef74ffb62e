"""Claude's own thinking signature through OpenRouter comes back to it through Claude Code and Codex (s24 variant
04-orsig-vA; bugcase 04's kind: a provider's own signature must come back to it intact, and never reach another
provider that would refuse it).

OpenRouter returns Claude's thinking with its real signature in ``reasoning_details`` (``reasoning.text`` entries
with a ``signature``, streamed and not) and wants them back on the next turn's assistant message (OpenRouter docs,
"Reasoning Tokens": "Preserving reasoning blocks"). Before the fix the anthropic SDK got the gateway's synthetic
signature, and the next turn reached OpenRouter without Claude's thinking (and, with the tool loop's last turn
unsigned, without ``reasoning`` at all). Real processes: recorder and gateway; the scripted upstream stands for
OpenRouter and OpenAI; the official anthropic and openai SDKs are the clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream, json_answer, sse

OPENROUTER = "/openrouter/v1/chat/completions"
OPENAI_CHAT = "/openai/v1/chat/completions"
MODEL = "anthropic/claude-sonnet-4.5"
FMT = "anthropic-claude-v1"
SIG = "EqQBCkYIBxgCKkBkR0FjbGF1ZGUtc2lnbmF0dXJlLW9mLXRoaW5raW5nL0FCQ0RFRkdI+/=="
THOUGHT = "The user wants the weather in Rome. I should call the weather tool."
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CALL = {"id": "toolu_01", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}
USAGE = {"prompt_tokens": 30, "completion_tokens": 10, "total_tokens": 40}
PIN = {"x-ekai-provider": "openrouter"}

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    paths = {"openrouter": "/openrouter/v1", "openai": "/openai/v1"}
    with scripted_stack("openrouter-claude-signature", paths) as st:
        yield st


def _claude_calls(streamed: bool) -> Answer:
    """Claude's answer through OpenRouter: signed thinking, then a call of ``weather``; streamed as OpenRouter
    streams it (the text in ``reasoning`` and in ``reasoning.text`` details, the signature in a last detail)."""
    if not streamed:
        detail = {"type": "reasoning.text", "text": THOUGHT, "signature": SIG, "format": FMT, "index": 0}
        message = {
            "role": "assistant",
            "content": None,
            "reasoning": THOUGHT,
            "reasoning_details": [detail],
            "tool_calls": [CALL],
        }
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        return json_answer(
            {"id": "gen-1", "object": "chat.completion", "model": MODEL, "choices": [choice], "usage": USAGE}
        )
    half = len(THOUGHT) // 2
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    for text in (THOUGHT[:half], THOUGHT[half:]):
        detail = {"type": "reasoning.text", "text": text, "format": FMT, "index": 0}
        deltas.append({"reasoning": text, "reasoning_details": [detail]})
    deltas.append(
        {"reasoning_details": [{"type": "reasoning.text", "signature": SIG, "format": FMT, "index": 0}]}
    )
    deltas.append({"tool_calls": [{"index": 0, **CALL}]})
    pieces = [{"index": 0, "delta": d, "finish_reason": None} for d in deltas]
    pieces.append({"index": 0, "delta": {}, "finish_reason": "tool_calls"})
    chunks = [
        {"id": "gen-1", "object": "chat.completion.chunk", "model": MODEL, "choices": [p]} for p in pieces
    ]
    chunks[-1]["usage"] = USAGE
    return sse([*(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks), b"data: [DONE]\n\n"])


def _claude_text() -> Answer:
    message = {"role": "assistant", "content": "Sunny, 24 C."}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return json_answer(
        {"id": "gen-2", "object": "chat.completion", "model": MODEL, "choices": [choice], "usage": USAGE}
    )


def _sent_assistant(body: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in body["messages"] if m["role"] == "assistant")


def _openai_text() -> Answer:
    message = {"role": "assistant", "content": "Sunny."}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return json_answer(
        {"id": "c1", "object": "chat.completion", "model": "gpt-5", "choices": [choice], "usage": USAGE}
    )


@pytest.mark.parametrize("streamed", [True, False], ids=["stream", "whole"])
def test_claude_code_gets_claudes_signature_and_gives_it_back_to_claude_on_openrouter(
    gw: Stack, up: ScriptedUpstream, streamed: bool
) -> None:
    up.script(OPENROUTER, _claude_calls(streamed), _claude_text())
    client = anthropic.Anthropic(
        base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0, default_headers=PIN
    )
    tools: Any = [{"name": "weather", "input_schema": CITY}]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    messages: list[Any] = [{"role": "user", "content": "Weather in Rome?"}]
    kw: Any = {"model": MODEL, "max_tokens": 2048, "tools": tools, "thinking": thinking}
    if streamed:
        with client.messages.stream(messages=messages, **kw) as stream:
            turn = stream.get_final_message()
    else:
        turn = client.messages.create(messages=messages, **kw)
    [block] = [b for b in turn.content if b.type == "thinking"]
    assert block.thinking == THOUGHT
    assert block.signature == SIG  # Claude's own, not the gateway's synthetic one
    [use] = [b for b in turn.content if b.type == "tool_use"]
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in turn.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny, 24 C"}],
        },
    ]
    answer = client.messages.create(messages=messages, **kw)
    assert answer.content[-1].type == "text" and answer.content[-1].text == "Sunny, 24 C."
    sent = up.seen(OPENROUTER)[-1].json
    assert _sent_assistant(sent)["reasoning_details"] == [
        {"type": "reasoning.text", "text": THOUGHT, "signature": SIG, "format": FMT, "index": 0}
    ]
    assert "reasoning" in sent  # Claude keeps thinking on: its tool turn begins with its signed thinking

    # the same conversation moved to OpenAI: Claude's signature never reaches it
    up.script(OPENAI_CHAT, _openai_text())
    other = anthropic.Anthropic(
        base_url=gw.gateway_url,
        api_key="sk-ant-client",
        max_retries=0,
        default_headers={"x-ekai-provider": "openai"},
    )
    other.messages.create(model="gpt-5", max_tokens=2048, tools=tools, messages=messages)
    assert SIG not in json.dumps(up.seen(OPENAI_CHAT)[-1].json)


def test_codex_carries_claudes_signature_back_to_claude_on_openrouter(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(OPENROUTER, _claude_calls(True), _claude_text())
    client = openai.OpenAI(
        base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0, default_headers=PIN
    )
    tools: Any = [{"type": "function", "name": "weather", "parameters": CITY, "strict": False}]
    history: list[Any] = [{"type": "message", "role": "user", "content": "Weather in Rome?"}]
    with client.responses.stream(model=MODEL, input=history, tools=tools) as stream:
        turn = stream.get_final_response()
    [reasoning] = [i for i in turn.output if i.type == "reasoning"]
    assert reasoning.encrypted_content
    [call_item] = [i for i in turn.output if i.type == "function_call"]
    history += [i.model_dump(exclude_none=True) for i in turn.output]
    history.append({"type": "function_call_output", "call_id": call_item.call_id, "output": "sunny, 24 C"})
    answer = client.responses.create(model=MODEL, input=history, tools=tools)
    assert answer.output_text == "Sunny, 24 C."
    sent = up.seen(OPENROUTER)[-1].json
    assert _sent_assistant(sent)["reasoning_details"] == [
        {"type": "reasoning.text", "text": THOUGHT, "signature": SIG, "format": FMT, "index": 0}
    ]


def test_a_relayed_refusal_of_claudes_signature_is_retried_without_it(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The conversation moves from sonnet to opus on OpenRouter; Anthropic will not take sonnet's signed thinking
    back and OpenRouter relays its 400 (``metadata.raw``): the one retry goes without Claude's details and without
    ``reasoning``, and the client gets its answer, not the 400."""
    raw = {"type": "error", "error": {"type": "invalid_request_error"}}
    raw["error"]["message"] = "messages.1.content.0: Invalid `signature` in `thinking` block"
    refusal = {"error": {"message": "Provider returned error", "code": 400}}
    refusal["error"]["metadata"] = {"raw": json.dumps(raw), "provider_name": "Anthropic"}
    up.script(OPENROUTER, json_answer(refusal, status=400), _claude_text())
    client = anthropic.Anthropic(
        base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0, default_headers=PIN
    )
    messages: Any = [
        {"role": "user", "content": "Weather in Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": THOUGHT, "signature": SIG},
                {"type": "tool_use", "id": "toolu_01", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01", "content": "sunny"}]},
    ]
    answer = client.messages.create(
        model="anthropic/claude-opus-4.5",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        tools=[{"name": "weather", "input_schema": CITY}],
        messages=messages,
    )
    assert answer.content[-1].type == "text" and answer.content[-1].text == "Sunny, 24 C."
    first, retry = (r.json for r in up.seen(OPENROUTER)[-2:])
    assert _sent_assistant(first)["reasoning_details"][0]["signature"] == SIG
    assert "reasoning_details" not in _sent_assistant(retry) and "reasoning" not in retry
