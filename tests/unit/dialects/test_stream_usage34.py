"""Session 34 (issue 13): ``stream_usage(start, delta)`` is ``usage_from_anthropic(merge_stream_usage(start,
delta))`` without the merged object made.

On random ``message_start`` and ``message_delta`` usage objects (every member ``usage_from_anthropic`` reads:
the four counts, ``cache_creation``'s split, ``server_tool_use``, ``output_tokens_details``, ``inference_geo``,
``speed``, and members no count reads: ``service_tier``, unknown ones; nested objects with and without nulls on
one side or both; ``iterations`` absent, null, a list or another value; odd values of every kind) the two give
equal ``Usage`` values, every field compared (``compare=False`` ones too), and change neither input. Then the
decoder itself: a whole stream's ``usage`` is the one of the merge then the read.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from services.gateway.dialects._anthropic_wire import (
    merge_stream_usage,
    stream_usage,
    usage_from_anthropic,
)
from services.gateway.dialects.ir import Usage

PROPS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

KEYS = [
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "server_tool_use",
    "output_tokens_details",
    "iterations",
    "inference_geo",
    "speed",
    "service_tier",
    "x",
]
INNER = [
    "ephemeral_5m_input_tokens",
    "ephemeral_1h_input_tokens",
    "web_search_requests",
    "web_fetch_requests",
    "thinking_tokens",
    "x",
]
leaf = (
    st.none()
    | st.integers(0, 50)
    | st.integers(0, 50)
    | st.integers(-5, 10**6)
    | st.booleans()
    | st.sampled_from(["us", "global", "fast", "standard", ""])
    | st.floats(allow_nan=False, allow_infinity=False)  # (JSON has no infinity: orjson writes null)
)
# each member present or not (about half the time), so that both sides often give the same one: a nested object on
# both sides with a member on one only, a null over a count, the start's split under the delta's total
inner = st.fixed_dictionaries({}, optional={name: leaf for name in INNER})
step = st.dictionaries(
    st.sampled_from(["type", *KEYS[:5], "model"]), leaf | inner | st.just("message"), max_size=6
)
value = inner | inner | leaf
usage = st.fixed_dictionaries(
    {},
    optional={
        **{key: value for key in KEYS if key != "iterations"},
        "iterations": st.none() | leaf | st.lists(step | leaf, max_size=3),
    },
)


def _fields(u: Usage) -> dict[str, Any]:
    """Every field, those left out of ``==`` too (``cache_write_split``, ``inference_geo``, ``speed``, ...)."""
    return {f.name: getattr(u, f.name) for f in dataclasses.fields(u)}


@PROPS
@given(start=usage, delta=usage)
def test_stream_usage_is_the_merge_then_the_read(start: dict[str, Any], delta: dict[str, Any]) -> None:
    start_copy, delta_copy = copy.deepcopy(start), copy.deepcopy(delta)
    want = usage_from_anthropic(merge_stream_usage(start_copy, delta_copy))
    got = stream_usage(start, delta)
    assert _fields(got) == _fields(want)
    assert start == start_copy and delta == delta_copy  # neither input changed


def test_anthropic_streams_usage() -> None:
    """The usage objects Anthropic sends (Messages streaming guide; ``MessageDeltaUsage`` has no split): a delta
    that grows the writes past the start's split, one that says the split, server tools, geo and speed."""
    start = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 7,
        "cache_creation": {"ephemeral_5m_input_tokens": 40, "ephemeral_1h_input_tokens": 60},
        "output_tokens": 1,
        "service_tier": "standard",
        "inference_geo": "us",
        "speed": "fast",
    }
    deltas = [
        {"output_tokens": 5},
        {"input_tokens": 12, "cache_creation_input_tokens": 150, "output_tokens": 9},
        {"cache_creation": {"ephemeral_5m_input_tokens": None, "ephemeral_1h_input_tokens": 90}},
        {"server_tool_use": {"web_search_requests": 3}, "output_tokens": 20, "speed": "standard"},
        {"output_tokens_details": {"thinking_tokens": 4}, "inference_geo": None},
        # a member of the delta's object absent or null: the start's (each nested member in turn)
        {"cache_creation": {"ephemeral_5m_input_tokens": 50}, "cache_creation_input_tokens": 110},
        {"cache_creation": {"ephemeral_1h_input_tokens": None}, "output_tokens_details": {}},
    ]
    start |= {"server_tool_use": {"web_search_requests": 2}, "output_tokens_details": {"thinking_tokens": 3}}
    deltas += [
        {"server_tool_use": {"web_fetch_requests": 1}},
        {"output_tokens_details": {"thinking_tokens": None}},
    ]
    for delta in deltas:
        want = usage_from_anthropic(merge_stream_usage(start, delta))
        assert _fields(stream_usage(start, delta)) == _fields(want)
    assert stream_usage(start, deltas[5]).cache_write_1h_tokens == 60  # (the start's 1-hour part kept)
    assert stream_usage(start, deltas[6]).cache_write_tokens == 100  # (the start's total and split kept)
    assert stream_usage(start, deltas[7]).web_search_requests == 2
    assert stream_usage(start, deltas[8]).reasoning_tokens == 3
    grown = stream_usage(start, deltas[1])
    assert (grown.cache_write_tokens, grown.cache_write_1h_tokens, grown.cache_write_split) == (
        150,
        60,
        False,
    )
    assert stream_usage(start, deltas[3]).web_search_requests == 3
    assert stream_usage(start, deltas[3]).speed == "standard"


def _stream(start: dict[str, Any], deltas: list[dict[str, Any]]) -> bytes:
    frames = [
        {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "usage": start}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
        {"type": "content_block_stop", "index": 0},
    ]
    for i, delta in enumerate(deltas):
        reason = {"stop_reason": "end_turn", "stop_sequence": None} if i == len(deltas) - 1 else {}
        frames.append({"type": "message_delta", "delta": reason, "usage": delta})
    frames.append({"type": "message_stop"})
    return b"".join(b"event: %s\ndata: %s\n\n" % (f["type"].encode(), orjson.dumps(f)) for f in frames)


@PROPS
@given(start=usage, deltas=st.lists(usage, min_size=1, max_size=3))
def test_decoder_usage_is_the_merge_then_the_read(
    start: dict[str, Any], deltas: list[dict[str, Any]]
) -> None:
    """The decoder's ``usage`` after one or more ``message_delta`` frames (read as the relay's batch reads a
    one-read answer, ``feed_frames``): the merge of them all over the start, then the read."""
    decoder = MessagesStreamDecoder()
    buf = _stream(start, deltas)
    pos = 0
    while pos < len(buf):
        _, at = decoder.feed_frames(buf, pos, False)
        if at == pos:  # (a text delta: the run lane's)
            run = decoder.text_run(buf, pos)
            assert run is not None
            at = run[1]
        pos = at
    merged = copy.deepcopy(start)
    for delta in deltas:
        merged = merge_stream_usage(merged, copy.deepcopy(delta))
    got = decoder.usage
    assert got is not None
    assert _fields(got) == _fields(usage_from_anthropic(merged))
