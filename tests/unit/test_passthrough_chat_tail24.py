"""Session 24: ``Passthrough._tail_frames`` tells that each frame left in a chat stream's last read is one
``data:`` line by a search for an LF in its split pieces (it counted the read's LFs). A frame of two ``data:``
lines, or with a comment line, in the tail must still go to the decoder as the reference reads it: the SSE
decoder joins two data lines with an LF, which can make valid JSON of two pieces that are not (a client that
asked for the usage chunk gets the tail on a test of the bytes alone, its parse waiting for ``settle``).

Each stream is checked against the event-by-event reference (``EventPassthrough``) by session 22's ``_check``:
bytes, facts, progress, ledger usage and closing state, read whole and with the first token in an earlier read,
for a client with and without the usage chunk; hypothesis draws the tail's frames and where a frame's data is
cut into two lines."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.test_passthrough_chat_tail22 import (
    DONE,
    FINISH,
    HEAD,
    ROLE,
    TEXTS,
    USAGE_CHUNK,
    _check,
    _chunk,
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _two_lines(frame: bytes, at: int, joint: bytes) -> bytes:
    """``frame`` (``data: {…}`` LF LF) with its data cut at ``at`` into a second line: ``joint`` between
    (``\\ndata: `` for a second data line, ``\\n: c\\ndata: `` with a comment line too)."""
    data = frame[6:-2]
    at = max(1, min(at, len(data) - 1))
    return b"data: " + data[:at] + joint + data[at:] + b"\n\n"


def _cut_after_colon(frame: bytes, key: bytes) -> bytes:
    """``frame`` with its data cut into two data lines right after ``key``'s colon: each line alone is no
    JSON, the two joined by the SSE decoder's LF are (JSON allows the LF between a colon and a value)."""
    at = frame.index(key) + len(key) - 6
    return _two_lines(frame, at, b"\ndata: ")


def _ends(tail: bytes) -> list[bool]:
    """``_check`` of HEAD + ``tail`` + ``[DONE]`` for both clients, whole and with the first token earlier."""
    body = HEAD + tail + DONE
    split = len(ROLE) + len(TEXTS[0])
    return [
        _check(reads, usage) for usage in (False, True) for reads in ([body], [body[:split], body[split:]])
    ]


@pytest.mark.parametrize(
    "tail",
    [
        _cut_after_colon(FINISH, b'"finish_reason":') + USAGE_CHUNK,
        FINISH + _cut_after_colon(USAGE_CHUNK, b'"usage":'),
        _cut_after_colon(FINISH, b'"choices":'),
        FINISH + _two_lines(USAGE_CHUNK, 40, b"\n: c\ndata: "),
    ],
)
def test_a_tail_frame_of_two_lines_is_read_as_the_reference_reads_it(tail: bytes) -> None:
    assert _ends(tail) == [False] * 4  # decoded before the write: no one-line frames


def test_one_line_tails_still_end_early() -> None:
    assert _ends(FINISH + USAGE_CHUNK) == [True] * 4


@st.composite
def tails(draw: st.DrawFn) -> bytes:
    frames = draw(
        st.lists(st.sampled_from([FINISH, USAGE_CHUNK, _chunk({}, "length")]), min_size=1, max_size=3)
    )
    i = draw(st.integers(0, len(frames) - 1))
    joint = draw(st.sampled_from([b"\ndata: ", b"\ndata:", b"\n: c\ndata: ", b"\n"]))
    frames[i] = _two_lines(frames[i], draw(st.integers(1, 400)), joint)
    return b"".join(frames)


@FUZZ
@given(tails())
def test_drawn_tails_with_a_frame_of_two_lines_match_the_reference(tail: bytes) -> None:
    _ends(tail)
