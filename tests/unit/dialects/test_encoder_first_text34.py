"""``MessagesStreamEncoder.feed``'s first text of a block and a finish closing a text block, written without
``_start``, ``_content``, ``_open_block``, ``_close_block`` and the frame helpers (issue 13, session 34: the
first read of a chat upstream's answer meets those functions' code cold at one connection), give the bytes and
state the general path gives, for any delta sequence: the reference below is ``feed`` as it was before
(session 33's), run on a second encoder beside the real one."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _anthropic_stream as anth_stream
from services.gateway.dialects._anthropic_stream import MessagesStreamEncoder
from services.gateway.dialects._anthropic_wire import ERROR_STATUS, anthropic_error_type
from services.gateway.dialects._error_meaning import stream_words_for_anthropic
from services.gateway.dialects.ir import (
    Delta,
    Finish,
    KeepAlive,
    MessageStart,
    ReasoningDelta,
    RedactedThinking,
    SignatureDelta,
    StreamError,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)


def _reference_feed(self: MessagesStreamEncoder, d: Delta) -> bytes:
    """``MessagesStreamEncoder.feed`` before session 34 (the general path for every delta but the text inside an
    open text block)."""
    if self._closed:
        return b""
    if type(d) is TextDelta and self._open == "text" and self._finish is None:
        return anth_stream._text_delta(self._index, d.text) if d.text else b""
    if type(d) is UsageUpdate:
        self._usage = d.usage
        return b""
    if type(d) is StreamError:
        self._closed = True
        etype, message = stream_words_for_anthropic(d.status, d.type, d.message, d.asked_output)
        if etype not in ERROR_STATUS:
            etype = anthropic_error_type(d.status)
        return anth_stream._frame({"type": "error", "error": {"type": etype, "message": message}})
    if type(d) is KeepAlive:
        return self._start(None) or anth_stream._PING
    if self._finish is not None:
        return b""
    if type(d) is MessageStart:
        return self._start(d.id)
    return self._start(None) + self._content(d)


TEXTS = st.sampled_from(["", "Hi", 'say "x"', "a\\b", "two\nlines", "\u00e9\u2603\U0001f600", "\x00"])
DELTAS = st.one_of(
    st.builds(MessageStart, id=st.sampled_from(["chatcmpl-1", "msg_2", ""]), model=st.just("m")),
    st.builds(TextDelta, TEXTS),
    st.builds(TextDelta, TEXTS),
    st.builds(ReasoningDelta, TEXTS),
    st.builds(SignatureDelta, st.sampled_from(["", "sig"])),
    st.builds(RedactedThinking, st.sampled_from(["", "opaque"])),
    st.builds(ToolCallStart, st.integers(0, 2), st.just("call_1"), st.sampled_from(["get", "put"])),
    st.builds(ToolArgsDelta, st.integers(0, 2), st.sampled_from(["", '{"a":', "1}"])),
    st.builds(
        Finish, st.sampled_from(["end_turn", "max_tokens", "stop_sequence"]), st.sampled_from([None, "X"])
    ),
    st.builds(UsageUpdate, st.builds(Usage, st.integers(0, 9), st.integers(0, 9))),
    st.just(KeepAlive()),
    st.just(StreamError(status=529, type="overloaded_error", message="busy")),
)


def _pair(message_id: str | None) -> tuple[MessagesStreamEncoder, MessagesStreamEncoder]:
    return MessagesStreamEncoder("m", message_id=message_id), MessagesStreamEncoder(
        "m", message_id=message_id
    )


def _state(enc: MessagesStreamEncoder) -> dict[str, Any]:
    names = [n for c in type(enc).__mro__ for n in getattr(c, "__slots__", ()) if n != "_args"]
    return {n: getattr(enc, n, None) for n in names} | {"args": enc._args.text}


@settings(max_examples=400, deadline=None)
@given(st.lists(DELTAS, max_size=40), st.sampled_from([None, "msg_fixed"]))
def test_feed_is_the_general_path(deltas: list[Delta], message_id: str | None) -> None:
    real, ref = _pair(message_id)
    with patch.object(anth_stream, "new_id", lambda prefix: prefix + "minted"):  # (both encoders' the same)
        for d in deltas:
            assert real.feed(d) == _reference_feed(ref, d), d
            assert _state(real) == _state(ref)
        assert real.finish() == ref.finish()


def test_blocks_past_the_kept_heads() -> None:
    """Text blocks at indexes past ``_HEADS_KEPT`` (their frames made, not from the tables)."""
    real, ref = _pair("msg_1")
    deltas: list[Delta] = [MessageStart("msg_1", "m")]
    for i in range(anth_stream._HEADS_KEPT + 4):
        deltas += [TextDelta(f"t{i}"), ToolCallStart(i, f"call_{i}", "get")]
    deltas += [TextDelta("last"), Finish("end_turn")]
    for d in deltas:
        assert real.feed(d) == _reference_feed(ref, d)
    assert real._index >= anth_stream._HEADS_KEPT
    assert real.finish() == ref.finish()


def test_a_chat_answers_first_read_runs_no_block_helper(monkeypatch: Any) -> None:
    """The first text and the finish of a one-block answer go through none of the general path's functions."""
    enc = MessagesStreamEncoder("m")
    enc.feed(MessageStart("chatcmpl-1", "m"))

    def called(*_: Any) -> bytes:
        raise AssertionError("the general path ran")

    for name in ("_start", "_content", "_open_block", "_close_block"):
        monkeypatch.setattr(MessagesStreamEncoder, name, called)
    first = enc.feed(TextDelta("Hi"))
    stop = enc.feed(Finish("end_turn"))
    assert first.startswith(b"event: content_block_start\n")
    assert b'"text_delta","text":"Hi"' in first
    assert stop == b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
