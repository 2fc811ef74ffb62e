"""Event names the anthropic SDKs dispatch on, and keep-alives Codex counts (s26 variants 18-*name*-anth, 18-nonames,
18-evonly-anth, 19-codex-*).

- Anthropic passthrough: WHATWG SSE keeps a name's trailing space and all but one leading space, so ``event:
  message_start `` names "message_start "; the anthropic SDKs dispatch on the exact name (0.7x and the TypeScript
  SDK on every type, 2.x on ``ping``/``error`` and skips a nameless event). The client's bytes, read with the SDK's
  own decoder, must name each event as its data's type, and carry no named event without data.
- Responses encoder: a silence after ``response.created`` is a numbered ``keepalive`` event (Codex's SSE reader
  drops comments, so they never reset its idle timer); before it, a comment.
"""

from __future__ import annotations

import json

import orjson
import pytest
from openai._streaming import SSEDecoder as SDKDecoder

from services.gateway.dialects import ir
from services.gateway.dialects.anthropic import odd_frame, odd_start
from services.gateway.dialects.openai_responses import encoder_for, opening_part
from services.gateway.dialects.registry import client, pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from shared.sse import SSEDecoder

_MESSAGE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {"input_tokens": 12, "output_tokens": 1},
}
EVENTS: list[dict[str, object]] = [
    {"type": "message_start", "message": _MESSAGE},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
    {"type": "content_block_stop", "index": 0},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 3},
    },
    {"type": "message_stop"},
]
TYPES = [str(e["type"]) for e in EVENTS]


def _stream(name_line: str, eol: bytes = b"\n") -> bytes:
    """The events with ``name_line`` (a format with the type, or "" for no ``event:`` line) before each data."""
    out = b""
    for e in EVENTS:
        if name_line:
            out += name_line.format(e["type"]).encode() + eol
        out += b"data: " + orjson.dumps(e) + eol + eol
    return out


def _relayed(reads: list[bytes]) -> bytes:
    relay = make_relay(pairing("anthropic", "anthropic"), View(model="m"))
    return b"".join(relay.feed(r) for r in reads) + relay.finish()


def _sdk(body: bytes) -> list[tuple[str | None, str]]:
    return [(e.event, e.data) for e in SDKDecoder().iter_bytes(iter([body]))]


@pytest.mark.parametrize(
    "name_line", ["event: {} ", "event:  {}", "event: {}\t", "", "event:{} ", "event: {}  "]
)
@pytest.mark.parametrize("cut", [None, 0, 1, 7])  # 0: a read a frame
def test_anthropic_passthrough_names_every_event_as_its_type(name_line: str, cut: int | None) -> None:
    body = _stream(name_line)
    frames = [piece + b"\n\n" for piece in body.split(b"\n\n")[:-1]]
    reads = (
        [body]
        if cut is None
        else frames
        if cut == 0
        else [body[i : i + cut] for i in range(0, len(body), cut)]
    )
    events = _sdk(_relayed(reads))
    assert [name for name, _ in events] == TYPES  # before: "message_start " … (or None), skipped by the SDKs
    assert [json.loads(data)["type"] for _, data in events] == TYPES


def test_anthropic_passthrough_names_a_misnamed_error_event_error() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    body = _stream("event: {} ").split(b"event: content_block_stop")[0]
    body += b"event: error \ndata: " + orjson.dumps(error) + b"\n\n"
    assert _sdk(_relayed([body]))[-1][0] == "error"  # before: "error " (the 2.x SDK raised nothing)


def test_anthropic_passthrough_drops_a_named_block_without_data() -> None:
    usual = _stream("event: {}")
    body = usual.replace(
        b"event: content_block_delta\n", b"event: content_block_delta\n\nevent: content_block_delta\n"
    )
    by_frame = [
        piece + b"\n\n" for piece in body.split(b"\n\n")[:-1]
    ]  # the data-less block: a read of its own
    for reads in ([body], [body[i : i + 1] for i in range(len(body))], by_frame):
        events = _sdk(_relayed(reads))
        assert all(data for _, data in events), (
            events
        )  # before: ("content_block_delta", "") (SDK 0.7x: JSONDecodeError)
        assert [name for name, _ in events] == TYPES


def test_anthropic_passthrough_leaves_usual_frames_as_they_came() -> None:
    body = _stream("event: {}")
    for cut in (len(body), 5, 64):
        reads = [body[i : i + cut] for i in range(0, len(body), cut)]
        assert _relayed(reads) == body
    assert odd_frame(body) is None and not odd_start(body)
    assert odd_frame(body[:-40]) is None  # a frame cut at the read's end is not odd


def test_responses_encoder_numbers_a_keepalive_once_the_response_started() -> None:
    enc = encoder_for(View(model="m"))
    body = (
        enc.feed(ir.MessageStart(id="up_1", model="m")) + enc.feed(ir.KeepAlive()) + enc.feed(ir.KeepAlive())
    )
    body += enc.feed(ir.TextDelta(text="Hi")) + enc.feed(ir.Finish(reason="stop")) + enc.finish()
    frames = [f for f in SSEDecoder().feed(body) if not f.comment]
    kinds = [(f.event, json.loads(f.data)["type"]) for f in frames]
    assert kinds[2:4] == [("keepalive", "keepalive")] * 2  # before: comments, which Codex's reader drops
    assert [json.loads(f.data)["sequence_number"] for f in frames] == list(range(len(frames)))
    assert json.loads(frames[2].data) == {"type": "keepalive", "sequence_number": 2}


def test_a_responses_opening_counts_its_keepalive_events() -> None:
    enc = encoder_for(View(model="m"))
    sent = enc.feed(ir.MessageStart(id="up_1", model="m")) + enc.feed(ir.KeepAlive())
    opening = client("openai_responses").opening(sent)
    assert opening is not None and opening.frames == 3  # the next route's answer goes on from number 3
    assert [opening_part(f) for f in SSEDecoder().feed(sent)] == ["opening", "opening", "opening"]


def test_a_comment_through_the_filter_ends_with_a_blank_line() -> None:
    """A comment the filter passes keeps its block's end: the gateway's own error event after keep-alive
    comments is then an event of its own (tests/gateway/test_broken_upstreams_e2e.py, trickle, messages)."""
    from services.gateway.dialects.anthropic import passthrough_frame
    from shared.sse import SSEDecoder

    for raw in (b": keep-alive\n\n", b":\n\n", b": a\n: b\n\n"):
        events = SSEDecoder().feed(raw)
        out = b"".join(passthrough_frame(ev, [], None, None) for ev in events)  # type: ignore[arg-type]
        assert (
            out.endswith(b"\n\n")
            and SSEDecoder().feed(out + b"event: error\ndata: {}\n\n")[-1].event == "error"
        )
