"""Claude's signed thinking through LiteLLM's ``thinking_blocks`` (bug28b variants 04-vI..04-vL), end to end: the
official anthropic and openai SDKs, the gateway and the recorder as processes, Anthropic and a LiteLLM catalog route
(serving ``anthropic/claude-sonnet-4-5`` on the chat wire) replaced by a scripted upstream.

LiteLLM answers with Claude's thinking as ``reasoning_content`` plus ``thinking_blocks`` (signed thinking, redacted
thinking) and wants them back on the next turn (LiteLLM docs, "'Thinking' / 'Reasoning Content'"); Anthropic wants
the latest assistant turn's blocks back unchanged (extended-thinking docs, "Preserving thinking blocks"). Before,
Claude Code got the gateway's synthetic signature for Claude's own thinking, the route got nothing back and Anthropic
got the tool turn without its thinking.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, catalog_gw, chat_answer, delta_frame, messages_answer, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

LITELLM = "/litellm/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
MODEL = "anthropic/claude-sonnet-4-5"
CATALOG = catalog(provider("litellm", MODEL, price=(3, 15)))
SIG = "EqQBCkYIBxgCKkBAnthropicSignatureLiteLLM=="
DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB5URj"
THOUGHT = "The user wants the weather."
THINKING = {"type": "thinking", "thinking": THOUGHT, "signature": SIG}
REDACTED = {"type": "redacted_thinking", "data": DATA}
CALL = {
    "id": "toolu_01Lite",
    "type": "function",
    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
}
TOOL_USE = {"type": "tool_use", "id": "toolu_01Lite", "name": "weather", "input": {"city": "Paris"}}
TOOLS: Any = [
    {
        "name": "weather",
        "description": "Weather in a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]
USER: Any = {"role": "user", "content": "Weather in Paris?"}
USAGE = {"prompt_tokens": 50, "completion_tokens": 60, "total_tokens": 110}
DONE_CHAT = chat_answer("Sunny.", ident="chatcmpl-2", model=MODEL, usage=(50, 60))
DONE_ANTHROPIC = messages_answer("Sunny.", ident="msg_02", usage=(9, 2))

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("litellm-thinking", CATALOG, paths={"anthropic": "/anthropic"})


def _whole() -> Any:
    message = {
        "role": "assistant",
        "content": None,
        "reasoning_content": THOUGHT,
        "thinking_blocks": [THINKING, REDACTED],
        "tool_calls": [CALL],
    }
    return json_answer(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": MODEL,
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": USAGE,
        }
    )


def _streamed() -> Any:
    chunk = partial(delta_frame, ident="c1", model=MODEL)

    return sse(
        [
            chunk(
                {
                    "role": "assistant",
                    "reasoning_content": "The user wants ",
                    "thinking_blocks": [
                        {"type": "thinking", "thinking": "The user wants ", "signature": None}
                    ],
                }
            ),
            chunk(
                {
                    "reasoning_content": "the weather.",
                    "thinking_blocks": [{"type": "thinking", "thinking": "the weather.", "signature": None}],
                }
            ),
            chunk({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": SIG}]}),
            chunk({"thinking_blocks": [REDACTED]}),
            chunk({"tool_calls": [{"index": 0, **CALL}]}),
            chunk({}, "tool_calls"),
            b"data: [DONE]\n\n",
        ]
    )


def _turn2(client: anthropic.Anthropic, model: str, content: list[Any]) -> None:
    result = {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "toolu_01Lite", "content": "sunny"}],
    }
    client.messages.create(
        model=model,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=TOOLS,
        messages=[USER, {"role": "assistant", "content": content}, result],
    )


def _plain(blocks: list[Any]) -> list[Any]:
    return [{k: v for k, v in b.items() if k != "cache_control"} for b in blocks]


def test_claude_code_on_claude_behind_litellm_keeps_its_thinking_on_the_route(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(LITELLM, _whole(), json_answer(DONE_CHAT))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    first = client.messages.create(
        model=f"litellm::{MODEL}",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=TOOLS,
        messages=[USER],
    )
    content = [b.model_dump(exclude_none=True) for b in first.content]
    assert content[:2] == [THINKING, REDACTED], "Claude's own signature, not the gateway's"
    _turn2(client, f"litellm::{MODEL}", content)
    sent = up.seen(LITELLM)[1].json
    assistant = next(m for m in sent["messages"] if m["role"] == "assistant")
    assert assistant["thinking_blocks"] == [THINKING, REDACTED]


def test_a_streamed_litellm_turn_goes_on_at_anthropic_with_its_thinking(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(LITELLM, _streamed())
    up.script(ANTHROPIC, json_answer(DONE_ANTHROPIC))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with client.messages.stream(
        model=f"litellm::{MODEL}",
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        tools=TOOLS,
        messages=[USER],
    ) as stream:
        final = stream.get_final_message()
    content = [b.model_dump(exclude_none=True) for b in final.content]
    _turn2(client, "claude-sonnet-4-5", content)
    sent = up.seen(ANTHROPIC)[0].json
    assert "thinking" in sent
    assert _plain(sent["messages"][1]["content"]) == [THINKING, REDACTED, TOOL_USE]


def test_a_chat_clients_thinking_blocks_reach_anthropic(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(ANTHROPIC, json_answer(DONE_ANTHROPIC))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0)
    assistant: Any = {
        "role": "assistant",
        "content": None,
        "reasoning_content": THOUGHT,
        "thinking_blocks": [THINKING, REDACTED],
        "tool_calls": [CALL],
    }
    client.chat.completions.create(
        model="claude-sonnet-4-5",
        reasoning_effort="high",
        max_tokens=4096,
        tools=[{"type": "function", "function": {"name": "weather", "parameters": TOOLS[0]["input_schema"]}}],
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            assistant,
            {"role": "tool", "tool_call_id": "toolu_01Lite", "content": "sunny"},
        ],
    )
    sent = up.seen(ANTHROPIC)[0].json
    assert _plain(sent["messages"][1]["content"]) == [THINKING, REDACTED, TOOL_USE]
