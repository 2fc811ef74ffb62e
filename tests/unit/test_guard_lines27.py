"""The passthrough guards read on a split read (session 27): ``ClientSpec.odd_lines`` (``anthropic.odd_lines``,
``openai_responses.blank_lines``) gives, for a read of usual named frames split at LF (``relay._usual_named``),
the answer of the search it replaces (``blank_guard``'s search, and ``odd_start``), and a relay that uses it
(``Passthrough._watched``) gives the client the same bytes, turns the filter on at the same read, and reports
the same facts as one that searches every read. Over generated streams: usual frames among data-less blocks,
blank and white ``data:`` lines, event names with a trailing space, capitals, digits or none, comments, CR and
CRLF line ends, read whole, frame by frame, or cut at any byte."""

from __future__ import annotations

import dataclasses

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import anthropic, openai_responses, registry
from services.gateway.dialects.view import View
from services.gateway.relay import Passthrough, _usual_named
from tests.unit.test_passthrough_scan import _facts, _same_ids

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = {
    "anthropic": ["message_start", "content_block_start", "content_block_delta", "message_delta", "ping"],
    "openai_responses": [
        "response.created",
        "response.output_item.added",
        "response.output_text.delta",
        "response.output_text.done",
    ],
}
# How a frame's event line is spelled: as usual, with a trailing space, a capital, a digit, two spaces, none
SPELLINGS = [b"{}", b"{}", b"{}", b"{} ", b"{}X", b"{}2", b" {}", b""]
# ... and its data line: a JSON object, blank, white, no space, not ending with ``}``, a string
DATAS = [
    b"data: {d}",
    b"data: {d}",
    b"data: {d}",
    b"data: ",
    b"data:  \t",
    b"data:{d}",
    b'data: {d}"',
    b'data: "}"',
]
# Blocks of other shapes among the frames
OTHERS = [b": keep-alive\n\n", b"id: 7\n\n", b"retry: 10\n\n", b"data:\n\n", b"\n"]


def _frame(fmt: str, name: str, spelling: bytes, data: bytes, text: str) -> bytes:
    obj = orjson.dumps({"type": name, "delta": text})
    head = b"event: " + spelling.replace(b"{}", name.encode()) + b"\n" if spelling else b""
    return head + data.replace(b"{d}", obj) + b"\n\n"


@st.composite
def streams(draw: st.DrawFn, fmt: str, usual_only: bool = False) -> list[bytes]:
    """Blocks of a stream: named frames (spelled as usual mostly), other blocks, some in CR or CRLF ends."""
    blocks = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        if not usual_only and draw(st.integers(min_value=0, max_value=5)) == 0:
            block = draw(st.sampled_from(OTHERS))
        else:
            name = draw(st.sampled_from(NAMES[fmt]))
            spelling = draw(st.sampled_from(SPELLINGS[:-1] if usual_only else SPELLINGS))
            data = draw(
                st.sampled_from([d for d in DATAS if d.startswith(b"data: ")] if usual_only else DATAS)
            )
            block = _frame(fmt, name, spelling, data, draw(st.sampled_from(["Hi", "", " ", "}"])))
        ends = 0 if usual_only else draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
        blocks.append(
            block.replace(b"\n", b"\r\n")
            if ends == 1
            else block.replace(b"\n", b"\r")
            if ends == 2
            else block
        )
    return blocks


def _searched(fmt: str, read: bytes) -> bool:
    """The search ``odd_lines`` stands for: ``blank_guard``'s, and ``odd_start`` of a read at a frame's start."""
    spec = registry.client(fmt)  # type: ignore[arg-type]
    assert spec.blank_guard is not None
    return spec.blank_guard[0](read) is not None or (spec.odd_start is not None and spec.odd_start(read))


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(sorted(NAMES)))
def test_odd_lines_answers_as_the_search_for_a_read_of_usual_named_frames(
    data: st.DataObject, fmt: str
) -> None:
    read = b"".join(data.draw(streams(fmt, usual_only=True)))
    lines = _usual_named(read)
    assert lines is not None, read  # (usual_only: every frame ``event: <name>`` LF ``data: ...`` LF LF)
    odd_lines = registry.client(fmt).odd_lines  # type: ignore[arg-type]
    assert odd_lines is not None
    assert odd_lines(lines) is _searched(fmt, read), read


def test_odd_lines_sees_each_odd_form() -> None:
    usual = _frame("anthropic", "ping", b"{}", b"data: {d}", "Hi")
    for odd in (b"{} ", b"{}X", b"{}2", b" {}"):
        read = usual + _frame("anthropic", "ping", odd, b"data: {d}", "Hi") + usual
        lines = _usual_named(read)
        assert lines is not None and anthropic.odd_lines(lines) and _searched("anthropic", read)
    assert not anthropic.odd_lines(_usual_named(usual * 3) or [])
    usual = _frame("openai_responses", "response.created", b"{}", b"data: {d}", "Hi")
    for odd in (b"data: ", b"data:  \t", b'data: {d}"', b'data: "}"'):
        read = usual + _frame("openai_responses", "response.created", b"{}", odd, "Hi") + usual
        lines = _usual_named(read)
        assert lines is not None
        assert openai_responses.blank_lines(lines) is _searched("openai_responses", read), read
    assert openai_responses.blank_lines(_usual_named(usual + b"event: a\ndata: \n\n") or [])
    assert not openai_responses.blank_lines(_usual_named(usual * 3) or [])


def _searching(fmt: str) -> registry.Pairing:
    """The pairing with its guard's search alone (no ``odd_lines``): session 26's relay."""
    pair = registry.pairing(fmt, fmt)  # type: ignore[arg-type]
    return dataclasses.replace(pair, client=dataclasses.replace(pair.client, odd_lines=None))


@FUZZ
@given(
    data=st.data(),
    fmt=st.sampled_from(sorted(NAMES)),
    usual=st.booleans(),
    how=st.sampled_from(["whole", "frames", "pairs", "cut"]),
    cut=st.integers(min_value=1, max_value=400),
    last=st.booleans(),
)
def test_a_relay_reading_split_reads_gives_what_the_searching_one_gives(
    data: st.DataObject, fmt: str, usual: bool, how: str, cut: int, last: bool
) -> None:
    blocks = data.draw(streams(fmt, usual_only=usual))
    body = b"".join(blocks)
    pairs = [b"".join(blocks[i : i + 2]) for i in range(0, len(blocks), 2)]
    cuts = [body[i : i + cut] for i in range(0, len(body), cut)]
    reads = {"whole": [body], "frames": blocks, "pairs": pairs, "cut": cuts}[how]
    view = View(model="m")
    new = Passthrough(registry.pairing(fmt, fmt), view)  # type: ignore[arg-type]
    old = Passthrough(_searching(fmt), view)
    for n, read in enumerate(reads):
        ends = last and n == len(reads) - 1
        assert (new.feed_last(read) if ends else new.feed(read)) == (
            old.feed_last(read) if ends else old.feed(read)
        ), (n, reads)
        assert (new._filter is None) is (old._filter is None), (n, reads)
        assert _facts(new) == _facts(old), (n, reads)
    new.settle()
    old.settle()
    assert _same_ids(new.finish()) == _same_ids(old.finish())
    assert _facts(new) == _facts(old)
    assert new.events == old.events


def test_a_whole_last_read_is_split_once_and_its_rest_read_by_settle() -> None:
    """The body's one read of usual frames ending the stream (``feed_last``): split whole for the guard, its
    frames after the first token decoded by ``settle`` from that split, the same facts as the searching relay."""
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m1","model":"c","usage":'
        b'{"input_tokens":3,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":'
        b'{"type":"text","text":""}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"Hi"}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":'
        b'{"output_tokens":5}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    view = View(model="m")
    new = Passthrough(registry.pairing("anthropic", "anthropic"), view)
    old = Passthrough(_searching("anthropic"), view)
    assert new.feed_last(body) == old.feed_last(body) == body
    assert new._filter is None and new.unsettled and new._later is not None and new._later[1] is not None
    new.settle()
    old.settle()
    assert new.finish() == old.finish() == b""
    assert _facts(new) == _facts(old) and new.usage.output_tokens == 5 and new.complete
