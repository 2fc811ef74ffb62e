"""A vLLM server's end-of-stream flush restates a streamed call's whole arguments, to translated clients (bugcase
01's kind: a tool call's arguments as the client joins them; bug28a variants 01-vD, vH..vK).

vllm-project/vllm#42167 (GLM via vLLM): the finish chunk carries the whole arguments again, with ``id``, ``type``
and ``name`` null; #51697 (xlam): the final chunk appends the whole object after a streamed ``{``. Before the fix
Claude Code got a second tool_use (a call it never made, run twice) and Codex ``{{"city": ...}`` (no parse); a
non-streamed request the server streamed anyway had the second call too. Real processes: recorder and gateway; the
scripted upstream stands for a vLLM server (a catalog provider); the official SDKs are the clients.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog_gw
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

VLLM = "/vllm/v1/chat/completions"
MODEL = "glm-4.5-air"
CATALOG = """
[[providers]]
name = "vllm"
base_url = "{url}/vllm/v1"
models = ["glm-4.5-air"]
price = {{ input = 0.2, output = 1.1 }}
"""
EXPENSE = {"date": "2025-03-26", "amount": 300, "fee_type": "过路费", "income_type": "支出"}
WHOLE = json.dumps(EXPENSE, ensure_ascii=False)
SCHEMA = {"type": "object", "properties": {k: {"type": "string"} for k in EXPENSE}}
USAGE = {"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70}

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("restated-args", CATALOG)


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    obj: dict[str, Any] = {
        "id": "chatcmpl-8b6e",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
    }
    obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    if usage is not None:
        obj["usage"] = usage
    return b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n"


def _glm(streamed: list[str]) -> list[bytes | Any]:
    """The call opened with its id and name, ``streamed`` fragments, then the finish chunk restating the whole
    arguments with id, type and name null (vllm#42167's shape)."""
    start = {
        "index": 0,
        "id": "chatcmpl-tool-1",
        "type": "function",
        "function": {"name": "record", "arguments": ""},
    }
    pieces = [_chunk({"role": "assistant", "content": None}), _chunk({"tool_calls": [start]})]
    pieces += [_chunk({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}) for f in streamed]
    restated = {"id": None, "type": None, "index": 0, "function": {"name": None, "arguments": WHOLE}}
    pieces += [_chunk({"tool_calls": [restated]}, "tool_calls"), _chunk({"content": ""}, None, USAGE)]
    return [*pieces, b"data: [DONE]\n\n"]


STREAMED = {"fragments": [WHOLE[:20], WHOLE[20:41], WHOLE[41:]], "only '{'": ["{"]}


@pytest.mark.parametrize("streamed", list(STREAMED.values()), ids=list(STREAMED))
def test_restated_arguments_reach_claude_code_as_one_call(
    gw: Stack, up: ScriptedUpstream, streamed: list[str]
) -> None:
    up.script(VLLM, sse(_glm(streamed)))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tool: Any = {"name": "record", "input_schema": SCHEMA}
    joined: dict[int, str] = {}  # the input_json_delta fragments, as Claude Code joins them (then JSON.parse)
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=[tool], messages=[{"role": "user", "content": "go"}]
    ) as stream:
        for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                joined[event.index] = joined.get(event.index, "") + event.delta.partial_json
        message = stream.get_final_message()
    calls = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("chatcmpl-tool-1", "record", EXPENSE)]
    assert [json.loads(v) for v in joined.values()] == [EXPENSE]
    assert message.stop_reason == "tool_use"


@pytest.mark.parametrize("streamed", list(STREAMED.values()), ids=list(STREAMED))
def test_restated_arguments_reach_codex_as_one_function_call(
    gw: Stack, up: ScriptedUpstream, streamed: list[str]
) -> None:
    up.script(VLLM, sse(_glm(streamed)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    tool: Any = {"type": "function", "name": "record", "parameters": SCHEMA, "strict": False}
    deltas = ""
    with client.responses.stream(model=MODEL, input="go", tools=[tool]) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                deltas += event.delta
        final = stream.get_final_response()
    calls = [(i.call_id, json.loads(i.arguments)) for i in final.output if i.type == "function_call"]
    assert calls == [("chatcmpl-tool-1", EXPENSE)]
    assert json.loads(deltas) == EXPENSE


def test_a_non_streamed_request_the_server_streams_gets_one_call(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(VLLM, sse(_glm(STREAMED["fragments"])))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tool: Any = {"name": "record", "input_schema": SCHEMA}
    message = client.messages.create(
        model=MODEL, max_tokens=100, tools=[tool], messages=[{"role": "user", "content": "go"}]
    )
    assert [(b.id, b.input) for b in message.content if b.type == "tool_use"] == [
        ("chatcmpl-tool-1", EXPENSE)
    ]
    assert message.stop_reason == "tool_use"
