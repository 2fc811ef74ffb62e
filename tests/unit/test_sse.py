from __future__ import annotations

import json

import pytest

from shared.sse import SSEDecoder, SSEEvent, encode_comment, encode_event, reencode

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'event: message_start\r\ndata: {"a": 1}\r\n\r\n'
    b"data: line1\ndata: line2\n\n" + 'data: {"t": "h\u00e9llo \u2603"}\r\r'.encode() + b"data: [DONE]\n\n"
)
EXPECTED = [
    SSEEvent(None, "OPENROUTER PROCESSING", comment=True),
    SSEEvent("message_start", '{"a": 1}'),
    SSEEvent(None, "line1\nline2"),
    SSEEvent(None, '{"t": "h\u00e9llo \u2603"}'),
    SSEEvent(None, "[DONE]"),
]


def decode_in(chunks: list[bytes]) -> list[SSEEvent]:
    dec = SSEDecoder()
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(dec.feed(c))
    return out + dec.flush()


def test_whole_stream() -> None:
    assert decode_in([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_split_gives_the_same_events(size: int) -> None:
    chunks = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert decode_in(chunks) == EXPECTED


def test_last_event_without_blank_line_is_discarded() -> None:
    # WHATWG: "If the file ends in the middle of an event, before the final empty line, the incomplete
    # event is not dispatched."
    assert decode_in([b"data: whole\n\ndata: tail"]) == [SSEEvent(None, "whole")]
    assert decode_in([b"data: tail\n"]) == []


def test_a_relay_reads_a_last_event_whose_lines_all_ended() -> None:
    """``flush(ended=True)``: an event with every line ended but no blank line is dispatched (s8 variant
    13-k); one cut in the middle of a line is still discarded."""
    for tail, ev in [
        (b"event: e\ndata: a\ndata: b\n", SSEEvent("e", "a\nb")),
        (b"data: {}\r", SSEEvent(None, "{}")),
        (b"data: {}\r\n", SSEEvent(None, "{}")),
    ]:
        for split in range(1, len(tail)):
            dec = SSEDecoder()
            got = dec.feed(b"data: x\n\n" + tail[:split]) + dec.feed(tail[split:])
            assert got + dec.flush(ended=True) == [SSEEvent(None, "x"), ev], tail
    dec = SSEDecoder()
    assert dec.feed(b"data: {}\n\ndata: {") == [SSEEvent(None, "{}")]
    assert dec.flush(ended=True) == [] and not dec.pending


@pytest.mark.parametrize(
    ("chunk", "pending"),
    [
        (b"", False),
        (b"data: {}\n\n", False),
        (b": ping\n\n", False),
        (b'data: {"a": ', True),
        (b"data: {}\n", True),
        (b"event: x\n", True),
        (b"data: {}\r", True),
    ],
)
def test_pending_says_whether_the_body_stopped_in_the_middle_of_an_event(chunk: bytes, pending: bool) -> None:
    dec = SSEDecoder()
    dec.feed(chunk)
    assert dec.pending is pending
    dec.flush()
    assert not dec.pending


def test_encoders_round_trip() -> None:
    raw = encode_event(b'{"x":1}', "ping") + encode_event('{"y":2}') + encode_comment("keep-alive")
    assert decode_in([raw]) == [
        SSEEvent("ping", '{"x":1}'),
        SSEEvent(None, '{"y":2}'),
        SSEEvent(None, "keep-alive", comment=True),
    ]


# ---- the WHATWG rules (https://html.spec.whatwg.org/multipage/server-sent-events.html) ----------------

CASE18 = (
    b": keep-alive from the upstream\n\n"
    b'retry: 2500\nid: evt-1\ndata: {"a":1}\n\n'
    b'id: evt-2\ndata: {"b":\ndata:  2}\n\n'
    b": a comment between events\n"
    b'id: evt-3\ndata: {"c":\ndata: 3,\ndata: "d":4}\n\n'
    b"data: [DONE]\n\n"
)


def test_multi_line_data_id_retry_and_comments() -> None:
    assert decode_in([CASE18]) == [
        SSEEvent(None, "keep-alive from the upstream", comment=True),
        SSEEvent(None, '{"a":1}', id="evt-1", retry=2500),
        SSEEvent(None, '{"b":\n 2}', id="evt-2"),
        SSEEvent(None, "a comment between events", comment=True),
        SSEEvent(None, '{"c":\n3,\n"d":4}', id="evt-3"),
        SSEEvent(None, "[DONE]"),
    ]


@pytest.mark.parametrize("size", [1, 2, 5, 13])
def test_reencoded_events_decode_to_the_same_events(size: int) -> None:
    events = decode_in([CASE18[i : i + size] for i in range(0, len(CASE18), size)])
    again = decode_in([b"".join(reencode(ev) for ev in events)])
    assert again == events
    assert b"data: 3,\n" in reencode(events[4])  # one data: line per line of the value


def test_field_rules() -> None:
    stream = (
        b"\xef\xbb\xbfdata\n\n"  # BOM ignored; a field without colon has an empty value → event ""
        b"event: ping\n\n"  # no data: not dispatched
        b"data:no-space\nfoo: ignored\nretry: 12a\nid: a\x00b\n\n"  # bad retry and NUL id ignored
        b"id: keep\ndata: x\n\ndata: y\n\n"
    )
    dec = SSEDecoder()
    assert dec.feed(stream) == [
        SSEEvent(None, ""),
        SSEEvent(None, "no-space"),
        SSEEvent(None, "x", id="keep"),
        SSEEvent(None, "y"),
    ]
    assert dec.last_event_id == "keep"  # the spec's last event ID persists


@pytest.mark.parametrize("line", [b"data", b"data:", b"data: "])
@pytest.mark.parametrize("size", [1, 1000])
def test_an_empty_data_line_dispatches_an_event_with_empty_data(line: bytes, size: int) -> None:
    """WHATWG "Interpreting an event stream": a ``data`` field appends its value AND a LF to the data buffer, so an
    empty ``data:`` line leaves "\n", not "": the event is dispatched, its data "" (the spec's own example: "The
    first block fires events with the data set to the empty string"). Only a block with no ``data`` line at all is
    not dispatched. s30 fix30: kept as it is (session 29's lead read the empty-buffer rule as covering this)."""
    stream = line + b"\n\nevent: ping\n\n" + line + b"\ndata: x\n\n"
    assert decode_in([stream[i : i + size] for i in range(0, len(stream), size)]) == [
        SSEEvent(None, ""),
        SSEEvent(None, "\nx"),
    ]


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_an_error_field_is_an_error_event(size: int) -> None:
    """s22 variants 10-a, 10-b: llama.cpp's server ends a stream with an ``error: {…}`` line (its
    ``server_sent_event(sink, "error", …)``), a field the spec ignores: it is read as ``event: error`` with that data,
    split anywhere and in any line ending; ``foo:`` and other unknown fields stay ignored."""
    err = b'{"code":400,"message":"the request exceeds the available context size","n_ctx":32768}'
    stream = b"foo: ignored\r\nerror: " + err + b"\r\n\r\ndata: [DONE]\n\n"
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
    assert decode_in(chunks) == [SSEEvent("error", err.decode()), SSEEvent(None, "[DONE]")]


def test_cr_then_lf_in_the_next_chunk_is_one_line_end() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"\n\r") == [SSEEvent(None, "a")]
    assert dec.feed(b"\ndata: b\r\r") == [SSEEvent(None, "b")]


def test_bom_split_across_chunks() -> None:
    assert decode_in([b"\xef", b"\xbb", b"\xbfdata: z\n\n"]) == [SSEEvent(None, "z")]


def test_encode_comment_with_line_breaks() -> None:
    assert encode_comment("a\nb") == b": a\n: b\n"  # no blank line: nothing to dispatch
    assert decode_in([encode_comment("a\nb")]) == [
        SSEEvent(None, "a", comment=True),
        SSEEvent(None, "b", comment=True),
    ]


def test_reencoded_stream_gives_the_openai_sdk_no_empty_event() -> None:
    """The openai SDK dispatches an event at any blank line once an id was seen; a comment followed by a
    blank line would reach it as an empty (non-JSON) event."""
    from openai._streaming import SSEDecoder as OpenAIDecoder

    raw = b"".join(reencode(ev) for ev in decode_in([CASE18])) + encode_comment("keep-alive")
    sdk = OpenAIDecoder()
    data = [sse.data for sse in sdk.iter_bytes(iter([raw]))]
    assert data == ['{"a":1}', '{"b":\n 2}', '{"c":\n3,\n"d":4}', "[DONE]"]


# Whole frames in the usual shape are read in one step (``_usual_frame``); these are the shapes next to it
# that must still go line by line, with the events the spec gives (each fed whole and split at every byte).
NEAR_USUAL = [
    (b"event: a:b\ndata: x\n\n", [SSEEvent("a:b", "x")]),
    (b"event: \ndata: y\n\n", [SSEEvent(None, "y")]),
    (b"event:  sp\ndata:  two\n\n", [SSEEvent(" sp", " two")]),
    (b"data: \n\n", [SSEEvent(None, "")]),
    (b"data: x\r\n\r\ndata: y\n\n", [SSEEvent(None, "x"), SSEEvent(None, "y")]),
    (b"event: e\nid: 1\ndata: z\n\n", [SSEEvent("e", "z", id="1")]),
    (b"data: a\ndata: b\n\ndata: c\n\n", [SSEEvent(None, "a\nb"), SSEEvent(None, "c")]),
    (b"data: \xff\xfe\n\n", [SSEEvent(None, "\ufffd\ufffd")]),
    (b"data:tight\n\nevent: n\n\ndata: after\n\n", [SSEEvent(None, "tight"), SSEEvent(None, "after")]),
    (b"event: held\nevent: e\ndata: q\n\n", [SSEEvent("e", "q")]),
    (b"data: x\n: note\n\n", [SSEEvent(None, "note", comment=True), SSEEvent(None, "x")]),
]


@pytest.mark.parametrize(("raw", "events"), NEAR_USUAL)
def test_usual_frames_and_their_neighbours_decode_as_the_spec_says(
    raw: bytes, events: list[SSEEvent]
) -> None:
    assert SSEDecoder().feed(raw) == events
    for cut in range(1, len(raw)):
        dec = SSEDecoder()
        assert dec.feed(raw[:cut]) + dec.feed(raw[cut:]) == events, cut


def test_a_usual_frame_is_passed_on_as_its_own_bytes_and_others_are_written_anew() -> None:
    usual = b'event: delta\ndata: {"t": "h\xc3\xa9"}\n\ndata: [DONE]\n\n'
    events = SSEDecoder().feed(usual)
    assert [e.raw for e in events] == [b'event: delta\ndata: {"t": "h\xc3\xa9"}\n\n', b"data: [DONE]\n\n"]
    assert b"".join(reencode(e) for e in events) == usual
    odd = b"event:\ndata: a\n\ndata: \xff\n\ndata: x\r\n\r\n"  # empty name, not UTF-8, CRLF
    events = SSEDecoder().feed(odd)
    assert [e.raw for e in events] == [None, None, None]
    assert [reencode(e) for e in events] == [b"data: a\n\n", b"data: \xef\xbf\xbd\n\n", b"data: x\n\n"]


# Pieces from which random streams are drawn: every field, the line ends, comments, a BOM, multi-byte and
# invalid UTF-8, so that usual frames sit next to every shape that must go line by line.
_PIECES = [
    b"event: ",
    b"event:",
    b"data: ",
    b"data:",
    b"id: 7",
    b"retry: 5",
    b": note",
    b"\n",
    b"\n\n",
    b"\r",
    b"\r\n",
    b"x",
    b"e v",
    b"h\xc3\xa9",
    b"\xff",
    b"\xe2\x98",
    b"{}",
    b"\xef\xbb\xbf",
]


def test_the_one_step_frame_reader_decodes_random_streams_as_the_line_by_line_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seeded fuzz: the decoder with its usual-frame step gives the events the spec's line-by-line reading
    gives (the step turned off), fed whole and in random pieces; a frame kept as its own bytes (``raw``) is
    exactly what ``reencode`` writes for its event."""
    import random

    import shared.sse as sse

    rng = random.Random(20261130)
    streams = [b"".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 40))) for _ in range(3000)]
    streams += [b"event: content_block_delta\ndata: " + b"{}" * n + b"\n\n" for n in range(3)]
    # ASCII without CR: runs of whole frames are read in one pass (``_usual_frames``), next to every other
    # shape made of the same pieces
    plain = [p for p in _PIECES if p.isascii() and b"\r" not in p]
    streams += [b"".join(rng.choice(plain) for _ in range(rng.randint(1, 60))) for _ in range(3000)]
    frames = [raw for raw, _ in NEAR_USUAL] + [b"data: {}\n\n", b"event: e\ndata: x\n\n", b": c\n", b"\n"]
    streams += [b"".join(rng.choice(frames) for _ in range(rng.randint(1, 12))) for _ in range(1000)]

    def run(raw: bytes, cuts: list[int]) -> list[SSEEvent]:
        dec = SSEDecoder()
        out: list[SSEEvent] = []
        for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True):
            out += dec.feed(raw[a:b])
        return out + dec.flush()

    fast: list[list[SSEEvent]] = []
    splits = [sorted(rng.sample(range(1, len(s)), min(3, len(s) - 1))) if len(s) > 1 else [] for s in streams]
    for raw, cuts in zip(streams, splits, strict=True):
        fast.append(run(raw, []))
        fast.append(run(raw, cuts))
    used = sum(e.raw is not None for events in fast for e in events)
    assert used > 100  # the step did read many frames
    for events in fast:
        for e in events:
            if e.raw is not None:
                assert e.raw == sse.encode_event(e.data, e.event, id=e.id, retry=e.retry)
    monkeypatch.setattr(sse, "_usual_frame", lambda buf, pos: None)
    monkeypatch.setattr(sse, "_usual_frames", lambda buf, pos: ([], pos))
    slow = [run(raw, c) for raw, cuts in zip(streams, splits, strict=True) for c in ([], cuts)]
    assert fast == slow


STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'


@pytest.mark.parametrize(
    ("fed", "rest"),
    [
        (b"event: message_st", b'op\ndata: {"type":"message_stop"}\n\n'),
        (b"event: message_stop\n", b'data: {"type":"message_stop"}\n\n'),
        (b'event: message_stop\ndata: {"ty', b'pe":"message_stop"}\n\n'),
        (b'event: message_stop\r\ndata: {"type": "mess', b'age_stop"}\n\n'),
        (b"data: [DO", b"NE]\n\n"),
    ],
)
def test_a_cut_inside_the_closing_frame_is_finished_by_its_rest(fed: bytes, rest: bytes) -> None:
    """s10 variant 13-x: what a client already has of a closing frame, plus the rest, is that frame."""
    frame = b"data: [DONE]\n\n" if fed.startswith(b"data: [") else STOP
    d = SSEDecoder()
    assert [e.data for e in d.feed(b'data: {"x":1}\n\n' + fed)] == ['{"x":1}']
    assert d.completion_of(frame) == rest
    again = SSEDecoder()
    got, want = again.feed(fed + rest)[-1], SSEDecoder().feed(frame)[0]
    assert got.event == want.event
    assert got.data == want.data or json.loads(got.data) == json.loads(want.data)


@pytest.mark.parametrize(
    "fed",
    [
        b"event: content_block_delta\ndata: {",
        b'event: message_stop\ndata: {"type":"pong',
        b"data: {}\n",
        b"id: 1\n",
    ],
)
def test_an_unfinished_event_that_is_not_the_closing_frame_has_no_completion(fed: bytes) -> None:
    d = SSEDecoder()
    d.feed(fed)
    assert d.completion_of(STOP) is None
