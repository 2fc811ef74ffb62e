"""An anthropic → openai stream's first read and finish without seven helpers (issue 13, session 35: a one-connection
request meets each function's code object cold, so each one not run is misses saved; docs/benchmarks.md "Session 35
(perf35ao)"): ``Translator.feed_last`` is ``feed`` (no call through ``Relay.feed_last``); the chat decoder's
``_kept_first`` keys the first chunk and makes its text shape inline (no ``_opening``, ``_TextShape.from_kept``), its
usage chunk reads the tier inline (no ``_tier``), its ``finish`` calls ``_advance`` only with a call not yet passed;
the Messages encoder writes a chat upstream's ``message_start`` inline (no ``_start``, ``_start_tail``) and its
``finish`` calls ``_start``/``_close_block`` only when they have something to write.

Each is checked against the code as it was (session 34's, kept below on subclasses): the same bytes and the same state
after every read and delta, over generated streams and delta sequences; and a whole one-read answer is checked to run
none of the seven."""

from __future__ import annotations

import sys
from typing import Any
from unittest.mock import patch

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _anthropic_stream as anth_stream
from services.gateway.dialects._anthropic_stream import MessagesStreamEncoder
from services.gateway.dialects._openai_stream import (
    _FIRST_READS,
    _SPLICED,
    ChatStreamDecoder,
    _TextShape,
)
from services.gateway.dialects._openai_wire import usage_from_openai
from services.gateway.dialects.ir import (
    Delta,
    KeepAlive,
    MessageStart,
    TextDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Relay, Translator
from tests.text_lanes import relay_reads, same_made_up
from tests.unit.dialects.test_chat_batch27 import OPENAI_USAGE, _bodies, _chunks
from tests.unit.dialects.test_encoder_first_text34 import DELTAS, _state
from tests.unit.dialects.test_finish_form26 import ROLE, chunk
from tests.unit.dialects.test_spliced_kept29 import CREATED, IDS, PADDINGS, _restated


class _OldDecoder(ChatStreamDecoder):
    """The chat decoder with session 34's ``_kept_first``, ``finish`` and usage chunk's tier (``_tier``)."""

    def _kept_first(self, data: str) -> list[Delta] | None:
        if self._signed or self._awaited or self._ended or self._failed:
            return None
        opened = self._opening(data)
        if opened is None:
            return None
        at, upstream_id, key = opened
        kept = _FIRST_READS.get(key)
        if kept is None or not upstream_id:
            return None
        model, shape = kept
        self.model = model
        self._started = True
        self._first = None
        self._first_data = data
        self._lane = _TextShape.from_kept(data, at, shape)
        return [MessageStart(upstream_id, model or "")]

    def finish(self) -> list[Delta]:
        if self._finished and self._others is None:
            self.done = True
        return [] if self._failed else self._advance(final=True)


class _OldEncoder(MessagesStreamEncoder):
    """The Messages encoder with session 34's ``feed`` for a message start and its ``finish``."""

    __slots__ = ()

    def feed(self, d: Delta) -> bytes:
        if not self._closed and type(d) is MessageStart and self._finish is None:
            return self._start(d.id)
        return super().feed(d)

    def finish(self) -> bytes:
        if self._closed:
            return b""
        self._closed = True
        out = self._start(None) + self._close_block()
        reason = self._finish.reason if self._finish else "end_turn"
        if reason == "end_turn" and self._has_tools:
            reason = "tool_use"
        stop_sequence = self._finish.stop_sequence if self._finish and reason == "stop_sequence" else None
        usage = (
            anth_stream._ZERO_USAGE_JSON
            if self._usage is None
            else orjson.dumps(anth_stream.usage_to_anthropic(self._usage))
        )
        head = anth_stream._DELTA_HEADS.get(reason) if stop_sequence is None else None
        if head is None:
            head = (
                b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
                + orjson.dumps(reason)
                + b',"stop_sequence":'
                + orjson.dumps(stop_sequence)
                + b'},"usage":'
            )
        return out + head + usage + anth_stream._DELTA_END


class _OldTranslator(Translator):
    """The relay with the base's ``feed_last`` (a call through to ``feed``), its decoder and encoder the old ones."""

    __slots__ = ()

    def feed_last(self, chunk: bytes) -> bytes:
        return Relay.feed_last(self, chunk)


def _pair(signed: bool = False) -> tuple[Translator, Translator]:
    pair = pairing("anthropic", "openai_chat")
    view = View(model="claude-haiku-4-5", include_usage=True, signed_calls=signed, tools=True)
    real, old = Translator(pair, view), _OldTranslator(pair, view)
    old.decoder.__class__ = _OldDecoder  # (bound lanes and taps resolve the changed methods when called)
    old.encoder.__class__ = _OldEncoder
    same_made_up(real, old)
    return real, old


def _vars(relay: Translator) -> tuple[Any, ...]:
    return (vars(relay.decoder), _state(relay.encoder))  # type: ignore[arg-type]


def _compare(stream: bytes, chunks: list[bytes], take_rest: bool, last: bool, signed: bool) -> None:
    """``stream`` read by the relay and by the old code's from the same kept forms (the module's, restored between
    the two): the same bytes and facts, decoder fields, encoder slots and kept forms after."""
    real, old = _pair(signed)
    kept = (dict(_SPLICED), dict(_FIRST_READS))
    with patch.object(anth_stream, "new_id", lambda prefix: prefix + "minted"):
        got = relay_reads(real, chunks, take_rest, last)
        left = (dict(_SPLICED), dict(_FIRST_READS))
        for cache, was in zip((_SPLICED, _FIRST_READS), kept, strict=True):
            cache.clear()
            cache.update(was)  # type: ignore[attr-defined]
        assert got == relay_reads(old, chunks, take_rest, last), stream
    assert _vars(real) == _vars(old)
    assert (dict(_SPLICED), dict(_FIRST_READS)) == left


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _bodies(),
    IDS,
    CREATED,
    PADDINGS,
    st.lists(st.integers(0, 5000), max_size=3),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_streams_give_the_old_codes_bytes_and_state(
    body: bytes,
    id_: str,
    created: str,
    padding: str,
    cuts: list[int],
    by_frame: bool,
    take_rest: bool,
    last: bool,
    signed: bool,
) -> None:
    """Session 27's generated chat streams (reasoning, refusals, tool calls, errors, other choices, usage, odd
    frames, cut short), each a second time with another id, ``created`` and padding (read by the kept form when the
    first taught it), whole, cut anywhere or a frame a read: the relay's bytes and facts after every read and at the
    end, the decoder's every field and the encoder's every slot are the old code's. The kept forms are not cleared
    between examples: a first chunk is also read while other forms are kept (``_kept_first`` finding none)."""
    for stream in (body, _restated(body, id_, created, padding)):
        _compare(stream, _chunks(stream, cuts, by_frame), take_rest, last, signed)


@settings(max_examples=400, deadline=None)
@given(st.lists(DELTAS, max_size=30), st.sampled_from([None, "msg_fixed"]), st.booleans())
def test_encoder_gives_the_old_feeds_and_finishs_bytes_and_state(
    deltas: list[Delta], message_id: str | None, opened: bool
) -> None:
    """Any delta sequence (a start before or after a usage, twice, after an error or the finish; the message id
    given or from the start, minted when neither), the client's opening sent before or not: each ``feed``'s bytes and
    the encoder's state, then ``finish``'s, are the old code's."""
    real, old = MessagesStreamEncoder("m", message_id), _OldEncoder("m", message_id)
    if opened:
        for enc in (real, old):
            enc.opened(_opening(1))
    with patch.object(anth_stream, "new_id", lambda prefix: prefix + "minted"):
        for d in deltas:
            assert real.feed(d) == old.feed(d), d
            assert _state(real) == _state(old)
        assert real.finish() == old.finish()
        assert _state(real) == _state(old)


def _opening(frames: int) -> Any:
    from services.gateway.dialects._opening import Opening

    return Opening(frames=frames, id="msg_opened")


@pytest.mark.parametrize("upstream_id", ["chatcmpl-1", "msg_up", ""])
@pytest.mark.parametrize("message_id", [None, "msg_given"])
def test_a_start_before_any_usage_is_the_templates(upstream_id: str, message_id: str | None) -> None:
    """The inline ``message_start``: the message id by ``_start``'s rule (the encoder's, an upstream ``msg_`` id as
    it is, another prefixed, a minted one for none), the model and zero counts, then a ping."""
    enc = MessagesStreamEncoder("claude-x", message_id)
    with patch.object(anth_stream, "new_id", lambda prefix: prefix + "minted"):
        out = enc.feed(MessageStart(upstream_id, "gpt"))
    event, ping = out.split(b"\n\n", 1)
    head, data = event.split(b"\ndata: ")
    want = message_id or (
        upstream_id if upstream_id.startswith("msg_") else "msg_" + (upstream_id or "minted")
    )
    assert head == b"event: message_start"
    assert orjson.loads(data)["message"] == {
        "id": want,
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        },
    }
    assert ping == anth_stream._PING
    assert enc.feed(MessageStart("chatcmpl-2", "gpt")) == b""  # one start


@pytest.mark.parametrize("usage_tier", [None, "flex"])
@pytest.mark.parametrize("first_tier", [None, "priority"])
@pytest.mark.parametrize("kept", [False, True])
def test_the_usage_chunks_tier_is_its_own_else_the_first_chunks(
    usage_tier: str | None, first_tier: str | None, kept: bool
) -> None:
    """The tier read inline: the usage chunk's ``service_tier``, else the first chunk's (parsed when asked, when it
    was read by its kept form), as ``_tier`` gives it."""
    top = (
        b',"usage":null'
        if first_tier is None
        else b',"service_tier":"' + first_tier.encode() + b'","usage":null'
    )
    usage = OPENAI_USAGE.replace(b'"service_tier":"default",', b"")
    if usage_tier is not None:
        usage = usage.replace(b'"choices":[]', b'"service_tier":"' + usage_tier.encode() + b'","choices":[]')
    first = chunk(ROLE, top=top)
    _SPLICED.clear()
    _FIRST_READS.clear()
    for n in range(2 if kept else 1):
        decoder = ChatStreamDecoder()
        decoder.feed_frame(first.replace(b"chatcmpl-1", b"chatcmpl-%d" % n)[len(b"data: ") : -2])
    assert (decoder._first is None) is kept  # (the second stream's first chunk read by its kept form)
    decoder.feed_frame(usage[len(b"data: ") : -2])
    obj = orjson.loads(usage[len(b"data: ") : -2])
    assert decoder.usage == usage_from_openai(obj["usage"], usage_tier or first_tier)
    assert decoder.usage is not None and decoder.usage.service_tier == (usage_tier or first_tier)


_CUT = {
    (Relay, "feed_last"),
    (ChatStreamDecoder, "_opening"),
    (_TextShape, "from_kept"),
    (ChatStreamDecoder, "_tier"),
    (ChatStreamDecoder, "_advance"),
    (MessagesStreamEncoder, "_start"),
    (MessagesStreamEncoder, "_close_block"),
}


def test_a_one_read_answers_first_read_and_finish_run_none_of_the_seven() -> None:
    """The gateway's one-read path (``feed_last``, ``rest``, ``finish``) of OpenAI's answer, its first chunk's form
    taught by a stream before: the bytes are the old code's, and none of the helpers above (nor ``_start_tail``)
    runs."""
    stream = (
        chunk(ROLE)
        + chunk(b'{"content":"Hello"}')
        + chunk(b'{"content":" there"}')
        + chunk(b"{}", b',"logprobs":null,"finish_reason":"stop"')
        + OPENAI_USAGE
        + b"data: [DONE]\n\n"
    )
    _SPLICED.clear()
    _FIRST_READS.clear()
    _pair()[0].feed_last(stream)  # (teaches the form)
    real, old = _pair()
    again = stream.replace(b"chatcmpl-1", b"chatcmpl-2")
    codes = {getattr(owner, name).__code__ for owner, name in _CUT} | {anth_stream._start_tail.__code__}
    ran: list[str] = []

    def seen(frame: Any, event: str, _: Any) -> None:
        if event == "call" and frame.f_code in codes:
            ran.append(frame.f_code.co_name)

    with patch.object(anth_stream, "new_id", lambda prefix: prefix + "minted"):
        sys.setprofile(seen)
        try:
            got = real.feed_last(again) + real.rest() + real.finish()
        finally:
            sys.setprofile(None)
        assert got == old.feed_last(again) + old.rest() + old.finish()
    assert ran == []
    assert real.complete and real.usage is not None and real.usage.output_tokens == 5


def test_a_text_then_a_tool_call_closes_both_blocks_as_before() -> None:
    """``finish`` with a block still open (a tool call's, no stop reason) closes it as ``_close_block`` does."""
    real, old = MessagesStreamEncoder("m", "msg_1"), _OldEncoder("m", "msg_1")
    deltas: list[Delta] = [
        MessageStart("chatcmpl-1", "m"),
        TextDelta("a"),
        ToolCallStart(0, "call_1", "get"),
        UsageUpdate(Usage(3, 4)),
        KeepAlive(),
    ]
    for d in deltas:
        assert real.feed(d) == old.feed(d)
    out = real.finish()
    assert out == old.finish()
    assert out.startswith(b"event: content_block_stop\n")
    assert b'"stop_reason":"tool_use"' in out
