"""Session 21: ``Passthrough.feed_last`` (the body's last read, decoded up to its first token, the rest after
the client's answer has ended: ``settle``) gives the client the same bytes, and the ledger the same facts,
as ``feed`` then ``finish``, and ends the answer early only when nothing could follow its bytes.

The proxy drives it so (``Proxy._pump``): when the relay is ``unsettled`` after the read, the client's answer
ends with the bytes ``feed_last`` returned (``write_eof``), and ``settle`` and ``finish`` run after. So for
every stream and every way it is read (the last read through ``feed_last``, the reads before it through
``feed``):

- the bytes ``feed_last`` returns are ``feed``'s;
- when it left frames to ``settle``, what the reference relay (``EventPassthrough``, decoding every event as
  it comes) adds after them, its ``finish`` and the proxy's error for a stream that ended early, is nothing:
  the client's answer was whole;
- after ``settle`` and ``finish``, the facts (usage, model, first token, commit, completion, error,
  keep-alive boundary, cut-off state), progress, the usage the event reads and the closing-frame state are
  the reference's.

The streams: the benchmark's three answers and the provider recordings (``tests/fixtures``) cut at every line
end and read whole or in two pieces; hypothesis' Anthropic streams of odd frames (errors, malformed and
reshaped frames, frames after the finish, invalid UTF-8, CR line ends, a byte order mark), ended by the
closing frame or not."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import anthropic as anth
from services.gateway.dialects import openai_chat as oai
from services.gateway.dialects import openai_responses as resp
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from tests.unit.test_passthrough_cuts18 import STREAMS, _provider
from tests.unit.test_passthrough_frames_fuzz import streams
from tests.unit.test_passthrough_scan import _facts, _same_ids

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STOP = anth.STOP_FRAME


def _ended(relay: Passthrough) -> bytes:
    """What ``Proxy._pump`` adds at the end of the body: ``finish``, and the error of a stream that ended
    before its answer did."""
    tail = relay.finish()
    if not relay.complete and relay.error is None:
        tail += relay.fail(502, "upstream stream ended early", "broken_stream")
    return tail


def _check(wire: str, reads: list[bytes], include_usage: bool = False) -> bool:
    """``reads`` through ``feed`` then ``feed_last`` against the reference; True when ``feed_last`` left
    frames to ``settle`` (the client's answer ended early)."""
    provider = _provider(wire)
    view = View(model="m", include_usage=include_usage)
    relay = Passthrough(pairing(wire, wire), view, provider.usage)  # type: ignore[arg-type]
    ref = EventPassthrough(pairing(wire, wire), view, provider.usage)  # type: ignore[arg-type]
    for read in reads[:-1]:
        assert relay.feed(read) == ref.feed(read)
    assert relay.feed_last(reads[-1]) == ref.feed(reads[-1])
    early = relay.unsettled
    if early:
        assert relay.saw_content and relay.started  # the commit and the first token came before the write
        assert _ended(ref) == b""  # nothing follows the bytes the client's answer ended with
        relay.settle()
        assert not relay.unsettled
        assert _ended(relay) == b""
    else:
        assert _same_ids(_ended(relay)) == _same_ids(_ended(ref))
    assert _facts(relay) == _facts(ref)
    assert relay.read_usage() == ref.read_usage()
    assert relay.decoder.closed == ref.decoder.closed
    assert bool(relay.events) == bool(ref.events)
    return early


def _lines(body: bytes) -> list[int]:
    return sorted({i + 1 for i in range(len(body)) if body[i : i + 1] == b"\n"})


@pytest.mark.parametrize(("wire", "body"), STREAMS, ids=[f"{w}-{i}" for i, (w, _) in enumerate(STREAMS)])
def test_recorded_streams_end_early_only_when_whole(wire: str, body: bytes) -> None:
    early = 0
    for include_usage in (False, True):
        early += _check(wire, [body], include_usage)  # the whole stream in one read (nginx's)
        for cut in _lines(body):
            early += _check(wire, [body[:cut]], include_usage)  # a body that ended there
            if cut < len(body):
                early += _check(wire, [body[:cut], body[cut:]], include_usage)
    # Anthropic's answers end with ``message_stop``, Responses' with a terminal event: read whole, they end
    # early; chat's only when their last frames are the usual end, ``[DONE]`` last (session 22: the frame
    # filter's ``PassFrames.tail``, ``ChatStreamDecoder.plan_tail``; tests/unit/test_passthrough_chat_tail22.py)
    if wire == "openai_chat":
        assert not early or body.endswith(oai.DONE_FRAME), early
        return
    ends = {"anthropic": anth.ends_stream, "openai_responses": resp.ends_stream}.get(wire)
    decoder = pairing(wire, wire).wire.decoder()  # type: ignore[arg-type]
    assert (early > 0) == (ends is not None and ends(decoder, body)), early


def test_the_benchmarks_anthropic_answer_is_decoded_after_its_first_token() -> None:
    body = next(b for w, b in STREAMS if w == "anthropic")
    provider = _provider("anthropic")
    relay = Passthrough(pairing("anthropic", "anthropic"), View(model="m"), provider.usage)
    assert relay.feed_last(body) == body
    # message_start and the first token read; the usage of message_delta and message_stop not yet
    assert relay.unsettled and relay.saw_content and not relay.complete and not relay.decoder.closed
    before = relay.read_usage()
    relay.settle()
    assert relay.complete and relay.decoder.closed and relay.finish() == b""
    assert relay.read_usage().output_tokens > before.output_tokens


def test_a_cut_or_unclosed_body_is_read_whole_before_the_end() -> None:
    body = next(b for w, b in STREAMS if w == "anthropic")
    for read in (body[: -len(STOP)], body[:-1], body.replace(b"\n", b"\r\n"), body + b": ping\n\n"):
        relay = Passthrough(pairing("anthropic", "anthropic"), View(model="m"))
        relay.feed_last(read)
        assert not relay.unsettled


COMPLETED = (
    b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","model":"z",'
    b'"status":"completed","usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}}}\n\n'
)
# Last frames a Responses stream may end with: terminal ones, and near misses that end nothing (a duplicate
# ``type`` whose last value is no terminal kind, a terminal name over another type, no type, not JSON)
RESPONSES_ENDS = [
    COMPLETED,
    COMPLETED.replace(b"response.completed", b"response.incomplete"),
    b'event: response.failed\ndata: {"type":"response.failed","response":{"id":"r","status":"failed",'
    b'"error":{"code":"server_error","message":"boom"}}}\n\n',
    COMPLETED.replace(b"}}}\n\n", b'}},"type":"response.output_text.done"}\n\n'),
    COMPLETED.replace(b'"type":"response.completed",', b'"type":"response.created",'),
    COMPLETED.replace(b'"type":"response.completed",', b""),
    COMPLETED.replace(b'"response":{', b'"response":[{'),
    COMPLETED.replace(b'"response":{', b'"response":5,"x":{'),
    COMPLETED.replace(b'"type":"response.completed",', b'"type":"response.completed","type":null,'),
]


@pytest.mark.parametrize(("n", "frame"), enumerate(RESPONSES_ENDS))
def test_responses_ends_stream_only_where_the_decoder_closes(n: int, frame: bytes) -> None:
    """``ends_stream`` says True for the three terminal kinds (a ``response`` that is no object too: the
    decoder ends on the kind), and never where the decoder, reading the frame, would not be closed (it may
    say False where it would: a type left to the event's name or cleared by a duplicate null; the relay then
    decodes the whole read before the answer ends)."""
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    relay.feed(frame)
    ends = resp.ends_stream(resp.ResponsesStreamDecoder(), frame)
    assert ends == (n in (0, 1, 2, 7))
    assert relay.decoder.closed or not ends
    opened = b'event: response.created\ndata: {"type":"response.created"}\n\n' + frame
    assert resp.ends_stream(resp.ResponsesStreamDecoder(), opened) == ends
    # the parse it keeps is what the decoder reads the frame as: the same facts as a decoder that parses it
    kept = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    if resp.ends_stream(kept.decoder, frame):
        assert kept.decoder.parsed is not None
        kept.feed(frame)
        assert kept.decoder.parsed is None  # taken
        assert _facts(kept) == _facts(relay)


@FUZZ
@given(
    st.sampled_from(["anthropic", "openai_responses"]).flatmap(lambda w: st.tuples(st.just(w), streams(w))),
    st.integers(-1, len(RESPONSES_ENDS) - 1),
    st.booleans(),
)
def test_odd_streams_match_the_reference(
    case: tuple[str, tuple[bytes, list[bytes]]], end: int, whole: bool
) -> None:
    wire, (body, reads) = case
    if end >= 0:  # most of them end with a frame that may end the stream: the case that may end early
        last = STOP if wire == "anthropic" else RESPONSES_ENDS[end]
        body += last
        reads = [*reads[:-1], reads[-1] + last] if reads else [last]
    _check(wire, [body] if whole or not reads else reads)
