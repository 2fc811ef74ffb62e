"""The whole-read shape test of ``Passthrough._feed_frames`` (``_usual_named``, session 15): one C-speed test
of a read instead of a few per frame. It must say yes exactly when every frame of the read has the usual
named shape (checked here frame by frame with a regex, the per-frame tests it replaces); a read it refuses
goes to ``_feed_events`` whole, and the relay's bytes and facts are then still the reference's
(``EventPassthrough``) with an odd frame at every position of a read (chat too: ``_feed_data_frames``
stops at its first odd piece; a whole-read test of it cost instructions and was dropped)."""

from __future__ import annotations

import random
import re

import pytest

from services.gateway.relay import Passthrough, _usual_named
from tests.unit.test_passthrough_scan import _compare_once
from tests.unit.test_passthrough_tap import anthropic_stream, chat_stream, responses_stream

# The per-frame tests the whole-read ones replace: a name not empty, one event line and one data line
# (named); one data line (unnamed, for the chat comparison's odd frames); LF only, one blank line.
_NAMED = re.compile(rb"event: [^\n]+\ndata: [^\n]*")
_UNNAMED = re.compile(r"data: [^\n]*")

NAMED_PIECES = [
    b'event: ping\ndata: {"type":"ping"}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"}}\n\n',
    b"event: x\ndata: \n\n",
    b"event:  spaced\ndata: {}\n\n",
    # odd: each makes the read not usual
    b'event: \ndata: {"type":"ping"}\n\n',
    b'event:ping\ndata: {"type":"ping"}\n\n',
    b'event: ping\ndata:{"type":"ping"}\n\n',
    b'event: ping\ndata: {"type":"ping"}\ndata: {}\n\n',
    b'event: ping\nid: 7\ndata: {"type":"ping"}\n\n',
    b': keep-alive\nevent: ping\ndata: {"type":"ping"}\n\n',
    b": keep-alive\n\n",
    b'data: {"type":"ping"}\n\n',
    b"event: ping\n\n",
    b'event: ping\ndata: {"type":"ping"}\n\n\n',
    b'event: ping\ndata: {"type":"ping"}\n\n\n\n',
    b"\n\n",
    b'data: {"type":"ping"}\nevent: ping\n\n',
    b"event: ping\nevent: ping\ndata: {}\n\n",
    b"event: a\ndata: x\nid: 1\n\n",
    b"event: a\ndata: x\nfoo\n\n",
    b"x\n\n",
    b"event: a\ndata: x\nfoo\nevent: b\ndata: y\n\n",  # lines in step with the usual ones, one not blank
    b"event: a\ndata: x\n\nevent: b\ndata: y\nz\n\n",
]

UNNAMED_PIECES = [
    'data: {"choices":[]}\n\n',
    "data: [DONE]\n\n",
    "data: \n\n",
    # odd
    "data:{}\n\n",
    'data: {"a":1}\ndata: {"b":2}\n\n',
    ": OPENROUTER PROCESSING\n\n",
    "event: x\ndata: {}\n\n",
    "data: {}\n\n\n",
    "data: {}\n\n\n\n",
    "\n\n",
    "id: 1\ndata: {}\n\n",
    "data: {}\nid: 1\n\n",
]


def _named_by_frame(read: bytes) -> bool:
    pieces = read[:-2].split(b"\n\n")
    return all(_NAMED.fullmatch(p) for p in pieces)


def _unnamed_by_frame(read: str) -> bool:
    pieces = read[:-2].split("\n\n")
    return all(_UNNAMED.fullmatch(p) for p in pieces)


def test_the_named_shape_test_agrees_with_the_per_frame_one() -> None:
    rng = random.Random(15)
    usual = odd = 0
    for _ in range(20000):
        read = b"".join(rng.choice(NAMED_PIECES) for _ in range(rng.randrange(1, 7)))
        expected = _named_by_frame(read)
        lines = _usual_named(read)
        assert (lines is not None) == expected, read
        if lines is not None:
            assert b"\n".join(lines) == read
            usual += 1
        else:
            odd += 1
    assert usual > 500 and odd > 500  # both answers were asked for


def test_the_bench_streams_take_the_fast_path() -> None:
    """The usual reads are usual (else the fast path would never run: the comparisons below would pass
    with the slow path alone)."""
    assert _usual_named(anthropic_stream(3)) is not None
    assert _usual_named(responses_stream(3)) is not None


def _frames(body: bytes) -> list[bytes]:
    return [f + b"\n\n" for f in body[:-2].split(b"\n\n")]


ODD_NAMED = [p for p in NAMED_PIECES if not _named_by_frame(p)]
ODD_UNNAMED = [p.encode() for p in UNNAMED_PIECES if not _unnamed_by_frame(p)]


@pytest.mark.parametrize(
    ("wire", "body", "odd"),
    [
        ("anthropic", anthropic_stream(4), ODD_NAMED),
        ("openai_responses", responses_stream(4), ODD_NAMED),
        ("openai_chat", chat_stream(4), ODD_UNNAMED),
    ],
)
def test_an_odd_frame_anywhere_in_a_read_gives_the_reference_bytes_and_facts(
    wire: str, body: bytes, odd: list[bytes]
) -> None:
    """Each odd frame at every position of the stream, read whole and in two reads cut at each frame end
    around it: the relay's bytes and facts after each read and at the finish are the reference's."""
    frames = _frames(body)
    for piece in odd:
        for at in range(len(frames) + 1):
            stream = b"".join([*frames[:at], piece, *frames[at:]])
            ends = [m.end() for m in re.finditer(rb"\n\n", stream)]
            for cut in [len(stream), *ends[max(0, at - 1) : at + 2]]:
                reads = [r for r in (stream[:cut], stream[cut:]) if r]
                for include_usage in (False, True):
                    _compare_once(wire, stream, reads, include_usage, Passthrough.min_frames)
