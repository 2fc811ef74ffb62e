"""Session 32 (bug32a) variants, end to end: the official openai SDK, the gateway and the recorder as processes, the
Anthropic provider replaced by a scripted upstream.

- 01-v32m: a streamed ``tool_use`` block whose ``content_block_start`` holds the whole ``input`` and whose one
  ``input_json_delta`` restates it. The anthropic SDK takes the deltas' text as the input once there is any
  (``accumulate_event``); the gateway passed the start's input on and then the delta, so the chat client joined
  ``{"city":"Paris"}{"city": "Paris"}`` and the Responses client got the same in ``function_call.arguments``.
- 01-v32a: the start's input and no delta at all (the arguments are the start's input), the neighbour kept.
- 04-v32j: a ``thinking`` block whose start already holds its ``signature`` and whose ``signature_delta`` repeats
  it (the SDK: the delta's signature replaces the start's). The gateway closed a block at each: a Responses client
  got two reasoning items, one empty, and gave Anthropic back a thinking block ``""`` under Claude's signature,
  one Anthropic never signed (400 "Invalid `signature` in `thinking` block").
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from tests.e2e_builders import messages_answer, scripted_gw
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

MESSAGES = "/anthropic/v1/messages"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

pytestmark = pytest.mark.usefixtures("fresh_up")
gw = scripted_gw("bug32a", {"anthropic": "/anthropic"})


def _event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


def _claude_tool_stream(deltas: list[str]) -> list[bytes]:
    """One tool_use block whose start holds ``{"city": "Paris"}``, then ``deltas`` as its input_json_delta texts."""
    message = {
        "id": "msg_32",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
    }
    block = {"type": "tool_use", "id": "toolu_32", "name": "weather", "input": {"city": "Paris"}}
    events = [
        {"type": "message_start", "message": {**message, "usage": {"input_tokens": 50, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": block},
        *(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": d},
            }
            for d in deltas
        ),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 31}},
        {"type": "message_stop"},
    ]
    return [_event(e) for e in events]


@pytest.mark.parametrize(
    "deltas", [['{"city": "Paris"}'], []], ids=["restated-01-v32m", "start-only-01-v32a"]
)
def test_a_tool_input_in_the_block_start_reaches_a_chat_client_once(
    gw: Stack, up: ScriptedUpstream, deltas: list[str]
) -> None:
    up.script(MESSAGES, sse(_claude_tool_stream(deltas)))
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    rid = f"b32a-01-chat-{len(deltas)}"
    with client.chat.completions.stream(
        model="claude-sonnet-4-5",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=TOOLS,
        extra_headers={"x-request-id": rid},
    ) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}]
    assert final.choices[0].finish_reason == "tool_calls"
    row = gw.row_for(rid)
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 50, 31)


def test_a_tool_input_in_the_block_start_reaches_a_responses_client_once(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(MESSAGES, sse(_claude_tool_stream(['{"city": "Paris"}'])))
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    tools: list[Any] = [
        {"type": "function", "name": "weather", "parameters": TOOLS[0]["function"]["parameters"]}
    ]
    with client.responses.stream(model="claude-sonnet-4-5", input="weather in Paris?", tools=tools) as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [json.loads(c.arguments) for c in calls] == [{"city": "Paris"}]


SIG = "EqQBCkgIBhABGAIqQFakeSignature32=="


def _claude_signed_stream() -> list[bytes]:
    message = {
        "id": "msg_32t",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
    }
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "usage": {"input_tokens": 20, "output_tokens": 1}}},
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": SIG},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "France: Paris."},
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": SIG}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Paris."}},
        {"type": "content_block_stop", "index": 1},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 9}},
        {"type": "message_stop"},
    ]
    return [_event(e) for e in events]


def test_a_signature_in_the_thinking_start_goes_back_to_claude_on_its_own_block(
    gw: Stack, up: ScriptedUpstream
) -> None:
    done = messages_answer("Yes.", ident="msg_32u", usage=(30, 2), model="claude-sonnet-4-5")
    up.script(MESSAGES, sse(_claude_signed_stream()), json_answer(done))
    client = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    with client.responses.stream(
        model="claude-sonnet-4-5",
        input="Capital of France?",
        reasoning={"effort": "low"},
        include=["reasoning.encrypted_content"],
    ) as stream:
        for _ in stream:
            pass
        first = stream.get_final_response()
    items: list[Any] = [item.model_dump(exclude_none=True) for item in first.output]
    assert [i["type"] for i in items] == ["reasoning", "message"]
    again = client.responses.create(
        model="claude-sonnet-4-5",
        reasoning={"effort": "low"},
        input=[
            {"role": "user", "content": "Capital of France?"},
            *items,
            {"role": "user", "content": "Sure?"},
        ],
    )
    assert again.output_text == "Yes."
    sent = up.seen(MESSAGES)[-1].json
    thinking = [
        (b["thinking"], b["signature"])
        for m in sent["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b.get("type") == "thinking"
    ]
    assert thinking == [("France: Paris.", SIG)]
