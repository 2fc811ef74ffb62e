"""review35, end to end: Claude Code's tool loop begun on a server whose call ids are in Anthropic's pattern but not one
per call reaches Claude with one id per call, each result answering its own call.

The official anthropic SDK, the gateway and the recorder as processes; a vLLM-style catalog route (chat wire) and
Anthropic replaced by the scripted upstream. Two ways a server's ids are not one per call, each id in
``^[a-zA-Z0-9_-]+$``:

- per answer, ``call_0`` on every turn (the count ``_request_from_responses._unique_ids`` names);
- one id for every call of one answer (Xinference's ``call_<completion id>``: xorbitsai/inference#4237).

The passthrough to Anthropic (``strip_for_anthropic``) walked the ids only when one was outside the pattern
(session 34), so both reached Anthropic as they came: 400 "`tool_use` ids must be unique" (anomalyco/opencode#1279).
"""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from tests.e2e_builders import ANTHROPIC_ID, catalog, catalog_gw, messages_answer, provider, tool_ids
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

MODEL = "qwen3-coder-30b"
LOCAL_PATH = "/local/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
CATALOG = catalog(provider("local", MODEL, price=(0.1, 0.4)))
TOOLS: list[Any] = [
    {
        "name": "weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
ASK = {"role": "user", "content": "Weather in Paris and Rome?"}
XINFERENCE_ID = "call_f0de99f4-6fe1-4235-b4d9-1fcb010fa197"

pytestmark = pytest.mark.usefixtures("fresh_up")

gw = catalog_gw("review35", CATALOG, paths={"anthropic": "/anthropic"})


def _calls(ids: list[str], stream: bool) -> Any:
    """The local server's answer calling ``weather`` once per id (cities in order), whole or streamed."""
    cities = ["Paris", "Rome", "Oslo"]
    calls = [
        {
            "id": i,
            "type": "function",
            "function": {"name": "weather", "arguments": f'{{"city":"{cities[n]}"}}'},
        }
        for n, i in enumerate(ids)
    ]
    usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    head = {"id": "chatcmpl-r35", "created": 1775000000, "model": MODEL}
    if not stream:
        message = {"role": "assistant", "content": None, "tool_calls": calls}
        choice = {"index": 0, "message": message, "finish_reason": "tool_calls"}
        return json_answer({**head, "object": "chat.completion", "choices": [choice], "usage": usage})
    deltas = [{"index": n, **c} for n, c in enumerate(calls)]
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": deltas}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": usage},
    ]
    head = {**head, "object": "chat.completion.chunk"}
    return sse([*(b"data: " + orjson.dumps({**head, **c}) + b"\n\n" for c in chunks), b"data: [DONE]\n\n"])


@pytest.mark.parametrize(
    ("turns", "stream"),
    [
        ([["call_0"], ["call_0"]], False),
        ([["call_0", "call_1"], ["call_0"]], True),
        ([[XINFERENCE_ID, XINFERENCE_ID]], False),
        ([[XINFERENCE_ID, XINFERENCE_ID]], True),
    ],
    ids=["per-answer-whole", "per-answer-streamed", "one-id-an-answer-whole", "one-id-an-answer-streamed"],
)
def test_claude_code_tool_loop_reaches_claude_with_one_id_per_call(
    gw: Stack, up: ScriptedUpstream, turns: list[list[str]], stream: bool
) -> None:
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    messages: list[Any] = [ASK]
    for ids in turns:
        up.script(LOCAL_PATH, _calls(ids, stream))
        request: dict[str, Any] = {"model": MODEL, "max_tokens": 1024, "messages": messages, "tools": TOOLS}
        if stream:
            with claude.messages.stream(**request) as s:
                turn = s.get_final_message()
        else:
            turn = claude.messages.create(**request)
        content = [b.model_dump(exclude_none=True) for b in turn.content]
        uses = [b for b in content if b["type"] == "tool_use"]
        assert [b["id"] for b in uses] == ids  # the server's ids, as it gave them (the same format's answer)
        # the client answers each call in order, its result naming the city it was asked
        results = [
            {"type": "tool_result", "tool_use_id": b["id"], "content": f"Sunny in {b['input']['city']}"}
            for b in uses
        ]
        messages += [{"role": "assistant", "content": content}, {"role": "user", "content": results}]

    up.script(ANTHROPIC, json_answer(messages_answer("Sunny in both.", ident="msg_r35", usage=(40, 5))))
    last = claude.messages.create(model="claude-sonnet-4-5", max_tokens=1024, tools=TOOLS, messages=messages)  # type: ignore[arg-type]
    assert [b.text for b in last.content if b.type == "text"] == ["Sunny in both."]

    sent = up.seen(ANTHROPIC)[0].json
    ids = tool_ids(sent)
    calls = sum(map(len, turns))
    uses = [i for k, i in enumerate(ids) if _kinds(sent)[k] == "tool_use"]
    assert len(uses) == calls and len(set(uses)) == calls, ids  # Anthropic: "`tool_use` ids must be unique"
    assert all(ANTHROPIC_ID.match(i) for i in ids), ids
    # each result answers its own call: the city of the call with its id
    city_of = {
        b["id"]: b["input"]["city"] for m in sent["messages"] for b in _blocks(m) if b["type"] == "tool_use"
    }
    answered = [
        (city_of[b["tool_use_id"]], b["content"])
        for m in sent["messages"]
        for b in _blocks(m)
        if b["type"] == "tool_result"
    ]
    assert len(answered) == calls and all(content == f"Sunny in {city}" for city, content in answered), (
        answered
    )


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return content if isinstance(content, list) else []


def _kinds(body: dict[str, Any]) -> list[str]:
    """``tool_ids``' blocks' types, in its order."""
    return [
        b["type"] for m in body["messages"] for b in _blocks(m) if b["type"] in ("tool_use", "tool_result")
    ]
