"""The scanning passthrough (``relay.Passthrough``) against the event-by-event one (``EventPassthrough``):
for recorded and generated streams, adversarial token texts and odd framing, at random read splits, both
give the client the same bytes and report the same facts after every read: usage, served model, first
token, commit, completion, error, keep-alive boundary, cut-off state, and progress whenever the other
made progress. Seeded: a failure reproduces."""

from __future__ import annotations

import functools
import json
import random
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from services.gateway.dialects import _scan
from services.gateway.dialects.registry import WIRES, pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from tests.unit.test_passthrough_tap import _sse, anthropic_stream, chat_stream, responses_stream

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sse"

# Token texts that mention every marker a scan looks for (escaped by JSON, so none may count as one),
# line breaks, escapes and non-ASCII text.
NASTY = [
    "usage",
    '"usage":{"input_tokens":5}',
    '"finish_reason":"stop"',
    "[DONE]",
    "event: message_stop\n\ndata: {}\n\n",
    '}\n\ndata: {"error":{"message":"x"}}\n\n',
    '"type":"message_delta","usage":{"output_tokens":9}',
    '"type":"response.completed","response":{"model":"z"}',
    '"model":"other-model"',
    "\\u0075sage \\",
    "é 漢字 🙂",
    "\r\n\r",
    "ping",
    '"',
    "event: content_block_delta\n",
]


def _texts(rng: random.Random, n: int) -> list[str]:
    return [rng.choice(NASTY) if rng.random() < 0.4 else f"w{i} " for i in range(n)]


def _anthropic(texts: list[str], ascii_json: bool) -> bytes:
    body = anthropic_stream(len(texts))
    for i, text in enumerate(texts):
        body = body.replace(_json_str(f"w{i} ", False), _json_str(text, ascii_json), 1)
    return body


def _responses(texts: list[str], ascii_json: bool) -> bytes:
    body = responses_stream(len(texts))
    for i, text in enumerate(texts):
        body = body.replace(_json_str(f"w{i} ", False), _json_str(text, ascii_json), 1)
    return body


def _chat(texts: list[str], ascii_json: bool) -> bytes:
    body = chat_stream(len(texts))
    for i, text in enumerate(texts):
        body = body.replace(_json_str(f"w{i} ", False), _json_str(text, ascii_json), 1)
    return body


def _json_str(text: str, ascii_json: bool) -> bytes:
    return json.dumps(text).encode() if ascii_json else orjson.dumps(text)


def _frames(body: bytes) -> list[bytes]:
    return [f + b"\n\n" for f in body.split(b"\n\n") if f]


def _odd(body: bytes, rng: random.Random, wire: str) -> bytes:
    """Odd but legal framing between events: comments, pings, blank lines, a CRLF stream, split data."""
    frames = _frames(body)
    out: list[bytes] = []
    for frame in frames:
        roll = rng.random()
        if roll < 0.08:
            out.append(b": keep-alive\n")
        elif roll < 0.12 and wire == "anthropic":
            out.append(b'event: ping\ndata: {"type": "ping"}\n\n')
        elif roll < 0.15:
            out.append(b"\n")
        if rng.random() < 0.05 and frame.count(b"\n") == 2:  # one value as two data lines
            head, _, rest = frame.partition(b",")
            frame = head + b",\ndata: " + rest if rest else frame
        out.append(frame)
    joined = b"".join(out)
    return joined.replace(b"\n", b"\r\n") if rng.random() < 0.1 else joined


def _cut(body: bytes, rng: random.Random) -> bytes:
    """A stream that ends early, sometimes in the middle of an event, or carries an error mid-stream."""
    roll = rng.random()
    if roll < 0.15:
        return body[: rng.randrange(len(body) // 2, len(body))]
    if roll < 0.25:
        frames = _frames(body)
        at = rng.randrange(len(frames) // 2, len(frames))
        error = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
        return b"".join(frames[:at]) + b"event: error\ndata: " + error + b"\n\n" + b"".join(frames[at:])
    if roll < 0.3:  # a malformed frame (not even shaped like one JSON object)
        frames = _frames(body)
        at = rng.randrange(len(frames) // 2, len(frames))
        return b"".join(frames[:at]) + b'data: {"broken"\n\n' + b"".join(frames[at:])
    if roll < 0.35:  # shaped like one JSON object, yet not JSON (a trailing comma), and no text chunk
        frames = _frames(body)
        at = rng.randrange(len(frames) // 2, len(frames))
        bad = b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"x"}}]}}],}'
        return b"".join(frames[:at]) + bad + b"\n\n" + b"".join(frames[at:])
    return body


def _splits(body: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.choice([0, 1, 2, 5, 30]))))
    edges = [0, *cuts, len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def _facts(relay: EventPassthrough) -> tuple[Any, ...]:
    return (
        relay.usage,
        relay.decoder.model,
        relay.saw_content,
        relay.started,
        relay.complete,
        relay.error,
        relay.keepalive(),
        relay._sse.pending,
    )


@functools.lru_cache(maxsize=None)
def sized(min_frames: int) -> type[Passthrough]:
    """``Passthrough`` scanning reads of ``min_frames`` events or more (a relay has slots: the number is
    its class's)."""
    if min_frames == Passthrough.min_frames:
        return Passthrough
    return type("Sized", (Passthrough,), {"min_frames": min_frames, "__slots__": ()})


def _compare(wire: str, body: bytes, reads: list[bytes], include_usage: bool) -> None:
    for min_frames in (2, Passthrough.min_frames):  # every multi-event read scanned, and as configured
        _compare_once(wire, body, reads, include_usage, min_frames)


def _compare_once(wire: str, body: bytes, reads: list[bytes], include_usage: bool, min_frames: int) -> None:
    view = View(model="m", include_usage=include_usage)
    scan, ref = sized(min_frames)(pairing(wire, wire), view), EventPassthrough(pairing(wire, wire), view)  # type: ignore[arg-type]
    for n, read in enumerate(reads):
        before = (scan.events, ref.events)
        assert scan.feed(read) == ref.feed(read), (n, body)
        assert _facts(scan) == _facts(ref), (n, body)
        if ref.events != before[1]:
            assert scan.events != before[0], (n, body)  # progress seen whenever the reference saw it
    assert _same_ids(scan.finish()) == _same_ids(ref.finish())
    assert _facts(scan) == _facts(ref)


def _same_ids(frames: bytes) -> bytes:
    """A minted error frame's random response id and its ``created_at`` (the clock's second when each relay
    minted it: two relays finishing either side of a second boundary differ there), made comparable."""
    frames = re.sub(rb'"created_at":\d+', b'"created_at":0', frames)
    return re.sub(rb'"resp_[0-9a-f]+"', b'"resp_"', frames)


def _fixture_streams() -> list[tuple[str, bytes]]:
    wires = {"anthropic": "anthropic", "openai": "openai_chat", "openrouter": "openai_chat"}
    return [(wires[p.name.split("_")[0]], p.read_bytes()) for p in sorted(FIXTURES.glob("*.sse"))]


@pytest.mark.parametrize(("wire", "body"), _fixture_streams())
@pytest.mark.parametrize("include_usage", [True, False])
def test_recorded_streams_at_random_splits(wire: str, body: bytes, include_usage: bool) -> None:
    rng = random.Random(len(body) * 2 + include_usage)
    for _ in range(60):
        _compare(wire, body, _splits(body, rng), include_usage)
    _compare(wire, body, _frames(body), include_usage)  # one event per read
    _compare(wire, body, [body], include_usage)  # the whole stream in one read


@pytest.mark.parametrize("wire", ["anthropic", "openai_responses", "openai_chat"])
def test_adversarial_texts_and_framing_at_random_splits(wire: str) -> None:
    make = {"anthropic": _anthropic, "openai_responses": _responses, "openai_chat": _chat}[wire]
    rng = random.Random(20261130 + len(wire))
    for trial in range(300):
        body = make(_texts(rng, rng.randrange(1, 30)), ascii_json=trial % 3 == 0)
        body = _cut(_odd(body, rng, wire), rng)
        _compare(wire, body, _splits(body, rng), include_usage=trial % 2 == 0)


def _chat_tools(texts: list[str], rng: random.Random) -> bytes:
    """A chat stream with tool calls after its text: some only ever blank (arguments "" or spaces, bugcase
    01-k: the relay adds "{}"), some with whole arguments in fragments; the finish ``tool_calls``."""
    frames = _frames(_chat(texts, ascii_json=False))
    base = orjson.loads(frames[0][6:])
    calls: list[bytes] = []
    for i in range(rng.randrange(1, 4)):
        pieces = rng.choice([[""] * rng.randrange(1, 20), [" ", ""], ['{"path":', '"a.txt"', "}"] * 1])
        start = {
            "index": i,
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "f", "arguments": ""},
        }
        for call in [start, *({"index": i, "function": {"arguments": p}} for p in pieces)]:
            choice = {"index": 0, "delta": {"tool_calls": [call]}, "logprobs": None, "finish_reason": None}
            calls.append(b"data: " + orjson.dumps({**base, "choices": [choice]}) + b"\n\n")
    finish = next(i for i, f in enumerate(frames) if b'"finish_reason":"stop"' in f)
    frames[finish] = frames[finish].replace(b'"finish_reason":"stop"', b'"finish_reason":"tool_calls"')
    return b"".join(frames[:finish] + calls + frames[finish:])


def test_chat_tool_call_streams_at_random_splits() -> None:
    """A read holding tool-call chunks is decoded event by event (``ScanRule.unscanned``): the blank calls' repair comes
    out the same, at the same place, however the stream is read."""
    rng = random.Random(2026120101)
    for trial in range(200):
        body = _chat_tools(_texts(rng, rng.randrange(0, 20)), rng)
        body = _cut(_odd(body, rng, "openai_chat"), rng) if trial % 2 else body
        _compare("openai_chat", body, _splits(body, rng), include_usage=trial % 4 < 2)
        if trial % 2 == 0:  # a whole stream: every call's joined arguments are a JSON object
            relay = Passthrough(pairing("openai_chat", "openai_chat"), View(model="m"))
            out = relay.feed(body) + relay.finish()
            assert all(isinstance(orjson.loads(a), dict) for a in _tool_arguments(out).values()), body


def _tool_arguments(raw: bytes) -> dict[int, str]:
    args: dict[int, str] = {}
    for line in raw.split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in orjson.loads(line[6:])["choices"]:
                for call in choice["delta"].get("tool_calls") or []:
                    args[call["index"]] = args.get(call["index"], "") + call["function"]["arguments"]
    return args


def test_token_frames_in_one_read_are_not_decoded() -> None:
    """The point of the scan: after the first token, a read of many token frames costs no decoding."""
    body = anthropic_stream(40)
    relay = Passthrough(pairing("anthropic", "anthropic"), View(model="m"))
    fed: list[bytes] = []
    decode = relay.decoder.feed
    relay.decoder.feed = lambda ev: fed.append(ev.event or "") or decode(ev)  # type: ignore[method-assign,func-returns-value]
    assert relay.feed(body) == body
    # the first token's frame and those before it, then the loud ones (content_block_stop is quiet)
    assert fed == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
    ]
    ref = EventPassthrough(pairing("anthropic", "anthropic"), View(model="m"))
    ref.feed(body)
    assert relay.complete and relay.events == ref.events + 1 and relay.usage == ref.usage


def _closing(item: dict[str, Any]) -> bytes:
    """A Responses message's closing frames before ``response.completed`` (``item``: the done item)."""
    at = {"item_id": "m1", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": "w0 w1 "}
    return b"".join(
        [
            _sse("response.output_text.done", {"type": "response.output_text.done", **at, "text": "w0 w1 "}),
            _sse("response.content_part.done", {"type": "response.content_part.done", **at, "part": part}),
            _sse(
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": 0, "item": item},
            ),
        ]
    )


def _with_closing(item: dict[str, Any]) -> bytes:
    head, sep, tail = responses_stream(2).partition(b"event: response.completed")
    return head + _closing(item) + sep + tail


def _decoded_names(relay: Passthrough) -> list[str]:
    """The frames the decoder reads from here on, by name: through ``feed``, and through the wire's
    ``frame_tap`` (named by its data's ``type``, as these tests' frames are)."""
    fed: list[str] = []
    decode = relay.decoder.feed
    relay.decoder.feed = lambda ev: fed.append(ev.event or "") or decode(ev)  # type: ignore[method-assign,func-returns-value]
    tap = relay._frame_tap
    if tap is not None:

        def tapped(decoder: Any, data: bytes) -> list[Any] | None:
            deltas = tap(decoder, data)
            if deltas is not None:
                fed.append(orjson.loads(data)["type"])
            return deltas

        relay._frame_tap = tapped
    return fed


def test_quiet_frames_of_a_short_read_are_not_decoded_after_the_first_token() -> None:
    """A short Responses answer in one read (fewer than ``min_frames`` events): the frames that close the
    message pass undecoded; the facts are the reference's, and each one counts as progress."""
    item = {"type": "message", "id": "m1", "status": "completed", "content": [{"type": "output_text"}]}
    body = _with_closing(item)
    assert body.count(b"\n\n") < Passthrough.min_frames
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    fed = _decoded_names(relay)
    assert relay.feed(body) + relay.finish() == body
    assert fed == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.completed",
    ]
    ref = EventPassthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    ref.feed(body)
    ref.finish()
    assert _facts(relay) == _facts(ref) and relay.usage is not None and relay.complete
    assert relay.events == ref.events + 3


def test_a_quiet_name_whose_data_names_a_mark_is_decoded() -> None:
    """The name is not trusted alone: a frame named ``response.output_item.done`` whose data is the
    answer's end (its type and usage are marks) still reaches the decoder, which sees the end."""
    end = {
        "type": "response.completed",
        "response": {
            "model": "gpt-x",
            "status": "completed",
            "usage": {"input_tokens": 3, "output_tokens": 4},
        },
    }
    head = responses_stream(2).partition(b"event: response.completed")[0]
    body = head + _sse("response.output_item.done", end)
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    fed = _decoded_names(relay)
    relay.feed(body)
    # (its name when ``feed`` reads it, its data's type through the wire's ``frame_tap``)
    assert fed[-1] in ("response.output_item.done", "response.completed")
    assert relay.complete and relay.usage is not None and relay.usage.output_tokens == 4


def test_a_quiet_frame_before_the_first_token_is_decoded() -> None:
    """Anthropic's ``content_block_start`` may carry the first token itself: before the first token a quiet
    name is decoded (it commits the stream and stamps TTFT)."""
    start = _sse(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hi"}},
    )
    head = anthropic_stream(0).partition(b"event: content_block_start")[0]
    relay = Passthrough(pairing("anthropic", "anthropic"), View(model="m"))
    fed = _decoded_names(relay)
    relay.feed(head + start)
    assert fed == ["message_start", "content_block_start"] and relay.saw_content and relay.started


def test_every_wire_has_a_scan_rule() -> None:
    assert all(spec.scan is not None for spec in WIRES.values())


def test_a_chat_read_with_tool_calls_is_decoded_event_by_event() -> None:
    """Every tool-call fragment reaches the decoder (bugcase 01-k's repair needs them all), without making
    each frame of a long read loud (``ScanRule.unscanned``); a read of text alone is still scanned."""
    rule = WIRES["openai_chat"].scan
    assert rule is not None
    text = chat_stream(20)
    tools = text.replace(b'"content":"w3 "', b'"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]')
    assert rule.scans(text) and not rule.scans(tools)


# Frames next to the usual named shape that ``Passthrough._feed_frames`` must tell apart: odd bytes in a
# token or quiet frame, a name or a type that says something else, shapes it hands to the SSE decoder.
ODD_FRAMES = [
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff\xfe"}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}\x1c\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}} \n\n',
    b'event: content_block_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}\n\n',
    b'event: content_block_stop\ndata: {"type":"message_stop"}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0,"x":"\xc3"}\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"\xe6\xbc\xa2"}\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.completed","response":{"usage":{"output_tokens":2}}}\n\n',
    b'event: response.content_part.done\ndata: {"type":"response.content_part.done","part":{"type":"output_text"}}\n\n',
    b'event: response.content_part.done\ndata: {"type":"error","error":{"message":"no"}}\n\n',
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done","output_index":0,"item":{"type":"message","id":"m1"}}\n\n',
    b'event: \ndata: {"type":"ping"}\n\n',
    b'event:ping\ndata: {"type":"ping"}\n\n',
    b'event: ping\ndata:{"type":"ping"}\n\n',
    b'event: ping\ndata: {"type":"ping"}\ndata: {}\n\n',
    b'event: content_block_delta\nid: 7\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"y"}}\n\n',
    b': keep-alive\nevent: ping\ndata: {"type":"ping"}\n\n',
    b'event: content_\xffblock_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"z"}}\n\n',
    b"event: content_block_delta\ndata: not json}\n\n",
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"a"\n\n',
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done","output_index":0\n\n',
    b'event: content_block_delta\ndata: {"broken"}\n\n',
    b"event: ping\ndata: {}\n\n\n",
]


def _with_odd_frames(body: bytes, rng: random.Random) -> bytes:
    frames = _frames(body)
    for _ in range(rng.randrange(0, 4)):
        frames.insert(rng.randrange(len(frames) + 1), rng.choice(ODD_FRAMES))
    return b"".join(frames)


def _frame_reads(body: bytes, rng: random.Random) -> list[bytes]:
    """``body`` read in pieces that each end a frame (``}`` LF LF): the reads ``_feed_frames`` takes."""
    ends = [m.end() for m in re.finditer(rb"\}\n\n", body)]
    cuts = sorted(rng.sample(ends, min(len(ends), rng.choice([0, 1, 2, 4, 8]))))
    edges = [0, *[c for c in cuts if 0 < c < len(body)], len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


@pytest.mark.parametrize("wire", ["anthropic", "openai_responses"])
def test_short_reads_of_whole_frames_with_odd_frames_among_them(wire: str) -> None:
    """Reads cut at frame ends only (``_feed_frames``'s reads), streams with adversarial texts, odd framing
    and the odd frames above: the same bytes and facts as the event-by-event reference."""
    make = {"anthropic": _anthropic, "openai_responses": _responses}[wire]
    rng = random.Random(2026120111 + len(wire))
    for trial in range(300):
        body = make(_texts(rng, rng.randrange(0, 12)), ascii_json=trial % 3 == 0)
        body = _with_odd_frames(body, rng)
        body = _cut(_odd(body, rng, wire), rng) if trial % 3 == 1 else body
        _compare(wire, body, _frame_reads(body, rng), include_usage=trial % 2 == 0)


def test_a_read_of_whole_frames_decodes_only_the_frames_that_say_something() -> None:
    """After the first token, the token frames and the quiet ones of a short read reach no decoder (the
    reference decodes them all); a later read that begins with the bytes of a byte order mark keeps them,
    as the reference does, and a first read that begins with one loses it (the SSE decoder reads it: an
    error event named only by its ``event:`` line is still one)."""
    body = anthropic_stream(3)
    relay = Passthrough(pairing("anthropic", "anthropic"), View(model="m"))
    fed = _decoded_names(relay)
    assert relay.feed(body) == body
    assert fed == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
    ]
    ref = EventPassthrough(pairing("anthropic", "anthropic"), View(model="m"))
    ref.feed(body)
    assert _facts(relay) == _facts(ref) and relay.complete
    bom = "\ufeff".encode() + b'event: ping\ndata: {"type":"ping"}\n\n'
    assert relay.feed(bom) == ref.feed(bom) and _facts(relay) == _facts(ref)
    error = (
        "\ufeff".encode() + b'event: error\ndata: {"error":{"type":"overloaded_error","message":"busy"}}\n\n'
    )
    first = Passthrough(pairing("anthropic", "anthropic"), View(model="m"))
    ref = EventPassthrough(pairing("anthropic", "anthropic"), View(model="m"))
    assert first.feed(error) == ref.feed(error) and _facts(first) == _facts(ref) and first.error is not None


# Chat frames next to the usual unnamed shape that ``Passthrough._feed_data_frames`` must tell apart: bytes
# not ASCII, a CR, shapes it hands to the SSE decoder, and chunks its token test must refuse (another
# model, a trailing space, a finish, usage, an error, a tool call sent as an object, a blank event).
CHAT_ODD_FRAMES = [
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"\xc3\xa9"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"\xff"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"other-model","choices":[{"index":0,"delta":{"content":"m "},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"s "},"logprobs":null,"finish_reason":null}],"usage":null} \n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}],"usage":null}\r\n\r\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"t "},"logprobs":null,"finish_reason":null}],"usage":null}x\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"q\\"uote"},"logprobs":null,"finish_reason":null}],"usage":null}\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"f"},"logprobs":null,"finish_reason":"length"}],"usage":null}\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n',
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-x","choices":[{"index":0,"delta":{"content":"u"},"logprobs":null,"finish_reason":null}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":{"a":1}}}]}}]}\n\n',
    b'data: {"error":{"message":"busy","type":"server_error"}}\n\n',
    b'data: {"broken"\n\n',
    b"data: \n\n",
    b"data:\n\n",
    b'data:{"choices":[]}\n\n',
    b'data: {"choices":[]}\ndata: {}\n\n',
    b': keep-alive\ndata: {"choices":[]}\n\n',
    b'id: 7\ndata: {"choices":[]}\n\n',
    b'event: x\ndata: {"choices":[]}\n\n',
    b"\n",
    b"data: [DONE]\n\n",
]


def _chat_frame_reads(body: bytes, rng: random.Random) -> list[bytes]:
    """``body`` read in pieces that each end at a blank line: the reads ``_feed_data_frames`` takes."""
    ends = [m.end() for m in re.finditer(rb"\n\n", body)]
    cuts = sorted(set(rng.sample(ends, min(len(ends), rng.choice([0, 1, 2, 4, 8])))))
    edges = [0, *[c for c in cuts if 0 < c < len(body)], len(body)]
    return [body[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def test_chat_reads_of_whole_frames_with_odd_frames_among_them() -> None:
    """Chat reads cut at blank lines only (``_feed_data_frames``'s reads), with adversarial texts, tool
    calls, odd framing and the odd frames above: the same bytes and facts as the event-by-event reference."""
    rng = random.Random(2026120112)
    for trial in range(400):
        texts = _texts(rng, rng.randrange(0, 12))
        body = _chat_tools(texts, rng) if trial % 5 == 4 else _chat(texts, ascii_json=trial % 3 == 0)
        frames = _frames(body)
        for _ in range(rng.randrange(0, 4)):
            frames.insert(rng.randrange(len(frames) + 1), rng.choice(CHAT_ODD_FRAMES))
        body = b"".join(frames)
        body = _cut(_odd(body, rng, "openai_chat"), rng) if trial % 3 == 1 else body
        _compare("openai_chat", body, _chat_frame_reads(body, rng), include_usage=trial % 2 == 0)


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_chat_read_of_whole_frames_is_split_without_the_sse_decoder(include_usage: bool) -> None:
    """A read of whole usual chat frames is split by the relay itself: the SSE decoder is not given it, the
    text chunks after the first chunk reach no decoder, and the usage chunk the gateway asked for on the
    client's behalf is still cut out."""
    body = chat_stream(4)
    view = View(model="m", include_usage=include_usage)
    relay = Passthrough(pairing("openai_chat", "openai_chat"), view)
    fed: list[str] = []
    decode, split = relay.decoder.feed, relay._sse.feed
    relay.decoder.feed = lambda ev: fed.append(ev.data) or decode(ev)  # type: ignore[method-assign,func-returns-value]
    relay._sse.feed = lambda chunk: fed.append("sse") or split(chunk)  # type: ignore[method-assign,func-returns-value]
    ref = EventPassthrough(pairing("openai_chat", "openai_chat"), view)
    out = relay.feed(body)
    assert out == ref.feed(body) and (b'"usage":{' in out) == include_usage
    assert _facts(relay) == _facts(ref) and relay.complete
    assert len(fed) == 4 and "sse" not in fed and not any('"content":"w' in f for f in fed)
    assert relay.finish() == ref.finish() and _facts(relay) == _facts(ref)


@pytest.mark.parametrize(
    "pair",
    [
        (b'{"a":"x}', b'{y"},{"b":1}'),  # a string spans the join
        (b'{"a":[{}', b'{}]},{"b":1}'),  # nesting spans the join
    ],
)
def test_two_invalid_chat_frames_that_are_valid_json_joined_are_still_decoded(
    pair: tuple[bytes, bytes],
) -> None:
    """A long read of chat frames (16 and more) is scanned only when every frame parses on its own: two
    frames that are each invalid but make valid JSON joined into one array are not a run of JSON frames
    (found in session 22's review of ``_chat_frames``); the relay reports the broken chunk as the
    event-by-event reference does."""
    head = _frames(chat_stream(20))
    odd = [b"data: " + f + b"\n\n" for f in pair]
    body = b"".join(head[:-2] + odd + head[-2:])
    view = View(model="m", include_usage=False)
    relay = Passthrough(pairing("openai_chat", "openai_chat"), view)
    ref = EventPassthrough(pairing("openai_chat", "openai_chat"), view)
    first, last = b"".join(head[:2]), head[-1]  # the last frame is [DONE], which no scanned read holds
    middle = body[len(first) : -len(last)]
    assert middle.count(b"\n\n") >= 16
    assert not _scan._chat_frames(middle)  # the contract: every frame's data parses on its own
    for read in (first, middle, last):
        assert relay.feed(read) == ref.feed(read)
    assert relay.finish() == ref.finish() and _facts(relay) == _facts(ref)
    assert relay.error is not None and "malformed" in relay.error.message


_PLAIN = ("Hello", " world", " é", "日本", " \\n", "42")


def _brace_lines(body: bytes, eol: bytes) -> bytes:
    """Each frame's data cut before every nested ``{`` onto its own ``data:`` line, so a later line begins
    ``data: {`` (the shape the scanner's ``frames`` test takes for a frame's first line; WHATWG: the lines
    join with LF, JSON whitespace), with ``eol`` as every line ending (LF, CRLF or a lone CR)."""
    out = []
    for frame in _frames(body):
        head, sep, data = frame.partition(b"data: {")
        if sep:
            frame = head + sep + data.replace(b"{", b"\ndata: {")
        out.append(frame.replace(b"\n", eol) if eol != b"\n" else frame)
    return b"".join(out)


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("wire", ["anthropic", "openai_responses", "openai_chat"])
def test_data_lines_that_begin_with_a_brace_at_random_splits(wire: str, eol: bytes) -> None:
    """bug30c variants 18-*-brace-2lines-*: every event's JSON over several ``data:`` lines, each later one
    beginning ``data: {``; the scanning relay reports what the event-by-event one does at any cut."""
    make = {"anthropic": _anthropic, "openai_responses": _responses, "openai_chat": _chat}[wire]
    rng = random.Random(20261204 + len(wire) + len(eol))
    for trial in range(40):
        words = [rng.choice(_PLAIN) for _ in range(rng.randrange(1, 12))]  # no brace inside a string
        body = _brace_lines(make(words, ascii_json=trial % 2 == 0), eol)
        _compare(wire, body, _splits(body, rng), include_usage=trial % 2 == 0)
        _compare(wire, body, [body], include_usage=True)
        whole = Passthrough(pairing(wire, wire), View(model="m", include_usage=True))  # type: ignore[arg-type]
        whole.feed(body)
        whole.finish()
        assert whole.complete and whole.usage is not None and whole.usage.input_tokens > 0, body[:200]
