"""A thinking model's reasoning goes back to its server as ``reasoning_content`` in a tool loop (s20 variants 04-x..04-ab).

DeepSeek's thinking mode refuses a tool loop whose assistant tool-call message lacks the reasoning it gave:
400 "Missing `reasoning_content` field in the assistant message at message index N" (api-docs.deepseek.com/guides/
thinking_mode#tool-calls; continuedev/continue#9606, deepseek-ai/DeepSeek-V3#1053). Claude Code on deepseek-reasoner
gets that reasoning as a thinking block the gateway made and sends it back with the tool_result; Codex gets it as a
reasoning item (summary) and sends that back. Both must reach DeepSeek as ``reasoning_content``; a server that
refuses the unknown field (Groq: "property 'reasoning_content' is unsupported") must not get it.
Real processes: recorder and gateway; the scripted upstream stands for both servers (catalog providers); the
official anthropic and openai SDKs are the clients.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog_gw
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

DEEPSEEK = "/deepseek/v1/chat/completions"
GROQ = "/groq/v1/chat/completions"
REASON = "The user wants Paris weather; I should call the weather tool."
CATALOG = """
[[providers]]
name = "deepseek"
base_url = "{url}/deepseek/v1"
models = ["deepseek-reasoner"]
price = {{ input = 0.28, output = 0.42 }}

[[providers]]
name = "groq"
base_url = "{url}/groq/v1"
models = ["qwen3-32b", "deepseek-r1-distill-llama-70b"]
price = {{ input = 0.29, output = 0.59 }}
"""
TOOL = {
    "name": "weather",
    "description": "Weather in a city.",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
RESPONSES_TOOL = {"type": "function", "name": TOOL["name"], "description": TOOL["description"]}
RESPONSES_TOOL["parameters"] = TOOL["input_schema"]

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("reasoning-content", CATALOG)


def _chunk(model: str, delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    obj = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": model, "choices": choices}
    return b"data: " + json.dumps({**obj, **extra}).encode() + b"\n\n"


def _tool_turn(model: str, field: str) -> list[bytes | Any]:
    """The model's reasoning (in ``field``), then a weather call, streamed."""
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "weather", "arguments": ""}}
    args = {"index": 0, "function": {"arguments": '{"city": "Paris"}'}}
    usage = {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}
    return [
        _chunk(model, {"role": "assistant", "content": None}),
        _chunk(model, {field: REASON[:20]}),
        _chunk(model, {field: REASON[20:]}),
        _chunk(model, {"tool_calls": [call]}),
        _chunk(model, {"tool_calls": [args]}),
        _chunk(model, {}, "tool_calls"),
        _chunk(model, None, usage=usage),
        b"data: [DONE]\n\n",
    ]


def _final(model: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": "Sunny, 24 C."}
    usage = {"prompt_tokens": 60, "completion_tokens": 5, "total_tokens": 65}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return {
        "id": "c2",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


def _calls_carry_reasoning(body: dict[str, Any]) -> bool:
    calls = [m for m in body.get("messages", []) if m.get("role") == "assistant" and m.get("tool_calls")]
    return bool(calls) and all(m.get("reasoning_content") == REASON for m in calls)


def _has_reasoning_field(body: dict[str, Any]) -> bool:
    return any("reasoning_content" in m for m in body.get("messages", []))


def script_deepseek(up: ScriptedUpstream) -> None:
    """DeepSeek as its API behaves: the tool loop's next turn is answered only with the reasoning given back."""
    missing = {
        "message": "Missing `reasoning_content` field in the assistant message at message index 1. For more "
        "information, please refer to https://api-docs.deepseek.com/guides/thinking_mode#tool-calls",
        "type": "invalid_request_error",
        "code": "invalid_request_error",
    }
    up.script(DEEPSEEK, sse(_tool_turn("deepseek-reasoner", "reasoning_content")))
    up.script(DEEPSEEK, json_answer(_final("deepseek-reasoner"), when=_calls_carry_reasoning))
    up.script(DEEPSEEK, json_answer({"error": missing}, status=400))


def test_claude_code_on_deepseek_gives_its_thinking_back_as_reasoning_content(
    gw: Stack, up: ScriptedUpstream
) -> None:
    script_deepseek(up)
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    user = {"role": "user", "content": "Weather in Paris?"}
    ask: dict[str, Any] = {
        "model": "deepseek-reasoner",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [TOOL],
    }
    with client.messages.stream(messages=[user], **ask) as stream:
        turn = stream.get_final_message()
    content = [block.model_dump(exclude_none=True) for block in turn.content]
    assert [b["type"] for b in content] == ["thinking", "tool_use"] and content[0]["thinking"] == REASON
    result = {"type": "tool_result", "tool_use_id": content[1]["id"], "content": "sunny, 24 C"}
    messages = [user, {"role": "assistant", "content": content}, {"role": "user", "content": [result]}]
    answer = client.messages.create(messages=messages, **ask)  # raises on DeepSeek's 400
    assert answer.content[0].type == "text" and answer.content[0].text == "Sunny, 24 C."
    assert _calls_carry_reasoning(up.seen(DEEPSEEK)[-1].json)


def test_codex_on_deepseek_gives_its_reasoning_item_back_as_reasoning_content(
    gw: Stack, up: ScriptedUpstream
) -> None:
    script_deepseek(up)
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    user = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "Weather in Paris?"}],
    }
    ask: dict[str, Any] = {"model": "deepseek-reasoner", "tools": [RESPONSES_TOOL], "store": False}
    ask["reasoning"] = {"effort": "medium", "summary": "auto"}
    with client.responses.stream(input=[user], **ask) as stream:
        turn = stream.get_final_response()
    output = [item.model_dump(exclude_none=True) for item in turn.output]
    assert [item["type"] for item in output] == ["reasoning", "function_call"]
    call = output[1]
    items = [
        user,
        *output,
        {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 24 C"},
    ]
    answer = client.responses.create(input=items, **ask)  # raises on DeepSeek's 400
    assert answer.output_text == "Sunny, 24 C."
    assert _calls_carry_reasoning(up.seen(DEEPSEEK)[-1].json)


def test_a_server_that_refuses_the_field_does_not_get_it(gw: Stack, up: ScriptedUpstream) -> None:
    """Qwen3 on Groq streams its thoughts as ``reasoning``; Groq refuses ``reasoning_content`` in a message."""
    refused = {
        "message": "'messages.1' : property 'reasoning_content' is unsupported",
        "type": "invalid_request_error",
    }
    up.script(GROQ, sse(_tool_turn("qwen3-32b", "reasoning")))
    up.script(GROQ, json_answer(_final("qwen3-32b"), when=lambda body: not _has_reasoning_field(body)))
    up.script(GROQ, json_answer({"error": refused}, status=400))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    user = {"role": "user", "content": "Weather in Paris?"}
    ask: dict[str, Any] = {"model": "qwen3-32b", "max_tokens": 4096, "tools": [TOOL]}
    ask["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    with client.messages.stream(messages=[user], **ask) as stream:
        turn = stream.get_final_message()
    content = [block.model_dump(exclude_none=True) for block in turn.content]
    tool = next(b for b in content if b["type"] == "tool_use")
    result = {"type": "tool_result", "tool_use_id": tool["id"], "content": "sunny, 24 C"}
    messages = [user, {"role": "assistant", "content": content}, {"role": "user", "content": [result]}]
    answer = client.messages.create(messages=messages, **ask)
    assert answer.content[0].type == "text" and answer.content[0].text == "Sunny, 24 C."


def test_a_refusal_of_the_field_by_a_server_serving_a_deepseek_name_is_retried_without_it(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """Groq serves ``deepseek-r1-distill-llama-70b``: the name asks for ``reasoning_content``, Groq refuses the
    field; the gateway sends the turn once more without it (``strip_refused_reasoning_content``)."""
    model = "deepseek-r1-distill-llama-70b"
    refused = {
        "message": "'messages.1' : property 'reasoning_content' is unsupported",
        "type": "invalid_request_error",
    }
    up.script(GROQ, sse(_tool_turn(model, "reasoning")))
    up.script(GROQ, json_answer(_final(model), when=lambda body: not _has_reasoning_field(body)))
    up.script(GROQ, json_answer({"error": refused}, status=400, when=_has_reasoning_field))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    user = {"role": "user", "content": "Weather in Paris?"}
    ask: dict[str, Any] = {"model": model, "max_tokens": 4096, "tools": [TOOL]}
    ask["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    with client.messages.stream(messages=[user], **ask) as stream:
        turn = stream.get_final_message()
    content = [block.model_dump(exclude_none=True) for block in turn.content]
    assert content[0]["type"] == "thinking"
    tool = next(b for b in content if b["type"] == "tool_use")
    result = {"type": "tool_result", "tool_use_id": tool["id"], "content": "sunny, 24 C"}
    messages = [user, {"role": "assistant", "content": content}, {"role": "user", "content": [result]}]
    answer = client.messages.create(messages=messages, **ask)  # raises on the 400 without the retry
    assert answer.content[0].type == "text" and answer.content[0].text == "Sunny, 24 C."
    sent = up.seen(GROQ)[-2:]
    assert _has_reasoning_field(sent[0].json) and not _has_reasoning_field(sent[1].json)
