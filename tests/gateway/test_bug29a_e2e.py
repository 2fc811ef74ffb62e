"""Session 29 (bug29a) variants of bugcases 01 and 11 that failed, on the wire: real recorder and gateway processes,
the scripted upstream, the official SDKs as clients.

- 01 (a tool call's arguments as the client joins them): a server that streams tool-call arguments as a JSON
  object (llama.cpp, LM Studio and Ollama builds) in two parallel calls: the first call's object was never sent,
  so Claude Code and Codex got ``{}`` for it (bug29a variants 01-chat-args-object-stream-anth-vD, -resp-vE).
- 11 (when to retry): OpenRouter's mid-stream 429 after text, its wait in ``metadata.headers``: Codex got
  ``response.failed`` with ``rate_limit_exceeded`` but no wait in the message, the only place it reads one from
  (codex-rs ``try_parse_retry_after``: ``Please try again in (\\d+(\\.\\d+)?)(s|ms)``; variant 11-or-midstream-429-codex-vG).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.e2e_builders import catalog, catalog_gw, frame, provider
from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, sse

LOCAL = "/local/v1/chat/completions"
MODEL = "local-llama"
CATALOG = catalog(provider("local", MODEL, price=(0.2, 0.6)))
USAGE = {"prompt_tokens": 20, "completion_tokens": 8, "total_tokens": 28}
SCHEMA: dict[str, Any] = {"type": "object", "properties": {"path": {"type": "string"}}}


gw = catalog_gw("bug29a-object-args", CATALOG)


def _chunk(
    delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, int] | None = None
) -> bytes:
    obj: dict[str, Any] = {
        "id": "chatcmpl-29",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": MODEL,
    }
    obj["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    if usage is not None:
        obj["usage"] = usage
    return frame(obj)


def _object_arguments() -> list[bytes | Any]:
    """Two calls, each one chunk whose ``arguments`` is an object (the first with a key, the second empty)."""
    first = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "read_file", "arguments": {"path": "a.txt"}},
    }
    second = {
        "index": 1,
        "id": "call_2",
        "type": "function",
        "function": {"name": "get_time", "arguments": {}},
    }
    return [
        _chunk({"role": "assistant", "content": None}),
        _chunk({"tool_calls": [first]}),
        _chunk({"tool_calls": [second]}),
        _chunk({}, "tool_calls"),
        _chunk(None, usage=USAGE),
        b"data: [DONE]\n\n",
    ]


@pytest.mark.usefixtures("fresh_up")
def test_object_arguments_of_two_calls_reach_claude_code(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LOCAL, sse(_object_arguments()))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0)
    tools: Any = [{"name": "read_file", "input_schema": SCHEMA}, {"name": "get_time", "input_schema": SCHEMA}]
    with client.messages.stream(
        model=MODEL, max_tokens=100, tools=tools, messages=[{"role": "user", "content": "go"}]
    ) as stream:
        message = stream.get_final_message()
    calls = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert calls == [("read_file", {"path": "a.txt"}), ("get_time", {})]
    assert message.stop_reason == "tool_use"


@pytest.mark.usefixtures("fresh_up")
def test_object_arguments_of_two_calls_reach_codex(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(LOCAL, sse(_object_arguments()))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="k", max_retries=0)
    tools: Any = [
        {"type": "function", "name": "read_file", "parameters": SCHEMA},
        {"type": "function", "name": "get_time", "parameters": SCHEMA},
    ]
    done = []
    for event in client.responses.create(model=MODEL, input="go", tools=tools, stream=True):
        if event.type == "response.output_item.done" and event.item.type == "function_call":
            done.append((event.item.name, json.loads(event.item.arguments)))
    assert done == [("read_file", {"path": "a.txt"}), ("get_time", {})]


# ---- OpenRouter's mid-stream 429 to Codex -------------------------------------------------------------------------
OPENROUTER = "/openrouter/api/v1/chat/completions"
OR_MODEL = "anthropic/claude-sonnet-4.5"
CODEX_WAIT = re.compile(r"Please try again in (\d+(?:\.\d+)?)(s|ms)")  # codex-rs rate_limit_regex


@pytest.fixture()
def gw_or(up: ScriptedUpstream, tmp_path: Path) -> Iterator[Stack]:
    """A gateway of its own with only OpenRouter (its rest after a 429 must not reach another test)."""
    up.reset()
    with stack(tmp_path, {"openrouter": f"{up.url}/openrouter/api/v1"}) as st:
        yield st


def _text_then_429() -> list[bytes | Any]:
    head = {"id": "gen-29", "object": "chat.completion.chunk", "created": 1, "model": OR_MODEL}
    text = {
        **head,
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}, "finish_reason": None}],
    }
    error = {
        **head,
        "error": {
            "code": 429,
            "message": "Provider returned error",
            "metadata": {"headers": {"retry-after": "30"}},
        },
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
    }
    return [b"data: " + json.dumps(text).encode() + b"\n\n", b"data: " + json.dumps(error).encode() + b"\n\n"]


def test_a_mid_stream_429_tells_codex_its_wait_in_the_words_it_reads(
    gw_or: Stack, up: ScriptedUpstream
) -> None:
    up.script(OPENROUTER, sse([*_text_then_429(), b"data: [DONE]\n\n"]))
    client = openai.OpenAI(base_url=gw_or.gateway_url + "/v1", api_key="k", max_retries=0)
    failed = [
        e
        for e in client.responses.create(model=OR_MODEL, input="hi", stream=True)
        if e.type == "response.failed"
    ]
    assert len(failed) == 1
    error = failed[0].response.error
    assert error is not None and error.code == "rate_limit_exceeded"
    said = CODEX_WAIT.search(error.message)
    assert said is not None and said.groups() == ("30", "s"), error.message
