"""The translator's run lane (``relay.Translator._bytes``: the decoder's ``text_run`` and the encoder's
``text_frames``) gives a client exactly the bytes, and the relay exactly the facts, of the general path
(SSE decoder → decoder ``feed`` → IR deltas → encoder ``feed``), whatever an upstream's text frames hold:
any text, escaped or not, empty, JSON or not, bytes not UTF-8, odd index forms, read whole or in pieces;
and it never takes a frame the general path would read otherwise."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from services.gateway.relay import Translator
from tests.text_lanes import END, START, run_relays, text_body
from tests.text_lanes import run as _run

CLIENTS = ("openai_chat", "openai_responses")
INDEXES = ("0", "0", "0", "1", "01", "-1", "0 ")
# Texts the lane must leave to the general path, and odd bytes (not UTF-8, a CR) among them
ODD = ("", 'q"uote', "back\\slash", "new\nline", "tab\t", "\x00", "\x7f\u2028", "héllo ☃ 𝄞")


def frame(
    text: str | bytes, index: str = "0", raw: bool = False, event: str = "content_block_delta"
) -> bytes:
    """A text delta's frame: its text written by orjson (escapes and all), or raw between quotes (maybe not
    JSON, maybe not UTF-8)."""
    return (
        b"event: "
        + event.encode()
        + b'\ndata: {"type":"content_block_delta","index":'
        + index.encode()
        + b',"delta":{"type":"text_delta","text":'
        + text_body(text, raw)
        + b"}}\n\n"
    )


@st.composite
def text_frames(draw: Any) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return frame(draw(st.sampled_from(ODD)), raw=draw(st.booleans()))
    if kind == 1:
        return frame(draw(st.binary(max_size=6)))  # raw bytes: maybe not UTF-8, maybe a CR
    if kind == 2:
        return b'event: ping\ndata: {"type":"ping"}\n\n'
    text = draw(st.text(max_size=10))
    return frame(text, draw(st.sampled_from(INDEXES)), raw=draw(st.booleans()))


def _relays(client: str, include_usage: bool) -> tuple[Translator, Translator]:
    return run_relays(client, "anthropic", include_usage)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(text_frames(), max_size=10),
    st.lists(st.integers(0, 4000), max_size=6),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_run_lane_gives_the_general_paths_bytes_and_facts(
    frames: list[bytes], cuts: list[int], include_usage: bool, take_rest: bool, stop_early: bool
) -> None:
    body = START + b"".join(frames) + END
    if stop_early:  # text after message_stop: read by no one
        body = START + frames[0:1].pop() + END + b"".join(frames) if frames else body
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = [body[a:b] for a, b in pairwise(points)]
    for client in CLIENTS:
        fast, general = _relays(client, include_usage)
        assert _run(fast, chunks, take_rest) == _run(general, chunks, take_rest)


def test_the_run_lane_takes_a_run_of_usual_text_frames() -> None:
    """The lane is used (the property above would hold with it off): a run's frames reach neither the
    decoder's ``feed`` nor its ``text_of``, and come out as ``text`` makes them."""
    for client in CLIENTS:
        fast, general = _relays(client, False)
        first = frame("a")
        fast.feed(START + first)
        general.feed(START + first)
        fast.decoder.feed = fast.decoder.text_of = None  # type: ignore[assignment,method-assign]
        run = frame("hé ☃") + frame("b", "1") + frame("c d")
        assert fast.feed(run) == general.feed(run)
        assert fast.events == general.events


@pytest.mark.parametrize(
    "odd",
    [
        frame(""),  # an empty text: no delta at all
        frame('q"'),  # escapes: orjson's quoting of the text is not its body
        frame("a\\b"),
        frame("\n"),
        frame("é", raw=False).replace("é".encode(), b"\\u00e9"),
        frame(b"\xff"),  # not UTF-8: the SSE decoder replaces it (checked by the relay, not the decoder)
        frame("x", "01"),  # not an index JSON reads
        frame("x", "0 "),
        frame("x", event="other"),  # another event line
        frame("x").replace(b"\n\n", b"\r\n\r\n"),
        frame("x").replace(b'"text":', b'"text": '),
        b'event: ping\ndata: {"type":"ping"}\n\n',
    ],
)
def test_the_run_lane_leaves_other_frames_to_the_general_path(odd: bytes) -> None:
    """A frame the lane must not take is never in a run, and no run reaches past it; the relay gives it
    the general path's bytes."""
    decoder = MessagesStreamDecoder()
    found = decoder.text_run(odd, 0)
    if odd != frame(b"\xff"):
        assert found is None
    found = decoder.text_run(frame("a") + odd + frame("b"), 0)
    assert found is not None
    bodies, end = found
    assert end == len(frame("a")) or (odd == frame(b"\xff") and bodies[1] == b"\xff")
    for client in CLIENTS:
        fast, general = _relays(client, True)
        body = START + frame("a") + odd + frame("b") + END
        cut = len(START) + len(frame("a"))
        for chunks in ([body], [body[:cut], body[cut:]], [body[:300], body[300:]]):
            fast, general = _relays(client, True)
            assert _run(fast, chunks, True) == _run(general, chunks, True)


def test_no_run_after_the_stream_stopped() -> None:
    decoder = MessagesStreamDecoder()
    assert decoder.text_run(frame("x"), 0) == ([b"x"], len(frame("x")))
    decoder.feed_data(b'{"type":"message_stop"}')
    assert decoder.text_run(frame("x"), 0) is None
