"""Session 30 (bug30c) variants, end to end: the official anthropic and openai SDKs, the gateway and the recorder as
processes, Anthropic and a LiteLLM catalog route (chat wire) replaced by a scripted upstream.

- 17-cc-64k-litellm-bedrock-opus41-vF: Claude Code (``max_tokens: 64000``, ``thinking.budget_tokens: 63999``) on
  Claude Opus 4.1 behind LiteLLM under its Bedrock id (32000 output max, Anthropic models overview). The gateway
  clamped ``max_tokens`` to 32000 but passed the budget on at 63999, which Anthropic refuses (extended thinking docs:
  ``budget_tokens`` >= 1024 and < ``max_tokens``).
- 08-chat-msg-marks-toolcalls-to-anthropic-vF: a chat client's message-level ``cache_control`` (LiteLLM's style) on
  an assistant turn of tool calls only was dropped on the way to Anthropic: the breakpoint belongs on the turn's
  last ``tool_use`` block (Anthropic prompt caching docs: ``tool_use`` blocks may be breakpoints).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, catalog_gw, delta_frame, messages_answer, provider
from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

LITELLM = "/litellm/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
OPUS41 = "us.anthropic.claude-opus-4-1-20250805-v1:0"
CATALOG = catalog(provider("litellm", OPUS41, price=(15, 75)))
ANTHROPIC_ANSWER = messages_answer("Done.", ident="msg_30", usage=(10, 2))

pytestmark = pytest.mark.usefixtures("fresh_up")


gw = catalog_gw("bug30c", CATALOG, paths={"anthropic": "/anthropic"})


def test_claude_codes_thinking_budget_stays_below_the_clamped_limit_behind_litellm(
    gw: Stack, up: ScriptedUpstream
) -> None:
    chunk = partial(delta_frame, ident="c30", model=OPUS41)

    up.script(
        LITELLM,
        sse([chunk({"role": "assistant", "content": "Hello"}), chunk({}, "stop"), b"data: [DONE]\n\n"]),
    )
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with client.messages.stream(  # as Claude Code asks
        model=OPUS41,
        max_tokens=64000,
        thinking={"type": "enabled", "budget_tokens": 63999},
        messages=[{"role": "user", "content": "Say hello."}],
    ) as stream:
        assert stream.get_final_text() == "Hello"
    sent = up.seen(LITELLM)[0].json
    assert sent["max_tokens"] == 32000
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 31999}


def test_a_chat_tool_call_turns_message_marker_reaches_anthropic_on_its_tool_use(
    gw: Stack, up: ScriptedUpstream
) -> None:
    up.script(ANTHROPIC, json_answer(ANTHROPIC_ANSWER))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0)
    call = {"id": "call_1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
    messages: Any = [
        {"role": "user", "content": "List files."},
        {"role": "assistant", "content": None, "tool_calls": [call], "cache_control": {"type": "ephemeral"}},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.txt b.txt"},
        {"role": "user", "content": "Thanks."},
    ]
    tools: Any = [
        {"type": "function", "function": {"name": "ls", "parameters": {"type": "object", "properties": {}}}}
    ]
    answer = client.chat.completions.create(model="claude-sonnet-4-5", messages=messages, tools=tools)
    assert answer.choices[0].message.content == "Done."
    sent = up.seen(ANTHROPIC)[0].json
    tool_use = sent["messages"][1]["content"][-1]
    assert tool_use["type"] == "tool_use" and tool_use["cache_control"] == {"type": "ephemeral"}
