"""Issue 13, session 35 (responses → anthropic at one connection): the Messages stream decoder's ``feed_frames``
reads ``_exact``'s and ``_object``'s usual kinds inline (the stop reason from a table, the usage made by a
``partial``); the Responses encoder's ``feed`` writes the
answer's first text, a keep-alive and the stop reason's message closing without ``_start``/``_content``/``_text``/
``_keepalive``/``_close_item``, and ``text_frames`` joins its frames' pieces. Each gives the deltas, positions,
bytes and state of the code before it, kept here as the reference (session 34's), for generated frames and delta
sequences (malformed frames, odd indexes, texts with quotes, escapes, controls, non-printable and non-UTF-8 bytes,
sequence numbers past the digits' table)."""

from __future__ import annotations

import re
import sys
from typing import Any
from unittest.mock import patch

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _anthropic_stream as anth
from services.gateway.dialects import _responses_stream as rs
from services.gateway.dialects import _responses_wire
from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from services.gateway.dialects._anthropic_wire import stop_from_anthropic, stream_usage, usage_from_anthropic
from services.gateway.dialects._responses_stream import ResponsesStreamEncoder
from services.gateway.dialects.ir import (
    Delta,
    Finish,
    KeepAlive,
    MessageStart,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from services.gateway.dialects.view import View

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- the decoder's reference: ``feed_frames`` as session 34 left it (its regexes) --------------------------------

_NAMED_FRAME = re.compile(rb"event: [^\n]+\ndata: ([^\n]*)\n\n").match
_TEXT_HEAD = re.compile(
    rb'\{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),"delta":\{"type":"text_delta","text":"'
).match
_TEXT_DATA = re.compile(
    rb'\{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),'
    rb'"delta":\{"type":"text_delta","text":"([^"\\\x00-\x1f]+)"\}\}'
)
_NAMED_FIRST = re.compile(rb"event: [^\n]+\ndata: ((?:" + _TEXT_DATA.pattern + rb")|[^\n]*)\n\n").match


def _utf8_text(body: bytes) -> str | None:
    try:
        return body.decode()
    except UnicodeDecodeError:
        return None


class _ReferenceDecoder(MessagesStreamDecoder):
    """The decoder with session 34's ``feed_frames``, ``_message_start`` and ``_message_delta``."""

    def feed_frames(self, buf: bytes, pos: int, until_token: bool) -> tuple[list[Delta], int]:
        return _reference_feed_frames(self, buf, pos, until_token)

    def _message_start(self, message: dict[str, Any]) -> list[Delta]:
        model = message.get("model")
        self.model = model if type(model) is str and model else None
        raw = message.get("usage")
        raw = self._raw_usage = raw if type(raw) is dict else {}
        self._unmerged = None
        update = self._update = UsageUpdate.later(lambda: usage_from_anthropic(raw))
        said = message.get("id")
        start = MessageStart(said if type(said) is str and said else anth.new_id("msg_"), self.model or "")
        return [start, update]

    def _message_delta(self, delta: dict[str, Any], usage: dict[str, Any]) -> list[Delta]:
        start = self._merged() if self._unmerged is not None else self._raw_usage
        self._unmerged = usage
        update = self._update = UsageUpdate.later(lambda: stream_usage(start, usage))
        out: list[Delta] = [update]
        if self._held:
            out[:0] = self._flush_held()
        if delta.get("stop_reason") is not None:
            self.done = True
            reason = delta["stop_reason"]
            out.append(Finish(stop_from_anthropic(reason), delta.get("stop_sequence"), reason == "refusal"))
        return out


def _reference_feed_frames(
    self: MessagesStreamDecoder, buf: bytes, pos: int, until_token: bool
) -> tuple[list[Delta], int]:
    out: list[Delta] = []
    start, n = pos, len(buf)
    named = _NAMED_FIRST if until_token else _NAMED_FRAME
    while pos < n and not (self._stopped or self._failed):
        framed = named(buf, pos)
        if framed is None:
            break
        data = framed[1]
        exact = anth._EXACT.get(data)
        if exact is not None:
            out += self._exact(exact, data)
            pos = framed.end()
            continue
        if until_token:
            if (text := framed[2]) is not None and (said := _utf8_text(text)) is not None:
                out.append(TextDelta(said))
                return out, framed.end()
        elif pos != start and data[9:10] == b"c" and _TEXT_HEAD(data) is not None:
            break
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            break
        if type(obj) is not dict or not (kind := obj.get("type")):
            break
        got = self._object(obj, kind)
        out += got
        pos = framed.end()
        if until_token and got and type(got[0]) in anth._TOKENS:
            break
    return out, pos


TEXTS = st.one_of(
    st.sampled_from(
        [
            "Hi",
            "",
            'say "x"',
            "a\\b",
            "two\nlines",
            "tab\there",
            "\u00e9\u2603\U0001f600",
            "nb\u00a0sp",
            "del\x7f",
        ]
        + ["zwj\u200dx", "ls\u2028", "\x00", "\x1f", "a/b", "}}", '"}}']
    ),
    st.text(max_size=6),
)


def _delta_data(text: str, index: bytes) -> bytes:
    return (
        b'{"type":"content_block_delta","index":'
        + index
        + b',"delta":{"type":"text_delta","text":'
        + orjson.dumps(text)
        + b"}}"
    )


_STOP_DATA = (
    b'{"type":"message_delta","delta":{"stop_reason":%b,"stop_sequence":null},"usage":{"output_tokens":3}}'
)
INDEXES = st.sampled_from([b"0", b"1", b"12", b"00", b"01", b"-1", b"", b"1.0", b"\xd9\xa1", b"7"])
STOPS = st.sampled_from(
    ["end_turn", "max_tokens", "refusal", "tool_use", "model_context_window_exceeded", "pause_turn", "odd"]
)
DATAS = st.one_of(
    st.builds(_delta_data, TEXTS, INDEXES),
    st.builds(_delta_data, TEXTS, INDEXES),
    st.builds(lambda t: _delta_data(t, b"0").replace(b'"text":"', b'"text": "'), TEXTS),
    st.builds(lambda t: _delta_data(t, b"0")[:-1], TEXTS),  # (cut)
    st.builds(
        lambda b: (
            b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"' + b + b'"}}'
        ),
        st.binary(max_size=4),
    ),
    st.sampled_from(list(anth._EXACT)),
    st.sampled_from(
        [
            b'{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":3,"output_tokens":1}}}',
            b'{"type":"message_start","message":{"model":"claude"}}',
            b'{"type":"message_start","message":[]}',
            b'{"type":"content_block_start","index":20,"content_block":{"type":"text","text":""}}',
            b'{"type":"content_block_start","index":1,"content_block":{"type":"text","text":"hey"}}',
            b'{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{"a":1}}}',
            b'{"type":"content_block_start","index":3,"content_block":{"type":"thinking","thinking":"","signature":"s"}}',
            b'{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"b\\":"}}',
            b'{"type":"content_block_delta","index":3,"delta":{"type":"thinking_delta","thinking":"hm"}}',
            b'{"type":"content_block_stop","index":2}',
            b'{"type":"content_block_stop","index":3}',
            b'{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":2}}',
            b'{"type":"message_delta","delta":{"stop_reason":["x"]},"usage":[]}',
            b'{"type":"message_delta","delta":[],"usage":{"output_tokens":2}}',
            b'{"type":"error","error":{"type":"overloaded_error","message":"busy"}}',
            b'{"type":"ping","extra":1}',
            b"[1]",
            b"{}",
            b"not json",
            b"",
        ]
    ),
    st.builds(
        lambda r, k: (
            b'{"type":"message_delta","delta":{"stop_reason":'
            + orjson.dumps(r)
            + b',"stop_sequence":null},"usage":{"output_tokens":'
            + str(k).encode()
            + b"}}"
        ),
        STOPS,
        st.integers(0, 9),
    ),
)
DATAS = st.one_of(DATAS, st.builds(lambda r: _STOP_DATA % orjson.dumps(r), STOPS))
NAMES = st.sampled_from([b"content_block_delta", b"message_start", b"ping", b"x", b""])


@st.composite
def _frames(draw: st.DrawFn) -> bytes:
    out = []
    for _ in range(draw(st.integers(1, 10))):
        data, name = draw(DATAS), draw(NAMES)
        shape = draw(st.integers(0, 12))
        if shape == 0:  # no blank line after it
            out.append(b"event: " + name + b"\ndata: " + data + b"\n")
        elif shape == 1:  # no event line
            out.append(b"data: " + data + b"\n\n")
        elif shape == 2:  # a second data line
            out.append(b"event: " + name + b"\ndata: " + data + b"\ndata: x\n\n")
        elif shape == 3:  # a comment
            out.append(b": keep-alive\n\n")
        else:
            out.append(b"event: " + name + b"\ndata: " + data + b"\n\n")
    return b"".join(out)


def _run(decoder: MessagesStreamDecoder, batch: Any, buf: bytes, first: bool) -> list[Any]:
    """The batch's calls over ``buf`` as the relay makes them (up to the token, then after it), a frame that stops
    the batch read by ``feed_data`` (or skipped when unsure), each call's deltas and position."""
    said: list[Any] = []
    pos, until = 0, first
    for _ in range(40):
        if pos >= len(buf):
            break
        deltas, got = batch(decoder, buf, pos, until)
        said.append((list(map(repr, deltas)), got))
        if until and deltas:
            until = False
        if got == pos:  # not read: the frame at ``pos`` goes another way; skip it by its blank line
            end = buf.find(b"\n\n", pos)
            if end < 0:
                break
            frame = buf[pos:end]
            if frame.startswith(b"event: ") and b"\ndata: " in frame:
                more = decoder.feed_data(frame.split(b"\ndata: ", 1)[1].split(b"\n", 1)[0])
                said.append(None if more is None else list(map(repr, more)))
            got = end + 2
        pos = got
    return said


@PROPS
@given(buf=_frames(), first=st.booleans())
def test_the_batch_reads_frames_as_the_regexes_did(buf: bytes, first: bool) -> None:
    with patch.object(anth, "new_id", lambda prefix: prefix + "fixed"):
        decoder, reference = MessagesStreamDecoder(), _ReferenceDecoder()
        got = _run(decoder, MessagesStreamDecoder.feed_frames, buf, first)
        want = _run(reference, _ReferenceDecoder.feed_frames, buf, first)
    assert got == want
    assert vars(decoder) == vars(reference)  # (usage updates equal by their usage, read here)
    assert decoder.usage == reference.usage


def test_the_usual_answer_runs_none_of_the_helpers() -> None:
    """A one-read answer's frames up to its token, then after the run: one match a frame, no ``_exact``, no
    ``_object``, no ``_utf8_text``, no lambda read."""
    start = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","model":"claude",'
        b'"usage":{"input_tokens":3,"output_tokens":1}}}\n\n'
        b'event: ping\ndata: {"type":"ping"}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"text","text":""}}\n\n'
        b"event: content_block_delta\ndata: " + _delta_data("Hello", b"0") + b"\n\n"
    )
    end = (
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn",'
        b'"stop_sequence":null},"usage":{"output_tokens":5}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    names: list[str] = []

    def prof(frame: Any, event: str, arg: Any) -> None:
        if event == "c_call":
            names.append(getattr(arg, "__name__", ""))
        elif event == "call":
            names.append(frame.f_code.co_name)

    decoder = MessagesStreamDecoder()
    sys.setprofile(prof)
    try:
        first = decoder.feed_frames(start, 0, True)
        last = decoder.feed_frames(end, 0, False)
    finally:
        sys.setprofile(None)
    assert first[1] == len(start) and last[1] == len(end) and decoder.done and decoder.closed
    assert names.count("match") == 7, names  # (the seven frames')
    for name in ("fullmatch", "_exact", "_object", "_utf8_text", "stop_from_anthropic", "<lambda>"):
        assert name not in names, (name, names)


# ---- the encoder's reference: ``feed``, ``_close_item``'s message case and ``text_frames`` as in session 34 -------


class _Reference(ResponsesStreamEncoder):
    def feed(self, d: Delta) -> bytes:
        if type(d) is TextDelta:
            item = self._open
            if item is not None and item.kind == "message" and self._finish is None and d.text:
                item.text.append(d.text)
                return self._text_delta(item, d.text)
        elif type(d) is Finish:
            if self._started and not self._closed and self._finish is None:
                self._finish = d
                return self._close_item()
        elif type(d) is ToolArgsDelta:
            item = self._open
            if item is not None and item.kind == "function_call" and item.tool == d.index and d.fragment:
                item.text.append(d.fragment)
                return self._args_delta(item, d.fragment)
        if self._closed:
            return b""
        if type(d) is KeepAlive:
            return self._reference_keepalive()
        if type(d) is UsageUpdate:
            self._update = d
            return b""
        if type(d) is MessageStart:
            return self._start(d.id)
        out = self._start(None)
        if type(d) is StreamError:
            return out + self._fail(d)
        if self._finish is not None:
            return out
        return out + self._content(d)

    def _reference_keepalive(self) -> bytes:
        if not self._frames:
            return rs._KEEPALIVE
        if not self._started:
            return self._start(None)
        seq, self._seq = self._seq, self._seq + 1
        return rs._KEEPALIVE_EVENT % seq

    def _close_message(self, item: Any, status: str) -> bytes:
        text = "".join(item.text)
        self._output.append((item.id, status, text))
        if not self._frames:
            return b""
        ident, said = item.ident or orjson.dumps(item.id), orjson.dumps(text)
        seq, self._seq = self._seq, self._seq + 3
        index = item.index
        done = rs._MESSAGE_ITEM % (ident, status.encode(), said)
        if len(self._output_json) == len(self._output) - 1:
            self._output_json.append(done)
        return rs._MESSAGE_CLOSING % (
            seq, ident, index, said, seq + 1, ident, index, said, seq + 2, index, done,
        )  # fmt: skip

    def text_frames(self, bodies: list[bytes]) -> bytes | None:
        item = self._open
        if self._finish is not None or item is None or item.kind != "message":
            return None
        seq = self._seq
        self._seq = seq + len(bodies)
        item.text.append(b"".join(bodies).decode())
        if not self._frames:
            return b""
        head = item.delta_head
        return b"".join([rs._TEXT_DELTA_BODY % (seq + i, head, body) for i, body in enumerate(bodies)])


ENC_TEXTS = st.sampled_from(["", "Hi", 'a "q"', "\u00e9\U0001f600", "x\ny"])
ENC_DELTAS = st.one_of(
    st.builds(MessageStart, id=st.sampled_from(["msg_01Ab", "resp_x", ""]), model=st.just("m")),
    st.builds(TextDelta, ENC_TEXTS),
    st.builds(TextDelta, ENC_TEXTS),
    st.builds(TextDelta, ENC_TEXTS),
    st.builds(ReasoningDelta, st.sampled_from(["", "think"])),
    st.builds(ToolCallStart, st.integers(0, 1), st.just("toolu_1"), st.just("get")),
    st.builds(ToolArgsDelta, st.integers(0, 1), st.sampled_from(["", '{"a":', "1}"])),
    st.builds(
        Finish,
        st.sampled_from(["end_turn", "max_tokens", "tool_use", "refusal"]),
        st.just(None),
        st.booleans(),
    ),
    st.builds(UsageUpdate, st.builds(Usage, st.integers(0, 9), st.integers(0, 9))),
    st.just(KeepAlive()),
    st.just(KeepAlive()),
    st.just(StreamError(status=529, type="overloaded_error", message="busy")),
    st.lists(st.sampled_from([b"a", b"bc", b"\xc3\xa9"]), min_size=1, max_size=4),  # a run (``text_frames``)
)


@PROPS
@given(
    deltas=st.lists(ENC_DELTAS, max_size=14),
    keepalives=st.sampled_from([0, 0, 120, 250, 253, 254, 255, 256, 300]),
    frames=st.booleans(),
    compaction=st.booleans(),
    reasoning=st.booleans(),
    fixed_id=st.booleans(),
)
def test_the_encoder_writes_what_the_general_path_did(
    deltas: list[Any], keepalives: int, frames: bool, compaction: bool, reasoning: bool, fixed_id: bool
) -> None:
    view = View(model="gpt-x", compaction=compaction, reasoning=reasoning)
    response_id = "resp_fixed" if fixed_id else None
    with patch.object(_responses_wire, "new_hex", lambda: "0" * 32):
        pair = [
            cls(view, response_id=response_id, frames=frames) for cls in (ResponsesStreamEncoder, _Reference)
        ]
        for enc in pair:
            enc.created_at = 1700000000
        lead = [MessageStart("msg_01Zz", "m")] + [KeepAlive()] * keepalives
        for d in lead + deltas:
            if isinstance(d, list):
                got = [enc.text_frames(d) for enc in pair]
            else:
                got = [enc.feed(d) for enc in pair]
            assert got[0] == got[1], d
            assert vars(pair[0]) == vars(pair[1]), d
        ends = [enc.finish() for enc in pair]
        assert ends[0] == ends[1]
        assert pair[0].final == pair[1].final


USUAL_ENDS = [Finish("end_turn"), Finish("max_tokens"), Finish("refusal", None, True), Finish("tool_use")]


@PROPS
@given(
    keepalives=st.sampled_from([0, 1, 120, 249, 250, 251, 252, 253, 254, 255, 256, 300]),
    end=st.sampled_from(USUAL_ENDS),
    run=st.lists(st.sampled_from([b"a", b"bc", b"\xc3\xa9"]), min_size=1, max_size=5),
    frames=st.booleans(),
)
def test_the_usual_stream_is_written_as_before(
    keepalives: int, end: Finish, run: list[bytes], frames: bool
) -> None:
    """An Anthropic upstream's usual answer as the relay feeds it (the opening's batch, the run, the stop reason's
    batch, the end), its numbers crossing the digits' table at every piece."""
    view = View(model="gpt-x")
    pair = [cls(view, frames=frames) for cls in (ResponsesStreamEncoder, _Reference)]
    for enc in pair:
        enc.created_at = 1700000000
    usage = UsageUpdate(Usage(3, 1))
    steps: list[Any] = [MessageStart("msg_01Zz", "m"), usage] + [KeepAlive()] * keepalives
    steps += [TextDelta("Hello "), run, UsageUpdate(Usage(3, 5)), end]
    for d in steps:
        got = [enc.text_frames(d) for enc in pair] if isinstance(d, list) else [enc.feed(d) for enc in pair]
        assert got[0] == got[1], d
    assert pair[0].finish() == pair[1].finish()
    assert pair[0].final == pair[1].final
    assert vars(pair[0]) == vars(pair[1])


def test_the_first_text_keepalive_and_closing_run_none_of_the_general_helpers() -> None:
    """A started response's ping, first text and stop reason: no ``_start``, ``_content``, ``_text``,
    ``_keepalive``, ``_close_item``, ``_message_closing`` call (those it made before session 35)."""
    encoder = ResponsesStreamEncoder(View(model="gpt-x"))
    encoder.feed(MessageStart("msg_01Zz", "m"))
    called: list[str] = []

    def prof(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            called.append(frame.f_code.co_name)

    sys.setprofile(prof)
    try:
        out = encoder.feed(KeepAlive()) + encoder.feed(TextDelta("Hi")) + encoder.feed(Finish("end_turn"))
        out += encoder.text_frames([b"x"]) or b""
    finally:
        sys.setprofile(None)
    assert b"response.output_text.done" in out and b'"sequence_number":2}' in out
    for name in (
        "_start",
        "_content",
        "_text",
        "_keepalive",
        "_close_item",
        "_message_closing",
        "<listcomp>",
    ):
        assert name not in called, (name, called)
