"""``Passthrough._feed_frames`` (short reads of whole named frames split as bytes) against the event-by-event
reference (``EventPassthrough``), for streams built frame by frame by hypothesis from shapes the seeded
fuzz of ``test_passthrough_scan`` does not make: a frame in CR or CRLF line ends among LF ones, a byte
order mark at the start or at the head of a later read, ``id:``/``retry:`` lines, empty data, ``data:``
without its space, several data lines, comments, unicode and invalid UTF-8 in names and data, error events,
frames after the finish; read in pieces cut at frame ends (the reads ``_feed_frames`` takes), after whole
frames and in the middle of the next one, or anywhere. The client's bytes and the relay's facts
(``test_passthrough_scan._facts``: usage, model, first token, commit, completion, error, keep-alive
boundary, cut-off state; progress whenever the reference made progress) are the same after every read and
after ``finish``."""

from __future__ import annotations

import re

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from shared.sse import SSEDecoder
from tests.unit.test_passthrough_scan import _compare, _facts, _frames
from tests.unit.test_passthrough_tap import anthropic_stream, responses_stream

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BOM = "\ufeff".encode()

TEXTS = ["w", "", " ", "é 漢字 🙂", "}", "\\", '"usage"', "\u2028", "\x1c", "data: x"]


def _delta(wire: str, text: str) -> bytes:
    if wire == "anthropic":
        data = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
        return b"event: content_block_delta\ndata: " + orjson.dumps(data) + b"\n\n"
    data = {"type": "response.output_text.delta", "item_id": "m1", "output_index": 0, "delta": text}
    return b"event: response.output_text.delta\ndata: " + orjson.dumps(data) + b"\n\n"


def _error(wire: str) -> bytes:
    if wire == "anthropic":
        return (
            b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
        )
    return b'event: error\ndata: {"type":"error","code":"server_error","message":"busy"}\n\n'


def _reshape(frame: bytes, how: int) -> bytes:
    """``frame`` (``event:`` LF ``data:`` LF LF) in another legal shape that decodes to the same event, or
    close to it."""
    head, _, rest = frame.partition(b"\n")
    data = rest.removesuffix(b"\n\n")
    if how == 1:
        return frame.replace(b"\n", b"\r\n")
    if how == 2:
        return frame.replace(b"\n", b"\r")
    if how == 3:
        return head + b"\nid: 7\n" + data + b"\n\n"
    if how == 4:
        return head + b"\nretry: 1500\n" + data + b"\n\n"
    if how == 5:
        return head + b"\ndata:" + data[6:] + b"\n\n"  # no space after the colon
    if how == 6 and b"," in data:
        a, _, b = data.partition(b",")
        return head + b"\n" + a + b",\ndata: " + b + b"\n\n"  # two data lines
    if how == 7:
        return b": keep-alive\n" + frame
    if how == 8:
        return head.replace(b"event: ", b"event:") + b"\n" + data + b"\n\n"
    if how == 9:
        return frame + b"\n"  # an extra blank line
    if how == 10:
        return head + b"\ndata: " + data[6:] + b"  \n\n"  # trailing spaces after the JSON text
    return frame


EXTRAS = [
    b"event: ping\ndata: {}\n\n",
    b'event: ping\ndata: {"type":"ping"}\n\n',
    b"event: ping\ndata: \n\n",  # empty data: an event with data ""
    b"event: content_block_stop\ndata: {}\n\n",
    b"event: content_block_delta\ndata: \n\n",
    b"event: response.output_text.delta\ndata: \n\n",
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff"}}\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"\xc3"}\n\n',
    b'event: caf\xc3\xa9\ndata: {"type":"ping"}\n\n',
    b'event: \xff\ndata: {"type":"ping"}\n\n',
    b'data: {"type":"ping"}\n\n',
    b":\n\n",
    b"id: 3\n\n",
    b"retry: 10\n\n",
    b"event: x\n\n",
    b'event: content_block_delta\ndata: {"a":1}\ndata: {"b":2}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":7}}\n\n',
    # shaped like a token or a quiet frame, but not one JSON object: the decoder must read them
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0\n\n',
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"a"\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"text"\n\n',
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done","output_index":0\n\n',
    b'event: response.content_part.done\ndata: {"type":"response.content_part.done"\n\n',
    # an error named only by its ``event:`` line
    b'event: error\ndata: {"error":{"type":"overloaded_error","message":"busy"}}\n\n',
    b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","model":"z","status":"completed","usage":{"input_tokens":1,"output_tokens":2,"total_tokens":3}}}\n\n',
    # frames the Anthropic decoder reads from their bytes (``MessagesStreamDecoder.feed_data``): its exact
    # frames in both spellings, near misses, escapes, duplicate keys, a type left to the name
    b'event: ping\ndata: {"type": "ping"}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    b'event: message_stop\ndata: {"type": "message_stop"}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop" }\n\n',
    b'event: ping\ndata: {"type":"p\\u0069ng"}\n\n',
    b'event: ping\ndata: {"type":"ping","type":"message_stop"}\n\n',
    b'event: message_stop\ndata: {"type":null}\n\n',
    b'event: message_stop\ndata: {"type":""}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":3,"content_block":{"type":"text","text":""}}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":16,"content_block":{"type":"text","text":""}}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hi"}}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":20}\n\n',
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"m2","model":"other","usage":{"input_tokens":4,"output_tokens":1}}}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":\xff}}\n\n',
]


# ``response.in_progress`` after a ``response.created`` of OpenAI's shape (``WireSpec.inert_events``): the
# twin the relay lets by undecoded, and near misses the decoder must read
_RESPONSE = b'{"id":"resp_1","object":"response","model":"gpt-x","status":"in_progress","output":[]}'
_CREATED = b'{"type":"response.created","sequence_number":%b,"response":%b}'
_IN_PROGRESS = b'{"type":"response.in_progress","sequence_number":%b,"response":%b}'
IN_PROGRESS = [
    _IN_PROGRESS % (b"1", _RESPONSE),
    _IN_PROGRESS % (b"0", _RESPONSE),
    _IN_PROGRESS % (b"01", _RESPONSE),
    _IN_PROGRESS % (b"1", _RESPONSE.replace(b"gpt-x", b"gpt-y")),
    _IN_PROGRESS % (b"1", _RESPONSE[:-1]),
    _IN_PROGRESS % (b"1", _RESPONSE + b',"type":"response.completed"'),
    _IN_PROGRESS % (b"1", _RESPONSE + b',"type":"error"'),
    _IN_PROGRESS % (b"1", _RESPONSE) + b" ",
    _CREATED % (b"1", _RESPONSE),
]
# ``response.content_part.added``: the usual empty one (let by undecoded once the stream started), near misses
_PART = (
    b'{"type":"response.content_part.added","sequence_number":3,"item_id":"m1","output_index":0,'
    b'"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}'
)
PARTS = [
    b"event: response.content_part.added\ndata: " + part + b"\n\n"
    for part in (_PART, _PART[:-2], _PART.replace(b'""}', b'"x"}'))
]
# Shaped like one JSON object but not JSON, or with an id the shape refuses: only before the first token (after
# it a frame of that shape passes as a quiet frame, malformed or not, the scan's rule ``_quiet_event``, where
# the reference decodes it)
OPENING_PARTS = PARTS + [
    b"event: response.content_part.added\ndata: " + part + b"\n\n"
    for part in (_PART[:-1], _PART.replace(b":0,", b":00,", 1), _PART.replace(b'"m1"', b'"m\\\\"'))
]


@st.composite
def streams(draw: st.DrawFn, wire: str) -> tuple[bytes, list[bytes]]:
    """A stream of ``wire`` with odd frames, reshaped frames, a BOM and extra frames after the finish,
    and its reads."""
    n = draw(st.integers(0, 8))
    base = anthropic_stream(n) if wire == "anthropic" else responses_stream(n)
    frames = _frames(base)
    for i in range(n):  # the texts, each its own frame
        text = draw(st.sampled_from(TEXTS))
        frames = [_delta(wire, text) if f == _delta(wire, f"w{i} ") else f for f in frames]
    if wire == "openai_responses" and draw(st.booleans()):  # OpenAI's opening pair, or a near miss
        created = _CREATED % (b"0", _RESPONSE)
        frames[0] = b"event: response.created\ndata: " + created + b"\n\n"
        frames.insert(
            1, b"event: response.in_progress\ndata: " + draw(st.sampled_from(IN_PROGRESS)) + b"\n\n"
        )
        if draw(st.booleans()):
            frames.insert(2, draw(st.sampled_from(OPENING_PARTS)))
    for _ in range(draw(st.integers(0, 4))):  # odd frames anywhere, the finish's neighbourhood included
        at = draw(st.integers(0, len(frames)))
        frames.insert(at, draw(st.sampled_from([*EXTRAS, *PARTS, _error(wire), _delta(wire, "late")])))
    if draw(st.booleans()):  # frames after the finish
        frames += [_delta(wire, "after"), b'event: ping\ndata: {"type":"ping"}\n\n']
    frames = [_reshape(f, draw(st.integers(0, 10)) if draw(st.integers(0, 5)) == 0 else 0) for f in frames]
    if draw(st.integers(0, 5)) == 0:
        frames.insert(0, BOM)
    body = b"".join(frames)
    if draw(st.integers(0, 5)) == 0:  # a body cut short
        body = body[: draw(st.integers(0, len(body)))]
    # Cut points: every frame end (``}`` LF LF and any blank line), positions inside frames, and a BOM at
    # the head of a later read
    ends = sorted({m.end() for m in re.finditer(rb"\n\n|\r\r|\r\n\r\n", body)} | {len(body)})
    picks = draw(st.lists(st.sampled_from(ends), max_size=8)) if ends else []
    if body and draw(st.booleans()):
        picks += draw(st.lists(st.integers(1, len(body)), max_size=3))
    edges = sorted({0, *picks, len(body)})
    reads = [body[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]
    if reads and draw(st.integers(0, 2)) == 0:
        at = draw(st.integers(0, len(reads)))
        late = draw(st.sampled_from([b'event: ping\ndata: {"type":"ping"}\n\n', *EXTRAS[-3:], _error(wire)]))
        reads.insert(at, BOM + late)
    return b"".join(reads), reads


@FUZZ
@given(
    st.sampled_from(["anthropic", "openai_responses"]).flatmap(lambda w: st.tuples(st.just(w), streams(w)))
)
def test_frame_reads_match_the_event_by_event_reference(case: tuple[str, tuple[bytes, list[bytes]]]) -> None:
    wire, (body, reads) = case
    _compare(wire, body, reads, include_usage=False)


@FUZZ
@given(
    st.sampled_from(["anthropic", "openai_responses"]).flatmap(lambda w: st.tuples(st.just(w), streams(w)))
)
def test_frame_reads_one_frame_each_match_the_reference(case: tuple[str, tuple[bytes, list[bytes]]]) -> None:
    """The same streams, one frame per read (the reads a streaming upstream makes most)."""
    wire, (body, _) = case
    ends = [m.end() for m in re.finditer(rb"\n\n", body)]
    edges = sorted({0, *ends, len(body)})
    reads = [body[a:b] for a, b in zip(edges, edges[1:], strict=False) if b > a]
    _compare(wire, body, reads, include_usage=True)


def test_a_byte_order_mark_after_reads_of_whole_frames_is_text() -> None:
    """A stream read so far only as whole named frames (``_feed_frames``), then a read that begins with the
    bytes of a byte order mark: only a stream's first bytes may be one (WHATWG SSE), so the ``event:``
    line after it is a field named ``\\ufeffevent`` and ignored, and an error named only by that line is
    no error, as for the reference (``SSEDecoder.passed``). The Anthropic passthrough's guard (``anthropic.odd_start``:
    a read that starts at a frame without ``event: <name>``) may re-write that read through its frame filter (s26):
    the client's events, read as the spec reads them, are the upstream's."""
    frames = _frames(anthropic_stream(2))
    error = b'event: error\ndata: {"error":{"type":"overloaded_error","message":"busy"}}\n\n'
    for k in range(1, len(frames)):
        relay = Passthrough(pairing("anthropic", "anthropic"), View(model="m"))
        ref = EventPassthrough(pairing("anthropic", "anthropic"), View(model="m"))
        sent = got = b""
        for read in (b"".join(frames[:k]), BOM + error):
            out = relay.feed(read)
            assert out == ref.feed(read)
            assert _facts(relay) == _facts(ref), k
            sent, got = sent + read, got + out
        assert [(e.event, e.data) for e in SSEDecoder().feed(got)] == [
            (e.event, e.data) for e in SSEDecoder().feed(sent)
        ]
        assert relay.error is None


def test_an_inert_frame_that_is_not_json_is_the_references_malformed_event() -> None:
    """Found by the fuzz above (session 14): a Responses ``response.content_part.added`` (an inert name,
    ``WireSpec.inert_events``) whose data lacks its last ``}``, in a read of whole frames after a byte order
    mark and a text delta. The reference relay decodes it and reports the malformed event (502); the
    scanning relay let it by as inert and reported a success. An inert or quiet frame passes undecoded only
    when it is one JSON object (``_scan.json_object``)."""
    part = (
        b'{"type":"response.content_part.added","sequence_number":3,"item_id":"m1","output_index":0,'
        b'"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}'
    )
    reads = [
        BOM + b'event: ping\ndata: {"type":"ping"}\n\n',
        BOM
        + b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"\xc3"}\n\n'
        + b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":'
        b'"resp_1","object":"response","model":"gpt-x","status":"in_progress","output":[]}}\n\n'
        b"event: response.content_part.added\ndata: " + part + b"\n\n"
        b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"resp_1","object":'
        b'"response","model":"gpt-x","status":"completed","output":[],"usage":{"input_tokens":9,'
        b'"output_tokens":7,"total_tokens":16}}}\n\n',
    ]
    body = b"".join(reads)
    ref = EventPassthrough(pairing("openai_responses", "openai_responses"), View(model="m"))  # type: ignore[arg-type]
    for read in reads:
        ref.feed(read)
    ref.finish()
    assert ref.error is not None and ref.error.status == 502  # what the scanning relay must report too
    _compare("openai_responses", body, reads, include_usage=True)
    _compare("openai_responses", body, [body], include_usage=True)
