"""The goldens checked against something other than the translator: each one is read by the official SDK
of its format, and its text, tool calls and usage must equal those of the upstream transcript it came
from, read here by a parser of its own (not the gateway's decoders).

``test_dialect_golden.py`` pins the bytes; this file says the pinned bytes are right. It reads the files
on disk, so a golden regenerated with ``EKAI_UPDATE_GOLDEN=1`` is checked here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from dialect_helpers import GOLDEN_DIR, SSE_DIR, anthropic_client, openai_client

FIXTURES = sorted(p.stem for p in SSE_DIR.glob("*.sse"))


@dataclass
class Seen:
    """What a stream says, format-free: text, tool calls (name, parsed arguments), prompt and output tokens."""

    text: str = ""
    tools: dict[int, list[str]] = field(default_factory=dict)  # position -> [name, raw arguments]
    prompt: int | None = None  # every prompt token, cached ones included
    output: int | None = None

    def calls(self) -> list[tuple[str, Any]]:
        return [(name, json.loads(args or "{}")) for _, (name, args) in sorted(self.tools.items())]


def payloads(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, JSON data) of each SSE frame; comments, keep-alives and ``[DONE]`` left out."""
    out: list[tuple[str | None, Any]] = []
    for frame in raw.decode().replace("\r\n", "\n").split("\n\n"):
        name = next((line[6:].strip() for line in frame.split("\n") if line.startswith("event:")), None)
        data = "\n".join(line[5:].strip() for line in frame.split("\n") if line.startswith("data:"))
        if data and data != "[DONE]":
            out.append((name, json.loads(data)))
    return out


def read_chat(raw: bytes) -> Seen:
    seen = Seen()
    for _, chunk in payloads(raw):
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            seen.text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                slot = seen.tools.setdefault(call["index"], ["", ""])
                fn = call.get("function") or {}
                slot[0] = fn.get("name") or slot[0]
                slot[1] += fn.get("arguments") or ""
        if chunk.get("usage"):
            seen.prompt, seen.output = chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"]
    return seen


def read_messages(raw: bytes) -> Seen:
    seen = Seen()
    for name, ev in payloads(raw):
        if name == "message_start":
            usage = ev["message"].get("usage") or {}
            seen.prompt = anthropic_prompt(usage)
            seen.output = usage.get("output_tokens")
        elif name == "content_block_start" and ev["content_block"]["type"] == "tool_use":
            seen.tools[ev["index"]] = [ev["content_block"]["name"], ""]
        elif name == "content_block_delta" and ev["delta"]["type"] == "text_delta":
            seen.text += ev["delta"]["text"]
        elif name == "content_block_delta" and ev["delta"]["type"] == "input_json_delta":
            seen.tools[ev["index"]][1] += ev["delta"]["partial_json"]
        elif name == "message_delta" and ev.get("usage"):
            seen.output = ev["usage"].get("output_tokens", seen.output)
            if "input_tokens" in ev["usage"]:
                seen.prompt = anthropic_prompt(ev["usage"])
    return seen


def anthropic_prompt(usage: dict[str, Any]) -> int | None:
    if usage.get("input_tokens") is None:
        return None
    return int(
        usage["input_tokens"]
        + (usage.get("cache_read_input_tokens") or 0)
        + (usage.get("cache_creation_input_tokens") or 0)
    )


def sdk_read_chat(raw: bytes) -> tuple[Seen, str | None]:
    """The golden as the openai SDK streams it; the error it raised, if any."""
    seen, error = Seen(), None
    stream = openai_client(raw).chat.completions.create(model="m", messages=[], stream=True)
    try:
        for chunk in stream:
            for choice in chunk.choices:
                seen.text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    slot = seen.tools.setdefault(call.index, ["", ""])
                    slot[0] = (call.function.name if call.function else None) or slot[0]
                    slot[1] += (call.function.arguments if call.function else None) or ""
            if chunk.usage is not None:
                seen.prompt, seen.output = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
    except openai.APIError as exc:
        error = exc.message
    return seen, error


def sdk_read_messages(raw: bytes) -> tuple[Seen, str | None]:
    """The golden as the anthropic SDK's stream helper accumulates it; the error it raised, if any."""
    seen, error = Seen(), None
    try:
        with anthropic_client(raw).messages.stream(model="m", max_tokens=1, messages=[]) as stream:
            for _ in stream:
                pass
            message = stream.get_final_message()
    except anthropic.APIError as exc:
        message, error = stream.current_message_snapshot, exc.message
    for i, block in enumerate(message.content):
        if block.type == "text":
            seen.text += block.text
        elif block.type == "tool_use":
            seen.tools[i] = [block.name, json.dumps(block.input)]
    usage = message.usage
    seen.prompt = (
        usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    )
    seen.output = usage.output_tokens
    return seen, error


@pytest.mark.parametrize("fixture", FIXTURES)
def test_the_golden_says_what_the_upstream_said(fixture: str) -> None:
    upstream = (SSE_DIR / f"{fixture}.sse").read_bytes()
    to_openai = fixture.startswith("anthropic")
    golden = (GOLDEN_DIR / f"{fixture}.to_{'openai' if to_openai else 'anthropic'}.sse").read_bytes()
    said = read_messages(upstream) if to_openai else read_chat(upstream)
    got, error = sdk_read_chat(golden) if to_openai else sdk_read_messages(golden)
    assert said.text or said.tools, "a transcript with nothing to compare"
    assert got.text == said.text
    assert got.calls() == said.calls()
    if said.output is not None and "error" not in fixture:  # usage preserved: every prompt and output token
        assert (got.prompt, got.output) == (said.prompt, said.output)
    assert (error is not None) is ("error" in fixture)  # an upstream error is still an error for the client
