"""The translator reads a read's frames one at a time up to the first token and keeps the bytes after it
undecoded (``Translator._first_frames``, session 17): the client's bytes, in order, and the relay's facts
after every step are those of the translator that SSE-decoded each read whole first (``Eager``, the code
before), for every translated pairing, the repository's SSE fixtures and the bench's canned answers, any
cut of the reads, the rest taken or not, a byte order mark, CRLF line ends, comments and non-ASCII text;
and ``shared.sse.usual_frame`` makes the events ``SSEDecoder.feed`` makes."""

from __future__ import annotations

import itertools
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _openai_wire, _responses_wire
from services.gateway.dialects.registry import PAIRS, pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator
from shared.sse import SSEDecoder, SSEEvent, usual_frame
from tests.unit.test_text_lane import CHAT_END, CHAT_START, END, START, chat_chunks, text_events

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "sse"
WIRE_OF = {"anthropic": "anthropic", "openai": "openai_chat", "openrouter": "openai_chat"}
TRANSLATED = sorted((c, w) for (c, w), t in PAIRS.items() if t is not None)
RESPONSES_UP = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":"r1",'
    b'"object":"response","status":"in_progress","model":"m","output":[]}}\n\n'
    b'event: response.output_item.added\ndata: {"type":"response.output_item.added","sequence_number":1,'
    b'"output_index":0,"item":{"id":"m1","type":"message","role":"assistant","content":[]}}\n\n'
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":2,'
    b'"item_id":"m1","output_index":0,"content_index":0,"delta":"Hi \xc3\xa9"}\n\n'
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":3,'
    b'"item_id":"m1","output_index":0,"content_index":0,"delta":"there"}\n\n'
    b'event: response.completed\ndata: {"type":"response.completed","sequence_number":4,"response":{'
    b'"id":"r1","object":"response","status":"completed","model":"m","output":[],'
    b'"usage":{"input_tokens":3,"output_tokens":2,"total_tokens":5}}}\n\n'
)


class Eager(Translator):
    """The reference: ``feed`` as it was before session 17 (every read SSE-decoded whole first)."""

    def feed(self, chunk: bytes) -> bytes:
        events = self._sse.feed(chunk)
        if self._rest:
            events = self._rest + events
            self._rest = []
        if self.saw_content:
            return b"".join([self._event(ev) for ev in events])
        return self._until_token(events)


def _relay(kind: type[Translator], client: str, wire: str) -> Translator:
    relay = kind(pairing(client, wire), View(model="m", include_usage=True, reasoning=True))  # type: ignore[arg-type]
    for name in ("created_at", "created"):  # the clock's second, read when the encoder is made
        if hasattr(relay.encoder, name):
            setattr(relay.encoder, name, 1)
    return relay


def _facts(relay: Translator) -> tuple[Any, ...]:
    return (
        relay.usage,
        relay.events,
        relay.started,
        relay.saw_content,
        relay.error,
        relay.complete,
        relay.decoder.model,
        relay._sse.last_event_id,
    )


def _cuts(body: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in pairwise(points)]


def _run(
    kind: type[Translator], client: str, wire: str, chunks: list[bytes], take_rest: bool, end: str
) -> list[Any]:
    """Each step's bytes and facts, the ids the gateway makes up counted from 0 (the same for both)."""
    made = itertools.count()
    with (
        patch.object(_openai_wire, "_random_bits", lambda k: next(made)),
        patch.object(_responses_wire.uuid, "uuid4", lambda: uuid.UUID(int=next(made))),
    ):
        relay = _relay(kind, client, wire)
        steps: list[Any] = []
        rests: list[bool] = []
        for c in chunks:
            steps.append(relay.feed(c))
            rests.append(relay.has_rest)
            if take_rest:
                steps.append((relay.rest(), relay.has_rest, _facts(relay)))
        if end == "finish":
            steps.append(relay.finish())
        elif end == "fail":
            steps.append(relay.fail(502, "cut"))
        else:
            steps.append(relay.keepalive())
        steps.append(_facts(relay))
    return steps, rests


def _check(client: str, wire: str, chunks: list[bytes], take_rest: bool, end: str = "finish") -> None:
    lazy, lazy_rests = _run(Translator, client, wire, chunks, take_rest, end)
    eager, eager_rests = _run(Eager, client, wire, chunks, take_rest, end)
    assert lazy == eager
    # ``has_rest`` whenever the eager translator had events left after the token; also when the bytes
    # kept after it are only the start of a frame (then ``rest`` gives b"", and the token goes out now)
    assert all(lz or not eg for lz, eg in zip(lazy_rests, eager_rests, strict=True))


def _bodies() -> list[tuple[str, bytes]]:
    found = []
    for path in sorted(FIXTURES.glob("*.sse")):
        wire = WIRE_OF[path.name.split("_")[0]]
        found.append((wire, path.read_bytes()))
    found.append(("anthropic", START + END))
    found.append(("openai_chat", CHAT_START + CHAT_END))
    found.append(("openai_responses", RESPONSES_UP))
    return found


VARIANTS = {
    "as is": lambda b: b,
    "bom": lambda b: b"\xef\xbb\xbf" + b,
    "crlf": lambda b: b.replace(b"\n", b"\r\n"),
    "comment first": lambda b: b": keep-alive\n\n" + b,
    "id field": lambda b: b.replace(b"data: ", b"id: 7\ndata: ", 1),
    "spaced": lambda b: b.replace(b"data: ", b"data:", 2),
    "cut mid-frame": lambda b: b[: b.rindex(b"data: ") + 8],  # a body that ends inside its last event
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("take_rest", [True, False])
@pytest.mark.parametrize("end", ["finish", "fail", "keepalive"])
def test_the_fixtures_give_the_eager_bytes_and_facts(variant: str, take_rest: bool, end: str) -> None:
    for wire, body in _bodies():
        body = VARIANTS[variant](body)
        for client, w in TRANSLATED:
            if w != wire:
                continue
            for size in (len(body), 1, 7, 31, 200):
                chunks = [body[i : i + size] for i in range(0, len(body), size)]
                _check(client, wire, chunks, take_rest, end)
            _check(client, wire, [body[: len(body) // 2], body[len(body) // 2 :]], take_rest, end)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(text_events(), max_size=6),
    st.lists(st.integers(0, 4000), max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_an_anthropic_upstream_cut_anywhere(
    frames: list[bytes], cuts: list[int], take_rest: bool, ended: bool
) -> None:
    body = START + b"".join(frames) + (END if ended else b"")
    for client, wire in TRANSLATED:
        if wire == "anthropic":
            _check(client, wire, _cuts(body, cuts), take_rest)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(chat_chunks(), max_size=8),
    st.lists(st.integers(0, 6000), max_size=5),
    st.booleans(),
    st.booleans(),
)
def test_a_chat_upstream_cut_anywhere(
    chunks: list[bytes], cuts: list[int], take_rest: bool, ended: bool
) -> None:
    body = CHAT_START + b"".join(chunks) + (CHAT_END if ended else b"")
    for client, wire in TRANSLATED:
        if wire == "openai_chat":
            _check(client, wire, _cuts(body, cuts), take_rest)


def test_the_bytes_after_the_token_are_kept_undecoded() -> None:
    """One read of a whole answer: the decoder has read nothing after the token's frame until ``rest``."""
    lazy = _relay(Translator, "openai_chat", "anthropic")
    frame = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"Hi"}}\n\n'
    )
    body = START + frame + frame.replace(b"Hi", b"Yo") + END
    head = lazy.feed(body)
    assert lazy.has_rest and lazy._raw == frame.replace(b"Hi", b"Yo") + END and not lazy._rest
    assert b"Hi" in head and b"Yo" not in head and not lazy.complete
    rest = lazy.rest()
    assert b"Yo" in rest and lazy.complete and not lazy.has_rest
    _check("openai_chat", "anthropic", [body], False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.text(min_size=1, max_size=6)), st.text(max_size=12)),
        min_size=1,
        max_size=4,
    ),
    st.integers(0, 200),
)
def test_usual_frame_makes_the_decoders_events(frames: list[tuple[str | None, str]], cut: int) -> None:
    """Frame by frame with ``usual_frame`` (then the decoder on what it does not take) = ``feed``."""
    body = b"".join(
        (b"" if name is None else b"event: " + name.encode() + b"\n") + b"data: " + data.encode() + b"\n\n"
        for name, data in frames
    )
    body = body[: cut % (len(body) + 1)] if cut < 100 else body
    whole = SSEDecoder().feed(body)
    dec, got, pos = SSEDecoder(), [], 0
    while (framed := usual_frame(body, pos)) is not None:
        ev, pos = framed
        got.append(ev)
    if pos:
        dec.passed()
    got += dec.feed(body[pos:])
    assert got == whole
    assert [e.raw for e in got] == [e.raw for e in whole]


def test_usual_frame_refuses_what_the_decoder_reads_line_by_line() -> None:
    for odd in (b"data: x\r\n\r\n", b": c\n\n", b"event: \ndata: x\n\n", b"id: 1\ndata: x\n\n", b"data: x\n"):
        assert usual_frame(odd, 0) is None
    assert usual_frame(b"data: x\n\n", 0) == (SSEEvent(None, "x", False, None, None, b"data: x\n\n"), 9)
