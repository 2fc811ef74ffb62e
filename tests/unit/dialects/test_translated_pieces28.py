"""Session 28 (issue 13, anthropic → openai stream): pieces made once or skipped give what they replace.

- The Messages encoder's text block heads for the first block indexes (``_TEXT_STARTS_AT``, ``_DELTA_HEADS_AT``,
  ``_RUN_HEADS_AT``, made at import) and its ``MessageStart`` answered by ``_start`` alone: every frame it writes
  is ``_frame`` of its own JSON (the dicts the templates stand for), at every block index, below and above the
  kept ones, and ``text_frames`` is ``text`` of each text joined.
- The chat decoder asks for vendor usage (``vendor_usage``: Groq's ``x_groq.usage``, Moonshot's
  ``choices[0].usage``) only of a chunk holding a key it reads: the usage and deltas are those of asking it of
  every chunk, over generated chunks.
- The plain Messages → chat request says it holds nothing minted (``Proxy._build`` skips ``strip_minted``).
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _anthropic_stream as enc
from services.gateway.dialects import _openai_stream as dec
from services.gateway.dialects._openai_wire import usage_from_openai
from services.gateway.dialects._prompt_cache import NO_SESSION
from services.gateway.dialects._request_to_chat import anthropic_to_chat
from services.gateway.dialects.ir import (
    Finish,
    MessageStart,
    ReasoningDelta,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    UsageUpdate,
)
from services.gateway.dialects.registry import WIRES
from services.gateway.providers.openai_compat import OpenAIProvider

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
texts = st.sampled_from(["hi", "", 'q"uote', "back\\slash", "é✓ 😀", "\u2028", "\x00"]) | st.text(max_size=8)


def _frames(out: bytes) -> list[bytes]:
    return [f + b"\n\n" for f in out.split(b"\n\n") if f]


def _as_dicts_would(frame: bytes) -> None:
    """``frame`` is ``_frame`` of its own JSON: the bytes the dicts give."""
    head, _, data = frame.partition(b"\ndata: ")
    assert frame == enc._frame(orjson.loads(data[:-2])), frame
    assert head == b"event: " + orjson.loads(data[:-2])["type"].encode()


@PROPS
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["text", "reasoning", "tool", "args", "run"]), st.lists(texts, max_size=3)),
        max_size=24,
    )
)
def test_every_frame_is_the_dicts_frame(steps: list[tuple[str, list[str]]]) -> None:
    e = enc.MessagesStreamEncoder("claude-haiku-4-5")
    out = [e.feed(MessageStart("chatcmpl-1", "gpt-4o-mini"))]
    tools = 0
    for kind, said in steps:
        for text in said:
            if kind == "text":
                out.append(e.feed(TextDelta(text)))
            elif kind == "reasoning":
                out.append(e.feed(ReasoningDelta(text)))
            elif kind == "tool":
                out.append(e.feed(ToolCallStart(tools, f"call_{tools}", "f")))
                tools += 1
            elif kind == "args":
                out.append(e.feed(ToolArgsDelta(tools - 1, '{"a":1}')))
            else:  # the run lane: text bodies with no escape, as ``text_frames`` takes them
                bodies = [t.encode() for t in said if t and orjson.dumps(t) == b'"' + t.encode() + b'"']
                made = e.text_frames(bodies) if bodies else None
                one = [e.text(t) for t in said if t and orjson.dumps(t) == b'"' + t.encode() + b'"']
                assert made is None or made == b"".join(b for b in one if b is not None)
                out.append(made or b"")
                break
    out.append(e.feed(UsageUpdate(usage_from_openai({"prompt_tokens": 3, "completion_tokens": 2}))))
    out.append(e.feed(Finish("end_turn")))
    out.append(e.finish())
    for frame in _frames(b"".join(out)):
        _as_dicts_would(frame)


def test_text_heads_at_every_index() -> None:
    """Below and above the kept indexes: the template's frames are the dicts' frames."""
    for index in range(enc._HEADS_KEPT + 3):
        start = {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        assert enc._text_start(index) == enc._frame(start)
        if index < enc._HEADS_KEPT:
            assert enc._TEXT_STARTS_AT[index] == enc._frame(start)
        for text in ("a", 'q"', "é"):
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": text},
            }
            assert enc._text_delta(index, text) == enc._frame(delta)


def test_message_start_alone_is_its_opening() -> None:
    e = enc.MessagesStreamEncoder("claude-haiku-4-5")
    out = e.feed(MessageStart("chatcmpl-9", "gpt-4o-mini"))
    frames = _frames(out)
    assert [orjson.loads(f.partition(b"data: ")[2])["type"] for f in frames] == ["message_start", "ping"]
    assert orjson.loads(frames[0].partition(b"data: ")[2])["message"]["id"] == "msg_chatcmpl-9"
    assert e.feed(MessageStart("chatcmpl-9", "gpt-4o-mini")) == b""  # (opened once)


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
usages = st.sampled_from([USAGE, None, 0, "x", {}, {"prompt_tokens": 2}])
firsts = st.one_of(
    st.just({"index": 0, "delta": {"content": "hi"}, "finish_reason": None}),
    st.fixed_dictionaries({"index": st.just(0), "delta": st.just({}), "finish_reason": st.just("stop")}),
    st.just("not a choice"),
)


@st.composite
def chunks(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = {"id": "c", "model": "m"}
    choices: Any = draw(st.sampled_from([None, [], "x", {"usage": USAGE}, "list"]))
    if choices == "list":
        first = draw(firsts)
        if isinstance(first, dict) and draw(st.booleans()):
            first = {**first, "usage": draw(usages)}
        choices = [first]
    if choices is not None:
        obj["choices"] = choices
    if draw(st.booleans()):
        obj["usage"] = draw(usages)
    if draw(st.booleans()):
        obj["x_groq"] = draw(st.sampled_from([{"usage": USAGE}, {"id": "r"}, "x", None, {"usage": None}]))
    return obj


@PROPS
@given(chunk=chunks())
def test_vendor_usage_is_asked_of_the_chunks_that_can_hold_it(chunk: dict[str, Any]) -> None:
    d = dec.ChatStreamDecoder()
    d.feed_data(
        orjson.dumps(
            {"id": "c", "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]}
        ).decode()
    )
    got = d.feed_data(orjson.dumps(chunk).decode())
    usage = chunk.get("usage")
    if type(usage) is not dict:
        usage = dec.vendor_usage(chunk)  # (asked of every chunk: the code before session 28)
    expected = usage_from_openai(usage) if type(usage) is dict else None
    assert d.usage == expected
    assert [u.usage for u in got if type(u) is UsageUpdate] == ([expected] if expected is not None else [])


def test_plain_request_holds_nothing_minted() -> None:
    target = OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-4o-mini")
    body = {"model": "m", "max_tokens": 9, "system": "s", "messages": [{"role": "user", "content": "hi"}]}
    got = anthropic_to_chat(body, target, NO_SESSION)
    assert got.unminted and (got.tool_names, got.custom_tools, got.compaction) == ({}, frozenset(), False)
    sent = orjson.loads(orjson.dumps(got.body))
    assert not WIRES["openai_chat"].strip_minted(sent) and sent == got.body
