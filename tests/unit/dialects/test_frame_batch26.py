"""A read's usual named Anthropic frames decoded as one batch (session 26: ``MessagesStreamDecoder.feed_frames``,
``relay.Translator``'s ``_batch`` in ``_first_frames`` and ``_bytes``) give a chat and a Responses client exactly
the bytes, and the relay exactly the facts (usage, every field; progress, first token, error, completion, what
``rest`` holds), of the relay without the batch (the tap frame by frame, session 23) and of the general path (no
lane at all): generated streams (session 22's: usage with cache reads and 5-minute and 1-hour writes, one to
three ``message_delta``s, text, tool calls, thinking, pings, errors, cut short) with runs of usual text deltas,
escaped texts and odd frames put among them, read whole, cut anywhere or a frame a read, ``rest`` taken or not,
the last read by ``feed_last`` or not."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from services.gateway.dialects.ir import KeepAlive, MessageStart, TextDelta, UsageUpdate
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator
from tests.text_lanes import relay_reads, same_made_up
from tests.unit.dialects.test_lazy_usage import streams

CLIENTS = ("openai_chat", "openai_responses")
# Frames the batch must stop at (or read as the tap reads them): not the usual shape, or data it is unsure of
ODD = (
    b'event: ping\r\ndata: {"type":"ping"}\r\n\r\n',
    b'event: \ndata: {"type":"ping"}\n\n',
    b'event: ping\ndata:{"type":"ping"}\n\n',
    b": a comment\n\n",
    b'event: ping\ndata: {"kind":"ping"}\n\n',
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"x"}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"text_delta","text":"\xff\xfe"}}\n\n',
    b"event: content_block_delta\ndata: not json\n\n",
)
TEXTS = st.one_of(
    st.sampled_from(["Hello ", "h\u00e9", "a\\b", 'say "x"', "line\nbreak", "", "\u2028", "\x7f"]),
    st.text(max_size=8),
)


def _text_frame(text: str, index: int = 0) -> bytes:
    delta = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    return b"event: content_block_delta\ndata: " + orjson.dumps(delta) + b"\n\n"


@st.composite
def _bodies(draw: Any) -> bytes:
    """Session 22's random stream with runs of text deltas and odd frames put between its frames."""
    frames = [f + b"\n\n" for f in draw(streams()).split(b"\n\n") if f]
    for _ in range(draw(st.integers(0, 4))):
        run = [_text_frame(t) for t in draw(st.lists(TEXTS, min_size=1, max_size=4))]
        at = draw(st.integers(1, len(frames)))
        frames[at:at] = run
    for _ in range(draw(st.integers(0, 2))):
        frames.insert(draw(st.integers(0, len(frames))), draw(st.sampled_from(ODD)))
    return b"".join(frames)


def _chunks(body: bytes, cuts: list[int], by_frame: bool) -> list[bytes]:
    if by_frame:
        return [f + b"\n\n" for f in body.split(b"\n\n") if f]
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in pairwise(points)]


def _relays(client: str, include_usage: bool) -> tuple[Translator, Translator, Translator]:
    """The relay as made (the batch), one with the tap frame by frame, one with no lane at all."""
    pair = pairing(client, "anthropic")  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5", include_usage=include_usage)
    batched, tapped, general = Translator(pair, view), Translator(pair, view), Translator(pair, view)
    assert batched._batch is not None
    tapped._batch = None
    general._batch = general._tap = general._data_tap = general._run = general._lane = None
    same_made_up(batched, tapped)
    same_made_up(batched, general)
    return batched, tapped, general


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _bodies(),
    st.lists(st.integers(0, 5000), max_size=5),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_batch_gives_the_paths_without_it_the_same_bytes_and_facts(
    body: bytes, cuts: list[int], include_usage: bool, take_rest: bool, last: bool, by_frame: bool
) -> None:
    chunks = _chunks(body, cuts, by_frame)
    for client in CLIENTS:
        batched, tapped, general = _relays(client, include_usage)
        got = relay_reads(batched, chunks, take_rest, last)
        assert got == relay_reads(tapped, chunks, take_rest, last), (client, chunks)
        assert got == relay_reads(general, chunks, take_rest, last), (client, chunks)


CANNED = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","model":"claude-haiku-4-5","content":[],"stop_reason":null,"stop_sequence":null,'
    b'"usage":{"input_tokens":12,"cache_creation_input_tokens":9,"cache_read_input_tokens":20,'
    b'"cache_creation":{"ephemeral_5m_input_tokens":4,"ephemeral_1h_input_tokens":5},"output_tokens":1}}}\n\n'
    b'event: ping\ndata: {"type":"ping"}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"text","text":""}}\n\n'
    + _text_frame("Hello ")
    + _text_frame("h\u00e9")
    + _text_frame("!")
    + b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
    b'"stop_sequence":null},"usage":{"input_tokens":12,"cache_creation_input_tokens":9,'
    b'"cache_read_input_tokens":20,"cache_creation":{"ephemeral_5m_input_tokens":4,'
    b'"ephemeral_1h_input_tokens":5},"output_tokens":5}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def test_every_byte_cut() -> None:
    for cut in range(1, len(CANNED)):
        chunks = [CANNED[:cut], CANNED[cut:]]
        for client in CLIENTS:
            batched, tapped, _ = _relays(client, cut % 2 == 0)
            assert relay_reads(batched, chunks, cut % 3 == 0, True) == relay_reads(
                tapped, chunks, cut % 3 == 0, True
            ), cut


class _Counting(Translator):
    """The relay, counting the frames its tap reads one at a time (``_tapped``)."""

    __slots__ = ("taps",)

    def _tapped(self, buf: bytes, pos: int) -> tuple[bytes, int] | None:
        self.taps += 1
        return super()._tapped(buf, pos)


def test_the_batch_is_taken() -> None:
    """A whole answer in one read goes through the batch or the run lane, its first frame too (session 33: the
    batch from the read's start; no tap), against seven taps frame by frame, with the same bytes and facts."""
    for client in CLIENTS:
        pair = pairing(client, "anthropic")  # type: ignore[arg-type]
        view = View(model="claude-haiku-4-5", include_usage=True)
        batched, tapped = _Counting(pair, view), _Counting(pair, view)
        batched.taps = tapped.taps = 0
        tapped._batch = None
        same_made_up(batched, tapped)
        assert relay_reads(batched, [CANNED], False, True) == relay_reads(tapped, [CANNED], False, True)
        assert (batched.taps, tapped.taps) == (0, 7)


def test_feed_frames_stops_where_it_must() -> None:
    """After the token with ``until_token``; before a usual text delta not first without; at a frame not
    usual; and nothing read when the first frame is not one."""
    head = CANNED.index(b"event: ping")
    text = CANNED.index(b"event: content_block_delta")
    after = CANNED.index(b"event: content_block_delta", text + 1)
    decoder = MessagesStreamDecoder()
    deltas, end = decoder.feed_frames(CANNED, 0, True)
    assert end == after
    assert [type(d) for d in deltas] == [MessageStart, UsageUpdate, KeepAlive, TextDelta]
    decoder = MessagesStreamDecoder()
    deltas, end = decoder.feed_frames(CANNED, 0, False)
    assert end == text and [type(d) for d in deltas] == [MessageStart, UsageUpdate, KeepAlive]
    assert decoder.feed_frames(CANNED, text, False)[1] == after  # (a text delta first: read)
    odd = CANNED[:head] + b": a comment\n\n" + CANNED[head:]
    assert MessagesStreamDecoder().feed_frames(odd, 0, False)[1] == head
    assert MessagesStreamDecoder().feed_frames(odd, head, False) == ([], head)
