"""A Responses client's tool loop on Claude gives Anthropic back its redacted_thinking blocks (s19 variants
04-s, 04-t, 04-u), end to end: the openai SDK (Responses, ``store: false``, the whole transcript every turn),
the gateway and the recorder as processes, Anthropic replaced by a scripted upstream.

Claude answers the first turn with ``[thinking, redacted_thinking, tool_use]``; the second turn sends the
tool's output. Anthropic requires the latest assistant turn's thinking blocks exactly as it made them (400
"`thinking` or `redacted_thinking` blocks in the latest assistant message cannot be modified"; extended-
thinking docs, "Preserving thinking blocks"). Before the fix the redacted block never reached the client,
so the turn went back without it (and with only a redacted block, thinking was turned off for the loop).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")

ANTHROPIC = "/anthropic/v1/messages"
SIGNATURE = "EqQBCkYIBxgCKkBAnthropicSignature=="
REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"
THINKING = {"type": "thinking", "thinking": "Need the weather.", "signature": SIGNATURE}
REDACTED_BLOCK = {"type": "redacted_thinking", "data": REDACTED}
TOOL_USE = {"type": "tool_use", "id": "toolu_01V19", "name": "weather", "input": {"city": "Paris"}}
USAGE = {
    "input_tokens": 20,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 10,
}
MESSAGE: dict[str, Any] = {
    "id": "msg_01V19",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": USAGE,
}
DONE: dict[str, Any] = {
    **MESSAGE,
    "content": [{"type": "text", "text": "Sunny in Paris."}],
    "stop_reason": "end_turn",
}
TOOLS: Any = [
    {
        "type": "function",
        "name": "weather",
        "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
USER: Any = {
    "type": "message",
    "role": "user",
    "content": [{"type": "input_text", "text": "Weather in Paris?"}],
}


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    with stack(tmp_path, {"anthropic": f"{up.url}/anthropic"}) as st:
        yield st


def _frames(content: list[dict[str, Any]], stop: str) -> list[bytes | Any]:
    """Claude's stream of ``content`` (a redacted block comes whole in its content_block_start)."""
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**MESSAGE, "content": [], "stop_reason": None}}
    ]
    for i, block in enumerate(content):
        deltas: list[dict[str, Any]] = []
        start = block
        if block["type"] == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        elif block["type"] == "tool_use":
            start = {**block, "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": orjson.dumps(block["input"]).decode()}]
        elif block["type"] == "text":
            start = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": block["text"]}]
        events.append({"type": "content_block_start", "index": i, "content_block": start})
        events += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        events.append({"type": "content_block_stop", "index": i})
    events += [
        {"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 10}},
        {"type": "message_stop"},
    ]
    return [b"event: %s\ndata: %s\n\n" % (e["type"].encode(), orjson.dumps(e)) for e in events]


def _loop(gw: Stack, up: ScriptedUpstream, content: list[dict[str, Any]], *, stream: bool) -> list[Any]:
    """Turn 1 (Claude calls the tool), turn 2 (the tool's output): the assistant turn Anthropic got in turn 2."""
    if stream:
        up.script(ANTHROPIC, sse(_frames(content, "tool_use")), sse(_frames(DONE["content"], "end_turn")))
    else:
        up.script(ANTHROPIC, json_answer({**MESSAGE, "content": content}), json_answer(DONE))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0)
    base: Any = {
        "model": "claude-sonnet-4-5",
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "reasoning": {"effort": "medium"},
        "tools": TOOLS,
    }
    if stream:
        with client.responses.stream(input=[USER], **base) as events:
            first = events.get_final_response()
    else:
        first = client.responses.create(input=[USER], **base)
    output = [item.model_dump(exclude_none=True) for item in first.output]
    call = next(i for i in output if i["type"] == "function_call")
    result = {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 24 C"}
    if stream:
        with client.responses.stream(input=[USER, *output, result], **base) as events:
            second = events.get_final_response()
    else:
        second = client.responses.create(input=[USER, *output, result], **base)
    assert second.output_text == "Sunny in Paris."
    sent = up.seen(ANTHROPIC)
    assert len(sent) == 2, "one request per turn: nothing refused, nothing retried"
    body = sent[1].json
    assert "thinking" in body, "thinking stays on for the loop"
    turns = [m for m in body["messages"] if m["role"] == "assistant"]
    return [{k: v for k, v in b.items() if k != "cache_control"} for b in turns[-1]["content"]]


@pytest.mark.parametrize("stream", [False, True])
def test_a_tool_turn_goes_back_with_its_redacted_thinking(
    gw: Stack, up: ScriptedUpstream, stream: bool
) -> None:
    content = [THINKING, REDACTED_BLOCK, TOOL_USE]
    assert _loop(gw, up, content, stream=stream) == content


def test_a_tool_turn_whose_only_thinking_is_redacted(gw: Stack, up: ScriptedUpstream) -> None:
    content = [REDACTED_BLOCK, TOOL_USE]
    assert _loop(gw, up, content, stream=True) == content
