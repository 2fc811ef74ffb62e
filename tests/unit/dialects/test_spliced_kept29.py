"""The chat decoder's spliced text shapes kept across streams (session 29, issue 13: ``_TextShape.spliced_from``).

A stream's first chunk differs from an earlier stream's of the same form only in its id, ``created`` and OpenAI's
padding: the shape (and the finish chunk's form) kept from the earlier one, with this stream's opening, must be
what the shape made afresh is, and the relay's bytes and facts those of the general path (no lane, no tap)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._openai_stream import (
    _FIRST_READS,
    _SPLICED,
    ChatStreamDecoder,
    _stop_form,
    _TextShape,
)
from tests.text_lanes import relay_reads
from tests.unit.dialects.test_chat_batch27 import CLIENTS, _bodies, _chunks, _relays
from tests.unit.dialects.test_finish_form26 import ROLE, chunk

# an id as OpenAI's (plain), or with what a JSON string may hold besides: a quote or backslash escaped, a
# non-ASCII letter, a space (not empty: the decoder makes an id up then, which two relays make apart)
IDS = st.one_of(
    st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from(('a\\"b', "a\\\\", "\\u00e9", "é", "x y")),
)
CREATED = st.sampled_from(("1", "0", "1796299598", "17962995981796299598", "-1", "1.5", "1e3", '"1"'))
PADDINGS = st.sampled_from(("h8Xa1", "", "a b", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", 'a\\"b', "\\u00e9", "é"))
_HEAD = re.compile(rb'"id":"chatcmpl-1","object":"chat\.completion\.chunk","created":1,')
_PAD = re.compile(rb',"obfuscation":"([^"\\]*)"')


def _restated(body: bytes, id_: str, created: str, padding: str) -> bytes:
    """``body`` with each chunk's id and ``created`` those given, and its first chunk's padding (if any) too."""
    head = (
        b'"id":"' + id_.encode() + b'","object":"chat.completion.chunk","created":' + created.encode() + b","
    )
    body = _HEAD.sub(lambda _: head, body)
    return _PAD.sub(lambda _: b',"obfuscation":"' + padding.encode() + b'"', body, count=1)


def _shape(shape: _TextShape | None) -> Any:
    """A shape's fields, its finish chunk's form learnt (``finish`` learns it when first asked)."""
    if shape is None:
        return None
    if shape.stop is None and shape.first is not None:
        first = shape.first
        shape.stop = _stop_form(first[0], first[1]["choices"][0], shape.head, shape.tail)
    return (shape.head, shape.tail, shape.padded, shape.model, shape.frame_head, shape.frame_tail, shape.stop)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _bodies(),
    IDS,
    CREATED,
    PADDINGS,
    st.lists(st.integers(0, 5000), max_size=5),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_a_kept_shape_gives_the_general_paths_bytes_and_facts(
    body: bytes,
    id_: str,
    created: str,
    padding: str,
    cuts: list[int],
    include_usage: bool,
    take_rest: bool,
    last: bool,
    by_frame: bool,
) -> None:
    """A stream whose first chunk's form an earlier stream (another id, ``created``, padding) left kept: the
    relay's bytes and facts are the general path's, read whole, cut anywhere or a frame a read."""
    again = _restated(body, id_, created, padding)
    for client in CLIENTS:
        for stream in (body, again):  # (the first keeps its form's shape, the second finds it)
            chunks = _chunks(stream, cuts, by_frame)
            fast, _, general = _relays(client, include_usage, False)
            got = relay_reads(fast, chunks, take_rest, last)
            assert got == relay_reads(general, chunks, take_rest, last), (client, chunks)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_bodies(), IDS, CREATED, PADDINGS, st.booleans())
def test_the_kept_shape_is_the_one_made_afresh(
    body: bytes, id_: str, created: str, padding: str, cleared: bool
) -> None:
    """The shape of a first chunk (and its finish chunk's form), kept from an earlier stream or not, is the
    one ``_spliced_shape`` and ``_stop_form`` make of that chunk alone."""
    if cleared:
        _SPLICED.clear()
        _FIRST_READS.clear()
    for stream in (body, _restated(body, id_, created, padding)):
        data = stream.split(b"\n\n", 1)[0].removeprefix(b"data: ").decode("utf-8", "replace").strip()
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue
        if type(obj) is not dict:
            continue
        for model in (None, "gpt-4o-mini", "other"):
            assert _shape(
                _TextShape.spliced_from(data, obj, model, ChatStreamDecoder()._opening(data))
            ) == _shape(_TextShape._spliced(data, obj, model)), (data, model)


def test_a_second_stream_finds_the_shape_kept() -> None:
    """The second stream of a first chunk's form (another id, ``created``, padding) takes the shape kept by the
    first with its own opening, the finish chunk's form with it (no first chunk left to learn it from); its
    text and finish chunks are then read by the shape, no parse."""
    _SPLICED.clear()
    _FIRST_READS.clear()
    shapes = []
    for id_, created, pad in (("chatcmpl-1", "1", b"p0"), ("chatcmpl-AbC9", "1796299598", b"xyz12")):
        first = chunk(ROLE, pad=pad).replace(b'chatcmpl-1","', id_.encode() + b'","')
        first = first.replace(b'"created":1,', b'"created":' + created.encode() + b",")
        decoder = ChatStreamDecoder()
        decoder._lane_wanted = True
        decoder.feed_frame(first[6:-2])
        shapes.append(decoder._lane)
    kept, found = shapes
    assert kept is not None and found is not None
    assert kept.first is not None and kept.stop is None  # the first stream learns its finish form when asked
    assert found.first is None and found.stop is not None  # the second found it kept
    assert found.head.startswith(
        '{"id":"chatcmpl-AbC9","object":"chat.completion.chunk","created":1796299598,'
    )
    assert (found.tail, found.padded) == (kept.tail, kept.padded) and found.padded
    text = found.head + "hi" + found.tail + ',"obfuscation":"q"}'
    assert found.text(text, "gpt-4o-mini") == "hi"
    stop = found.stop[0] + "stop" + found.stop[1] + ',"obfuscation":"q"}'
    assert found.finish(stop, "gpt-4o-mini") == "stop"
    assert orjson.loads(stop)["id"] == "chatcmpl-AbC9" and orjson.loads(text)["created"] == 1796299598


def test_the_kept_shapes_are_bounded() -> None:
    """At most ``_SPLICED_MAX`` first-chunk forms are kept; when full the cache starts again, so a form that comes
    after the first 64 (a new model, a new fingerprint) is kept too, and every shape is still right."""
    _SPLICED.clear()
    _FIRST_READS.clear()
    for k in range(80):
        data = chunk(ROLE, model=b'"m%d"' % k, pad=b"p")[6:-2].decode()
        shape = _TextShape.spliced_from(data, orjson.loads(data), None, ChatStreamDecoder()._opening(data))
        assert _shape(shape) == _shape(_TextShape._spliced(data, orjson.loads(data), None))
        assert len(_SPLICED) <= 64
    assert len(_SPLICED) == 80 - 64
    assert any('"m79"' in key[0] for key in _SPLICED)  # the last form came after the first 64 and is kept
