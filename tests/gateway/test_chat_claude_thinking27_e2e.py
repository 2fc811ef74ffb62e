"""A Chat client's tool loop on Claude gives Anthropic back its thinking (bug27b variants 04-vA, 04-vG), end to end:
the openai SDK (Chat Completions), the gateway and the recorder as processes, Anthropic replaced by a scripted
upstream.

Claude answers turn 1 with ``[thinking, redacted_thinking, tool_use]``; turn 2 sends the assistant message back as the
client got it, with the tool's result. The gateway gives a Chat client Claude's signed and redacted thinking as
OpenRouter's ``reasoning_details`` entries (OpenRouter docs, "Reasoning Tokens": "Preserving reasoning blocks"), and
reads them back into the blocks Anthropic wants first in the latest assistant turn, unchanged (extended-thinking docs,
"Preserving thinking blocks"). Before, a chat client had only ``reasoning_content``: turn 2 reached Anthropic without
either block, and with thinking turned off for the rest of the loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.gateway.test_redacted_thinking_e2e import (
    ANTHROPIC,
    DONE,
    MESSAGE,
    REDACTED_BLOCK,
    THINKING,
    TOOL_USE,
    _frames,
)
from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse

pytestmark = pytest.mark.usefixtures("fresh_up")

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
USER: Any = {"role": "user", "content": "Weather in Paris?"}


@pytest.fixture()
def gw(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    with stack(tmp_path, {"anthropic": f"{up.url}/anthropic"}) as st:
        yield st


def _streamed_message(client: openai.OpenAI, base: Any) -> dict[str, Any]:
    """The assistant message a client of OpenRouter-style streams keeps: the text, ``reasoning_content``, the calls
    and the ``reasoning_details`` entries merged by their ``index`` (text joined; signature and data kept)."""
    reasoning, calls, details = "", {}, {}
    for chunk in client.chat.completions.create(messages=[USER], stream=True, **base):
        for choice in chunk.choices:
            delta = choice.delta.model_dump()
            reasoning += delta.get("reasoning_content") or ""
            for d in delta.get("reasoning_details") or []:
                slot = details.setdefault(d["index"], {**d, "text": ""})
                slot["text"] += d.get("text") or ""
                slot.update({k: d[k] for k in ("signature", "data") if d.get(k)})
            for c in delta.get("tool_calls") or []:
                call = calls.setdefault(
                    c["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] = call["id"] or c.get("id") or ""
                call["function"]["name"] += (c.get("function") or {}).get("name") or ""
                call["function"]["arguments"] += (c.get("function") or {}).get("arguments") or ""
    for d in details.values():
        if d["type"] != "reasoning.text":
            del d["text"]
    return {
        "role": "assistant",
        "content": None,
        "reasoning_content": reasoning,
        "reasoning_details": [details[k] for k in sorted(details)],
        "tool_calls": [calls[k] for k in sorted(calls)],
    }


def _loop(gw: Stack, up: ScriptedUpstream, content: list[dict[str, Any]], *, stream: bool) -> list[Any]:
    """Turn 1 (Claude calls the tool), turn 2 (the tool's output): the assistant turn Anthropic got in turn 2."""
    if stream:
        up.script(ANTHROPIC, sse(_frames(content, "tool_use")), json_answer(DONE))
    else:
        up.script(ANTHROPIC, json_answer({**MESSAGE, "content": content}), json_answer(DONE))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0)
    base: Any = {
        "model": "claude-sonnet-4-5",
        "reasoning_effort": "medium",
        "max_tokens": 4096,
        "tools": TOOLS,
    }
    if stream:
        message = _streamed_message(client, base)
    else:
        message = (
            client.chat.completions.create(messages=[USER], **base)
            .choices[0]
            .message.model_dump(exclude_none=True)
        )
    call_id = message["tool_calls"][0]["id"]
    result = {"role": "tool", "tool_call_id": call_id, "content": "sunny, 24 C"}
    second = client.chat.completions.create(messages=[USER, message, result], **base)
    assert second.choices[0].message.content == "Sunny in Paris."
    sent = up.seen(ANTHROPIC)
    assert len(sent) == 2, "one request per turn: nothing refused, nothing retried"
    body = sent[1].json
    assert "thinking" in body, "thinking stays on for the loop"
    turns = [m for m in body["messages"] if m["role"] == "assistant"]
    return [{k: v for k, v in b.items() if k != "cache_control"} for b in turns[-1]["content"]]


@pytest.mark.parametrize("stream", [False, True])
def test_a_chat_clients_tool_turn_goes_back_with_claudes_thinking(
    gw: Stack, up: ScriptedUpstream, stream: bool
) -> None:
    content = [THINKING, REDACTED_BLOCK, TOOL_USE]
    assert _loop(gw, up, content, stream=stream) == content


def test_a_chat_clients_tool_turn_whose_only_thinking_is_redacted(gw: Stack, up: ScriptedUpstream) -> None:
    content = [REDACTED_BLOCK, TOOL_USE]
    assert _loop(gw, up, content, stream=True) == content
