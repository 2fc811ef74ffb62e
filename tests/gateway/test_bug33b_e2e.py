"""Session 33 (bug33b) variants, end to end: the official anthropic and openai SDKs, the gateway and the recorder as
processes, Anthropic, OpenRouter and a Kimi K2 catalog route (chat wire) replaced by a scripted upstream.

- 04n / 04o: Claude Code's tool loop begun on Kimi K2, which names its calls ``functions.<name>:<n>``; the anthropic
  SDK gets that id in its ``tool_use`` block and sends it back (``tool_use.id``, ``tool_result.tool_use_id``) when
  the conversation moves to Claude. Anthropic refuses ids outside ``^[a-zA-Z0-9_-]+$`` (400 "String should match
  pattern"), and the passthrough sent them as they were.
- 04p: the same history from an openai SDK chat client to Claude on OpenRouter (same format): OpenRouter hands the
  ids to Anthropic unchanged and relays its 400 (tailcallhq/forgecode#1142).
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.e2e_builders import (
    ANTHROPIC_ID,
    KIMI_CALL_ID,
    catalog,
    catalog_gw,
    chat_answer,
    messages_answer,
    provider,
    tool_ids,
)
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

KIMI = "kimi-k2-0905-preview"
KIMI_PATH = "/moonshot/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
OPENROUTER = "/openrouter/api/v1/chat/completions"
CATALOG = catalog(provider("moonshot", KIMI, price=(0.6, 2.5)))
TOOLS: list[Any] = [
    {
        "name": "weather",
        "description": "The weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
ASK = {"role": "user", "content": "Weather in Paris?"}

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("bug33b", CATALOG, paths={"anthropic": "/anthropic"})


gw_openrouter = catalog_gw("bug33b-or", CATALOG, paths={"openrouter": "/openrouter/api/v1"})


def _kimi_call(stream: bool) -> Any:
    head = {"id": "chatcmpl-k2", "object": "chat.completion.chunk", "created": 1775000000, "model": KIMI}
    call = {
        "id": KIMI_CALL_ID,
        "type": "function",
        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
    }
    if not stream:
        message = {"role": "assistant", "content": None, "tool_calls": [call]}
        body = {**chat_answer("", ident="chatcmpl-k2", model=KIMI, usage=(20, 5))}
        body["choices"] = [{"index": 0, "message": message, "finish_reason": "tool_calls"}]
        return json_answer(body)
    chunks = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [{"index": 0, **call}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}},
    ]
    return sse([*(b"data: " + orjson.dumps({**head, **c}) + b"\n\n" for c in chunks), b"data: [DONE]\n\n"])


@pytest.mark.parametrize("stream", [False, True], ids=["04n-whole", "04o-streamed"])
def test_claude_code_tool_loop_from_kimi_reaches_claude_with_ids_anthropic_takes(
    gw: Stack, up: ScriptedUpstream, stream: bool
) -> None:
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    up.script(KIMI_PATH, _kimi_call(stream))
    request: dict[str, Any] = {"model": KIMI, "max_tokens": 1024, "messages": [ASK], "tools": TOOLS}
    if stream:
        with claude.messages.stream(**request) as s:
            turn1 = s.get_final_message()
    else:
        turn1 = claude.messages.create(**request)
    content = [b.model_dump(exclude_none=True) for b in turn1.content]
    call_id = next(b["id"] for b in content if b["type"] == "tool_use")

    up.script(ANTHROPIC, json_answer(messages_answer("Sunny in Paris.", ident="msg_33b", usage=(40, 5))))
    result = {"type": "tool_result", "tool_use_id": call_id, "content": "Sunny"}
    turn2 = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=1024,
        tools=TOOLS,
        messages=[ASK, {"role": "assistant", "content": content}, {"role": "user", "content": [result]}],
    )
    assert [b.text for b in turn2.content if b.type == "text"] == ["Sunny in Paris."]
    ids = tool_ids(up.seen(ANTHROPIC)[0].json)
    assert len(ids) == 2 and ids[0] == ids[1] and ANTHROPIC_ID.match(ids[0]), ids


def test_chat_client_tool_loop_from_kimi_reaches_claude_on_openrouter_with_ids_anthropic_takes(
    gw_openrouter: Stack, up: ScriptedUpstream
) -> None:
    chat = openai.OpenAI(base_url=f"{gw_openrouter.gateway_url}/v1", api_key="sk-client", max_retries=0)
    up.script(KIMI_PATH, _kimi_call(False))
    tools: Any = [
        {"type": "function", "function": {"name": "weather", "parameters": TOOLS[0]["input_schema"]}}
    ]
    turn1 = chat.chat.completions.create(model=KIMI, messages=[ASK], tools=tools)  # type: ignore[list-item]
    message = turn1.choices[0].message
    assert message.tool_calls and message.tool_calls[0].id == KIMI_CALL_ID  # the same format: passed through

    model = "anthropic/claude-sonnet-4.5"
    up.script(
        OPENROUTER, json_answer(chat_answer("Sunny in Paris.", ident="gen-33b", model=model, usage=(40, 5)))
    )
    turn2 = chat.chat.completions.create(
        model=model,
        tools=tools,
        messages=[  # type: ignore[list-item]
            ASK,
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": KIMI_CALL_ID, "content": "Sunny"},
        ],
    )
    assert turn2.choices[0].message.content == "Sunny in Paris."
    sent = up.seen(OPENROUTER)[0].json["messages"]
    ids = [c["id"] for c in sent[1]["tool_calls"]] + [sent[2]["tool_call_id"]]
    assert len(ids) == 2 and ids[0] == ids[1] and ANTHROPIC_ID.match(ids[0]), ids


def test_claude_code_two_kimi_turns_reach_claude_with_one_id_per_call(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """review34: a host that numbers Kimi K2's calls per answer gives ``functions.weather:0`` on both turns; made
    the same id twice, Anthropic answers 400 "`tool_use` ids must be unique" (anomalyco/opencode#1279)."""
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    messages: list[Any] = [ASK]
    for _ in range(2):
        up.script(KIMI_PATH, _kimi_call(False))
        turn = claude.messages.create(model=KIMI, max_tokens=1024, messages=messages, tools=TOOLS)  # type: ignore[arg-type]
        content = [b.model_dump(exclude_none=True) for b in turn.content]
        call_id = next(b["id"] for b in content if b["type"] == "tool_use")
        assert call_id == KIMI_CALL_ID
        result = {"type": "tool_result", "tool_use_id": call_id, "content": "Sunny"}
        messages += [{"role": "assistant", "content": content}, {"role": "user", "content": [result]}]

    up.script(ANTHROPIC, json_answer(messages_answer("Sunny in Paris.", ident="msg_34", usage=(40, 5))))
    turn3 = claude.messages.create(model="claude-sonnet-4-5", max_tokens=1024, tools=TOOLS, messages=messages)  # type: ignore[arg-type]
    assert [b.text for b in turn3.content if b.type == "text"] == ["Sunny in Paris."]
    ids = tool_ids(up.seen(ANTHROPIC)[0].json)  # use, result, use, result
    assert len(ids) == 4 and ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2], ids
    assert all(ANTHROPIC_ID.match(i) for i in ids), ids
