"""``response.in_progress`` let by undecoded when it repeats ``response.created`` (``WireSpec.inert_events``,
``ResponsesStreamDecoder.inert``): the facts stay the event-by-event reference's (``EventPassthrough``, which
decodes it), and a malformed or different ``in_progress`` still reaches the decoder, so its error comes
before the first token and the request falls back to the next route.

The decoder's test is checked against the decoder itself: for created/in_progress pairs built by hypothesis
from the shapes a near miss takes (another sequence number or a bad one, a changed response, duplicate keys,
an extra member, whitespace, a cut), whenever ``inert`` says yes, decoding the ``in_progress`` returns
nothing and leaves the decoder's state as it was."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._responses_stream import ResponsesStreamDecoder
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from shared.sse import SSEEvent
from tests.fake.conversation import Reply, Usage
from tests.fake.frames import Meta
from tests.fake.responses_wire import Options, stream_frames
from tests.unit.test_passthrough_scan import _decoded_names as _scan_decoded_names
from tests.unit.test_passthrough_scan import _facts, _frames
from tests.unit.test_passthrough_tap import responses_stream

WIRE = "openai_responses"
RESPONSE = (
    b'{"id":"resp_1","object":"response","created_at":1700000000,"status":"in_progress","error":null,'
    b'"model":"gpt-x","output":[],"usage":null}'
)


def _frame(name: bytes, data: bytes) -> bytes:
    return b"event: " + name + b"\ndata: " + data + b"\n\n"


def _created(seq: bytes = b"0", response: bytes = RESPONSE) -> bytes:
    return b'{"type":"response.created","sequence_number":' + seq + b',"response":' + response + b"}"


def _in_progress(seq: bytes = b"1", response: bytes = RESPONSE) -> bytes:
    return b'{"type":"response.in_progress","sequence_number":' + seq + b',"response":' + response + b"}"


def _stream(in_progress: bytes, created: bytes | None = None) -> bytes:
    """``responses_stream(3)`` with its ``created`` frame replaced and an ``in_progress`` frame after it."""
    frames = _frames(responses_stream(3))
    assert frames[0].startswith(b"event: response.created\n")
    head = _frame(b"response.created", created or _created())
    return head + _frame(b"response.in_progress", in_progress) + b"".join(frames[1:])


def _decoded_names(relay: Passthrough) -> list[str]:
    """The frames the decoder reads, through ``feed`` or the wire's ``frame_tap`` (``feed_data``)."""
    return _scan_decoded_names(relay)


def _relays(view: View) -> tuple[Passthrough, EventPassthrough]:
    return Passthrough(pairing(WIRE, WIRE), view), EventPassthrough(pairing(WIRE, WIRE), view)


def _reads(body: bytes, how: str) -> list[bytes]:
    if how == "one read":
        return [body]  # ``_feed_frames``
    if how == "a frame a read":
        return _frames(body)
    return [body.replace(b"\n", b"\r\n")]  # CRLF: the SSE decoder's events (``_feed_events``)


VIEWS = [View(model="m"), View(model="m", tools=True)]  # without and with the frame filter


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("how", ["one read", "a frame a read", "crlf"])
def test_an_in_progress_that_repeats_created_is_not_decoded(view: View, how: str) -> None:
    body = _stream(_in_progress())
    relay, ref = _relays(view)
    fed = _decoded_names(relay)
    out = b"".join(relay.feed(read) for read in _reads(body, how)) + relay.finish()
    ref_out = b"".join(ref.feed(read) for read in _reads(body, how)) + ref.finish()
    assert "response.in_progress" not in fed and "response.created" in fed
    assert out == ref_out
    assert _facts(relay) == _facts(ref) and relay.complete and relay.decoder.model == "gpt-x"


BAD = [
    _in_progress()[:-1],  # cut: not JSON
    _in_progress() + b",",
    _in_progress(b"01"),  # a leading zero: not JSON
    _in_progress(b"-"),
]


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("how", ["one read", "a frame a read", "crlf"])
@pytest.mark.parametrize("bad", BAD)
def test_a_malformed_in_progress_is_an_error_before_the_first_token(view: View, how: str, bad: bytes) -> None:
    """The fallback stays: the error is the relay's before any token, so the proxy tries the next route."""
    relay, ref = _relays(view)
    for read in _reads(_stream(bad), how):
        relay.feed(read)
        ref.feed(read)
        if relay.error is not None:
            break
    assert relay.error is not None and relay.error.status == 502 and not relay.saw_content
    assert _facts(relay) == _facts(ref)


@pytest.mark.parametrize("how", ["one read", "a frame a read", "crlf"])
def test_an_in_progress_with_another_response_is_decoded(how: str) -> None:
    other = RESPONSE.replace(b'"gpt-x"', b'"gpt-y"')
    relay, ref = _relays(View(model="m"))
    fed = _decoded_names(relay)
    for read in _reads(_stream(_in_progress(response=other)), how):
        relay.feed(read)
        ref.feed(read)
    assert "response.in_progress" in fed
    assert relay.decoder.model == ref.decoder.model == "gpt-x"  # (the completed frame's model last)
    relay.finish()
    ref.finish()
    assert _facts(relay) == _facts(ref)


def test_an_in_progress_after_another_decoded_event_is_decoded() -> None:
    """Only the event right after ``created`` can repeat it: another decoded event in between (here one that
    changes the served model) makes the repeat say something again."""
    other = _frame(b"response.output_item.added", b'{"type":"x","response":{"model":"gpt-z"}}')
    body = _frame(b"response.created", _created()) + other + _frame(b"response.in_progress", _in_progress())
    relay, ref = _relays(View(model="m"))
    fed = _decoded_names(relay)
    relay.feed(body)
    ref.feed(body)
    assert fed[-1] == "response.in_progress" and relay.decoder.model == ref.decoder.model == "gpt-x"


# ---- the decoder's test against the decoder ------------------------------------------------------

_RESPONSES = st.sampled_from(
    [
        RESPONSE,
        RESPONSE.replace(b'"gpt-x"', b'"gpt-y"'),
        RESPONSE.replace(b'"gpt-x"', b"5"),
        RESPONSE + b',"type":"response.completed"',  # duplicate keys after the response
        RESPONSE + b',"type":"response.created"',
        RESPONSE + b',"response":{"model":"gpt-q"}',
        RESPONSE + b',"sequence_number":9',
        RESPONSE + b',"output_index":0,"item":{"type":"function_call","name":"f"}',
        b'{"model":"m","output":[{"type":"message"}],"usage":{"input_tokens":1,"output_tokens":2}}',
        b"null",
        b"[]",
        b'"x"',
        RESPONSE[:-1],
    ]
)
_SEQ = st.sampled_from([b"0", b"1", b"7", b"12", b"01", b"-1", b"1.0", b"1e2", b" 1", b"\xd9\xa1", b""])


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[bytes, bytes]:
    created = _created(draw(_SEQ), draw(_RESPONSES))
    if draw(st.booleans()):
        in_progress = _in_progress(draw(_SEQ), draw(_RESPONSES))
    else:  # the created frame's text with its head swapped: a repeat, or a near one
        head = b'{"type":"response.in_progress","sequence_number":'
        in_progress = head + created.partition(b'"sequence_number":')[2]
    edit = draw(st.integers(0, 6))
    if edit == 1:
        in_progress += b" "
    elif edit == 2:
        in_progress = b" " + in_progress
    elif edit == 3:
        in_progress = in_progress.replace(b'"type":"response.in_progress"', b'"type":"response.created"')
    elif edit == 4:
        created = created.replace(b'{"type"', b'{"extra":1,"type"')
    return created, in_progress


def _state(decoder: ResponsesStreamDecoder) -> dict[str, Any]:
    state = copy.deepcopy(vars(decoder))
    del state["_twin"]
    return state


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pairs())
def test_what_repeats_leaves_the_decoder_as_it_was(pair: tuple[bytes, bytes]) -> None:
    created, in_progress = pair
    decoder = ResponsesStreamDecoder()
    decoder.feed(SSEEvent("response.created", created.decode("utf-8", "replace")))
    data = in_progress.decode("utf-8", "replace")
    if not decoder.inert(data):
        return
    before = _state(decoder)
    assert decoder.feed(SSEEvent("response.in_progress", data)) == []
    assert _state(decoder) == before


def test_inert_says_yes_to_the_usual_pair_and_no_after_another_event() -> None:
    decoder = ResponsesStreamDecoder()
    decoder.feed(SSEEvent("response.created", _created().decode()))
    assert decoder.inert(_in_progress().decode()) and decoder.inert(_in_progress(b"0").decode())
    assert not decoder.inert(_in_progress(b"01").decode())
    assert not decoder.inert(_in_progress(response=RESPONSE.replace(b"gpt-x", b"gpt-y")).decode())
    decoder.feed(SSEEvent(None, "", comment=True))  # anything read in between
    assert not decoder.inert(_in_progress().decode())


def test_the_fake_providers_stream_has_the_usual_pair() -> None:
    """The shape ``repeats`` looks for is the one our fake provider's stream has (OpenAI's documented one)."""
    meta = Meta(id="resp_9", model="gpt-5-mini", created=1700000000, flavour="openai")
    options = Options.from_body({"model": "gpt-5-mini", "input": "hi", "stream": True})
    usage = Usage(prompt=5, cache_read=0, cache_write=0, output=3, reasoning=0)
    frames = stream_frames(meta, Reply(text="Hello there"), usage, options)
    body = b"".join(f.data for f in frames)
    relay = Passthrough(pairing(WIRE, WIRE), View(model="m"))
    fed = _decoded_names(relay)
    assert relay.feed(body) + relay.finish() == body
    assert fed[:2] == ["response.created", "response.output_item.added"] and relay.complete


# ---- response.content_part.added of the usual empty text -------------------------------------------

PART = (
    b'{"type":"response.content_part.added","sequence_number":3,"item_id":"msg_1","output_index":0,'
    b'"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}'
)


def _with_part(part: bytes) -> bytes:
    body = _stream(_in_progress())
    head, sep, tail = body.partition(b"event: response.output_text.delta")
    return head + _frame(b"response.content_part.added", part) + sep + tail


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("how", ["one read", "a frame a read", "crlf"])
def test_an_empty_content_part_added_is_not_decoded(view: View, how: str) -> None:
    body = _with_part(PART)
    relay, ref = _relays(view)
    fed = _decoded_names(relay)
    out = b"".join(relay.feed(read) for read in _reads(body, how)) + relay.finish()
    assert out == b"".join(ref.feed(read) for read in _reads(body, how)) + ref.finish()
    assert fed == [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.completed",
    ]
    assert _facts(relay) == _facts(ref) and relay.complete


@pytest.mark.parametrize("how", ["one read", "a frame a read", "crlf"])
@pytest.mark.parametrize(
    "bad", [PART[:-1], PART + b",", PART.replace(b'"sequence_number":3', b'"sequence_number":03')]
)
def test_a_malformed_content_part_added_is_an_error_before_the_first_token(how: str, bad: bytes) -> None:
    relay, ref = _relays(View(model="m"))
    for read in _reads(_with_part(bad), how):
        relay.feed(read)
        ref.feed(read)
        if relay.error is not None:
            break
    assert relay.error is not None and relay.error.status == 502 and not relay.saw_content
    assert _facts(relay) == _facts(ref)


def test_a_content_part_added_before_the_stream_started_is_decoded() -> None:
    """Before any response object the decoder starts the message on any event: not inert."""
    decoder = ResponsesStreamDecoder()
    assert not decoder.inert(PART.decode())
    decoder.feed(SSEEvent("response.created", _created().decode()))
    assert decoder.inert(PART.decode())
    assert not decoder.inert(PART.replace(b'"text":""', b'"text":"x"').decode())


_PARTS = st.sampled_from(
    [
        PART,
        PART.replace(b'"msg_1"', b'"m\\"'),
        PART.replace(b'"msg_1"', b'"m-_9"'),
        PART.replace(b'"output_index":0', b'"output_index":12'),
        PART.replace(b'"output_index":0', b'"output_index":-1'),
        PART.replace(b'"text":""', b'"text":"x"'),
        PART.replace(b'"part":', b'"response":{"model":"z"},"part":'),
        PART[:-1],
        PART + b" ",
        PART.replace(b'"type":"response.content_part.added"', b'"type":"response.output_text.delta"'),
        PART.replace(b'"msg_1"', b'"m","output_index":5,"x":"'),
        PART.replace(b'"msg_1"', b'"m\xc3\xa9"'),
        PART.replace(b'"msg_1"', b'""'),
        PART.replace(b'"output_index":0', b'"output_index":\xd9\xa1'),
        PART.replace(b'"content_index":0', b'"content_index":0,"output_index":1'),
        PART.replace(b'"sequence_number":3', b'"sequence_number":3,"response":{"model":"z"}'),
    ]
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PARTS, st.booleans())
def test_an_inert_content_part_leaves_the_decoder_as_it_was(part: bytes, started: bool) -> None:
    decoder = ResponsesStreamDecoder()
    if started:
        decoder.feed(SSEEvent("response.created", _created().decode()))
    data = part.decode()
    if not decoder.inert(data):
        return
    before = _state(decoder)
    assert decoder.feed(SSEEvent("response.content_part.added", data)) == []
    assert _state(decoder) == before


# A JSON integer too long for a double: orjson refuses it ("number is infinity when parsed as double"), so
# ``feed`` reports the frame malformed; the regular expressions' integer grammar alone would call it inert
HUGE = b"1" + b"0" * 400


@pytest.mark.parametrize("how", ["one read", "a frame a read", "crlf"])
@pytest.mark.parametrize(
    "body",
    [
        _stream(_in_progress(HUGE)),
        _with_part(PART.replace(b'"sequence_number":3', b'"sequence_number":' + HUGE)),
        _with_part(PART.replace(b'"output_index":0', b'"output_index":' + HUGE)),
        _with_part(PART.replace(b'"content_index":0', b'"content_index":' + HUGE)),
    ],
    ids=["in_progress sequence", "part sequence", "part output_index", "part content_index"],
)
def test_a_number_the_parser_refuses_is_an_error_before_the_first_token(how: str, body: bytes) -> None:
    """A frame ``feed`` cannot parse is never inert: the reference (``EventPassthrough``) decodes it and
    fails with 502 before the first token (the proxy falls back); the fast relay must too."""
    relay, ref = _relays(View(model="m"))
    for read in _reads(body, how):
        ref.feed(read)
        if ref.error is not None:
            break
    for read in _reads(body, how):
        relay.feed(read)
        if relay.error is not None:
            break
    assert ref.error is not None and ref.error.status == 502 and not ref.saw_content
    assert _facts(relay) == _facts(ref)


@pytest.mark.parametrize(
    "data",
    [
        _in_progress(b"1" * 309),  # (the longest integer a double holds finite: parsed)
        _in_progress(HUGE),
        PART.replace(b'"sequence_number":3', b'"sequence_number":' + HUGE),
        PART.replace(b'"output_index":0', b'"output_index":' + HUGE),
    ],
)
def test_inert_is_false_for_what_feed_refuses(data: bytes) -> None:
    decoder = ResponsesStreamDecoder()
    decoder.feed(SSEEvent("response.created", _created().decode()))
    if decoder.inert(data.decode()):
        before = _state(decoder)
        assert decoder.feed(SSEEvent("x", data.decode())) == []
        assert _state(decoder) == before
