"""Anthropic Messages streams: upstream events → IR deltas, and IR deltas → client events (sans-io)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from types import MappingProxyType
from typing import Any, Literal, get_args

import orjson

from services.gateway.dialects._anthropic_wire import (
    ERROR_STATUS,
    SYNTHETIC_SIGNATURE,
    anthropic_error_type,
    merge_stream_usage,
    status_for_error_type,
    stop_from_anthropic,
    stream_usage,
    usage_from_anthropic,
    usage_to_anthropic,
)
from services.gateway.dialects._call_signature import signed_id
from services.gateway.dialects._error_meaning import stream_words_for_anthropic
from services.gateway.dialects._openai_wire import new_id
from services.gateway.dialects._opening import Opening
from services.gateway.dialects._tool_args import ToolArgs, input_object
from services.gateway.dialects.ir import (
    Delta,
    Finish,
    KeepAlive,
    MessageStart,
    ReasoningDelta,
    RedactedThinking,
    SignatureDelta,
    StopReason,
    StreamError,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from shared.sse import SSEEvent

BlockKind = Literal["text", "thinking", "tool_use", "other"]


def _dict(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else {}  # orjson's values: exact types


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# Frames that say nothing but their kind, by their exact bytes (compact JSON as Anthropic sends it, and the
# spaced spelling of its documentation's examples): the kind ``feed`` reads from each. A text block's empty
# start and a block's stop for the first block indexes (``_EXACT_INDEX``: the index a start names).
_EXACT: dict[bytes, str] = {
    b'{"type":"ping"}': "ping",
    b'{"type": "ping"}': "ping",
    b'{"type":"message_stop"}': "message_stop",
    b'{"type": "message_stop"}': "message_stop",
}
_EXACT_INDEX: dict[bytes, int] = {}
for _i in range(16):
    _start = b'{"type":"content_block_start","index":%d,"content_block":{"type":"text","text":""}}' % _i
    _EXACT[_start] = "content_block_start"
    _EXACT_INDEX[_start] = _i
    _stop = b'{"type":"content_block_stop","index":%d}' % _i
    _EXACT[_stop] = "content_block_stop"
    _EXACT_INDEX[_stop] = _i
del _i, _start, _stop
# The same frames by their text, as ``feed`` gets them from the SSE decoder (ASCII: the text is the bytes)
_EXACT_TEXT: dict[str, bytes] = {data.decode(): data for data in _EXACT}

# The usual text delta, ``{"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"…"}}``,
# its text a JSON string without escapes: any character but the quote, the backslash and the controls below
# U+0020, which JSON does not allow raw (RFC 8259, section 7).
_TEXT_EVENT = re.compile(
    r'\{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),'
    r'"delta":\{"type":"text_delta","text":"([^"\\\x00-\x1f]+)"\}\}'
).fullmatch


# The same event as one whole usual frame's bytes (its ``event:`` line, its one ``data:`` line, the blank line):
# group 1 is the text's JSON string body, which is then the UTF-8 of the text itself (no escape to undo)
_TEXT_FRAME = re.compile(
    rb'event: content_block_delta\ndata: \{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),'
    rb'"delta":\{"type":"text_delta","text":"([^"\\\x00-\x1f]+)"\}\}\n\n'
)
# A run of them, from a position on
_TEXT_RUN = re.compile(rb"(?:" + _TEXT_FRAME.pattern + rb")+").match
# ... and the text bodies of such a run: in each of its frames ``"text":"`` comes once (the fixed bytes before
# the text hold none, the text holds no quote) and the text's closing quote is the first after it, so this
# finds each frame's group 1 without matching the frame's fixed bytes again (~5k instructions less on a run
# of four, callgrind: tests/unit/dialects/test_text_run.py holds the two to the same bodies)
_TEXT_BODIES = re.compile(rb'"text":"([^"]*)"\}\}\n\n').findall

# The usual named frame at a position (``feed_frames``): ``event: <name>`` LF ``data: <data>`` LF LF, a name not
# empty, neither holding an LF (the caller has checked the read holds no CR); group 1 is the data (the relay's
# ``_NAMED_FRAME``: the same shape, so the same frames as its tap reads one at a time)
_NAMED_FRAME = re.compile(rb"event: [^\n]+\ndata: ([^\n]*)\n\n").match
# The start of a usual text delta's data (``_TEXT_FRAME``'s): ``feed_frames`` leaves such a frame to the run lane
_TEXT_HEAD = re.compile(
    rb'\{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),"delta":\{"type":"text_delta","text":"'
).match
# ... and the whole of a usual text delta's data (``_TEXT_EVENT`` on bytes): group 1 the text's JSON string body,
# the UTF-8 of the text itself (no escape to undo). ``feed_frames`` reads the first token's frame by it
# (``_NAMED_FIRST``), with no parse (session 31: ~5k instructions less a stream, callgrind)
_TEXT_DATA = re.compile(
    rb'\{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),'
    rb'"delta":\{"type":"text_delta","text":"([^"\\\x00-\x1f]+)"\}\}'
)
# ... both in one match for the frames up to a read's first token (``feed_frames`` with ``until_token``): the
# usual named frame (``_NAMED_FRAME``'s shape, group 1 its data) whose group 2 is, when its whole data is a usual
# text delta (``_TEXT_DATA``), the text's JSON string body, else None (the branch left undoes its group). One
# call where ``_NAMED_FRAME`` then ``_TEXT_DATA`` were two: ~2.4k instructions less on the token's frame, ~0.3k
# more on each frame before it (session 32, callgrind; tests/unit/dialects/test_first_text31.py)
_NAMED_FIRST = re.compile(rb"event: [^\n]+\ndata: ((?:" + _TEXT_DATA.pattern + rb")|[^\n]*)\n\n").match
# ``stop_from_anthropic`` of each stop reason it knows (``_message_delta``)
_STOPS: dict[str, StopReason] = {
    reason: stop_from_anthropic(reason) for reason in (*get_args(StopReason), "model_context_window_exceeded")
}
# The deltas that are a token (``relay._CONTENT``): ``feed_frames`` stops after a frame that brings one
_TOKENS: frozenset[type] = frozenset({TextDelta, ReasoningDelta, ToolCallStart, ToolArgsDelta})


class MessagesStreamDecoder:
    """Upstream Anthropic Messages SSE → IR deltas.

    Tool indexes count ``tool_use`` blocks from 0 (not Anthropic's block index). A ``tool_use`` block's
    ``input`` given whole in its ``content_block_start`` is held until the block's stop: it is the call's
    arguments unless ``input_json_delta`` text comes, which then is; so is a ``thinking`` block's ``signature``
    given in its start, unless a ``signature_delta`` comes (``_held``: the anthropic SDK's ``accumulate_event``,
    where the deltas' JSON replaces the start's ``input`` and a ``signature_delta`` its ``signature``).
    ``message_delta`` usage
    fields overwrite the ``message_start`` ones, as the SDKs do (``merge_stream_usage``), so ``usage``
    always holds the totals, ``iterations`` and ``server_tool_use`` included.
    A ``redacted_thinking`` block is one ``RedactedThinking``; server-tool blocks have no IR form and are
    skipped. ``done`` turns True at
    the ``message_delta`` that carries the stop reason (or at ``message_stop``).
    """

    def __init__(self) -> None:
        self.done = False
        self.model: str | None = None
        # The stream's usage so far, converted when read (``usage``; ``UsageUpdate.later``): from
        # ``message_start``'s usage object merged with every ``message_delta``'s (``_merged``), kept raw
        self._update: UsageUpdate | None = None
        # ... that raw object: ``message_start``'s merged with every ``message_delta``'s but the last
        # (``_unmerged``), merged only when another comes (``_merged``)
        self._raw_usage: dict[str, Any] = {}
        self._unmerged: dict[str, Any] | None = None
        self._blocks: dict[int, tuple[BlockKind, int]] = {}  # block index → (kind, IR tool index)
        # block index → what its start gave that a delta may replace, until its stop (``_held``): a tool_use
        # block's ``input`` (a ToolArgsDelta), a thinking block's ``signature`` (a SignatureDelta)
        self._held: dict[int, ToolArgsDelta | SignatureDelta] = {}
        self._tools = 0
        self._failed = False
        self._stopped = False  # message_stop seen: nothing after it is read
        self.closed = False  # message_stop seen (``registry.StreamDecoder``)

    def feed(self, ev: SSEEvent) -> list[Delta]:
        """Translate one upstream SSE event. The frames that carry no fact but their kind (``_EXACT``) are
        known by their exact text, without parsing (``feed_data``'s rule)."""
        if ev.comment:
            return [KeepAlive()]
        if self._stopped or self._failed:
            return []
        data = _EXACT_TEXT.get(ev.data)
        if data is not None:  # ping, a block's empty text start or its stop, message_stop: no parse
            return self._exact(_EXACT[data], data)
        if not ev.data.strip():
            return []
        try:
            obj = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            obj = None
        if type(obj) is not dict:
            self._failed = True
            return [StreamError(status=502, type="api_error", message="malformed event from upstream")]
        return self._object(obj, obj.get("type") or ev.event)

    def feed_data(self, data: bytes) -> list[Delta] | None:
        """``feed`` of an event that is no comment, given its data's bytes alone (a relay that splits a
        read into frames itself asks this, without an ``SSEEvent``): the same deltas and the same state,
        or None, nothing changed, when unsure (``feed`` then reads the event). The frames that carry no
        fact but their kind are known by their exact bytes (``_EXACT``: ``ping``, ``message_stop``, a
        text block's empty start, a block's stop), without parsing; any other JSON object that names its
        ``type`` is parsed once from its bytes. None for data that is not a JSON object in valid UTF-8
        (``feed`` reads the text the SSE decoder makes of it, invalid bytes replaced), or names no type
        (``feed`` then takes the event's name), and after ``message_stop`` or an error.
        Source: Anthropic Messages streaming guide, "Event types" (the frames and their shapes)."""
        if self._stopped or self._failed:
            return None
        # (no test of the first byte: data that is no JSON object fails ``loads`` or the dict test below,
        # and a slice a frame cost ~1k instructions, callgrind; an object after a space reads as ``feed``
        # reads it)
        exact = _EXACT.get(data)
        if exact is not None:
            return self._exact(exact, data)
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None
        if type(obj) is not dict or not (kind := obj.get("type")):
            return None
        return self._object(obj, kind)

    def feed_frames(self, buf: bytes, pos: int, until_token: bool) -> tuple[list[Delta], int]:
        """``feed_data`` of each usual named frame from ``pos`` of ``buf`` on (``event: <name>`` LF ``data:
        <data>`` LF LF; ``buf`` holds no CR: the caller checks), their deltas in one list, and the position
        after the last frame read: what the relay's tap gives frame by frame, for a read's frames as one
        batch (one call, one list, one ``_deltas`` in the relay, instead of four calls a frame). It stops
        before a frame that is not one or that ``feed_data`` is unsure of (nothing of it read), after
        ``message_stop`` or an error, at the end of ``buf``; with ``until_token``, after the first frame
        that brings a token (text, reasoning, a tool call or its arguments: the relay's first write);
        without, before a usual text delta other than the first frame (the relay's run lane reads those:
        ``text_run``). ``([], pos)`` when the first frame is not read. The frames that carry no fact but their
        kind (``_EXACT``) are read as ``_exact`` reads them, ``message_start`` and ``message_delta`` as
        ``_object`` does, inline (no call for them: issue 13, session 35).
        Source: Anthropic Messages streaming guide, "Event types" (the frames and their shapes)."""
        out: list[Delta] = []
        start, n = pos, len(buf)
        named = _NAMED_FIRST if until_token else _NAMED_FRAME
        while pos < n and not (self._stopped or self._failed):
            framed = named(buf, pos)
            if framed is None:
                break
            data = framed[1]
            exact = _EXACT.get(data)
            if (
                exact is not None
            ):  # ``_exact``'s reading inline: ping, a text block's empty start, a block's stop, …
                if exact == "ping":
                    out.append(KeepAlive())
                elif exact == "content_block_start":
                    self._blocks[_EXACT_INDEX[data]] = ("text", -1)
                elif exact == "content_block_stop":
                    if self._held:
                        out += self._release(_EXACT_INDEX[data])
                else:  # message_stop
                    self.done = self._stopped = self.closed = True
                pos = framed.end()
                continue
            if until_token:
                # the first token's usual text delta (``text_of``'s; ``_NAMED_FIRST``'s group 2): ``[TextDelta(text)]``
                # with no parse, for a text that is valid UTF-8 (else ``feed_data`` reads it, as ``feed`` would the
                # SSE decoder's text; ``_utf8_text`` inline: a call less, session 35)
                if (text := framed[2]) is not None:
                    try:
                        said = text.decode()
                    except UnicodeDecodeError:
                        pass
                    else:
                        out.append(TextDelta(said))
                        return out, framed.end()
            elif pos != start and data[9:10] == b"c" and _TEXT_HEAD(data) is not None:
                # (``data[9:10]``: the ``c`` of ``{"type":"content_block_delta"``, which ``_TEXT_HEAD`` needs;
                # a test with no call, ~1.2k instructions less than the match for a ``message_delta``)
                break  # (the run lane's: its frames are read with no delta made)
            # ``feed_data(data)`` inline (its tests above done: not stopped, not failed, not exact; one call and
            # one code object less on a ``message_start`` and a ``message_delta``: issue 13, session 34), and
            # ``_object``'s reading of those two kinds (session 35)
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                break
            if type(obj) is not dict or not (kind := obj.get("type")):
                break
            if kind == "message_start":
                message = obj.get("message")
                got = self._message_start(message if type(message) is dict else {})
            elif kind == "message_delta":
                delta, usage = obj.get("delta"), obj.get("usage")
                got = self._message_delta(
                    delta if type(delta) is dict else {}, usage if type(usage) is dict else {}
                )
            else:
                got = self._object(obj, kind)
            out += got
            pos = framed.end()
            # (a frame's token, when it brings one, is its first delta: ``_object``'s lists)
            if until_token and got and type(got[0]) in _TOKENS:
                break
        return out, pos

    def _exact(self, kind: str, data: bytes) -> list[Delta]:
        """What ``_object`` does with the frame ``data``, one of ``_EXACT`` (of kind ``kind``)."""
        if kind == "ping":
            return [KeepAlive()]
        if kind == "message_stop":
            self.done = self._stopped = self.closed = True
        elif kind == "content_block_start":  # a text block's start with no text: ``_block_start``
            self._blocks[_EXACT_INDEX[data]] = ("text", -1)
        elif self._held:  # a block's stop: what its start gave, if held (``_release``)
            return self._release(_EXACT_INDEX[data])
        return []  # a block's stop carries nothing

    def _object(self, obj: dict[str, Any], kind: Any) -> list[Delta]:
        """One parsed event of kind ``kind`` (its ``type``, else its SSE name)."""
        if kind == "content_block_delta":  # most of a stream
            delta = obj.get("delta")
            if type(delta) is not dict:
                return []
            if delta.get("type") == "text_delta":  # the usual delta: its block's kind does not matter
                text = delta.get("text")
                return [TextDelta(text=text)] if type(text) is str and text else []
            return self._block_delta(obj.get("index"), delta)
        if kind == "message_start":
            message = obj.get("message")  # (``_dict`` inline here and below: a call less each, session 34)
            return self._message_start(message if type(message) is dict else {})
        if kind == "content_block_start":
            return self._block_start(obj.get("index"), _dict(obj.get("content_block")))
        if kind == "message_delta":
            delta, usage = obj.get("delta"), obj.get("usage")
            return self._message_delta(
                delta if type(delta) is dict else {}, usage if type(usage) is dict else {}
            )
        if kind == "message_stop":
            self.done = self._stopped = self.closed = True
        elif kind == "content_block_stop":
            return self._release(obj.get("index")) if self._held else []
        elif kind == "ping":
            return [KeepAlive()]
        elif kind == "error":
            self._failed = True
            err = _dict(obj.get("error"))
            err_type = _str(err.get("type")) or "api_error"
            message = _str(err.get("message")) or "upstream error during streaming"
            return [StreamError(status=status_for_error_type(err_type), type=err_type, message=message)]
        return []  # content_block_stop, message_stop and unknown event types carry nothing for the IR

    def text_of(self, ev: SSEEvent) -> str | None:
        """The text of ``ev`` when it is the usual ``text_delta`` event, which ``feed`` can only turn into
        ``[TextDelta(text)]`` (a non-empty text), changing nothing: read from the compact JSON Anthropic
        sends without parsing it (``_TEXT_EVENT``). None for anything else (``feed`` then reads the event):
        another shape, spaces, other keys, an escape in the text, a character JSON refuses raw.
        Source: Anthropic Messages streaming guide, "Text delta"."""
        if self._stopped or self._failed or ev.comment:
            return None
        m = _TEXT_EVENT(ev.data)
        return None if m is None else m[1]

    def text_run(self, buf: bytes, pos: int) -> tuple[list[bytes], int] | None:
        """The run of usual ``text_delta`` frames at ``pos`` of ``buf`` (whole frames, the SSE decoder at a
        boundary before them), each one an event ``text_of`` reads: their texts' JSON string bodies, the
        UTF-8 bytes of the texts when the run is valid UTF-8 (the caller checks: the SSE decoder would
        replace an invalid byte), and the position after the run; None when the frame at ``pos`` is not
        one (another event, another spelling, an escape in its text, or after ``message_stop`` or an
        error). Two C calls for the whole run; ``feed`` of each frame would give one ``TextDelta`` and
        change nothing. Source: Anthropic Messages streaming guide, "Text delta"."""
        if self._stopped or self._failed:
            return None
        m = _TEXT_RUN(buf, pos)
        if m is None:
            return None
        end = m.end()
        return _TEXT_BODIES(buf, pos, end), end

    def finish(self) -> list[Delta]:
        """End of the upstream body: what a block's start gave, still held (``_held``: the body ended before the
        block's stop), goes out; nothing else needs flushing."""
        return self._flush_held() if self._held else []

    @property
    def usage(self) -> Usage | None:
        """The stream's usage so far (``usage_from_anthropic`` of the merged objects), None before
        ``message_start``: converted when first read, once per usage frame at most (session 22)."""
        update = self._update
        return None if update is None else update.usage

    def _merged(self) -> dict[str, Any]:
        """The raw usage so far: ``message_start``'s merged with every ``message_delta``'s."""
        if self._unmerged is not None:
            self._raw_usage = merge_stream_usage(self._raw_usage, self._unmerged)
            self._unmerged = None
        return self._raw_usage

    def _message_start(self, message: dict[str, Any]) -> list[Delta]:
        # (``_str``/``_dict`` inline: orjson's values, exact types; three calls less, session 34)
        model = message.get("model")
        self.model = model if type(model) is str and model else None
        # (the parsed event's own object, no copy: nothing else holds it, and neither ``raw`` nor the objects in
        # it are ever changed: ``merge_stream_usage`` makes new ones)
        raw = message.get("usage")
        raw = self._raw_usage = raw if type(raw) is dict else {}
        self._unmerged = None
        update = self._update = UsageUpdate.later(partial(usage_from_anthropic, raw))
        # (positional: a dataclass's keywords cost more than its ``__init__``, see shared/sse.py)
        said = message.get("id")
        start = MessageStart(said if type(said) is str and said else new_id("msg_"), self.model or "")
        return [start, update]

    def _block_start(self, index: Any, block: dict[str, Any]) -> list[Delta]:
        if not isinstance(index, int):
            return []
        btype = block.get("type")
        if btype == "text":
            self._blocks[index] = ("text", -1)
            return [TextDelta(text=block["text"])] if _str(block.get("text")) else []
        if btype == "thinking":
            self._blocks[index] = ("thinking", -1)
            out: list[Delta] = []
            if _str(block.get("thinking")):
                out.append(ReasoningDelta(text=block["thinking"]))
            if _str(block.get("signature")):
                # held to the block's stop: a signature_delta, if one comes, is the signature (bug32a variant
                # 04-v32j: a start's signature and its delta's closed two blocks, one of them empty, and a
                # Responses client gave Anthropic back a thinking block it never signed)
                self._held[index] = SignatureDelta(signature=block["signature"])
            return out
        if btype != "tool_use":
            self._blocks[index] = ("other", -1)
            data = block.get("data") if btype == "redacted_thinking" else None
            return [RedactedThinking(data=data)] if type(data) is str and data else []
        tool = self._tools
        self._tools += 1
        self._blocks[index] = ("tool_use", tool)
        out = [
            ToolCallStart(
                index=tool, id=_str(block.get("id")) or new_id("toolu_"), name=_str(block.get("name"))
            )
        ]
        if tool_input := input_object(block.get("input")):
            self._held[index] = ToolArgsDelta(index=tool, fragment=orjson.dumps(tool_input).decode())
        return out

    def _release(self, index: Any) -> list[Delta]:
        """At a block's stop: what its ``content_block_start`` gave and no delta replaced (``_held``): a tool_use
        block's input as its arguments, a thinking block's signature; [] when none is held for ``index``."""
        held = self._held.pop(index, None) if isinstance(index, int) else None
        return [held] if held is not None else []

    def _flush_held(self) -> list[Delta]:
        """Everything still held (a block whose stop never came before the message's end), in block order."""
        out: list[Delta] = [self._held[i] for i in sorted(self._held)]
        self._held.clear()
        return out

    def _block_delta(self, index: Any, delta: dict[str, Any]) -> list[Delta]:
        dtype = delta.get("type")
        kind, tool = self._blocks.get(index, ("other", -1)) if isinstance(index, int) else ("other", -1)
        if dtype == "thinking_delta" and _str(delta.get("thinking")):
            return [ReasoningDelta(text=delta["thinking"])]
        if dtype == "signature_delta" and _str(delta.get("signature")):
            if self._held:  # (the start's signature, if it gave one, is replaced: ``_held``)
                self._held.pop(index, None)
            return [SignatureDelta(signature=delta["signature"])]
        if dtype == "input_json_delta" and kind == "tool_use" and _str(delta.get("partial_json")):
            # the streamed text is the input (the anthropic SDK's ``accumulate_event``: once its joined
            # ``partial_json`` is not empty it replaces the start's ``input``): an input the start gave goes
            # (bug32a variant 01-v32m: a start's input and a delta restating it reached a chat client as
            # '{"city":"Paris"}{"city": "Paris"}')
            if self._held:
                self._held.pop(index, None)
            return [ToolArgsDelta(index=tool, fragment=delta["partial_json"])]
        return []

    def _message_delta(self, delta: dict[str, Any], usage: dict[str, Any]) -> list[Delta]:
        start = self._merged() if self._unmerged is not None else self._raw_usage  # (the call only when due)
        self._unmerged = usage
        # ``usage_from_anthropic(merge_stream_usage(start, usage))`` without the merged object made
        # (``stream_usage``: the same ``Usage``, tests/unit/dialects/test_stream_usage34.py)
        # (a ``partial``, not a lambda: its read runs no Python frame of its own; session 35)
        update = self._update = UsageUpdate.later(partial(stream_usage, start, usage))
        out: list[Delta] = [update]
        if self._held:  # (a block not stopped before the message's end: what it holds still goes first)
            out[:0] = self._flush_held()
        if delta.get("stop_reason") is not None:
            self.done = True  # the stop reason says the answer is complete; message_stop is framing
            # (positional, as ``_message_start``'s: reason, stop sequence, and ``filtered``: a safety classifier's)
            reason = delta["stop_reason"]
            # (``stop_from_anthropic`` of a known reason from its table: a call less; session 35)
            stop = _STOPS.get(reason) if type(reason) is str else None
            stop = stop_from_anthropic(reason) if stop is None else stop
            out.append(Finish(stop, delta.get("stop_sequence"), reason == "refusal"))
        return out


class MessagesStreamEncoder:
    """IR deltas → the client-facing Anthropic Messages stream (conformance §2.4, §6.2).

    Every frame has an ``event:`` line. Blocks are numbered in order and never interleave. The
    ``message_delta`` is held until ``finish()`` because OpenAI-style upstreams send usage after the
    finish reason. After a StreamError nothing more is sent, not even ``message_stop``.
    """

    # One encoder is made per stream: slots, no instance dict to build and grow (as ``relay.Relay``)
    __slots__ = (
        "model",
        "message_id",
        "_tool_names",
        "_usage",
        "_finish",
        "_started",
        "_closed",
        "_open",
        "_open_tool",
        "_signed",
        "_index",
        "_has_tools",
        "_args",
    )

    def __init__(
        self, model: str, message_id: str | None = None, tool_names: Mapping[str, str] | None = None
    ) -> None:
        self.model = model
        self.message_id = message_id
        # read only (``.get``): the view's own mapping, not a copy (``View`` is immutable)
        self._tool_names: Mapping[str, str] = _NO_NAMES if tool_names is None else tool_names
        self._usage: Usage | None = None
        self._finish: Finish | None = None
        self._started = False
        self._closed = False
        self._open: BlockKind | None = None
        self._open_tool = -1
        self._signed = False
        self._index = -1
        self._has_tools = False
        # the open tool_use block's input so far: a fresh one at each ``ToolCallStart`` (``_content``); until
        # then one shared empty one, read only (``_close_block`` reads it only when a tool_use block is open)
        self._args = _NO_ARGS

    def feed(self, d: Delta) -> bytes:
        """Encode one delta as zero or more complete SSE frames."""
        if self._closed:
            return b""
        if type(d) is TextDelta and self._open == "text" and self._finish is None:
            # the usual delta, inside the text block already open: its frame written directly
            return _text_delta(self._index, d.text) if d.text else b""
        if type(d) is TextDelta and self._open is None and self._started and self._finish is None and d.text:
            # the first text of a block (a chat upstream's first token): ``_start(None) + _content(d)``'s bytes
            # (``_open_block("text", …)`` with no block to close, then ``_text_delta``) written here, so the
            # first read runs none of those four functions (issue 13, session 34: a c1 request meets their code
            # cold; tests/unit/dialects/test_encoder_first_text34.py)
            index = self._index = self._index + 1
            self._open, self._signed = "text", False
            if index < _HEADS_KEPT:
                return _TEXT_STARTS_AT[index] + _DELTA_HEADS_AT[index] + orjson.dumps(d.text) + b"}}\n\n"
            return _text_start(index) + _text_delta(index, d.text)
        if type(d) is Finish and self._open == "text" and self._started and self._finish is None:
            # the stop reason closing a text block: ``_start(None) + _content(d)``'s bytes (``_close_block`` of a
            # text block is its ``content_block_stop`` alone), without their calls (as above)
            self._finish = d
            self._open = None
            index = self._index
            return _BLOCK_STOPS_AT[index] if index < _HEADS_KEPT else _block_stop(index)
        if type(d) is UsageUpdate:
            self._usage = d.usage
            return b""
        if type(d) is StreamError:
            self._closed = True
            etype, message = stream_words_for_anthropic(d.status, d.type, d.message, d.asked_output)
            if (
                etype not in ERROR_STATUS
            ):  # another format's or the gateway's own name: Anthropic's for the status
                etype = anthropic_error_type(d.status)
            return _frame({"type": "error", "error": {"type": etype, "message": message}})
        if type(d) is KeepAlive:
            return self._start(None) or _PING
        if self._finish is not None:
            return b""  # content after the stop reason would land after the blocks were closed
        if type(d) is MessageStart:  # its opening alone (``_content`` writes nothing for it)
            if self._started:
                return b""
            if self._usage is None:
                # a chat upstream's start: ``_start(d.id)``'s zero-usage template written here, its message id by
                # ``_start``'s rule, so the first read runs no ``_start`` or ``_start_tail`` (issue 13, session 35:
                # each a code object a c1 request meets cold; tests/unit/dialects/test_c1_footprint35.py)
                self._started = True
                upstream_id = d.id
                msg_id = self.message_id or (upstream_id if (upstream_id or "").startswith("msg_") else None)
                if msg_id is None:
                    msg_id = "msg_" + upstream_id if upstream_id else new_id("msg_")
                model = self.model
                tail = _START_TAILS.get(model) or _start_tail(model)
                return _MESSAGE_START_HEAD + orjson.dumps(msg_id) + tail
            return self._start(d.id)
        return self._start(None) + self._content(d)

    def opened(self, opening: Opening) -> None:
        """The client already has its answer's opening (``message_start``, sent for a route that failed
        before its first token, ``relay.Relay.resume``): none is written; blocks still count from 0."""
        if opening.frames:
            self._started = True

    def text(self, text: str) -> bytes | None:
        """``feed(TextDelta(text))`` for a non-empty ``text`` when that is the usual frame (a text block is
        open, no stop reason yet), else None: the caller then feeds the delta (``relay.Translator``)."""
        if self._closed or self._open != "text" or self._finish is not None:
            return None
        return _text_delta(self._index, text)

    def text_frames(self, bodies: list[bytes]) -> bytes | None:
        """``text`` of each text in turn, given the texts as the bodies of their JSON strings with no escape
        (non-empty, valid UTF-8, no quote, backslash or control character: ``orjson.dumps`` of such a text
        is its body quoted), joined; None when ``text`` would say None (the state is the same for each:
        ``text`` changes nothing). One join for the run, no frame built per text (``_text_delta``'s bytes)."""
        if self._closed or self._open != "text" or self._finish is not None:
            return None
        index = self._index
        head = _RUN_HEADS_AT[index] if index < _HEADS_KEPT else _text_delta_head(index) + b'"'
        tail = b'"}}\n\n'
        return head + (tail + head).join(bodies) + tail

    def finish(self) -> bytes:
        """Close the stream: close the open block, then ``message_delta`` and ``message_stop``."""
        if self._closed:
            return b""
        self._closed = True
        # (``_start`` and ``_close_block`` only when they have something to write: a started stream whose stop
        # reason closed its block, the usual one, calls neither; session 35)
        out = (b"" if self._started else self._start(None)) + (
            b"" if self._open is None else self._close_block()
        )
        reason = self._finish.reason if self._finish else "end_turn"
        if reason == "end_turn" and self._has_tools:
            reason = "tool_use"
        stop_sequence = self._finish.stop_sequence if self._finish and reason == "stop_sequence" else None
        # ``_frame({"type": "message_delta", "delta": {…}, "usage": …})``, the same bytes, fewer dicts; a usual
        # reason without a stop sequence from its template (``_DELTA_HEADS``)
        usage = _ZERO_USAGE_JSON if self._usage is None else orjson.dumps(usage_to_anthropic(self._usage))
        head = _DELTA_HEADS.get(reason) if stop_sequence is None else None
        if head is None:
            head = (
                b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
                + orjson.dumps(reason)
                + b',"stop_sequence":'
                + orjson.dumps(stop_sequence)
                + b'},"usage":'
            )
        return out + head + usage + _DELTA_END

    def _content(self, d: Delta) -> bytes:
        if type(d) is TextDelta and d.text:  # (``_text_delta``: ``_delta``'s frame from a template)
            return self._open_block("text", _TEXT_BLOCK) + _text_delta(self._index, d.text)
        if type(d) is ReasoningDelta and d.text:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            # a signature closes its thinking block: reasoning after it starts a new one
            out = self._close_block() if self._open == "thinking" and self._signed else b""
            return (
                out
                + self._open_block("thinking", block)
                + self._delta({"type": "thinking_delta", "thinking": d.text})
            )
        if type(d) is SignatureDelta and d.signature:
            # a signature with no thinking text before it (display "omitted") still needs its block
            block = {"type": "thinking", "thinking": "", "signature": ""}
            out = self._close_block() if self._open == "thinking" and self._signed else b""
            out += self._open_block("thinking", block)
            self._signed = True
            return out + self._delta({"type": "signature_delta", "signature": d.signature})
        if type(d) is RedactedThinking and d.data:  # a whole block: started and stopped at once
            block = {"type": "redacted_thinking", "data": d.data}
            return self._open_block("other", block) + self._close_block()
        if type(d) is ToolCallStart:
            self._has_tools = True
            name = self._tool_names.get(d.name, d.name)
            # Gemini's signature comes back in the id (``_call_signature``)
            call_id = signed_id(d.id, d.signature)
            out = self._open_block("tool_use", {"type": "tool_use", "id": call_id, "name": name, "input": {}})
            self._open_tool, self._args = d.index, ToolArgs()
            return out
        if (
            type(d) is ToolArgsDelta
            and self._open == "tool_use"
            and d.index == self._open_tool
            and d.fragment
        ):
            self._args.add(d.fragment)
            return self._delta({"type": "input_json_delta", "partial_json": d.fragment})
        if type(d) is Finish:
            self._finish = d
            return self._close_block()
        return b""

    def _start(self, upstream_id: str | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        msg_id = self.message_id or (upstream_id if (upstream_id or "").startswith("msg_") else None)
        if msg_id is None:
            msg_id = "msg_" + upstream_id if upstream_id else new_id("msg_")
        if self._usage is None:  # no usage yet (a chat upstream's start): the zero counts' template
            return _MESSAGE_START_HEAD + orjson.dumps(msg_id) + _start_tail(self.model)
        message: dict[str, Any] = {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_to_anthropic(self._usage or Usage()),
        }
        return _frame({"type": "message_start", "message": message}) + _PING

    def _open_block(self, kind: BlockKind, block: dict[str, Any]) -> bytes:
        if self._open == kind and kind != "tool_use":
            return b""
        out = self._close_block()
        self._open, self._signed = kind, False
        index = self._index = self._index + 1
        if (
            kind == "text"
        ):  # the usual block: its start from a template (``_text_start``; the first ones made once)
            return out + (_TEXT_STARTS_AT[index] if index < _HEADS_KEPT else _text_start(index))
        return out + _frame({"type": "content_block_start", "index": self._index, "content_block": block})

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        out = b""
        if self._open == "thinking" and not self._signed:
            out = self._delta({"type": "signature_delta", "signature": SYNTHETIC_SIGNATURE})
        elif self._open == "tool_use" and self._args.text:  # no input at all is `{}` already
            tail = self._args.closing()  # the input must parse as a JSON object when the block stops
            out = self._delta({"type": "input_json_delta", "partial_json": tail}) if tail else b""
        self._open = None
        return out + _block_stop(self._index)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return _frame({"type": "content_block_delta", "index": self._index, "delta": delta})


STOP_FRAME = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_NO_NAMES: Mapping[str, str] = MappingProxyType({})
_NO_ARGS = ToolArgs()  # (never added to: see ``MessagesStreamEncoder.__init__``)


def ends_stream(decoder: object, read: bytes) -> bool:
    """``read`` (whole frames, LF line ends) ends with the exact ``message_stop`` frame: read by the
    decoder, it leaves it closed and done (``_exact``), or it is ignored by a decoder already stopped
    (closed) or failed (an error told): nothing may follow it (``WireSpec.ends_stream``).
    Source: Anthropic Messages streaming guide, "Event types" (``message_stop`` ends the stream)."""
    return read.endswith(STOP_FRAME)


def _frame(obj: dict[str, Any]) -> bytes:
    """``encode_event(orjson.dumps(obj), event=obj["type"])``: orjson writes no line break, so the JSON is
    one ``data:`` line."""
    kind: str = obj["type"]
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


_PING = _frame({"type": "ping"})
_TEXT_BLOCK = {"type": "text", "text": ""}  # (``_open_block`` writes a text block's start from a template)
_ZERO_USAGE_JSON = orjson.dumps(usage_to_anthropic(Usage()))
# ``_start``'s frames (``message_start``, then ``ping``) around its id and model, with zero usage
_MESSAGE_START_HEAD = b'event: message_start\ndata: {"type":"message_start","message":{"id":'
_MESSAGE_START_TAIL = (
    b',"content":[],"stop_reason":null,"stop_sequence":null,"usage":' + _ZERO_USAGE_JSON + b"}}\n\n" + _PING
)


# ``finish``'s ``message_delta`` up to its usage object, per stop reason without a stop sequence, and after it
_DELTA_HEADS = {
    reason: b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":'
    + orjson.dumps(reason)
    + b',"stop_sequence":null},"usage":'
    for reason in get_args(StopReason)
}
_DELTA_END = b"}\n\n" + STOP_FRAME
_START_TAILS: dict[str, bytes] = {}  # ``_start_tail``'s, by model
_START_TAILS_KEPT = 64


def _start_tail(model: str) -> bytes:
    """``_start``'s zero-usage frames after the message id, for ``model`` (the client's model name: made
    once per model, at most ``_START_TAILS_KEPT`` kept, so a client inventing names cannot grow it)."""
    tail = _START_TAILS.get(model)
    if tail is None:
        tail = b',"type":"message","role":"assistant","model":' + orjson.dumps(model) + _MESSAGE_START_TAIL
        if len(_START_TAILS) >= _START_TAILS_KEPT:
            _START_TAILS.clear()
        _START_TAILS[model] = tail
    return tail


def _text_start(index: int) -> bytes:
    """``_frame`` of a text block's ``content_block_start`` at ``index``, the same bytes, no dicts built."""
    return (
        b'event: content_block_start\ndata: {"type":"content_block_start","index":'
        + str(index).encode()
        + b',"content_block":{"type":"text","text":""}}\n\n'
    )


def _block_stop(index: int) -> bytes:
    """``_frame`` of a ``content_block_stop`` at ``index``, the same bytes, no dict built."""
    return (
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":'
        + str(index).encode()
        + b"}\n\n"
    )


def _text_delta(index: int, text: str) -> bytes:
    """``_frame`` of a ``text_delta`` at block ``index``, the same bytes, without building its dicts."""
    head = _DELTA_HEADS_AT[index] if index < _HEADS_KEPT else _text_delta_head(index)
    return head + orjson.dumps(text) + b"}}\n\n"


def _text_delta_head(index: int) -> bytes:
    """A ``text_delta`` frame at block ``index`` up to its text's JSON string (``_text_delta``)."""
    return (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
        + str(index).encode()
        + b',"delta":{"type":"text_delta","text":'
    )


# the text blocks' frame heads (``_text_start``, ``_text_delta_head``) of the first block indexes, made once: a
# stream's text block is most often its first or second block (issue 13, session 28: no int formatted per frame)
_HEADS_KEPT = 8
_TEXT_STARTS_AT = tuple(_text_start(i) for i in range(_HEADS_KEPT))
_DELTA_HEADS_AT = tuple(_text_delta_head(i) for i in range(_HEADS_KEPT))
_RUN_HEADS_AT = tuple(head + b'"' for head in _DELTA_HEADS_AT)  # (``text_frames``: up to the string's body)
_BLOCK_STOPS_AT = tuple(
    _block_stop(i) for i in range(_HEADS_KEPT)
)  # (``feed``'s text block closed by its finish)
