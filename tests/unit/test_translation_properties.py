"""Properties, not just "did not crash" (``test_fuzz_translation.py`` checks that):

* a well-formed request translated to the other format and back keeps its text, tool definitions, tool
  calls, tool results and output budget;
* a stream the decoder reads gives back the text, tool calls and usage that were put into it.

The bodies and streams are generated here from plain values, so the expected answer is known without the
gateway's own code.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import anthropic as anth
from services.gateway.dialects import ir
from services.gateway.dialects import openai_chat as oai
from services.gateway.dialects import translate_request as tr
from shared.sse import SSEDecoder

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TO_CHAT = tr.Target(model="gpt-4o-mini", max_output_tokens=16_384)
TO_ANTHROPIC = tr.Target(model="claude-sonnet-4-5", max_output_tokens=64_000, max_tokens_field="max_tokens")

words = st.text(alphabet="abcdefghij XYZ.,!é😀", min_size=1, max_size=30).filter(lambda s: s.strip() != "")
names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,20}", fullmatch=True)
args = st.dictionaries(
    st.sampled_from(["path", "n", "flag", "q"]),
    st.one_of(st.integers(-9, 99), st.booleans(), words),
    max_size=3,
)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    """An abstract conversation: system text, tools, turns; a turn may carry one tool call and its result."""
    tools = draw(st.lists(names, min_size=0, max_size=3, unique=True))
    turns = []
    for i in range(draw(st.integers(0, 3))):
        call = (
            (draw(st.sampled_from(tools)), draw(args), draw(words)) if tools and draw(st.booleans()) else None
        )
        turns.append({"user": draw(words), "assistant": draw(words), "call": call, "id": f"toolu_{i:02d}"})
    return {
        "system": draw(st.one_of(st.none(), words)),
        "tools": tools,
        "turns": turns,
        "last": draw(words),
        "max_tokens": draw(st.integers(1, 4000)),
    }


def as_anthropic(c: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for t in c["turns"]:
        messages.append({"role": "user", "content": t["user"]})
        content: list[dict[str, Any]] = [{"type": "text", "text": t["assistant"]}]
        if t["call"]:
            name, arguments, result = t["call"]
            content.append({"type": "tool_use", "id": t["id"], "name": name, "input": arguments})
            messages.append({"role": "assistant", "content": content})
            messages.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": t["id"], "content": result}],
                }
            )
            messages.append({"role": "assistant", "content": "ok"})
        else:
            messages.append({"role": "assistant", "content": content})
    messages.append({"role": "user", "content": c["last"]})
    body: dict[str, Any] = {"model": "client-model", "max_tokens": c["max_tokens"], "messages": messages}
    if c["system"]:
        body["system"] = c["system"]
    if c["tools"]:
        body["tools"] = [
            {"name": n, "description": f"tool {n}", "input_schema": schema(n)} for n in c["tools"]
        ]
    return body


def as_chat(c: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": c["system"]}] if c["system"] else []
    for t in c["turns"]:
        messages.append({"role": "user", "content": t["user"]})
        if t["call"]:
            name, arguments, result = t["call"]
            messages.append(
                {
                    "role": "assistant",
                    "content": t["assistant"],
                    "tool_calls": [
                        {
                            "id": t["id"],
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(arguments)},
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": t["id"], "content": result})
            messages.append({"role": "assistant", "content": "ok"})
        else:
            messages.append({"role": "assistant", "content": t["assistant"]})
    messages.append({"role": "user", "content": c["last"]})
    body: dict[str, Any] = {
        "model": "client-model",
        "max_completion_tokens": c["max_tokens"],
        "messages": messages,
    }
    if c["tools"]:
        body["tools"] = [
            {"type": "function", "function": {"name": n, "description": f"tool {n}", "parameters": schema(n)}}
            for n in c["tools"]
        ]
    return body


def schema(name: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string"}}}


def anthropic_view(body: dict[str, Any]) -> dict[str, Any]:
    """Text per turn, tool calls, tool results and tools of an Anthropic body, whatever its block layout."""
    turns: list[tuple[str, str]] = []
    calls: list[tuple[str, Any]] = []
    results: list[str] = []
    for m in body["messages"]:
        blocks = [{"type": "text", "text": m["content"]}] if isinstance(m["content"], str) else m["content"]
        text = "".join(b["text"] for b in blocks if b["type"] == "text")
        if text:
            turns.append((m["role"], text))
        calls += [(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
        for b in blocks:
            if b["type"] == "tool_result":
                content = b["content"]
                results.append(content if isinstance(content, str) else "".join(x["text"] for x in content))
    system = body.get("system")
    if isinstance(system, list):
        system = "".join(b["text"] for b in system)
    tools = [(t["name"], t.get("description"), t["input_schema"]) for t in body.get("tools") or []]
    return {
        "system": system or None,
        "turns": turns,
        "calls": calls,
        "results": results,
        "tools": tools,
        "max_tokens": body["max_tokens"],
    }


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    turns: list[tuple[str, str]] = []
    calls: list[tuple[str, Any]] = []
    results: list[str] = []
    system = []
    for m in body["messages"]:
        content = m.get("content")
        text = (
            content
            if isinstance(content, str)
            else "".join(p["text"] for p in content or [] if p["type"] == "text")
        )
        if m["role"] in ("system", "developer"):
            system.append(text)
        elif m["role"] == "tool":
            results.append(text)
        elif text:
            turns.append((m["role"], text))
        calls += [
            (c["function"]["name"], json.loads(c["function"]["arguments"])) for c in m.get("tool_calls") or []
        ]
    tools = [
        (t["function"]["name"], t["function"].get("description"), t["function"]["parameters"])
        for t in body.get("tools") or []
    ]
    budget = body.get("max_completion_tokens") or body.get("max_tokens")
    return {
        "system": "".join(system) or None,
        "turns": turns,
        "calls": calls,
        "results": results,
        "tools": tools,
        "max_tokens": budget,
    }


@PROPS
@given(conversations())
def test_an_anthropic_request_there_and_back_keeps_what_it_says(c: dict[str, Any]) -> None:
    body = as_anthropic(c)
    there = tr.anthropic_to_chat(body, TO_CHAT).body
    assert chat_view(there) == anthropic_view(body)
    back = tr.chat_to_anthropic(orjson.loads(orjson.dumps(there)), TO_ANTHROPIC).body
    assert anthropic_view(back) == anthropic_view(body)


@PROPS
@given(conversations())
def test_a_chat_request_there_and_back_keeps_what_it_says(c: dict[str, Any]) -> None:
    body = as_chat(c)
    there = tr.chat_to_anthropic(body, TO_ANTHROPIC).body
    assert anthropic_view(there) == chat_view(body)
    back = tr.anthropic_to_chat(orjson.loads(orjson.dumps(there)), TO_CHAT).body
    assert chat_view(back) == chat_view(body)


# ---- streams --------------------------------------------------------------------------------------

pieces = st.lists(
    st.one_of(words.map(lambda w: ("text", w)), st.tuples(st.just("tool"), names, args)),
    min_size=1,
    max_size=6,
)
usages = st.tuples(st.integers(0, 10**6), st.integers(0, 10**5), st.integers(0, 10**6), st.integers(0, 10**6))


def frame(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + orjson.dumps(data) + b"\n\n"


def chat_stream(parts: list[tuple[Any, ...]], usage: tuple[int, int, int, int]) -> bytes:
    uncached, output, cached, _ = usage
    out, calls = [], 0
    for part in parts:
        if part[0] == "text":
            delta: dict[str, Any] = {"content": part[1]}
        else:
            encoded = json.dumps(part[2])
            delta = {
                "tool_calls": [
                    {
                        "index": calls,
                        "id": f"call_{calls}",
                        "type": "function",
                        "function": {"name": part[1], "arguments": encoded[: len(encoded) // 2]},
                    }
                ]
            }
            out.append(frame({"choices": [{"index": 0, "delta": delta}]}))
            delta = {
                "tool_calls": [{"index": calls, "function": {"arguments": encoded[len(encoded) // 2 :]}}]
            }
            calls += 1
        out.append(frame({"choices": [{"index": 0, "delta": delta}]}))
    out.append(frame({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    out.append(
        frame(
            {
                "choices": [],
                "usage": {
                    "prompt_tokens": uncached + cached,
                    "completion_tokens": output,
                    "prompt_tokens_details": {"cached_tokens": cached},
                },
            }
        )
    )
    return b"".join(out) + b"data: [DONE]\n\n"


def messages_stream(parts: list[tuple[Any, ...]], usage: tuple[int, int, int, int]) -> bytes:
    uncached, output, cache_read, cache_write = usage
    start_usage = {
        "input_tokens": uncached,
        "output_tokens": 1,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write,
    }
    out = [
        frame(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "m",
                    "content": [],
                    "usage": start_usage,
                },
            },
            "message_start",
        )
    ]
    for i, part in enumerate(parts):
        if part[0] == "text":
            out.append(
                frame(
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {"type": "text", "text": ""},
                    },
                    "content_block_start",
                )
            )
            out.append(
                frame(
                    {
                        "type": "content_block_delta",
                        "index": i,
                        "delta": {"type": "text_delta", "text": part[1]},
                    },
                    "content_block_delta",
                )
            )
        else:
            encoded = json.dumps(part[2])
            out.append(
                frame(
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {
                            "type": "tool_use",
                            "id": f"toolu_{i}",
                            "name": part[1],
                            "input": {},
                        },
                    },
                    "content_block_start",
                )
            )
            for piece in (encoded[: len(encoded) // 2], encoded[len(encoded) // 2 :]):
                out.append(
                    frame(
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": piece},
                        },
                        "content_block_delta",
                    )
                )
        out.append(frame({"type": "content_block_stop", "index": i}, "content_block_stop"))
    out.append(
        frame(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": output},
            },
            "message_delta",
        )
    )
    return b"".join(out) + frame({"type": "message_stop"}, "message_stop")


def read(decoder: Any, raw: bytes, size: int) -> tuple[str, list[tuple[str, Any]], ir.Usage | None]:
    sse, deltas = SSEDecoder(), []
    for i in range(0, len(raw), size):
        for ev in sse.feed(raw[i : i + size]):
            deltas += decoder.feed(ev)
    for ev in sse.flush():
        deltas += decoder.feed(ev)
    deltas += decoder.finish()
    text = "".join(d.text for d in deltas if isinstance(d, ir.TextDelta))
    names = {d.index: d.name for d in deltas if isinstance(d, ir.ToolCallStart)}
    raw_args: dict[int, str] = {}
    for d in deltas:
        if isinstance(d, ir.ToolArgsDelta):
            raw_args[d.index] = raw_args.get(d.index, "") + d.fragment
    calls = [(names[i], json.loads(raw_args.get(i) or "{}")) for i in sorted(names)]
    return text, calls, decoder.usage


def sent(parts: list[tuple[Any, ...]]) -> tuple[str, list[tuple[str, Any]]]:
    return "".join(p[1] for p in parts if p[0] == "text"), [(p[1], p[2]) for p in parts if p[0] == "tool"]


@PROPS
@given(pieces, usages, st.integers(1, 97))
def test_a_decoded_chat_stream_gives_back_what_was_sent(
    parts: list[tuple[Any, ...]], usage: tuple[int, int, int, int], size: int
) -> None:
    text, calls, got = read(oai.ChatStreamDecoder(), chat_stream(parts, usage), size)
    assert (text, calls) == sent(parts)
    uncached, output, cached, _ = usage
    assert got is not None
    assert (got.input_tokens, got.cache_read_tokens, got.output_tokens) == (uncached, cached, output)
    assert got.prompt_tokens == uncached + cached


@PROPS
@given(pieces, usages, st.integers(1, 97))
def test_a_decoded_messages_stream_gives_back_what_was_sent(
    parts: list[tuple[Any, ...]], usage: tuple[int, int, int, int], size: int
) -> None:
    text, calls, got = read(anth.MessagesStreamDecoder(), messages_stream(parts, usage), size)
    assert (text, calls) == sent(parts)
    uncached, output, cache_read, cache_write = usage
    assert got is not None
    assert (got.input_tokens, got.output_tokens, got.cache_read_tokens, got.cache_write_tokens) == usage[
        :1
    ] + (output, cache_read, cache_write)
    assert got.prompt_tokens == uncached + cache_read + cache_write
