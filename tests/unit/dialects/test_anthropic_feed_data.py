"""``MessagesStreamDecoder.feed_data`` (a frame's data bytes, no ``SSEEvent``) against ``feed``: for every
frame below, after every state a stream passes through, the same deltas and the same decoder state, or
None with the state untouched (the relay then makes the event and calls ``feed``)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from services.gateway.dialects._anthropic_stream import _EXACT, MessagesStreamDecoder
from services.gateway.dialects.registry import WIRES
from shared.sse import SSEEvent

START = b'{"type":"message_start","message":{"id":"m1","model":"claude-x","usage":{"input_tokens":5,"output_tokens":1}}}'
TEXT_START = b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'
TOOL_START = b'{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}'
DELTA = b'{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}'
ERROR = b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}'

FRAMES = [
    *_EXACT,
    START,
    TEXT_START,
    TOOL_START,
    DELTA,
    ERROR,
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}',
    b'{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"a\\""}}',
    b'{"type":"content_block_delta","index":7,"delta":{"type":"input_json_delta","partial_json":"{}"}}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}',
    b'{"type":"content_block_start","index":2,"content_block":{"type":"thinking","thinking":"","signature":""}}',
    b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":"Hi"}}',
    b'{"type":"content_block_start","index":16,"content_block":{"type":"text","text":""}}',
    b'{"type":"content_block_start","index":-1,"content_block":{"type":"text","text":""}}',
    b'{"type":"content_block_stop","index":16}',
    b'{"type":"message_stop" }',
    b'{ "type":"ping"}',
    b'{"type":"p\\u0069ng"}',
    b'{"type":"ping","type":"message_stop"}',
    b'{"type":"ping","extra":1}',
    b'{"type":null}',
    b'{"type":""}',
    b'{"type":"unknown_event"}',
    b"{}",
    b'{"type":"ping"',
    b"[1]",
    b'"ping"',
    b"",
    b" ",
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xff"}}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"caf\xc3\xa9"}}',
    b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\xed\xa0\x80"}}',
]

# The states a stream passes through before a frame: the frames fed first
STATES = [
    [],
    [START],
    [START, TEXT_START],
    [START, TOOL_START],
    [START, DELTA],
    [START, ERROR],
    [START, b'{"type":"message_stop"}'],
]


def _state(decoder: MessagesStreamDecoder) -> dict[str, Any]:
    return copy.deepcopy(vars(decoder))


def _fed(frames: list[bytes]) -> MessagesStreamDecoder:
    decoder = MessagesStreamDecoder()
    for data in frames:
        decoder.feed(SSEEvent("x", data.decode()))
    return decoder


@pytest.mark.parametrize("before", STATES)
@pytest.mark.parametrize("name", ["ping", "message_stop", "content_block_delta"])
def test_feed_data_is_feed_or_none(before: list[bytes], name: str) -> None:
    for data in FRAMES:
        ref, tap = _fed(before), _fed(before)
        ev = SSEEvent(name, data.decode("utf-8", errors="replace"))
        want = ref.feed(ev)
        was = _state(tap)
        got = tap.feed_data(data)
        if got is None:
            assert _state(tap) == was, data  # nothing changed: ``feed`` reads the event
            got = tap.feed(ev)
        assert got == want, (before, data)
        assert _state(tap) == _state(ref), (before, data)


def test_the_exact_frames_and_a_parsed_one_are_read_from_bytes() -> None:
    """What the tap is for: the usual frames need no ``SSEEvent`` (so that a mutation refusing them shows)."""
    decoder = MessagesStreamDecoder()
    for data in [
        START,
        b'{"type":"ping"}',
        b'{"type": "ping"}',
        TEXT_START,
        DELTA,
        b'{"type":"message_stop"}',
    ]:
        assert decoder.feed_data(data) is not None, data
    assert decoder.closed and decoder.done and decoder.usage is not None and decoder.usage.output_tokens == 7
    assert decoder._blocks == {0: ("text", -1)}


def test_the_anthropic_wire_names_its_tap() -> None:
    assert WIRES["anthropic"].frame_tap is MessagesStreamDecoder.feed_data
