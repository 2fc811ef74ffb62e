"""The Responses passthrough stream's blank-event guard (``ClientSpec.blank_guard``, ``relay.Passthrough``):
a read turns the frame filter on exactly when it begins with LF, holds a CR, or holds a blank line not after a
JSON object's ``}`` (session 25 lazy25; session 26: the CR test by ``find``). Over generated Responses streams
with data-less blocks, blank and white ``data:`` lines, comments, CR and CRLF line ends, cut at any byte."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects import registry
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay

PAIR = registry.pairing("openai_responses", "openai_responses")
_FRAME = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":3,'
    b'"item_id":"msg_1","output_index":0,"content_index":0,"delta":"Hi"}\n\n'
)
_BLOCKS = st.sampled_from(
    [
        _FRAME,
        _FRAME,
        b'data: {"type":"response.in_progress"}\n\n',
        b": keep-alive\n\n",
        b"id: 7\n\n",
        b"retry: 10\n\n",
        b"event: response.output_text.delta\n\n",
        b"data:\n\n",
        b"data: \n\n",
        b"data:  \t\n\n",
        b"\n",
        b'data: {"a":1}\n\n\n',
        b'data: "}"\n\n',
    ]
)


def _reference(read: bytes) -> bool:
    """The guard's rule, spelled byte by byte."""
    if read[:1] == b"\n" or b"\r" in read:
        return True
    return any(read[i : i + 2] == b"\n\n" and read[i - 1 : i] != b"}" for i in range(1, len(read) - 1))


def _ends(block: bytes, crlf: int) -> bytes:
    return block.replace(b"\n", b"\r\n") if crlf == 1 else block.replace(b"\n", b"\r") if crlf == 2 else block


@settings(max_examples=600, deadline=None)
@given(
    blocks=st.lists(st.tuples(_BLOCKS, st.sampled_from([0, 0, 0, 1, 2])), min_size=1, max_size=8),
    cut=st.integers(min_value=0, max_value=10_000),
    at=st.integers(min_value=0, max_value=10_000),
)
def test_a_read_is_filtered_from_on_exactly_when_it_may_hold_a_blank_event(
    blocks: list[tuple[bytes, int]], cut: int, at: int
) -> None:
    stream = _FRAME + b"".join(_ends(b, crlf) for b, crlf in blocks)
    start = at % len(_FRAME)  # the first read is a usual frame's bytes: unfiltered before the read tested
    end = start + 1 + cut % (len(stream) - start)
    relay = make_relay(PAIR, View(model="m"))
    relay.feed(stream[:start])
    assert relay._filter is None
    read = stream[start:end]
    relay.feed(read)
    assert (relay._filter is not None) is _reference(read), read
