"""``MessagesStreamDecoder.feed_frames`` matches each frame once (session 32): up to the first token, the usual
text delta's body comes with its frame (``_NAMED_FIRST``'s group 2, no second ``fullmatch``), and after it a frame
whose data cannot open a usual text delta (``data[9:10]``) is not matched against ``_TEXT_HEAD``. The deltas,
positions and state are ``feed_data``'s frame by frame (the equivalence over generated frames is
``test_first_text31.py``'s and ``test_frame_batch26.py``'s); the batch still stops before a usual text delta
for the run lane."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from tests.text_lanes import END, START
from tests.unit.dialects.test_text_run import frame


def _c_calls(call: Callable[[], Any]) -> tuple[Any, list[str]]:
    """``call()`` and the names of the C functions it called."""
    names: list[str] = []

    def prof(_frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            names.append(getattr(arg, "__name__", ""))

    sys.setprofile(prof)
    try:
        got = call()
    finally:
        sys.setprofile(None)
    return got, names


def _frame_by_frame(body: bytes) -> tuple[list[str], MessagesStreamDecoder]:
    decoder = MessagesStreamDecoder()
    out: list[str] = []
    for piece in body.split(b"\n\n")[:-1]:
        got = decoder.feed_data(piece.split(b"\ndata: ", 1)[1])
        assert got is not None
        out += map(repr, got)
    return out, decoder


def test_the_first_tokens_text_delta_is_matched_once() -> None:
    body = START + frame("Hello ")
    decoder = MessagesStreamDecoder()
    (deltas, pos), names = _c_calls(lambda: decoder.feed_frames(body, 0, True))
    assert pos == len(body)
    assert names.count("match") == 3 and "fullmatch" not in names, names  # (a match a frame)
    want, reference = _frame_by_frame(body)
    assert list(map(repr, deltas)) == want
    assert vars(decoder) == vars(reference)


def test_a_frame_after_the_token_that_is_no_text_delta_is_matched_once() -> None:
    body = END  # (a block's stop, ``message_delta``, ``message_stop``)
    decoder = MessagesStreamDecoder()
    decoder.feed_frames(START, 0, True)
    reference = MessagesStreamDecoder()
    reference.feed_frames(START, 0, True)
    (deltas, pos), names = _c_calls(lambda: decoder.feed_frames(body, 0, False))
    assert pos == len(body)
    assert names.count("match") == 3, names  # (the three frames'; no ``_TEXT_HEAD`` for ``message_delta``)
    want: list[str] = []
    for piece in body.split(b"\n\n")[:-1]:
        got = reference.feed_data(piece.split(b"\ndata: ", 1)[1])
        assert got is not None
        want += map(repr, got)
    assert list(map(repr, deltas)) == want
    assert vars(decoder) == vars(reference)


def test_the_batch_still_stops_before_a_usual_text_delta() -> None:
    """After the first frame, a usual text delta is the run lane's (``_TEXT_HEAD``, behind its ``c`` test)."""
    decoder = MessagesStreamDecoder()
    decoder.feed_frames(START, 0, True)
    stop = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    delta = b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":null}}\n\n'
    for head in (stop, delta):
        got, pos = decoder.feed_frames(head + frame("a") + frame("b"), 0, False)
        assert pos == len(head), (head, got)
