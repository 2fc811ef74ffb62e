"""A read's usual unnamed chat frames decoded as one batch (session 27: ``ChatStreamDecoder.feed_frames``, taken by
``relay.Translator``'s ``_batch`` in ``_first_frames`` and ``_bytes``) give an Anthropic and a Responses client
exactly the bytes, and the relay exactly the facts (usage, every field; progress, first token, error, completion,
model, what ``rest`` holds), of the relay without the batch (the tap frame by frame) and of the general path (no
lane, no tap): generated chat streams (session 26's: first chunks of many shapes, text, reasoning, refusals, tool
calls with and without Gemini's signatures, errors, finish reasons usual, ``error`` and ``CUT_FINISH``, paddings,
usage chunks) with a second choice (``n=2``), OpenAI's whole usage chunk and odd frames put among them (CR, a
comment, not UTF-8, a named event, no space after ``data:``, blank data), read whole, cut anywhere or a frame a
read, ``rest`` taken or not, the last read by ``feed_last`` or not."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._openai_stream import ChatStreamDecoder
from services.gateway.dialects.ir import Finish, MessageStart, TextDelta, UsageUpdate
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Translator
from tests.text_lanes import relay_reads, same_made_up
from tests.unit.dialects.test_finish_form26 import (
    MODELS,
    PADS,
    ROLE,
    ROLE_TAILS,
    ROLE_TOPS,
    chunk,
    closing,
    finish_chunks,
    middle_chunks,
)

CLIENTS = ("anthropic", "openai_responses")
HEAD = b'"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,'
# OpenAI's usage chunk as it streams it (every count, the tier, the padding)
OPENAI_USAGE = (
    b"data: {"
    + HEAD
    + b'"model":"gpt-4o-mini","service_tier":"default","system_fingerprint":"fp_1","choices":[],'
    b'"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17,"prompt_tokens_details":'
    b'{"cached_tokens":4,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,'
    b'"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"obfuscation":"k2Xd"}\n\n'
)
ODD = (
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"cr"}}]}\r\n\r\n',
    b": keep-alive\n\n",
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"\xff\xfe"}}]}\n\n',
    b'event: error\ndata: {"error":{"message":"named","type":"server_error"}}\n\n',
    b'data:{"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"nospace"}}]}\n\n',
    b"data: \n\n",
    b"data: not json\n\n",
    b'data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"a"}}]}\ndata: {"x":1}\n\n',
)


def _second_choice(text: bytes, reason: bytes = b"null") -> bytes:
    """A chunk of choice 1 (a client's ``n=2``)."""
    choice = b'{"index":1,"delta":{"content":' + text + b'},"logprobs":null,"finish_reason":' + reason + b"}"
    return b"data: {" + HEAD + b'"model":"gpt-4o-mini","choices":[' + choice + b'],"usage":null}\n\n'


@st.composite
def _bodies(draw: Any) -> bytes:
    role = (
        draw(st.sampled_from(ROLE_TAILS)),
        draw(st.sampled_from(ROLE_TOPS)),
        draw(st.sampled_from(MODELS)),
        draw(st.sampled_from(PADS)),
    )
    frames = [chunk(ROLE, role[0], role[2], role[3], role[1])]
    frames += draw(st.lists(middle_chunks(role), max_size=6))
    frames += draw(st.lists(finish_chunks(role), min_size=1, max_size=2))
    frames.append(draw(st.sampled_from((OPENAI_USAGE, closing(role[2]).split(b"\n\n")[0] + b"\n\n", b""))))
    frames.append(b"data: [DONE]\n\n")
    for _ in range(draw(st.integers(0, 2))):  # a second choice's text and finish
        at = draw(st.integers(1, len(frames)))
        frames[at:at] = [_second_choice(b'"b"', draw(st.sampled_from((b"null", b'"stop"'))))]
    for _ in range(draw(st.integers(0, 2))):
        frames.insert(draw(st.integers(0, len(frames))), draw(st.sampled_from(ODD)))
    keep = draw(st.integers(1, len(frames)))  # cut short, sometimes
    return b"".join(frames[: keep if draw(st.integers(0, 3)) == 0 else len(frames)])


def _chunks(body: bytes, cuts: list[int], by_frame: bool) -> list[bytes]:
    if by_frame:
        return [f + b"\n\n" for f in body.split(b"\n\n") if f]
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    return [body[a:b] for a, b in pairwise(points)]


def _relays(client: str, include_usage: bool, signed: bool) -> tuple[Translator, Translator, Translator]:
    """The relay as made (the batch), one with the tap frame by frame, one with no lane at all."""
    pair = pairing(client, "openai_chat")  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5", include_usage=include_usage, signed_calls=signed, tools=True)
    batched, tapped, general = Translator(pair, view), Translator(pair, view), Translator(pair, view)
    assert batched._batch is not None
    tapped._batch = None
    general._batch = general._tap = general._data_tap = general._run = general._lane = None
    for other in (tapped, general):
        same_made_up(batched, other)
        if hasattr(batched.encoder, "response_id"):
            batched.encoder.response_id = other.encoder.response_id = "resp_1"
    return batched, tapped, general


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _bodies(),
    st.lists(st.integers(0, 5000), max_size=5),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_the_batch_gives_the_paths_without_it_the_same_bytes_and_facts(
    body: bytes,
    cuts: list[int],
    include_usage: bool,
    take_rest: bool,
    last: bool,
    by_frame: bool,
    signed: bool,
) -> None:
    chunks = _chunks(body, cuts, by_frame)
    for client in CLIENTS:
        batched, tapped, general = _relays(client, include_usage, signed)
        got = relay_reads(batched, chunks, take_rest, last)
        assert got == relay_reads(tapped, chunks, take_rest, last), (client, chunks)
        assert got == relay_reads(general, chunks, take_rest, last), (client, chunks)


CANNED = (
    chunk(ROLE, pad=b"p0")
    + chunk(b'{"content":"Hello "}', pad=b"p1")
    + chunk(b'{"content":"h\\u00e9"}', pad=b"p2")
    + chunk(b'{"content":"!"}', pad=b"p3")
    + chunk(b"{}", b',"logprobs":null,"finish_reason":"stop"', pad=b"p4")
    + OPENAI_USAGE
    + b"data: [DONE]\n\n"
)


def test_every_byte_cut() -> None:
    for cut in range(1, len(CANNED)):
        chunks = [CANNED[:cut], CANNED[cut:]]
        for client in CLIENTS:
            batched, tapped, general = _relays(client, cut % 2 == 0, False)
            got = relay_reads(batched, chunks, cut % 3 == 0, True)
            assert (
                got
                == relay_reads(tapped, chunks, cut % 3 == 0, True)
                == relay_reads(general, chunks, cut % 3 == 0, True)
            ), cut


class _Counting(Translator):
    """The relay, counting the frames its tap reads one at a time (``_tapped``)."""

    __slots__ = ("taps",)

    def _tapped(self, buf: bytes, pos: int) -> tuple[bytes, int] | None:
        self.taps += 1
        return super()._tapped(buf, pos)


def test_the_batch_is_taken() -> None:
    """A whole answer in one read goes through the tap twice (the first frame of the read, and the first of what
    ``rest`` reads, the escaped text), every other frame through the batch or the run lane (the tap frame by frame:
    those two, the first text, the finish, the usage chunk and ``[DONE]``), with the same bytes and facts."""
    for client in CLIENTS:
        pair = pairing(client, "openai_chat")  # type: ignore[arg-type]
        view = View(model="claude-haiku-4-5", include_usage=True)
        batched, tapped = _Counting(pair, view), _Counting(pair, view)
        batched.taps = tapped.taps = 0
        tapped._batch = None
        same_made_up(batched, tapped)
        if hasattr(batched.encoder, "response_id"):
            batched.encoder.response_id = tapped.encoder.response_id = "resp_1"
        assert relay_reads(batched, [CANNED], False, True) == relay_reads(tapped, [CANNED], False, True)
        assert (batched.taps, tapped.taps) == (2, 6)


def test_feed_frames_stops_where_it_must() -> None:
    """After the token with ``until_token``; before a text chunk of the stream's shape (not first) without; after
    ``[DONE]``; at a frame not usual or not UTF-8; and nothing read when the first frame is not one."""
    text = CANNED.index(
        b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini"', 1
    )
    second = CANNED.index(b"data: ", text + 1)
    decoder = ChatStreamDecoder()
    deltas, end = decoder.feed_frames(CANNED, 0, True)
    assert end == second and [type(d) for d in deltas] == [MessageStart, TextDelta]
    decoder = ChatStreamDecoder()
    decoder.feed_frame(CANNED[6 : text - 2])  # the first chunk: the text shape is spliced from it
    deltas, end = decoder.feed_frames(CANNED, text, False)
    assert (deltas, end) == ([TextDelta(text="Hello ")], second)  # (the next text chunk left to the run lane)
    finish = CANNED.index(b'"finish_reason":"stop"')
    finish = CANNED.rindex(b"data: ", 0, finish)
    deltas, end = decoder.feed_frames(CANNED + b"data: [DONE]\n\n", finish, False)
    assert end == len(CANNED) and [type(d) for d in deltas] == [Finish, UsageUpdate]
    assert decoder.feed_frames(b"data: x\r\n\r\n", 0, False) == ([], 0)
    odd = ChatStreamDecoder()
    assert odd.feed_frames(b'data: {"choices":[{"delta":{"content":"\xff"}}]}\n\n', 0, False) == ([], 0)
