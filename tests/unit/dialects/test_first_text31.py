"""The first token's usual text delta read by ``MessagesStreamDecoder.feed_frames`` without a parse (session 31:
``_TEXT_DATA``): the same deltas, position and state as ``feed_data`` of each frame, for any text (escapes,
quotes, controls, non-ASCII, bytes that are not UTF-8), and no ``orjson.loads`` for the usual one."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder

START = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":'
    b'"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
)
LEAD = (
    b'event: ping\ndata: {"type":"ping"}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
)
AFTER = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'


def _text_data(text: str, index: int = 0) -> bytes:
    delta = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    return orjson.dumps(delta)


def _frame(data: bytes) -> bytes:
    return b"event: content_block_delta\ndata: " + data + b"\n\n"


def _started() -> MessagesStreamDecoder:
    decoder = MessagesStreamDecoder()
    assert decoder.feed_data(START[START.index(b"{") : -2]) is not None
    return decoder


def _state(decoder: MessagesStreamDecoder) -> tuple[Any, ...]:
    return (
        decoder.done,
        decoder.model,
        decoder.closed,
        dict(decoder._blocks),
        decoder._stopped,
        decoder._failed,
    )


def _tapped(buf: bytes, pos: int) -> tuple[list[Any], int, MessagesStreamDecoder]:
    """What the tap gives frame by frame up to the first token: ``feed_data`` of each frame's data."""
    decoder = _started()
    out: list[Any] = []
    for frame in buf[pos:].split(b"\n\n")[:-1]:
        got = decoder.feed_data(frame.split(b"\ndata: ", 1)[1])
        if got is None:
            return out, pos, decoder
        out += got
        pos += len(frame) + 2
        if got and type(got[0]).__name__ in ("TextDelta", "ReasoningDelta", "ToolCallStart", "ToolArgsDelta"):
            break
    return out, pos, decoder


DATAS = st.one_of(
    st.text().map(_text_data),
    st.sampled_from(["Hello ", "h\u00e9", "a\\b", 'say "x"', "\x1f", "\u2028", "", "\U0001f600"]).map(
        _text_data
    ),
    st.tuples(st.text(max_size=4), st.integers(0, 300)).map(lambda t: _text_data(t[0], t[1])),
    st.sampled_from(
        [
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff\xfe"}}',
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xed\xa0\x80"}}',
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\x01b"}}',
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a\tb"}}',
            b'{"type":"content_block_delta","index":01,"delta":{"type":"text_delta","text":"x"}}',
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}} ',
            b'{"type": "content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}',
        ]
    ),
)


@settings(max_examples=400, deadline=None)
@given(DATAS, st.booleans())
def test_first_text_as_the_tap_reads_it(data: bytes, lead: bool) -> None:
    """The batch up to the first token: the deltas (by ``repr``), the position after, and the decoder's state
    are those of ``feed_data`` of each frame, whatever the text's bytes."""
    buf = (LEAD if lead else b"") + _frame(data) + AFTER
    decoder = _started()
    got, pos = decoder.feed_frames(buf, 0, True)
    want, want_pos, tapped = _tapped(buf, 0)
    assert (repr(got), pos) == (repr(want), want_pos)
    assert _state(decoder) == _state(tapped)


def test_usual_first_text_not_parsed() -> None:
    """The usual first text delta makes no ``orjson.loads`` call (fails before session 31: one parse)."""
    buf = LEAD + _frame(_text_data("Hello ")) + AFTER
    decoder = _started()
    loads: list[str] = []

    def prof(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call" and getattr(arg, "__name__", "") == "loads":
            loads.append(event)

    sys.setprofile(prof)
    try:
        got, pos = decoder.feed_frames(buf, 0, True)
    finally:
        sys.setprofile(None)
    assert repr(got) == "[KeepAlive(), TextDelta(text='Hello ')]"
    assert pos == len(buf) - len(AFTER)
    assert loads == []
