"""Session 35 (bug35b) variants, end to end: the official openai and anthropic SDKs, the gateway and the recorder as
processes, OpenAI replaced by a scripted upstream.

Kind 01 on the Responses wire: gpt-5-codex (served on /v1/responses only, bug34a) asked by Claude Code or a chat
client. A server that gives a function call's whole arguments in ``response.output_item.added`` and restates them in
argument deltas had them relayed twice (01w35c/d: the chat client got ``{..}{..}``, the anthropic SDK an input it
could not parse); arguments streamed as ``null`` reached Claude Code as ``input: null`` (01w35g).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import anthropic
import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, json_answer, sse
from tests.unit.test_responses_call_args35 import PARIS, call_stream

RESPONSES = "/openai/v1/responses"
TOOLS_ANTHROPIC = [
    {
        "name": "weather",
        "description": "Weather of a city.",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
TOOLS_CHAT = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("bug35b", {"openai": "/openai/v1"}) as st:
        yield st


def _claude_code_input(gw: Stack, rid: str) -> object:
    claude = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    with claude.messages.stream(
        model="gpt-5-codex",
        max_tokens=32000,
        tools=TOOLS_ANTHROPIC,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "Weather?"}],
        extra_headers={"x-request-id": rid},
    ) as stream:
        sent = "".join(
            e.delta.partial_json
            for e in stream
            if e.type == "content_block_delta" and e.delta.type == "input_json_delta"
        )
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    inputs = [b.input for b in message.content if b.type == "tool_use"]
    assert len(inputs) == 1
    # the text Claude Code joins and parses strictly (the SDK's partial parse reads a first object only)
    assert (json.loads(sent) if sent else {}) == inputs[0]
    return inputs[0]


@pytest.mark.parametrize(
    ("name", "stream", "want"),
    [
        ("restated", call_stream(PARIS, ['{"city":', '"Paris"}'], PARIS, PARIS), {"city": "Paris"}),
        ("null", call_stream("", ["nu", "ll"], "null", "null"), {}),
    ],
)
def test_claude_code_gets_a_codex_call_input_once(
    gw: Stack, up: ScriptedUpstream, name: str, stream: bytes, want: dict[str, str]
) -> None:
    """01w35d, 01w35g: the anthropic SDK's final message has one tool_use whose input is the call's object."""
    up.script(RESPONSES, sse([stream]))
    assert _claude_code_input(gw, f"b35b-claude-{name}") == want
    row = gw.row_for(f"b35b-claude-{name}")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 50, 5), row


def test_a_chat_client_gets_a_restated_codex_call_once(gw: Stack, up: ScriptedUpstream) -> None:
    """01w35c: the openai SDK's streamed chat completion, fragments joined per index, parses to the object."""
    up.script(RESPONSES, sse([call_stream(PARIS, ['{"city":', '"Paris"}'], PARIS, PARIS)]))
    chat = openai.OpenAI(base_url=f"{gw.gateway_url}/v1", api_key="sk-client", max_retries=0)
    args: dict[int, str] = {}
    finish = None
    for chunk in chat.chat.completions.create(
        model="gpt-5-codex",
        messages=[{"role": "user", "content": "Weather?"}],
        tools=TOOLS_CHAT,  # type: ignore[arg-type]
        stream=True,
        extra_headers={"x-request-id": "b35b-chat-restated"},
    ):
        for choice in chunk.choices:
            for call in choice.delta.tool_calls or []:
                args[call.index] = args.get(call.index, "") + (
                    call.function and call.function.arguments or ""
                )
            finish = choice.finish_reason or finish
    assert finish == "tool_calls"
    assert [json.loads(a) for a in args.values()] == [{"city": "Paris"}]


OPENROUTER = "/openrouter/v1/chat/completions"


@pytest.fixture(scope="module")
def gw_openrouter(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("bug35b-openrouter", {"openrouter": "/openrouter/v1"}) as st:
        yield st


def test_claude_code_top_k_reaches_claude_on_openrouter(gw_openrouter: Stack, up: ScriptedUpstream) -> None:
    """08w35c: the anthropic SDK's ``top_k`` is in the chat body OpenRouter gets for Claude, beside its cache marker;
    the client gets the answer."""
    answer = {
        "id": "gen-35b",
        "object": "chat.completion",
        "created": 1775000000,
        "model": "anthropic/claude-sonnet-4.5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }
    up.script(OPENROUTER, json_answer(answer))
    claude = anthropic.Anthropic(base_url=gw_openrouter.gateway_url, api_key="sk-ant-client", max_retries=0)
    message = claude.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        extra_body={"top_k": 5},  # (this anthropic SDK names no top_k argument)
        system=[{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-request-id": "b35b-top-k"},
    )
    assert [b.text for b in message.content if b.type == "text"] == ["ok"]
    (sent,) = up.seen(OPENROUTER)
    assert sent.json["model"] == "anthropic/claude-sonnet-4.5"
    assert sent.json["top_k"] == 5
    assert sent.json["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}


OLD_SDK = Path(__file__).resolve().parents[2] / ".venv" / "old-sdk"
OLD_CLIENT = r"""
import json, sys, anthropic
c = anthropic.Anthropic(base_url=sys.argv[1], api_key="unused", max_retries=0)
tools = [{"name": "weather", "description": "Weather of a city.",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
with c.messages.stream(model="gpt-5-codex", max_tokens=32000, tools=tools, messages=[{"role": "user", "content": "W?"}],
                       extra_headers={"x-request-id": "b35b-old-restated"}) as s:
    sent = "".join(e.delta.partial_json for e in s
                   if e.type == "content_block_delta" and e.delta.type == "input_json_delta")
    m = s.get_final_message()
c.messages.create(model="claude-sonnet-4-5", max_tokens=100, top_k=7, messages=[{"role": "user", "content": "hi"}],
                  extra_headers={"x-request-id": "b35b-old-top-k", "x-ekai-provider": "openrouter"})
print(json.dumps([anthropic.__version__, sent, [b.input for b in m.content if b.type == "tool_use"], m.stop_reason]))
"""


@pytest.fixture(scope="module")
def gw_both(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("bug35b-both", {"openai": "/openai/v1", "openrouter": "/openrouter/v1"}) as st:
        yield st


def test_old_anthropic_sdk_gets_a_restated_codex_call_once_and_sends_top_k(
    gw_both: Stack, up: ScriptedUpstream
) -> None:
    """01w35d and 08w35c with anthropic 0.7x (``make old-sdk``), whose ``messages.create`` still names ``top_k``."""
    assert OLD_SDK.exists(), "run `make old-sdk` (make test does) to install anthropic 0.7x"
    up.script(RESPONSES, sse([call_stream(PARIS, ['{"city":', '"Paris"}'], PARIS, PARIS)]))
    answer = {
        "id": "gen-35b-old",
        "object": "chat.completion",
        "created": 1775000000,
        "model": "anthropic/claude-sonnet-4.5",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }
    up.script(OPENROUTER, json_answer(answer))
    env = {**os.environ, "PYTHONPATH": str(OLD_SDK)}
    proc = subprocess.run(
        [sys.executable, "-c", OLD_CLIENT, gw_both.gateway_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-800:]
    version, sent, inputs, stop = json.loads(proc.stdout)
    assert version.startswith("0.7")
    assert (json.loads(sent), inputs, stop) == ({"city": "Paris"}, [{"city": "Paris"}], "tool_use")
    (body,) = up.seen(OPENROUTER)
    assert body.json["top_k"] == 7
