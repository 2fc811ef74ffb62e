from __future__ import annotations

import pytest

from shared.sse import SSEDecoder, SSEEvent, encode_comment, encode_event

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b"event: message_start\r\ndata: {\"a\": 1}\r\n\r\n"
    b"data: line1\ndata: line2\n\n"
    + "data: {\"t\": \"h\u00e9llo \u2603\"}\r\r".encode()
    + b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent(None, "OPENROUTER PROCESSING", comment=True),
    SSEEvent("message_start", '{"a": 1}'),
    SSEEvent(None, "line1\nline2"),
    SSEEvent(None, '{"t": "h\u00e9llo \u2603"}'),
    SSEEvent(None, "[DONE]"),
]


def decode_in(chunks: list[bytes]) -> list[SSEEvent]:
    dec = SSEDecoder()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(dec.feed(c))
    return out + dec.flush()


def test_whole_stream() -> None:
    assert decode_in([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_split_gives_the_same_events(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert decode_in(chunks) == EXPECTED


def test_last_event_without_blank_line_is_flushed() -> None:
    assert decode_in([b"data: tail"]) == [SSEEvent(None, "tail")]


@pytest.mark.parametrize(("chunk", "pending"), [
    (b"", False), (b"data: {}\n\n", False), (b": ping\n\n", False), (b"data: {\"a\": ", True),
    (b"data: {}\n", True), (b"event: x\n", True), (b"data: {}\r", True),
])
def test_pending_says_whether_the_body_stopped_in_the_middle_of_an_event(chunk: bytes, pending: bool) -> None:
    dec = SSEDecoder()
    dec.feed(chunk)
    assert dec.pending is pending
    dec.flush()
    assert not dec.pending


def test_encoders_round_trip() -> None:
    raw = encode_event(b'{"x":1}', "ping") + encode_event('{"y":2}') + encode_comment("keep-alive")
    assert decode_in([raw]) == [SSEEvent("ping", '{"x":1}'), SSEEvent(None, '{"y":2}'),
                                SSEEvent(None, "keep-alive", comment=True)]
