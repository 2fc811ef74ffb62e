"""Stream fidelity across every pair: tool calls close with JSON-object arguments and blocks close once,
in order (issue 9, kind 1); an answer is complete by its meaning, not by a transport marker (kind 2)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from services.gateway.dialects import registry
from services.gateway.dialects._tool_args import closing_suffix
from services.gateway.dialects.formats import CLIENT_FORMATS, WIRES, ClientFormat, Wire
from services.gateway.dialects.ir import (
    Delta,
    Finish,
    MessageStart,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from services.gateway.dialects.openai_chat import ChatStreamDecoder
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from shared.sse import SSEDecoder, SSEEvent

# Bugcase 01 (BerriAI/litellm#5063): Claude calls a tool without parameters; Anthropic streams its input as
# one empty input_json_delta.
CASE01_ANTHROPIC = b"".join(
    b"event: " + json.loads(d)["type"].encode() + b"\ndata: " + d.encode() + b"\n\n"
    for d in (
        '{"type":"message_start","message":{"id":"msg_01FakeSnooze","type":"message","role":"assistant",'
        '"model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,'
        '"usage":{"input_tokens":352,"output_tokens":1}}}',
        '{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_01FakeSnooze",'
        '"name":"snooze","input":{}}}',
        '{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}',
        '{"type":"content_block_stop","index":0}',
        '{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":31}}',
        '{"type":"message_stop"}',
    )
)


def events(raw: bytes) -> list[SSEEvent]:
    dec = SSEDecoder()
    return dec.feed(raw) + dec.flush()


def payloads(raw: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(e.data) for e in events(raw) if not e.comment and e.data != "[DONE]"]


def tool_arguments(fmt: ClientFormat, raw: bytes) -> list[str]:
    """Each tool call's arguments as the client assembles them (the SDKs' way)."""
    out: dict[int, str] = {}
    if fmt == "openai_chat":
        for p in payloads(raw):
            for choice in p.get("choices") or []:
                for call in choice["delta"].get("tool_calls") or []:
                    out[call["index"]] = out.get(call["index"], "") + (call.get("function") or {}).get(
                        "arguments", ""
                    )
        return [out[i] for i in sorted(out)]
    if fmt == "anthropic":
        started: list[int] = []
        stopped: list[int] = []
        tools: dict[int, str] = {}
        for p in payloads(raw):
            if p["type"] == "content_block_start":
                assert p["index"] == len(started) and started == stopped, "blocks must not interleave"
                started.append(p["index"])
                if p["content_block"]["type"] == "tool_use":
                    tools[p["index"]] = ""
            elif p["type"] == "content_block_stop":
                assert p["index"] == started[-1] and p["index"] not in stopped, "each block stops once"
                stopped.append(p["index"])
            elif p["type"] == "content_block_delta" and p["delta"]["type"] == "input_json_delta":
                tools[p["index"]] += p["delta"]["partial_json"]
        assert started == stopped
        return [tools[i] or "{}" for i in sorted(tools)]  # the SDK starts from content_block_start's {}
    done = [p["item"] for p in payloads(raw) if p["type"] == "response.output_item.done"]
    deltas: dict[str, str] = {}
    for p in payloads(raw):
        if p["type"] == "response.function_call_arguments.delta":
            deltas[p["item_id"]] = deltas.get(p["item_id"], "") + p["delta"]
    calls = [i for i in done if i["type"] == "function_call"]
    assert all(deltas.get(c["id"], "") == c["arguments"] for c in calls), "deltas must add up to the item"
    return [c["arguments"] for c in calls]


def encode(fmt: ClientFormat, deltas: list[Delta]) -> bytes:
    enc = registry.client(fmt).encoder(View(model="m", include_usage=True))
    return b"".join(enc.feed(d) for d in deltas) + enc.finish()


CALLS: list[tuple[str, list[str]]] = [
    ("no arguments", []),
    ("one empty fragment", [""]),
    ("whitespace", ["  "]),
    ("whole", ['{"city": "Paris"}']),
    ("truncated string", ['{"city": "Pa']),
    ("truncated after key", ['{"city"']),
    ("truncated nested", ['{"a": [1, {"b": tr']),
]


@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
@pytest.mark.parametrize(("label", "fragments"), CALLS, ids=[c[0] for c in CALLS])
def test_every_encoder_closes_tool_calls_with_a_json_object(
    fmt: ClientFormat, label: str, fragments: list[str]
) -> None:
    deltas: list[Delta] = [MessageStart(id="x", model="m"), TextDelta("Let me look.")]
    for i in range(2):  # the second call starts while the first is still "open": it closes the first
        deltas.append(ToolCallStart(index=i, id=f"call_{i}", name="lookup"))
        deltas += [ToolArgsDelta(index=i, fragment=f) for f in fragments]
    deltas.append(Finish(reason="tool_use"))
    args = tool_arguments(fmt, encode(fmt, deltas))
    assert len(args) == 2
    for a in args:
        assert isinstance(json.loads(a), dict), (label, a)
    if fragments and fragments[0].strip():
        assert args[0].startswith(fragments[0])  # streamed as it came, only completed


@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
def test_tool_call_closed_by_the_end_of_the_stream(fmt: ClientFormat) -> None:
    args = tool_arguments(fmt, encode(fmt, [ToolCallStart(index=0, id="call_0", name="snooze")]))
    assert args == ["{}"]


@pytest.mark.parametrize(("label", "fragments"), CALLS, ids=[c[0] for c in CALLS])
def test_closing_suffix(label: str, fragments: list[str]) -> None:
    text = "".join(fragments)
    assert isinstance(json.loads(text + closing_suffix(text)), dict)


def test_closing_suffix_does_not_invent_keys_or_fix_non_objects() -> None:
    assert closing_suffix('{"a": 1,') == ""
    assert closing_suffix("[1, 2]") == ""
    assert closing_suffix('{"a": "x\\') == '\\"}'
    assert closing_suffix('{"a": "\\u00') == '00"}'


def test_case01_anthropic_tool_without_input_reaches_a_chat_client_as_empty_object() -> None:
    """Bugcase 01: the arguments the openai SDK assembles are "{}", finish_reason tool_calls."""
    relay = make_relay(registry.pairing("openai_chat", "anthropic"), View(model="claude-sonnet-4-5"))
    raw = b"".join(relay.feed(CASE01_ANTHROPIC[i : i + 7]) for i in range(0, len(CASE01_ANTHROPIC), 7))
    raw += relay.finish()
    assert tool_arguments("openai_chat", raw) == ["{}"]
    finishes = [
        c["finish_reason"] for p in payloads(raw) for c in p.get("choices") or [] if c["finish_reason"]
    ]
    assert finishes == ["tool_calls"]


def test_thinking_after_a_signature_opens_a_new_block() -> None:
    from services.gateway.dialects.ir import ReasoningDelta, SignatureDelta

    raw = encode(
        "anthropic",
        [
            ReasoningDelta("a"),
            SignatureDelta("sig1"),
            ReasoningDelta("b"),
            SignatureDelta("sig2"),
            TextDelta("x"),
        ],
    )
    starts = [p["content_block"]["type"] for p in payloads(raw) if p["type"] == "content_block_start"]
    assert starts == ["thinking", "thinking", "text"]


# ---- decoders: a wire field is not a call's identity when the upstream reuses it ----------------------


def chunk(tool: dict[str, Any] | None = None, finish: str | None = None) -> SSEEvent:
    delta = {"tool_calls": [tool]} if tool else {}
    body = {"id": "c", "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return SSEEvent(None, json.dumps(body))


def test_chat_decoder_tells_calls_apart_by_id_when_index_is_reused() -> None:
    dec = ChatStreamDecoder()
    out: list[Delta] = []
    for ev in (
        chunk({"index": 0, "id": "call_a", "function": {"name": "one", "arguments": '{"x": 1}'}}),
        chunk({"index": 0, "id": "call_b", "function": {"name": "two", "arguments": '{"y": 2}'}}),
        chunk(finish="tool_calls"),
    ):
        out += dec.feed(ev)
    starts = [(d.index, d.id, d.name) for d in out if isinstance(d, ToolCallStart)]
    args = [(d.index, d.fragment) for d in out if isinstance(d, ToolArgsDelta)]
    assert starts == [(0, "call_a", "one"), (1, "call_b", "two")]
    assert args == [(0, '{"x": 1}'), (1, '{"y": 2}')]


def test_responses_decoder_tells_items_apart_by_id_when_output_index_is_reused() -> None:
    dec = registry.WIRES["openai_responses"].decoder()
    out: list[Delta] = []
    for i, name in enumerate(("one", "two")):
        item = {
            "type": "function_call",
            "id": f"fc_{i}",
            "call_id": f"call_{i}",
            "name": name,
            "arguments": "",
        }
        for obj in (
            {"type": "response.output_item.added", "output_index": 0, "item": item},
            {"type": "response.function_call_arguments.delta", "output_index": 0, "delta": '{"n": %d}' % i},
            {
                "type": "response.output_item.done",
                "output_index": 0,
                "item": {**item, "arguments": '{"n": %d}' % i},
            },
        ):
            out += dec.feed(SSEEvent(obj["type"], json.dumps(obj)))
    assert [(d.index, d.id) for d in out if isinstance(d, ToolCallStart)] == [(0, "call_0"), (1, "call_1")]
    assert [(d.index, d.fragment) for d in out if isinstance(d, ToolArgsDelta)] == [
        (0, '{"n": 0}'),
        (1, '{"n": 1}'),
    ]


# ---- kind 2: completion is semantic on every wire ----------------------------------------------------

COMPLETE_WITHOUT_MARKER: dict[Wire, bytes] = {
    # bugcase 13: finish_reason and usage, then the body ends; no `data: [DONE]`
    "openai_chat": (
        b'data: {"id":"c","model":"local-llama","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello there!"},"finish_reason":null}]}\n\n'
        b'data: {"id":"c","model":"local-llama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"id":"c","model":"local-llama","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}\n\n'
    ),
    # the stop reason came; the body ends before message_stop
    "anthropic": (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":12,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello there!"}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}\n\n'
    ),
    "openai_responses": (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","output_index":0,"delta":"Hello there!"}\n\n'
        b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","model":"gpt","status":"completed","usage":{"input_tokens":12,"output_tokens":3}}}\n\n'
    ),
}


def _truncated(wire: Wire) -> bytes:
    """The same stream cut before its finish / stop reason."""
    raw = COMPLETE_WITHOUT_MARKER[wire]
    cut = {
        "openai_chat": b'finish_reason":"stop',
        "anthropic": b"event: message_delta",
        "openai_responses": b"event: response.completed",
    }[wire]
    head = raw[: raw.index(cut)]
    return head[: head.rindex(b"\n\n") + 2]


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
def test_complete_by_meaning_without_the_transport_marker(fmt: ClientFormat, wire: Wire) -> None:
    relay = make_relay(registry.pairing(fmt, wire), View(model="m", include_usage=True))
    relay.feed(COMPLETE_WITHOUT_MARKER[wire])
    relay.finish()
    assert relay.complete and relay.error is None
    assert relay.usage is not None and (relay.usage.input_tokens, relay.usage.output_tokens) == (12, 3)


@pytest.mark.parametrize("wire", WIRES)
@pytest.mark.parametrize("fmt", CLIENT_FORMATS)
def test_a_stream_cut_before_its_finish_is_not_complete(fmt: ClientFormat, wire: Wire) -> None:
    relay = make_relay(registry.pairing(fmt, wire), View(model="m"))
    out = relay.feed(_truncated(wire))
    tail = relay.finish()
    assert relay.started and not relay.complete
    tail += relay.fail(502, "upstream stream ended early")  # what the proxy does then
    # the client's stream never ends as a normal answer after a cut
    for normal_end in (b"message_stop", b"[DONE]", b"response.completed", b'"finish_reason":"stop"'):
        assert normal_end not in out + tail
    assert b"upstream stream ended early" in tail


def test_chat_usage_after_the_finish_reason_is_still_read() -> None:
    dec = ChatStreamDecoder()
    out: list[Delta] = []
    for ev in events(COMPLETE_WITHOUT_MARKER["openai_chat"]):
        out += dec.feed(ev)
        if any(isinstance(d, Finish) for d in out):
            assert dec.done
    assert out[-1] == UsageUpdate(Usage(input_tokens=12, output_tokens=3))
