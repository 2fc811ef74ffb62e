"""Review of session 15's whole-read shape test (``relay._usual_named``) over reads hypothesis builds from the
pieces a frame is made of (``event:``/``data:`` with and without their space, LF runs of any length, bytes not
UTF-8, a byte order mark), not from whole frames: it must say yes exactly when the per-frame test it replaced
(main's ``_feed_frames`` loop, copied below) passes every frame of the read. And the relay fed mutated streams
of the three passthrough wires (bytes inserted, removed or changed anywhere, reads cut at frame ends so the
fast paths ``_feed_frames`` and ``_feed_data_frames`` run) gives the event-by-event reference's bytes and
facts (``test_passthrough_scan._compare_once``)."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.gateway.relay import Passthrough, _usual_named
from tests.unit.test_passthrough_scan import _compare_once
from tests.unit.test_passthrough_tap import anthropic_stream, chat_stream, responses_stream

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RELAY_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMED_ATOMS = [
    b"event: ",
    b"event:",
    b"data: ",
    b"data:",
    b"\n",
    b"\n\n",
    b"x",
    b"{",
    b"}",
    b" ",
    b":",
    b"\xff",
    b"\xef\xbb\xbf",
    b"id: 1",
    b"event",
]


def _named_by_frame(chunk: bytes) -> bool:
    """main's ``_feed_frames`` loop test, verbatim: every piece passes it."""
    for piece in chunk[:-2].split(b"\n\n"):
        nl = piece.find(b"\n")
        if (
            nl <= 7
            or not piece.startswith(b"event: ")
            or not piece.startswith(b"data: ", nl + 1)
            or piece.find(b"\n", nl + 1) != -1
        ):
            return False
    return True


@FUZZ
@given(st.lists(st.sampled_from(NAMED_ATOMS), max_size=24))
@example([b"event: ", b"\n", b"data: "])  # one frame, its name empty
@example([b"event: ", b"x", b"\n", b"data:"])  # one frame, ``data:`` without its space
def test_usual_named_agrees_with_the_per_frame_test_on_any_bytes(atoms: list[bytes]) -> None:
    chunk = b"".join(atoms) + b"}\n\n"  # ``_feed_frames``'s reads end so (``Passthrough.feed``)
    lines = _usual_named(chunk)
    assert (lines is not None) == _named_by_frame(chunk), chunk
    if lines is not None:
        assert b"\n".join(lines) == chunk


LINE_ATOMS = [a for a in NAMED_ATOMS if b"\n" not in a]


@FUZZ
@given(st.lists(st.lists(st.sampled_from(LINE_ATOMS), max_size=3).map(b"".join), min_size=1, max_size=10))
@example([b"event: ", b"data: "])  # one frame, its name empty
@example([b"event: x", b"data: ", b""])  # one frame and an extra line
def test_usual_named_agrees_with_the_per_frame_test_line_by_line(lines: list[bytes]) -> None:
    """Reads built a line at a time (one frame's three lines, an empty name, a line too many or too few are
    then as likely as any other read)."""
    chunk = b"\n".join(lines) + b"}\n\n"
    split = _usual_named(chunk)
    assert (split is not None) == _named_by_frame(chunk), chunk
    if split is not None:
        assert b"\n".join(split) == chunk


MUTATIONS = [b"\n", b"\n\n", b": c\n", b"event: \n", b"data:", b"data: ", b"\xff", b"id: 1\n", b" ", b"}"]


@st.composite
def mutated(draw: st.DrawFn, body: bytes) -> tuple[bytes, list[bytes]]:
    """``body`` with a few bytes inserted, removed or replaced anywhere, read in pieces cut at frame ends."""
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(body) - 1))
        how = draw(st.integers(0, 2))
        piece = draw(st.sampled_from(MUTATIONS))
        if how == 0:
            body = body[:at] + piece + body[at:]
        elif how == 1:
            body = body[:at] + body[at + 1 :]
        else:
            body = body[:at] + piece + body[at + 1 :]
    ends = sorted({m.end() for m in re.finditer(rb"\n\n", body)})
    picks = draw(st.lists(st.sampled_from(ends), max_size=6)) if ends else []
    edges = sorted({0, *picks, len(body)})
    return body, [body[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]


def _wire_streams() -> st.SearchStrategy[tuple[str, tuple[bytes, list[bytes]], bool]]:
    bodies = {
        "anthropic": anthropic_stream(4),
        "openai_responses": responses_stream(4),
        "openai_chat": chat_stream(4),
    }
    return st.sampled_from(sorted(bodies)).flatmap(
        lambda w: st.tuples(st.just(w), mutated(bodies[w]), st.booleans())
    )


@RELAY_FUZZ
@given(_wire_streams())
def test_mutated_streams_read_at_frame_ends_match_the_reference(
    case: tuple[str, tuple[bytes, list[bytes]], bool],
) -> None:
    wire, (body, reads), include_usage = case
    _compare_once(wire, body, reads, include_usage, Passthrough.min_frames)
