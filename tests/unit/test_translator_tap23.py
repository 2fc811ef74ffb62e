"""The translator's frame tap (session 23: ``relay.Translator._tapped``, the wire's ``frame_tap`` reading a
usual named frame from its data bytes, the chat decoder's ``feed_frame`` an unnamed one, no ``SSEEvent``) gives a client exactly the bytes, and the relay
exactly the facts, of the path without it (``usual_frame`` → ``SSEEvent`` → ``_event``) and of the general
path (no lane at all), over Anthropic streams with text (non-ASCII too), tool calls, thinking, pings, one to
three ``message_delta``s, errors mid-stream, cut short, and odd frames among them (a CR, an empty event
name, ``data:`` without its space, two data lines, a comment, bytes not UTF-8, JSON without a ``type``,
spaced JSON), and chat streams (``test_chat_text_run``'s chunks: text, refusals, tool calls, reasoning,
errors, comments, CRLF, padding, another model, bytes not UTF-8), read whole, cut anywhere, at every byte,
or a frame a read, ``rest`` taken or not."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator
from tests.text_lanes import relay_reads, same_made_up
from tests.unit.dialects.test_chat_text_run import END as CHAT_END
from tests.unit.dialects.test_chat_text_run import chat_frames, chunk
from tests.unit.dialects.test_chat_text_run import start as chat_start
from tests.unit.dialects.test_lazy_usage import streams

CLIENTS = ("openai_chat", "openai_responses")
CHAT_CLIENTS = ("anthropic", "openai_responses")
ODD_FRAMES = (
    b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n',
    b'event: ping\ndata: {"type":"ping",\r"x":1}\n\n',
    b'event: \ndata: {"type":"ping"}\n\n',
    b'event: ping\ndata:{"type":"ping"}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta",\ndata: "index":0}\n\n',
    b": a comment\n\n",
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"\xff\xfe"}}\n\n',
    b'event: ping\ndata: {"kind":"ping"}\n\n',
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
    b'event: error\ndata: {"error":{"type":"overloaded_error","message":"x"}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: ping\ndata: {"type":"ping"}\n',
)
CANNED = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"claude-haiku-4-5","stop_sequence":null,"content":[],"stop_reason":null,'
    b'"usage":{"input_tokens":12,"output_tokens":1}}}\n\n'
    b'event: ping\ndata: {"type":"ping"}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"Hello "}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"h\xc3\xa9"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"input_tokens":12,"output_tokens":5}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def _relays(
    client: str, include_usage: bool, wire: str = "anthropic"
) -> tuple[Translator, Translator, Translator]:
    """The relay as made (its tap), one without the tap, one with no lane at all."""
    pair = pairing(client, wire)  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5", include_usage=include_usage)
    tapped, untapped, general = Translator(pair, view), Translator(pair, view), Translator(pair, view)
    assert (tapped._tap if wire == "anthropic" else tapped._data_tap) is not None
    untapped._tap = untapped._data_tap = None
    general._tap = general._data_tap = general._run = general._lane = None
    same_made_up(tapped, untapped)
    same_made_up(tapped, general)
    return tapped, untapped, general


def _same(
    body: bytes,
    chunks: list[bytes],
    include_usage: bool,
    take_rest: bool,
    last: bool,
    wire: str = "anthropic",
) -> None:
    for client in CLIENTS if wire == "anthropic" else CHAT_CLIENTS:
        tapped, untapped, general = _relays(client, include_usage, wire)
        got = relay_reads(tapped, chunks, take_rest, last)
        assert got == relay_reads(untapped, chunks, take_rest, last), (client, body, chunks)
        assert got == relay_reads(general, chunks, take_rest, last), (client, body, chunks)


@st.composite
def _bodies(draw: Any) -> bytes:
    """A random Anthropic stream with odd frames put between its frames."""
    frames = [f + b"\n\n" for f in draw(streams()).split(b"\n\n") if f]
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(frames)))
        frames.insert(at, draw(st.sampled_from(ODD_FRAMES)))
    return b"".join(frames)


def _chunks(body: bytes, cuts: list[int], by_frame: bool) -> list[bytes]:
    if by_frame:
        chunks = [f + b"\n\n" for f in body.split(b"\n\n") if f]
        if not body.endswith(b"\n\n") and chunks:
            chunks[-1] = chunks[-1][:-2]
        return chunks
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in pairwise(points)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(chat_frames(), max_size=10),
    st.lists(st.integers(0, 5000), max_size=5),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_chat_tap_gives_the_paths_without_it_the_same_bytes_and_facts(
    frames: list[bytes],
    cuts: list[int],
    include_usage: bool,
    take_rest: bool,
    last: bool,
    by_frame: bool,
    ended: bool,
) -> None:
    body = chat_start(None) + chunk("Hi") + b"".join(frames) + (CHAT_END if ended else b"")
    _same(body, _chunks(body, cuts, by_frame), include_usage, take_rest, last, "openai_chat")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _bodies(),
    st.lists(st.integers(0, 5000), max_size=5),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_tap_gives_the_paths_without_it_the_same_bytes_and_facts(
    body: bytes, cuts: list[int], include_usage: bool, take_rest: bool, last: bool, by_frame: bool
) -> None:
    _same(body, _chunks(body, cuts, by_frame), include_usage, take_rest, last)


CHAT_CANNED = chat_start(None) + chunk("Hello ") + chunk("h\u00e9") + chunk("!") + CHAT_END


def _every_cut(body: bytes, wire: str) -> None:
    """``_same`` on ``body`` cut in two at every byte (usage or not, ``rest`` taken or not, ``feed_last`` or
    not); a failure names its cut (AssertionError's message: the cut, then ``_same``'s)."""
    for cut in range(1, len(body)):
        chunks = [body[:cut], body[cut:]]
        try:
            _same(body, chunks, True, False, True, wire)
            _same(body, chunks, False, True, False, wire)
        except AssertionError as exc:
            raise AssertionError(f"cut at byte {cut} of {len(body)}: {exc}") from exc


def test_every_byte_cut() -> None:
    _every_cut(CANNED, "anthropic")


def test_every_byte_cut_chat() -> None:
    _every_cut(CHAT_CANNED, "openai_chat")


def test_the_tap_is_taken() -> None:
    """A whole answer in one read reaches no ``feed`` of the decoder (nor any ``SSEEvent``): every frame
    goes through the tap or the run lane, with the bytes of the path without them."""
    cases = [(c, "anthropic", CANNED) for c in CLIENTS] + [
        (c, "openai_chat", CHAT_CANNED) for c in CHAT_CLIENTS
    ]
    for client, wire, body in cases:
        tapped, untapped, _ = _relays(client, False, wire)

        def no_feed(ev: Any) -> Any:
            raise AssertionError(f"decoder.feed({ev!r})")

        tapped.decoder.feed = no_feed  # type: ignore[method-assign]
        want = relay_reads(untapped, [body], False, True)
        assert relay_reads(tapped, [body], False, True) == want
        if wire == "openai_chat":  # the text shape was learnt (the run lane took the texts after the first)
            assert tapped.decoder._lane is not None  # type: ignore[attr-defined]
