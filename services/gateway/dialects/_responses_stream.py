"""OpenAI Responses streams: upstream events → IR deltas, and IR deltas → client events (sans-io).

The event shapes follow the openai SDK's ``types/responses/response_*_event.py`` and what its stream
accumulator (``openai/lib/streaming/responses/_responses.py``, ``ResponseStreamState``) requires; the
minimum Codex needs is in ``../shared/docs/api-conformance.md`` §4 and ``client-protocols.md``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE
from services.gateway.dialects._call_signature import signed_id
from services.gateway.dialects._error_meaning import stream_words_for_openai
from services.gateway.dialects._opening import Opening
from services.gateway.dialects._responses_opaque import (
    encode_compaction,
    encode_redacted_thinking,
    encode_thinking,
    split_namespaced,
)
from services.gateway.dialects._responses_wire import (
    billed_usage,
    custom_input_of,
    error_code_for_status,
    new_hex,
    response_id_for,
    stream_error_from_responses,
    usage_to_responses,
)
from services.gateway.dialects._tool_args import closing_suffix, null_so_far
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
from services.gateway.dialects.view import View
from shared.sse import SSEEvent, encode_comment


# Upstream values come from orjson, so their types are exact (no subclass): ``type(v) is`` suffices.
def _dict(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else {}


def _str(value: Any) -> str:
    return value if type(value) is str else ""


# ---- upstream → IR ------------------------------------------------------------------------------

ItemKind = Literal["message", "reasoning", "function_call", "custom_tool_call", "other"]


@dataclass(slots=True)
class _UpItem:
    kind: ItemKind
    id: str = ""  # the upstream item id (an output_index names an item only while the id matches)
    tool: int = -1  # IR tool index for calls
    streamed: bool = False  # deltas were relayed for this item
    summary_index: int = -1  # last reasoning summary part seen
    custom_input: list[str] = field(default_factory=list)
    # a function call's arguments given in ``output_item.added``, held until its deltas (which replace them) or
    # its done event (``_arguments_whole``)
    held: str = ""
    # its first argument fragments while they are blank or a beginning of ``null`` (``_args_fragment``)
    nullish: list[str] | None = None


def stop_from_incomplete(response: dict[str, Any]) -> StopReason:
    """``incomplete_details.reason`` as an IR stop reason (``max_output_tokens`` and unknown → max_tokens)."""
    return "refusal" if filtered(response) else "max_tokens"


def filtered(response: dict[str, Any]) -> bool:
    """An incomplete ``Response`` cut by the content filter (``incomplete_details.reason``)."""
    return _dict(response.get("incomplete_details")).get("reason") == "content_filter"


_TERMINAL_KINDS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def ends_stream(decoder: ResponsesStreamDecoder, read: bytes) -> bool:
    """``read`` (whole frames, LF line ends) ends with a terminal event: its last frame is ``event:``
    LF ``data:`` (one line each) and its data one JSON object whose ``type`` is ``response.completed``,
    ``response.incomplete`` or ``response.failed`` (as JSON keeps it: a duplicate key's last value, the
    decoder's reading), the event line naming that same kind (``event: response.completed``). Read by ``ResponsesStreamDecoder.feed``, that frame leaves it done and closed
    (``_terminal``), or it is ignored by a decoder already done or failed (an error told): nothing may
    follow it (``WireSpec.ends_stream``). That frame is parsed here once: ``decoder`` keeps the parse for
    when it reads the frame (``feed`` or ``feed_data``: the same data, the same object). Source: OpenAI
    "Responses streaming events" (the terminal events).

    The last frame is found from the end by its event line's start (``LF LF event: response.``, a long
    needle: the reverse search skips ahead, session 23): a hit that is not the read's last frame boundary
    leaves an LF inside what is taken for the data line, and the test says False, as it does for a read
    of that one frame when it is the last frame of another kind."""
    at = read.rfind(b"\n\nevent: response.")
    if at == -1:
        if not read.startswith(b"event: response."):  # (a read of one frame: a streaming upstream's last)
            return False
        at = -2
    head, _, rest = read[at + 2 :].partition(b"\n")
    if not rest.startswith(b"data: ") or rest.find(b"\n") != len(rest) - 2:
        return False
    return _terminal_frame(decoder, head, rest[6:-2])


def ends_lines(decoder: ResponsesStreamDecoder, lines: list[bytes]) -> bool:
    """``ends_stream`` of a read of usual named frames given as the read split at LF (``relay._usual_named``:
    each frame's ``event:`` line, ``data: `` line and blank line in turn, then b""), read on its last frame's
    two lines: no search of the read and no copy of its end (session 28; the same answer and the same kept
    parse, ``tests/unit/test_ends_lines28.py``). The split is what ``ends_stream`` finds: in such a read the
    only blank lines end frames, so its last ``LF LF event: response.`` is the last frame's start exactly
    when that frame's event line begins ``event: response.``, and its data line is one line."""
    head = lines[-4]
    if not head.startswith(b"event: response."):
        return False
    return _terminal_frame(decoder, head, lines[-3][6:])


def _terminal_frame(decoder: ResponsesStreamDecoder, head: bytes, data: bytes) -> bool:
    """``ends_stream``'s test of the last frame, given its event line ``head`` and its data's bytes."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    # the kind a string (a list or an object is no member: unhashable, ``in`` would raise) and the event line
    # naming it: a frame under a token name the relay lets by undecoded once the stream has its first token
    # (``Passthrough._feed_frames``), so such a frame closes nothing (review21b)
    kind = obj.get("type") if type(obj) is dict else None
    if type(kind) is str and kind in _TERMINAL_KINDS and head[7:] == kind.encode():
        decoder.parsed = (data, obj)  # (valid UTF-8: orjson read it)
        return True
    return False


class ResponsesStreamDecoder:
    """Upstream OpenAI ``/v1/responses`` SSE → IR deltas.

    Tool indexes count ``function_call`` and ``custom_tool_call`` items from 0 in order of appearance
    (never the upstream's ``output_index``). A custom tool call's raw input becomes the arguments
    ``{"input": <text>}``, sent whole when its item is done. An item whose content never streamed
    (arguments only in ``output_item.done``, a message delivered whole) is relayed from its done event.
    A function call's arguments given in its ``output_item.added`` are held: its argument deltas replace them, else its
    done event relays them; arguments that are ``null`` (or blank) are none, the client's encoder closes them as ``{}``
    (``_args_fragment``; bug35b).
    ``done`` is True once ``response.completed``, ``response.incomplete`` or ``response.failed`` was seen;
    that terminal event is the stream's closing frame too (``closed``).

    ``inert(data)`` tells, from the text alone, an event that would leave the decoder as it is: the
    ``response.in_progress`` that repeats the ``response.created`` just decoded (``_twin``), an empty
    ``response.content_part.added``.
    """

    @property
    def closed(self) -> bool:
        return self.done

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.model: str | None = None
        self._started = False
        self._failed = False
        self._items: dict[int, _UpItem] = {}
        self._tools = 0
        self._refusal = False
        # What follows the sequence number in the data of the ``response.created`` event this decoder read
        # last, when it was the last event it read and has the usual shape (``_twin``); else None.
        # (text when ``feed`` read it, bytes when ``feed_data`` did: ``inert`` and ``inert_data`` compare
        # their own kind only)
        self._twin: str | bytes | None = None
        # ``ends_stream``'s parse of the stream's last frame: (its data's bytes, the object), taken by
        # ``feed`` or ``feed_data`` when it reads that data, instead of parsing it again
        self.parsed: tuple[bytes, Any] | None = None

    def feed(self, ev: SSEEvent) -> list[Delta]:
        """Translate one upstream SSE event."""
        self._twin = None
        if ev.comment:
            return [KeepAlive()]
        data = ev.data.strip()
        if self.done or self._failed or not data or data == "[DONE]":
            return []
        parsed = self.parsed
        if parsed is not None and parsed[0] == ev.data.encode():
            obj = parsed[1]
            self.parsed = None
        else:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                obj = None
        if type(obj) is not dict:
            return self._fail(
                StreamError(status=502, type="api_error", message="malformed event from upstream")
            )
        kind = obj.get("type") or ev.event
        if not kind and obj.get("status") == "failed" and obj.get("object") == "response":
            # a whole failed Response (a 200's body, ``Proxy._error_told_inside``): its ``response.failed`` (fix28)
            kind, obj = "response.failed", {"type": "response.failed", "response": obj}
        return self._object(kind or "", obj, data)

    def feed_data(self, data: bytes) -> list[Delta] | None:
        """``feed`` of an event that is no comment, given its data's bytes alone (``WireSpec.frame_tap``: a
        relay that splits a read into frames itself asks this, without an ``SSEEvent``): the same deltas
        and the same state, or None, nothing changed, when unsure (``feed`` then reads the event). None
        for data that is not a JSON object in valid UTF-8 beginning ``{`` (``feed`` reads the text the SSE
        decoder makes of it, stripped, invalid bytes replaced; its error for a malformed one), for one
        that names no ``type`` (``feed`` then takes the event's name), and once done or failed (``feed``
        reads nothing then). The object is parsed from the bytes (or taken from ``ends_stream``'s parse of
        the same bytes), and read by what ``feed`` reads it with (``_object``)."""
        if self.done or self._failed or data[:1] != b"{":
            return None
        parsed = self.parsed
        if parsed is not None and parsed[0] == data:
            obj = parsed[1]
            self.parsed = None  # (a terminal ``type``: read below)
        else:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
        kind = obj.get("type")  # (a parse of data that begins "{" is a dict)
        if not kind:
            return None
        self._twin = None
        return self._object(kind, obj, data)

    def _object(self, kind: Any, obj: dict[str, Any], data: str | bytes) -> list[Delta]:
        """One parsed event of kind ``kind`` (its ``type``, else its SSE name); ``data``: its data, whose
        text after the sequence number a ``response.created`` keeps for ``inert`` (``_twin``)."""
        if kind == "error":
            error = obj.get("error") if isinstance(obj.get("error"), dict) else obj
            return self._fail(stream_error_from_responses(error, "upstream error during streaming"))
        response = obj.get("response")
        if self._started and type(response) is not dict:  # most events: no response object to read
            if kind == "response.output_text.delta":  # ``_event``'s text delta, without its calls
                delta = obj.get("delta")
                if type(delta) is str and delta:
                    index = obj.get("output_index")
                    if isinstance(index, int) and (item := self._items.get(index)) is not None:
                        item.streamed = True
                    return [TextDelta(text=delta)]
            return self._event(kind, obj)
        if kind == "response.created":
            self._twin = _twin(data)
        out = self._start(response if type(response) is dict else {})
        if kind == "response.created" or kind == "response.in_progress":
            return out  # (``_event`` reads nothing of them)
        return out + self._event(kind, obj)

    def inert(self, data: str) -> bool:
        """True when ``data`` (an event's data, as the SSE decoder gives it) is one that ``feed`` would
        read without reporting anything or changing this decoder, told from the text, no JSON parse:

        - a ``response.in_progress`` that repeats, byte for byte after its sequence number, the
          ``response.created`` this decoder read last (nothing read between them; OpenAI's stream sends
          the same response object in both, OpenAI "Responses streaming events", tests/fake/responses_wire.py).
          The two differ only in the ``type`` string and the sequence number (a JSON integer) and the
          ``created`` one parsed (its ``type``, after any duplicate key in the shared text,
          ``response.created``), so this one parses to the same members but for its ``type``
          (``response.in_progress``, or ``response.created`` again by that duplicate key): kinds ``feed``
          reads only the model of (``_event``), and the model it would read again is the one it has;
        - a ``response.content_part.added`` of the usual empty text part, in its one compact shape
          (``_EMPTY_PART``: valid JSON by construction, one ``type``, no ``response``), once the stream
          has started: a kind ``_event`` reads nothing of.

        Anything else (a malformed or different frame) is False: ``feed`` reads it, and its error falls
        back to the next route before the first token. Source of the shapes: the openai SDK's
        ``ResponseInProgressEvent``, ``ResponseContentPartAddedEvent``."""
        if data.startswith(_IN_PROGRESS_HEAD):
            tail = self._twin
            if type(tail) is not str or not data.endswith(tail):
                return False
            number = data[len(_IN_PROGRESS_HEAD) : len(data) - len(tail)]
            return _SEQUENCE_NUMBER.fullmatch(number) is not None
        return self._started and _EMPTY_PART.fullmatch(data) is not None

    def inert_data(self, data: bytes) -> bool:
        """``inert`` of an event's data bytes (a relay that splits a read into frames itself, session 23):
        the same tests on the bytes, against a ``response.created`` that ``feed_data`` read (its text kept as
        bytes); False for one ``feed`` read, and for bytes not UTF-8 (the shapes are ASCII, and the twin's
        tail parsed: a match is valid UTF-8)."""
        if data.startswith(_IN_PROGRESS_HEAD_B):
            tail = self._twin
            if type(tail) is not bytes or not data.endswith(tail):
                return False
            number = data[len(_IN_PROGRESS_HEAD_B) : len(data) - len(tail)]
            return _SEQUENCE_NUMBER_B.fullmatch(number) is not None
        return self._started and _EMPTY_PART_B.fullmatch(data) is not None

    def finish(self) -> list[Delta]:
        """End of the upstream body; Responses streams need no flushing (the relay checks ``done``)."""
        return []

    def _fail(self, err: StreamError) -> list[Delta]:
        self._failed = True
        return [err]

    def _start(self, response: dict[str, Any]) -> list[Delta]:
        model = response.get("model")
        if type(model) is str and model:
            self.model = model
        if self._started:
            return []
        self._started = True
        answer_id = response.get("id")
        answer_id = answer_id if type(answer_id) is str and answer_id else "resp_" + new_hex()
        return [MessageStart(id=answer_id, model=self.model or "")]

    def _event(self, kind: str, obj: dict[str, Any]) -> list[Delta]:
        index = obj.get("output_index")
        item = self._items.get(index) if isinstance(index, int) else None
        if kind == "response.output_item.added":
            return self._item_added(index, _dict(obj.get("item")))
        if kind == "response.output_item.done":
            return self._item_done(index, _dict(obj.get("item")))
        if kind in ("response.output_text.delta", "response.refusal.delta") and _str(obj.get("delta")):
            self._refusal = self._refusal or kind == "response.refusal.delta"
            if item is not None:
                item.streamed = True
            return [TextDelta(text=obj["delta"])]
        if kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            return self._reasoning_delta(item, obj)
        if kind == "response.function_call_arguments.delta" and item is not None and item.tool >= 0:
            if not _str(obj.get("delta")):
                return []
            item.streamed = True
            held = item.nullish
            if held is None or (not held and obj["delta"][:1] == "{"):  # (the usual first fragment: no hold)
                item.nullish = None
                return [ToolArgsDelta(index=item.tool, fragment=obj["delta"])]
            return self._args_fragment(item, obj["delta"])
        if kind == "response.function_call_arguments.done" and item is not None and item.tool >= 0:
            return self._arguments_whole(item, obj.get("arguments"))
        if kind == "response.custom_tool_call_input.delta" and item is not None:
            item.custom_input.append(_str(obj.get("delta")))
            return []
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            return self._terminal(kind, _dict(obj.get("response")))
        return []  # created, in_progress, content_part.*, *.done text events, unknown types

    def _item_added(self, index: Any, raw: dict[str, Any]) -> list[Delta]:
        if not isinstance(index, int):
            return []
        known, item_id = self._items.get(index), _str(raw.get("id"))
        if known is not None and (not item_id or not known.id or item_id == known.id):
            return []  # the same item announced twice
        itype = raw.get("type")
        if itype not in ("function_call", "custom_tool_call"):
            kind: ItemKind = itype if itype in ("message", "reasoning") else "other"
            self._items[index] = _UpItem(kind=kind, id=item_id)
            return []
        item = self._items[index] = _UpItem(kind=itype, id=item_id, tool=self._tools)
        self._tools += 1
        call_id = _str(raw.get("call_id")) or _str(raw.get("id")) or "call_" + new_hex()
        if itype == "function_call":
            item.held, item.nullish = _str(raw.get("arguments")), []
        return [ToolCallStart(index=item.tool, id=call_id, name=_str(raw.get("name")))]

    def _item_done(self, index: Any, raw: dict[str, Any]) -> list[Delta]:
        if not isinstance(index, int):
            return []
        out: list[Delta] = []
        known, item_id = self._items.get(index), _str(raw.get("id"))
        if known is None or (item_id and known.id and item_id != known.id):  # a done without its added
            out += self._item_added(index, raw)
        item = self._items[index]
        if item.kind == "function_call":
            out += self._arguments_whole(item, raw.get("arguments"))
        elif item.kind == "custom_tool_call" and not item.streamed:
            item.streamed = True
            text = raw["input"] if isinstance(raw.get("input"), str) else "".join(item.custom_input)
            out.append(ToolArgsDelta(index=item.tool, fragment=orjson.dumps({"input": text}).decode()))
        elif item.kind == "message" and not item.streamed:
            item.streamed = True
            parts = [p for p in raw.get("content") or [] if isinstance(p, dict)]
            text = "".join(_str(p.get("text")) or _str(p.get("refusal")) for p in parts)
            out += [TextDelta(text=text)] if text else []
        elif item.kind == "reasoning" and not item.streamed:
            item.streamed = True
            texts = [_str(_dict(p).get("text")) for p in raw.get("summary") or raw.get("content") or []]
            text = "\n\n".join(t for t in texts if t)
            out += [ReasoningDelta(text=text)] if text else []
        return out

    def _arguments_whole(self, item: _UpItem, arguments: Any) -> list[Delta]:
        """A function call's arguments at its done event: none once its deltas were relayed (arguments held as
        ``null`` are then dropped); else the done event's, or those its ``output_item.added`` gave."""
        if item.streamed:
            return []
        item.streamed = True
        return self._args_fragment(item, _str(arguments) or item.held)

    def _args_fragment(self, item: _UpItem, fragment: str) -> list[Delta]:
        """``fragment`` of a function call's arguments, held while the arguments so far are blank or a beginning
        of ``null`` (``_tool_args.null_so_far``: a call made without arguments, as vLLM's tool parsers render it;
        then dropped, the call has none: "{}" to the client, kind 01, bug35b variant 01w35g), relayed with those
        held once they are something else. The arguments in ``output_item.added`` are held by ``_item_added`` in
        the same way: a server that gives them there and again in deltas (as Claude's ``content_block_start``
        input, bug32a) had them relayed twice, ``{..}{..}`` (bug35b variants 01w35c/d)."""
        held = item.nullish
        if held is None:
            return [ToolArgsDelta(index=item.tool, fragment=fragment)] if fragment else []
        held.append(fragment)
        text = "".join(held)
        if not text.strip() or null_so_far(text):
            return []
        item.nullish = None
        return [ToolArgsDelta(index=item.tool, fragment=text)]

    def _reasoning_delta(self, item: _UpItem | None, obj: dict[str, Any]) -> list[Delta]:
        text = _str(obj.get("delta"))
        if not text:
            return []
        if item is not None:
            part = obj.get("summary_index", obj.get("content_index", 0))
            if isinstance(part, int) and part != item.summary_index:
                if item.summary_index >= 0:
                    text = "\n\n" + text  # summary parts are separate paragraphs
                item.summary_index = part
            item.streamed = True
        return [ReasoningDelta(text=text)]

    def _terminal(self, kind: str, response: dict[str, Any]) -> list[Delta]:
        self.done = True
        out: list[Delta] = []
        if isinstance(response.get("usage"), dict):
            self.usage = billed_usage(response)
            out.append(UsageUpdate(usage=self.usage))
        if kind == "response.failed":
            self._failed = True
            return out + [stream_error_from_responses(response.get("error"), "the upstream response failed")]
        if kind == "response.incomplete" or response.get("status") == "incomplete":
            return out + [Finish(reason=stop_from_incomplete(response), filtered=filtered(response))]
        reason: StopReason = "tool_use" if self._tools else "refusal" if self._refusal else "end_turn"
        return out + [Finish(reason=reason)]


# The data of a ``response.created`` / ``response.in_progress`` event up to its sequence number, as OpenAI
# writes it (compact JSON, ``type`` first); the number (JSON's integer grammar, ASCII digits only), then
# ``,"response":`` as the next member.
_CREATED_HEAD_TEXT = r'\{"type":"response\.created","sequence_number":(?:0|[1-9][0-9]*)(?=,"response":)'
_CREATED_HEAD = re.compile(_CREATED_HEAD_TEXT)
_CREATED_HEAD_B = re.compile(_CREATED_HEAD_TEXT.encode())
_IN_PROGRESS_HEAD = '{"type":"response.in_progress","sequence_number":'
_IN_PROGRESS_HEAD_B = _IN_PROGRESS_HEAD.encode()
# A number of at most 20 digits (JSON's integer grammar, ASCII digits only): a longer one may be more than a
# double holds (310 digits and up), which orjson refuses ("number is infinity when parsed as double") and
# ``feed`` reports as malformed, so such a frame is never inert
_SEQUENCE_NUMBER = re.compile(r"0|[1-9][0-9]{0,19}")
_SEQUENCE_NUMBER_B = re.compile(rb"0|[1-9][0-9]{0,19}")
# A ``response.content_part.added`` of an empty output text, as OpenAI writes it (compact, in this order; its
# numbers of at most 20 digits, as ``_SEQUENCE_NUMBER``)
_EMPTY_PART_TEXT = (
    r'\{"type":"response\.content_part\.added","sequence_number":(?:0|[1-9][0-9]{0,19}),"item_id":"[A-Za-z0-9_-]*",'
    r'"output_index":(?:0|[1-9][0-9]{0,19}),"content_index":(?:0|[1-9][0-9]{0,19}),'
    r'"part":\{"type":"output_text","annotations":\[\],"logprobs":\[\],"text":""\}\}'
)
_EMPTY_PART = re.compile(_EMPTY_PART_TEXT)
_EMPTY_PART_B = re.compile(_EMPTY_PART_TEXT.encode())


def _twin(data: str | bytes) -> str | bytes | None:
    """What follows the sequence number in a ``response.created`` event's data of the usual shape, from
    ``,"response":`` to the end (the text its ``response.in_progress`` twin ends with), or None; of the
    data's own kind (text or bytes)."""
    head = _CREATED_HEAD.match(data) if type(data) is str else _CREATED_HEAD_B.match(data)  # type: ignore[arg-type]
    return None if head is None else data[head.end() :]


# ---- IR → client --------------------------------------------------------------------------------

_INPUT_PREFIX = re.compile(r'\s*\{\s*"input"\s*:\s*"')
_INPUT_PARTIAL = re.compile(r'\s*(?:\{\s*(?:"(?:i(?:n(?:p(?:u(?:t(?:"\s*(?::\s*)?)?)?)?)?)?)?)?)?')
_PLAIN = re.compile(r'[^"\\]+')
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class InputExtractor:
    """Decodes the ``input`` string of ``{"input": "..."}`` arguments as the fragments arrive.

    Streams while the arguments start with the ``input`` key (what the upstream is asked to produce);
    anything else is decoded whole at the end (``custom_input_of``). ``text`` is what was emitted so far.
    """

    def __init__(self) -> None:
        self.raw: list[str] = []
        self.text = ""
        self._buf = ""
        self._pos = -1  # position in _buf of the next undecoded character of the string value
        self._mode: Literal["pending", "streaming", "ended", "whole"] = "pending"

    def feed(self, fragment: str) -> str:
        """The newly decoded text (possibly empty)."""
        self.raw.append(fragment)
        if self._mode in ("ended", "whole"):
            return ""
        self._buf += fragment
        if self._mode == "pending":
            m = _INPUT_PREFIX.match(self._buf)
            if m is None:
                if not _INPUT_PARTIAL.fullmatch(self._buf):
                    self._mode = "whole"
                return ""
            self._mode, self._pos = "streaming", m.end()
        out = self._decode()
        self.text += out
        return out

    def close(self) -> tuple[str, str]:
        """(the rest to emit as a last delta, the whole input). The whole input always begins with what
        was streamed: arguments cut off inside the string (``{"input": "a\\n`` and the stream ended: no JSON
        to read whole) have that streamed text for their input, as the client's deltas said."""
        whole = custom_input_of("".join(self.raw))
        if not whole.startswith(self.text):
            whole = self.text  # the deltas already sent cannot be taken back
        rest = whole[len(self.text) :]
        self.text += rest
        return rest, whole

    def _decode(self) -> str:
        buf, pos, out = self._buf, self._pos, []
        while pos < len(buf):
            m = _PLAIN.match(buf, pos)
            if m:
                out.append(m.group())
                pos = m.end()
                continue
            if buf[pos] == '"':
                self._mode = "ended"
                break
            step = _escape(buf, pos)
            if step is None:
                break  # an escape cut in the middle: wait for the next fragment
            if step[0] == "":
                self._mode = "whole"
                break
            out.append(step[0])
            pos += step[1]
        self._pos = pos
        return "".join(out)


def _escape(buf: str, pos: int) -> tuple[str, int] | None:
    """The character a backslash escape at ``pos`` stands for and its length; None if incomplete,
    ("", 0) if invalid."""
    if pos + 1 >= len(buf):
        return None
    esc = buf[pos + 1]
    if esc in _ESCAPES:
        return _ESCAPES[esc], 2
    if esc != "u":
        return "", 0
    if pos + 6 > len(buf):
        return None
    code = _hex4(buf[pos + 2 : pos + 6])
    if code is None:
        return "", 0
    if 0xD800 <= code < 0xDC00:  # a high surrogate: its low half follows as another \u escape
        head = buf[pos + 6 : pos + 8]
        if pos + 12 > len(buf) and "\\u".startswith(head):
            return None
        if head == "\\u":
            low = _hex4(buf[pos + 8 : pos + 12])
            if low is None:
                return "", 0
            if 0xDC00 <= low < 0xE000:
                return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
        return "\ufffd", 6
    if 0xDC00 <= code < 0xE000:
        return "\ufffd", 6
    return chr(code), 6


def _hex4(text: str) -> int | None:
    return int(text, 16) if _HEX4.fullmatch(text) else None


OpenKind = Literal["reasoning", "message", "function_call", "custom_tool_call"]
# A message item closed: its id, status and text (``ResponsesStreamEncoder._output``), its object made only when
# read (``_objects``)
_Said = tuple[str, str, str]


@dataclass(slots=True)
class _OutItem:
    kind: OpenKind
    index: int
    id: str
    text: list[str] = field(default_factory=list)  # message text, reasoning text, call arguments
    signature: str = ""
    redacted: str = ""  # a redacted thinking block's data (``_redacted``)
    summary_open: bool = False
    tool: int = -1
    call_id: str = ""
    name: str = ""
    namespace: str | None = None
    extractor: InputExtractor | None = None
    # a message's output_text.delta (a function call's arguments delta) after its sequence number, up to the
    # delta: written once per item
    delta_head: bytes = b""
    ident: bytes = b""  # a message's id as JSON (``_message_opening``)


_HEX2 = tuple(f"{i:02x}" for i in range(256))  # (``_item_id``'s)
_ITEM_PREFIX: dict[OpenKind, str] = {
    "reasoning": "rs_",
    "message": "msg_",
    "function_call": "fc_",
    "custom_tool_call": "ctc_",
}


class ResponsesStreamEncoder:
    """IR deltas → the client-facing Responses stream, as OpenAI sends it.

    Every frame has an ``event:`` line and a ``data:`` object with ``type`` and a ``sequence_number``
    counting from 0. Order: ``response.created``, ``response.in_progress``, then one output item at a
    time (``output_item.added`` … deltas … ``output_item.done`` with the whole item), then exactly one of
    ``response.completed`` / ``response.incomplete`` (``Finish(max_tokens)``) / ``response.failed``
    (StreamError; nothing follows it, and items still open are not closed, so a cut-off tool call is
    never handed to the client as done). KeepAlive becomes a ``keepalive`` event once the response has started,
    the opening (``response.created``, ``response.in_progress``) before (``_keepalive``).

    ``view.compaction``: the model's text is a handoff summary; it goes out as one ``compaction`` item
    (``encode_compaction``) instead of a message. ``view.reasoning`` False drops reasoning.
    """

    def __init__(self, view: View, *, response_id: str | None = None, frames: bool = True) -> None:
        """``frames`` False: only ``final`` is wanted (a non-streamed answer), every ``feed`` and
        ``finish`` returns b"" without writing its events."""
        self.view = view
        self.response_id = response_id
        self._frames = frames
        self._seq = 0
        # the last usage update, its usage read only when written (``UsageUpdate.later``: session 22)
        self._update: UsageUpdate | None = None
        self._finish: Finish | None = None
        self._started = False
        self._closed = False
        self._open: _OutItem | None = None
        # the output items closed, in order: each one's object, or a message's parts (``_Said``: its object made
        # only when read, ``_objects``; a stream's frames write it from a template: session 33)
        self._output: list[dict[str, Any] | _Said] = []
        self._count = 0  # output items started
        self._summary: list[str] = []  # compaction summary text
        self._call_ids: set[str] = set()
        # the Response object of the terminal event (``final``), or what makes it when first read
        self._final: dict[str, Any] | None = None
        self._final_parts: tuple[list[dict[str, Any] | _Said], Usage] | None = None
        # the JSON of the response's id and model as ``_start`` wrote them (``_completed`` writes them again)
        self._heads: tuple[bytes, bytes] | None = None
        # the JSON of each output item as its ``output_item.done`` frame wrote it, while every item's is known
        # (a message's: ``_message_closing``); ``_completed`` joins them instead of serialising ``_output`` again
        self._output_json: list[bytes] = []
        # What the frames need of the request alone, made here (a stream's encoder is made in its upstream's wait,
        # ``waiting``; session 33): the model's JSON, and the response object's bytes after its id as
        # ``response.created``/``response.in_progress`` (``_opening_mid``/``_opening_end``: ``_start``) and
        # ``response.completed`` (``_completed_mid``, up to its output) write them; b"" when no frame is written.
        self._model_json = orjson.dumps(view.model) if frames else b""
        # the first message item's object, made here (its id when it opens: ``_first_text``)
        self._ahead: _OutItem | None = _OutItem("message", 0, "")
        self._opening_mid = self._opening_end = self._completed_mid = b""
        self.created_at = int(time.time())

    @property
    def created_at(self) -> int:
        """The response's ``created_at`` (Unix seconds): the encoder's making, or what a caller set (a test
        pinning it); setting it makes the pieces that write it again."""
        return self._created_at

    @created_at.setter
    def created_at(self, value: int) -> None:
        self._created_at = value
        if self._frames:
            tail = _IN_PROGRESS_TAIL % (value, self._model_json)
            self._opening_mid = tail + _OPENING_MID
            self._opening_end = tail + b"}\n\n"
            self._completed_mid = _COMPLETED_MID % (value, self._model_json)

    @property
    def final(self) -> dict[str, Any] | None:
        """The ``Response`` object of the terminal event (None before it): for ``response.completed``, written
        from a template (``_completed``), made from its parts when first read."""
        if self._final is None and self._final_parts is not None:
            output, usage = self._final_parts
            self._final = response_object(
                self._id(),
                self.view.model,
                self.created_at,
                "completed",
                output=_objects(output),
                usage=usage_to_responses(usage),
            )
        return self._final

    def feed(self, d: Delta) -> bytes:
        """Encode one delta as zero or more complete SSE frames."""
        if type(d) is TextDelta:
            item = self._open
            if item is not None and item.kind == "message" and self._finish is None and d.text:
                # most of a stream: more text for the message already open (never one when closed, or
                # when compacting: its text goes to the summary)
                item.text.append(d.text)
                return self._text_delta(item, d.text)
            if item is None and self._started and not self._closed and self._finish is None and d.text:
                if not self.view.compaction:
                    # the answer's first text (an Anthropic upstream's first token, fed in its read's batch):
                    # ``_start`` has nothing to write and ``_content`` → ``_text`` would come here; no call to
                    # them (issue 13, session 35: fewer code objects before the first write)
                    return self._first_text(d.text)
        elif type(d) is Finish:
            if self._started and not self._closed and self._finish is None:
                # the stop reason of a started response (``_content``'s, without the calls before it: ``_start``
                # has nothing to write, nothing follows a stop reason); the message open closed by one call
                # (``_close_item``'s message case, session 35)
                self._finish = d
                item = self._open
                if item is not None and item.kind == "message":
                    self._open = None
                    return self._close_message(
                        item, "incomplete" if d.reason == "max_tokens" else "completed"
                    )
                return self._close_item()
        elif type(d) is KeepAlive:
            if self._started and not self._closed and self._frames:
                # ``_keepalive``'s event, its number from the table (an Anthropic upstream's ``ping`` after its
                # opening: no call, no ``%``; session 35)
                seq = self._seq
                self._seq = seq + 1
                if seq < 256:
                    return _KEEPALIVE_HEAD + _NUMS[seq] + b"}\n\n"
                return _KEEPALIVE_EVENT % seq
        elif type(d) is ToolArgsDelta:
            item = self._open
            if item is not None and item.kind == "function_call" and item.tool == d.index and d.fragment:
                # more arguments for the call open: ``_tool_args`` through ``_content``, without their calls (an
                # item open: the response started, not closed, no stop reason yet: ``Finish`` closes it)
                item.text.append(d.fragment)
                return self._args_delta(item, d.fragment)
        if self._closed:
            return b""
        if type(d) is KeepAlive:
            return self._keepalive()
        if type(d) is UsageUpdate:
            self._update = d
            return b""
        if type(d) is MessageStart:  # the opening alone (``_content`` has nothing for it)
            return self._start(d.id)
        out = self._start(None)
        if type(d) is StreamError:
            return out + self._fail(d)
        if self._finish is not None:
            return out  # content after the stop reason would follow the closed items
        return out + self._content(d)

    def _keepalive(self) -> bytes:
        """What a silence gets: ``{"type":"keepalive","sequence_number":n}``, numbered in turn, once
        ``response.created`` is out; before it, the response's opening (``response.created``,
        ``response.in_progress``: two events), as the Anthropic encoder writes ``message_start`` on a silence
        before the first token. A comment there (before s27) reached Codex as nothing: a model silent before its
        first token (a cold model, long thinking) left its idle timer running (s27 variant 19-ka-before-first-
        chunk-*); the openai SDK's ``responses.stream()`` raises on any event before ``response.created``, so
        the opening comes first. A non-streamed answer (``frames`` False) gets the comment. OpenAI's own long Responses streams send these events (openai-node
        #1965, openai-java #776), and a comment is not enough for Codex: it reads SSE with eventsource-stream,
        which drops comment lines, and its idle timer (``stream_idle_timeout_ms``) waits on the next event
        (codex-rs ``process_sse``: ``timeout(idle_timeout, stream.next())``). A keep-alive without its
        ``sequence_number`` stops strict clients ("missing field sequence_number", diegosouzapw/OmniRoute#14330).
        Clients skip the type: Codex's unknown-event arm, the openai SDK's accumulator (s26 variant 19-codex-*)."""
        if not self._frames:
            return _KEEPALIVE
        if not self._started:
            return self._start(None)
        seq, self._seq = self._seq, self._seq + 1
        return _KEEPALIVE_EVENT % seq

    def opened(self, opening: Opening) -> None:
        """The client already has its answer's opening (``opening.frames`` events: ``response.created``,
        ``response.in_progress``, sent for a route that failed before its first token,
        ``relay.Relay.resume``): none is written, sequence numbers go on from there, and the response keeps
        the opening's id (the openai SDK holds every lifecycle event to it)."""
        if opening.frames:
            self._started = True
            self._seq = opening.frames
            if opening.id is not None:
                self.response_id = opening.id

    def text(self, text: str) -> bytes | None:
        """``feed(TextDelta(text))`` for a non-empty ``text`` when that is the usual frame (more text for
        the message open, no stop reason yet) or the answer's first text once the response has started
        (the message item opened, another item open closed first: ``_text``), else None: the caller then
        feeds the delta (``relay.Translator``)."""
        item = self._open
        if self._finish is not None:
            return None
        if item is not None and item.kind == "message":
            item.text.append(text)
            return self._text_delta(item, text)
        if self._closed or not self._started or self.view.compaction:
            return None
        if item is None:
            # the answer's first text (most streams: nothing open before it): ``_text``'s message opened and its
            # first delta in one join, without its calls (``_text``, ``_close_item``, ``_open_item``, ``_item_id``,
            # ``_id``, ``_text_delta``: fewer code objects touched before the first write, issue 13, session 34)
            return self._first_text(text)
        return self._text(text)  # what ``feed`` does with it (``_start`` has nothing left to write)

    def text_frames(self, bodies: list[bytes]) -> bytes | None:
        """``text`` of each text in turn, given the texts as the bodies of their JSON strings with no escape
        (non-empty, valid UTF-8, no quote, backslash or control character: ``orjson.dumps`` of such a
        text is its body quoted), joined; None, nothing changed, unless each is the usual frame (more
        text for the message open, no stop reason yet: ``text``'s first case)."""
        item = self._open
        if self._finish is not None or item is None or item.kind != "message":
            return None
        seq = self._seq
        self._seq = seq + len(bodies)
        # the texts as one: ``item.text`` is read only joined (``_close_item``), one decode for the run
        item.text.append(b"".join(bodies).decode())
        if not self._frames:
            return b""
        head = item.delta_head
        # the numbers from the table while the last is in it (a ``%d`` a frame: ~200 instructions more, session 33);
        # each frame's pieces in one join, no ``%`` (it parses its template a frame) and no comprehension (a code
        # object of its own in this Python: session 35)
        if self._seq <= len(_NUMS):
            quoted = head + b'"'
            parts: list[bytes] = []
            for body in bodies:
                parts += (_TEXT_DELTA_HEAD, _NUMS[seq], quoted, body, _BODY_END)
                seq += 1
            return b"".join(parts)
        return b"".join([_TEXT_DELTA_BODY % (seq + i, head, body) for i, body in enumerate(bodies)])

    def finish(self) -> bytes:
        """Close the stream: close the open item, then ``response.completed`` (or ``.incomplete``)."""
        if self._closed:
            return b""
        # (``_start`` and ``_close_item`` have nothing to write for a started response with nothing open: the
        # usual stream, its message closed by the stop reason; no call then, session 34)
        out = b"" if self._started and self._open is None else self._start(None) + self._close_item()
        if self.view.compaction:
            out += self._compaction_item()
        self._closed = True
        # a summary cut by max_tokens still makes a usable compaction item; failing it would leave Codex
        # without any way to compact (it has no local fallback)
        if self._finish is not None and self._finish.reason == "max_tokens" and not self.view.compaction:
            response = self._response("incomplete", incomplete_details={"reason": "max_output_tokens"})
            return out + self._frame("response.incomplete", {"response": response})
        if self._finish is not None and self._finish.filtered:  # as OpenAI ends a filtered response
            response = self._response("incomplete", incomplete_details={"reason": "content_filter"})
            return out + self._frame("response.incomplete", {"response": response})
        if not self._frames:
            return out + self._frame("response.completed", {"response": self._response("completed")})
        return out + self._completed()

    # -- content --------------------------------------------------------------------------------

    def _content(self, d: Delta) -> bytes:
        if type(d) is TextDelta and d.text:
            if self.view.compaction:
                self._summary.append(d.text)
                return b""
            return self._text(d.text)
        if type(d) is Finish:  # (before the kinds below: once a stream, and each a test)
            self._finish = d
            return self._close_item()
        if type(d) is ReasoningDelta and d.text and self._reasoning_wanted():
            return self._reasoning_text(d.text)
        if type(d) is SignatureDelta and d.signature and self._reasoning_wanted():
            return self._signature(d.signature)
        if type(d) is RedactedThinking and d.data and self._reasoning_wanted():
            return self._redacted(d.data)
        if (type(d) is ToolCallStart or type(d) is ToolArgsDelta) and self.view.compaction:
            return b""  # a compaction answer is exactly one compaction item (tool_choice is none upstream)
        if type(d) is ToolCallStart:
            return self._tool_start(d)
        if type(d) is ToolArgsDelta and d.fragment:
            return self._tool_args(d)
        return b""

    def _reasoning_wanted(self) -> bool:
        return self.view.reasoning and not self.view.compaction

    def _text(self, text: str) -> bytes:
        out = b""
        item = self._open
        if item is None:  # (started, not closed, not compacting: ``feed``'s and ``text``'s callers)
            return self._first_text(text)
        if item.kind != "message":
            out += self._close_item()
            item = self._open_item("message")
            out += self._message_opening(item)
        item.text.append(text)
        return out + self._text_delta(item, text)

    def _first_text(self, text: str) -> bytes:
        """``_text(text)`` with no item open, the response started and not closed, frames or not: the message
        item opened (``_open_item("message")``: the one made with the encoder, ``_ahead``, when it is the first
        item) and its first ``output_text.delta``, the bytes of ``_message_opening`` then ``_text_delta``."""
        index = self._count
        self._count = index + 1
        ident = self.response_id
        if ident is None:  # (``_id``: a response always has its id once started; kept for its contract)
            ident = self._id()
        said = "msg_" + ident[5:] + (_HEX2[index] if index < 256 else f"{index:02x}")  # (``_item_id``'s)
        item = self._ahead
        if item is not None and index == 0:
            self._ahead = None
            item.id = said
        else:
            item = _OutItem("message", index, said)
        self._open = item
        item.text.append(text)
        name = item.ident = orjson.dumps(said)
        seq = self._seq
        if seq < 253 and index < 256:
            at = _NUMS[index]
            item.delta_head = b"".join(
                (_DELTA_HEAD_PIECES[0], name, _DELTA_HEAD_PIECES[1], at, _DELTA_HEAD_PIECES[2])
            )
        else:
            item.delta_head = _DELTA_HEAD % (name, index)
        if not self._frames:  # (``_message_opening`` numbers nothing then, ``_text_delta`` its frame)
            self._seq = seq + 1
            return b""
        self._seq = seq + 3
        if seq < 253 and index < 256:
            p = _OPENING_PIECES
            return b"".join(
                (
                    p[0], _NUMS[seq], p[1], at, p[2], name, p[3], _NUMS[seq + 1], p[4], name, p[5], at, p[6],
                    _TEXT_DELTA_HEAD, _NUMS[seq + 2], item.delta_head, orjson.dumps(text), _TEXT_DELTA_END,
                )
            )  # fmt: skip
        return _MESSAGE_OPENING % (seq, index, name, seq + 1, name, index) + _TEXT_DELTA % (
            seq + 2,
            item.delta_head,
            orjson.dumps(text),
        )

    def _message_opening(self, item: _OutItem) -> bytes:
        """``output_item.added`` and ``content_part.added`` of a new message item, from a template: what
        ``_frame`` makes of their objects (``tests/unit/test_responses_templates.py``)."""
        ident = item.ident = orjson.dumps(item.id)
        # what _frame makes of {"item_id", "output_index", "content_index": 0, "delta", "logprobs": []}
        # up to the delta, after the sequence number: the same for every delta of this item
        item.delta_head = _DELTA_HEAD % (ident, item.index)
        if not self._frames:
            return b""
        seq, self._seq = self._seq, self._seq + 2
        index = item.index
        if seq > 254 or index > 255:
            return _MESSAGE_OPENING % (seq, index, ident, seq + 1, ident, index)
        at, p = _NUMS[index], _OPENING_PIECES  # (the pieces joined: see ``_message_closing``)
        return b"".join(
            (p[0], _NUMS[seq], p[1], at, p[2], ident, p[3], _NUMS[seq + 1], p[4], ident, p[5], at, p[6])
        )

    def _text_delta(self, item: _OutItem, text: str) -> bytes:
        """The usual frame, an ``output_text.delta`` of the open message, written directly."""
        seq, self._seq = self._seq, self._seq + 1
        if not self._frames:
            return b""
        if seq < 256:
            return _TEXT_DELTA_NUMBERED % (_NUMS[seq], item.delta_head, orjson.dumps(text))
        return _TEXT_DELTA % (seq, item.delta_head, orjson.dumps(text))

    def _reasoning_text(self, text: str) -> bytes:
        out = b""
        item = self._open
        if item is None or item.kind != "reasoning" or item.signature:
            out, item = self._new_reasoning()
        if not item.summary_open:
            item.summary_open = True
            out += self._frame(
                "response.reasoning_summary_part.added",
                {
                    "item_id": item.id,
                    "output_index": item.index,
                    "summary_index": 0,
                    "part": _summary_part(""),
                },
            )
        item.text.append(text)
        return out + self._frame(
            "response.reasoning_summary_text.delta",
            {"item_id": item.id, "output_index": item.index, "summary_index": 0, "delta": text},
        )

    def _signature(self, signature: str) -> bytes:
        if signature == SYNTHETIC_SIGNATURE:
            return b""  # not a real Anthropic signature: nothing to carry back
        out = b""
        item = self._open
        if item is None or item.kind != "reasoning" or item.signature:
            # a signature with no text before it (thinking display "omitted") still makes an item
            out, item = self._new_reasoning()
        item.signature += signature
        return out

    def _redacted(self, data: str) -> bytes:
        """A redacted thinking block: a reasoning item of its own, added and done at once, with no summary
        and the block in ``encrypted_content`` (``encode_redacted_thinking``), so that it goes back to
        Anthropic unchanged when the client sends the transcript again."""
        out, item = self._new_reasoning()
        item.redacted = data
        return out + self._close_item()

    def _open_reasoning(self) -> _OutItem:
        return self._open_item("reasoning")

    def _new_reasoning(self) -> tuple[bytes, _OutItem]:
        """Close the open item and open a reasoning item: the frames that say so, and the new item (a
        reasoning delta or signature that the open item cannot take: none open, another kind, or a
        reasoning item already closed by its signature)."""
        out = self._close_item()
        item = self._open_reasoning()
        return out + self._added({"id": item.id, "type": "reasoning", "summary": []}), item

    def _tool_start(self, d: ToolCallStart) -> bytes:
        out = self._close_item()
        client_name = self.view.tool_names.get(d.name, d.name)
        custom = client_name in self.view.custom_tools
        item = self._open_item("custom_tool_call" if custom else "function_call")
        # Gemini's signature comes back in the call id (``_call_signature``), added after the id is made unique
        item.tool, item.call_id = d.index, signed_id(self._unique_call_id(d.id), d.signature)
        item.namespace, item.name = split_namespaced(client_name)
        if custom:
            item.extractor = InputExtractor()
            added = {"id": item.id, "type": "custom_tool_call"}
            added |= {"call_id": item.call_id, "input": "", "name": item.name}
        else:
            added = {"id": item.id, "type": "function_call", "status": "in_progress", "arguments": ""}
            added |= {"call_id": item.call_id, "name": item.name}
        if item.namespace is not None:
            added["namespace"] = item.namespace
        return out + self._added(added)

    def _unique_call_id(self, call_id: str) -> str:
        """Call ids pair a call with its output: a repeated or missing upstream id gets a unique one."""
        unique = call_id or f"call_{self._id()[5:]}"
        n = 1
        while unique in self._call_ids:
            n += 1
            unique = f"{call_id or 'call'}_{n}"
        self._call_ids.add(unique)
        return unique

    def _tool_args(self, d: ToolArgsDelta) -> bytes:
        item = self._open
        if item is None or item.tool != d.index or item.kind not in ("function_call", "custom_tool_call"):
            return b""  # decoders keep each call's fragments contiguous; strays have nowhere to go
        item.text.append(d.fragment)
        if item.extractor is not None:
            return self._custom_delta(item, item.extractor.feed(d.fragment))
        return self._args_delta(item, d.fragment)

    def _args_delta(self, item: _OutItem, fragment: str) -> bytes:
        """A function call's ``function_call_arguments.delta``, from a template: what ``_frame`` makes of
        ``{"item_id", "output_index", "delta"}``, the item's part written once (``delta_head``; a tool call's
        arguments come in many small frames: session 28)."""
        if not self._frames:
            return b""
        head = item.delta_head
        if not head:
            head = item.delta_head = b',"item_id":%b,"output_index":%d,"delta":' % (
                orjson.dumps(item.id),
                item.index,
            )
        seq, self._seq = self._seq, self._seq + 1
        return _ARGS_DELTA % (seq, head, orjson.dumps(fragment))

    def _custom_delta(self, item: _OutItem, text: str) -> bytes:
        if not text:
            return b""
        return self._frame(
            "response.custom_tool_call_input.delta",
            {"item_id": item.id, "output_index": item.index, "delta": text},
        )

    # -- items ----------------------------------------------------------------------------------

    def _open_item(self, kind: OpenKind) -> _OutItem:
        index = self._count
        self._count += 1
        self._open = _OutItem(
            kind, index, self._item_id(_ITEM_PREFIX[kind], index)
        )  # (positional: see ``_item_id``)
        return self._open

    def _item_id(self, prefix: str, index: int) -> str:
        # ``f"{prefix}{self._id()[5:]}{index:02x}"``, the index's hex digits from a table (a format spec cost
        # ~2k instructions an item, callgrind: session 27)
        return prefix + self._id()[5:] + (_HEX2[index] if index < 256 else f"{index:02x}")

    def _added(self, item: dict[str, Any]) -> bytes:
        assert self._open is not None
        return self._frame("response.output_item.added", {"output_index": self._open.index, "item": item})

    def _close_item(self) -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        text = "".join(item.text)
        cut = self._finish is not None and self._finish.reason == "max_tokens"
        status = "incomplete" if cut else "completed"  # as OpenAI marks items cut by max_output_tokens
        if item.kind == "message":  # (a message has no namespace)
            return self._close_message(item, status)
        ref = {"item_id": item.id, "output_index": item.index}
        out = b""
        done: dict[str, Any]
        if item.kind == "reasoning":
            summary = []
            if item.summary_open:
                out += self._frame(
                    "response.reasoning_summary_text.done", {**ref, "summary_index": 0, "text": text}
                )
                part = _summary_part(text)
                out += self._frame(
                    "response.reasoning_summary_part.done", {**ref, "summary_index": 0, "part": part}
                )
                summary.append(part)
            done = {"id": item.id, "type": "reasoning", "summary": summary}
            if item.signature:
                done["encrypted_content"] = encode_thinking(text, item.signature)
            elif item.redacted:
                done["encrypted_content"] = encode_redacted_thinking(item.redacted)
        elif item.kind == "function_call":
            tail = closing_suffix(text)  # the arguments must parse as a JSON object ("{}" for none)
            if tail:
                text += tail
                out += self._frame("response.function_call_arguments.delta", {**ref, "delta": tail})
            out += self._frame("response.function_call_arguments.done", {**ref, "arguments": text})
            done = {"id": item.id, "type": "function_call", "status": status, "arguments": text}
            done |= {"call_id": item.call_id, "name": item.name}
        else:
            assert item.extractor is not None
            rest, whole = item.extractor.close()
            out += self._custom_delta(item, rest)
            out += self._frame("response.custom_tool_call_input.done", {**ref, "input": whole})
            done = {"id": item.id, "type": "custom_tool_call"}
            done |= {"call_id": item.call_id, "input": whole, "name": item.name}
        if item.namespace is not None:
            done["namespace"] = item.namespace
        self._output.append(done)
        return out + self._frame("response.output_item.done", {"output_index": item.index, "item": done})

    def _close_message(self, item: _OutItem, status: str) -> bytes:
        """``_close_item`` of a message item (taken off ``_open`` by the caller) closed with ``status``
        ("completed", or "incomplete" when cut by max_tokens): noted in ``_output`` (its object made when read:
        ``_objects``), then ``output_text.done``, ``content_part.done`` and ``output_item.done`` from a
        template: what ``_frame`` makes of their objects, the text written once."""
        text = "".join(item.text)
        self._output.append((item.id, status, text))
        if not self._frames:
            return b""
        ident, said = item.ident or orjson.dumps(item.id), orjson.dumps(text)
        seq, self._seq = self._seq, self._seq + 3
        index = item.index
        # ``_MESSAGE_ITEM % (ident, status, said)`` joined from its pieces (a ``%`` parses its template: session 35)
        done = b"".join((_ITEM_HEAD, ident, _ITEM_STATUS[status], said, _ITEM_END))
        if len(self._output_json) == len(self._output) - 1:  # (the item is in ``_output`` already)
            self._output_json.append(done)
        if seq > 252 or index > 255:
            return _MESSAGE_CLOSING % (
                seq,
                ident,
                index,
                said,
                seq + 1,
                ident,
                index,
                said,
                seq + 2,
                index,
                done,
            )
        # the template's pieces joined, the numbers from the table (a ``%`` of eleven values: ~1.5k instructions
        # more, callgrind, session 33)
        at, p = _NUMS[index], _CLOSING_PIECES
        return b"".join(
            (
                p[0], _NUMS[seq], p[1], ident, p[2], at, p[3], said, p[4], _NUMS[seq + 1], p[5], ident,
                p[6], at, p[7], said, p[8], _NUMS[seq + 2], p[9], at, p[10], done, p[11],
            )
        )  # fmt: skip

    def _compaction_item(self) -> bytes:
        index = self._count
        self._count += 1
        item = {
            "id": self._item_id("cmp_", index),
            "type": "compaction",
            "encrypted_content": encode_compaction("".join(self._summary)),
        }
        self._output.append(item)
        out = self._frame("response.output_item.added", {"output_index": index, "item": item})
        return out + self._frame("response.output_item.done", {"output_index": index, "item": item})

    # -- the response object --------------------------------------------------------------------

    def _id(self) -> str:
        if self.response_id is None:
            self.response_id = response_id_for(None)
        return self.response_id

    def _start(self, upstream_id: str | None) -> bytes:
        if self._started:
            return b""
        self._started = True
        if self.response_id is None:
            self.response_id = response_id_for(upstream_id)
        if not self._frames:
            return b""
        # the same object twice, written once: what ``_frame`` makes of ``{"response": …}``, the object
        # (``_response("in_progress", usage=False)``) from its template; at sequence number 0 (a stream's own
        # opening, not one ``opened`` took over) from the pieces made with the encoder, the id put between them
        ident, model = self._heads = (
            orjson.dumps(self.response_id),
            self._model_json,
        )  # (set above: ``_id``'s)
        seq, self._seq = self._seq, self._seq + 2
        if seq == 0:
            return b"".join((_OPENING_HEAD, ident, self._opening_mid, ident, self._opening_end))
        response = _IN_PROGRESS_RESPONSE % (ident, self.created_at, model)
        return _OPENING % (seq, response, seq + 1, response)

    def _fail(self, err: StreamError) -> bytes:
        self._closed = True
        self._open = None  # a half-streamed item is not handed over as done
        _, message, code = stream_words_for_openai(err.status, err.type, err.message, err.asked_output)
        error = {"code": error_code_for_status(err.status, code), "message": message}
        failed = self._response("failed", usage=self._update is not None, error=error)  # usage only if known
        return self._frame("response.failed", {"response": failed})

    def _response(
        self,
        status: str,
        *,
        usage: bool = True,
        error: dict[str, Any] | None = None,
        incomplete_details: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        response = response_object(
            self._id(),
            self.view.model,
            self.created_at,
            status,
            output=_objects(self._output) if status != "in_progress" else [],
            usage=usage_to_responses(Usage() if self._update is None else self._update.usage)
            if usage
            else None,
            error=error,
            incomplete_details=incomplete_details,
        )
        if status != "in_progress":
            self._final = response
        return response

    def _completed(self) -> bytes:
        """The ``response.completed`` frame, from a template: what ``_frame`` makes of ``{"response":
        self._response("completed")}``, from pieces: the id and model as ``_start`` wrote them, the output
        items as their ``output_item.done`` frames did (when each one's is known), the usage from its
        template (the response object itself, and its usage's, made only if ``final`` is read;
        tests/unit/test_responses_templates.py)."""
        output = list(self._output)
        usage = Usage() if self._update is None else self._update.usage
        self._final_parts = (output, usage)
        seq, self._seq = self._seq, self._seq + 1
        heads = self._heads
        ident = heads[0] if heads is not None else orjson.dumps(self._id())
        done = self._output_json
        items = b"[" + b",".join(done) + b"]" if len(done) == len(output) else orjson.dumps(_objects(output))
        # ``orjson.dumps(usage_to_responses(usage))`` in the same format (``_USAGE``): every count an int
        # (``ir.Usage``; ``prompt_tokens``' sum written out, no property call)
        cached, writes, out = usage.cache_read_tokens, usage.cache_write_tokens, usage.output_tokens
        prompt = usage.input_tokens + cached + writes
        counts = _COMPLETED_TAIL % (prompt, cached, writes, out, usage.reasoning_tokens, prompt + out)
        # the pieces (``_COMPLETED``'s), the request's part made with the encoder (``_completed_mid``)
        number = _NUMS[seq] if seq < 256 else b"%d" % seq
        return b"".join((_COMPLETED_HEAD, number, _COMPLETED_ID, ident, self._completed_mid, items, counts))

    def _frame(self, kind: str, body: dict[str, Any]) -> bytes:
        """One event: ``encode_event(orjson.dumps(obj), event=kind)``, written directly (orjson writes no
        line break, so the JSON is one ``data:`` line)."""
        if not self._frames:
            return b""
        obj = {"type": kind, "sequence_number": self._seq, **body}
        self._seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def response_object(
    response_id: str,
    model: str,
    created_at: int,
    status: str,
    *,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    error: dict[str, Any] | None = None,
    incomplete_details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``Response`` object with the fields the openai SDK requires.

    ``parallel_tool_calls``, ``tool_choice`` and ``tools`` are required by the SDK's model; the gateway
    does not echo the request, so they carry neutral values.
    """
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete_details,
        "instructions": None,
        "metadata": {},
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    }


_KEEPALIVE = encode_comment("keep-alive")
_KEEPALIVE_EVENT = b'event: keepalive\ndata: {"type":"keepalive","sequence_number":%d}\n\n'
_KEEPALIVE_HEAD = _KEEPALIVE_EVENT.split(b"%d")[0]  # (``feed``'s: up to the number)
# ``orjson.dumps(response_object(id, model, created_at, "in_progress", output=[], usage=None))`` (id, created_at,
# model): the response object of ``response.created`` and ``response.in_progress``
# (its bytes after the id: created_at, model)
_IN_PROGRESS_TAIL = (
    b',"object":"response","created_at":%d,"status":"in_progress","error":null,'
    b'"incomplete_details":null,"instructions":null,"metadata":{},"model":%b,"output":[],'
    b'"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":null}'
)
_IN_PROGRESS_RESPONSE = b'{"id":%b' + _IN_PROGRESS_TAIL
_OPENING = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":%d,"response":%b}\n\n'
    b'event: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":%d,"response":%b}'
    b"\n\n"
)
# ``_OPENING`` at sequence number 0 in pieces around the id's JSON (``ResponsesStreamEncoder._start``): its head to
# the first id, then (after ``_IN_PROGRESS_TAIL``) from the first object's end to the second id
_OPENING_HEAD = (
    b'event: response.created\ndata: {"type":"response.created","sequence_number":0,"response":{"id":'
)
_OPENING_MID = b'}\n\nevent: response.in_progress\ndata: {"type":"response.in_progress","sequence_number":1,"response":{"id":'
# ``orjson.dumps(usage_to_responses(u))`` up to its ``total_tokens`` (prompt, cached, cache writes, output, reasoning)
_USAGE = (
    b'{"input_tokens":%d,"input_tokens_details":{"cached_tokens":%d,"cache_write_tokens":%d},"output_tokens":%d,'
    b'"output_tokens_details":{"reasoning_tokens":%d},"total_tokens":'
)
# ``_frame``'s bytes of ``response.completed`` (sequence number, id, created_at, model, output, then the usage's five
# counts and its total, ``_USAGE``'s): the object of ``response_object(id, model, created_at, "completed", output=…,
# usage=…)``, one format (the usage not written first and copied in: ~1k instructions a stream, callgrind)
# (in pieces, ``_completed``: its head to the sequence number, then to the id, ``_COMPLETED_MID`` from the id to the
# output (created_at, model), ``_COMPLETED_TAIL`` after it: the usage's counts)
_COMPLETED_HEAD = b'event: response.completed\ndata: {"type":"response.completed","sequence_number":'
_COMPLETED_ID = b',"response":{"id":'
_COMPLETED_MID = (
    b',"object":"response","created_at":%d,"status":"completed","error":null,"incomplete_details":null,'
    b'"instructions":null,"metadata":{},"model":%b,"output":'
)
_COMPLETED_TAIL = (
    b',"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":' + _USAGE + b"%d}}}\n\n"
)
_COMPLETED = _COMPLETED_HEAD + b"%d" + _COMPLETED_ID + b"%b" + _COMPLETED_MID + b"%b" + _COMPLETED_TAIL
# the decimal digits of the numbers a frame's template writes most (sequence numbers, output indexes): a table's
# bytes put in by a join where a ``%d`` makes a str and copies it (callgrind, session 33)
_NUMS = tuple(b"%d" % i for i in range(256))
# ``_frame``'s bytes for a message item's opening and closing frames (see ``_message_opening``/``_closing``)
_TEXT_PART = b'{"type":"output_text","annotations":[],"logprobs":[],"text":%b}'
_MESSAGE_OPENING = (
    b'event: response.output_item.added\ndata: {"type":"response.output_item.added","sequence_number":%d,'
    b'"output_index":%d,"item":{"id":%b,"type":"message","status":"in_progress","content":[],'
    b'"role":"assistant"}}\n\n'
    b'event: response.content_part.added\ndata: {"type":"response.content_part.added","sequence_number":%d,'
    b'"item_id":%b,"output_index":%d,"content_index":0,"part":' + _TEXT_PART % b'""' + b"}\n\n"
)
# a message item's object when done (id, status, text): in ``output_item.done`` and in ``response.completed``
_MESSAGE_ITEM = b'{"id":%b,"type":"message","status":"%b","content":[' + _TEXT_PART + b'],"role":"assistant"}'
# ... in pieces around its values (``_close_message``'s join): its head, what follows the id per status, its end
_ITEM_HEAD, _ITEM_MID, _ITEM_TEXT, _ITEM_END = re.split(rb"%b", _MESSAGE_ITEM)
_ITEM_STATUS = {status: _ITEM_MID + status.encode() + _ITEM_TEXT for status in ("completed", "incomplete")}
_MESSAGE_CLOSING = (
    b'event: response.output_text.done\ndata: {"type":"response.output_text.done","sequence_number":%d,'
    b'"item_id":%b,"output_index":%d,"content_index":0,"text":%b,"logprobs":[]}\n\n'
    b'event: response.content_part.done\ndata: {"type":"response.content_part.done","sequence_number":%d,'
    b'"item_id":%b,"output_index":%d,"content_index":0,"part":' + _TEXT_PART + b"}\n\n"
    b'event: response.output_item.done\ndata: {"type":"response.output_item.done","sequence_number":%d,'
    b'"output_index":%d,"item":%b}\n\n'
)
# (``_MESSAGE_CLOSING`` and ``_MESSAGE_OPENING`` split at their values: ``_message_closing``, ``_message_opening``)
_CLOSING_PIECES = tuple(re.split(rb"%[bd]", _MESSAGE_CLOSING))
_OPENING_PIECES = tuple(re.split(rb"%[bd]", _MESSAGE_OPENING))
_TEXT_DELTA = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":%d'
    b'%b%b,"logprobs":[]}\n\n'
)
# ... its fixed bytes before the sequence number and after the text (``_first_text``'s join)
_TEXT_DELTA_HEAD, _TEXT_DELTA_END = _TEXT_DELTA.split(b"%d%b%b")
_BODY_END = b'"' + _TEXT_DELTA_END  # (after a text's JSON string body: ``text_frames``)
# a message's ``output_text.delta`` after its sequence number up to the delta (``_OutItem.delta_head``: the item's
# id JSON, its output index), and in pieces around them (``_first_text``)
_DELTA_HEAD = b',"item_id":%b,"output_index":%d,"content_index":0,"delta":'
_DELTA_HEAD_PIECES = tuple(re.split(rb"%[bd]", _DELTA_HEAD))
# ... given the body of the delta's JSON string (``text_frames``): the quotes in the template
_TEXT_DELTA_BODY = _TEXT_DELTA.replace(b'%b%b,"logprobs"', b'%b"%b","logprobs"')
# ... their sequence number's digits given (``_NUMS``)
_TEXT_DELTA_NUMBERED = _TEXT_DELTA.replace(b"%d", b"%b")
_TEXT_DELTA_BODY_NUMBERED = _TEXT_DELTA_BODY.replace(b"%d", b"%b")
# ``_frame``'s bytes of a function call's arguments delta (sequence number, ``_OutItem.delta_head``, the fragment)
_ARGS_DELTA = (
    b"event: response.function_call_arguments.delta\n"
    b'data: {"type":"response.function_call_arguments.delta","sequence_number":%d%b%b}\n\n'
)


def _objects(output: list[dict[str, Any] | _Said]) -> list[dict[str, Any]]:
    """The output items' objects: each one's, a message's (``_Said``) made as ``_frame`` writes it (``_MESSAGE_ITEM``)."""
    return [
        item
        if isinstance(item, dict)
        else {
            "id": item[0],
            "type": "message",
            "status": item[1],
            "content": [_text_part(item[2])],
            "role": "assistant",
        }
        for item in output
    ]


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "annotations": [], "logprobs": [], "text": text}


def _summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def keepalive_event(sequence_number: int) -> bytes:
    """A Responses ``keepalive`` event numbered ``sequence_number`` (``ResponsesStreamEncoder._keepalive``'s frame),
    for a stream the gateway began itself (``proxy.OpenStream.keepalive``)."""
    return _KEEPALIVE_EVENT % sequence_number
