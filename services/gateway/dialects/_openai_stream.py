"""OpenAI Chat Completions streams: upstream chunks → IR deltas, and IR deltas → client chunks (sans-io)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson

from services.gateway.dialects._call_signature import chat_extra, chat_signature, details_signatures
from services.gateway.dialects._claude_details import (
    details_of_thinking_blocks,
    real,
    redacted_entry,
    redacted_of,
    signature_of,
    thinking_entry,
)
from services.gateway.dialects._error_meaning import stream_words_for_openai, unwrapped
from services.gateway.dialects._openai_wire import (
    FINISH_TO_STOP,
    finish_from_stop,
    new_id,
    stream_error_from_openai,
    usage_from_openai,
    usage_to_openai,
)
from services.gateway.dialects._opening import Opening
from services.gateway.dialects._scan import sdk_loads
from services.gateway.dialects._tool_args import ToolArgs, null_so_far, twice_encoded_object
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
from shared.sse import SSEEvent, encode_comment, encode_event

DONE_FRAME = b"data: [DONE]\n\n"
# ``feed_data``'s "no parse given" (None is a parse: ``null``)
_UNPARSED: Any = object()
_KEEPALIVE = encode_comment("keep-alive")
# The opening chunk's ``choices`` (``ChatStreamEncoder._start``): the assistant's role and empty content
_ROLE_CHOICES = (
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]'
)


# The in-band error a chat stream ending with finish_reason "abort" (vLLM's aborted request) is read as.
ABORTED = {"message": 'the server aborted the answer before it finished (finish_reason "abort")', "code": 503}
# Finish reasons that say the server cut the answer by a failure of its own, not that it finished, and the in-band
# error each is read as (the chunk's own ``error`` object, when it has one, wins): vLLM's "abort" (an aborted engine
# request, vllm-project/vllm#57082; s20 variant 13-ad); DeepSeek's "insufficient_system_resource" (API reference,
# "Create Chat Completion": "the request is interrupted due to insufficient resource of the inference system"; s25
# variant 13-deepseek-resource-vA); Z.ai's / Zhipu's "network_error" (chat completion reference: "model inference
# exception"; s25 variant 13-zai-network-vB). Read as finished, each was a complete answer to the client, the
# ledger and the provider's health.
CUT_FINISH: dict[str, dict[str, Any]] = {
    "abort": ABORTED,
    "insufficient_system_resource": {
        "message": "the server ran out of inference resources and interrupted the answer "
        '(finish_reason "insufficient_system_resource")',
        "code": 503,
    },
    "network_error": {
        "message": 'the model\'s inference failed before the answer finished (finish_reason "network_error")',
        "code": 500,
    },
}


def is_text_chunk(ev: SSEEvent) -> bool:
    """True for a chunk that ``ChatStreamDecoder`` can only turn into one ``TextDelta`` of its first
    choice, leaving its state as it was (a passthrough relay counts it without decoding its JSON).

    Read from the compact JSON OpenAI sends, without parsing: a non-empty ``"content":"…"``, no error,
    reasoning, refusal, tool call or second choice, and every ``finish_reason`` and ``usage`` null
    (OpenAI sends ``"usage":null`` in each chunk of a stream with ``include_usage``). Inside a JSON string
    a quote is escaped, so text cannot fake a key. Anything else (spaces after colons, a finish, the usage
    chunk) is ``False``: the decoder reads it. Source: OpenAI API reference, "The chat completion chunk
    object".
    """
    return not ev.comment and _is_text_data(ev.data)


def _is_text_data(d: str) -> bool:
    """``is_text_chunk`` for the data of an event that is no comment."""
    return (
        '"content":"' in d
        and '"content":""' not in d
        and '"error"' not in d
        and '"reasoning' not in d
        and '"refusal":"' not in d
        and '"tool_calls"' not in d
        and '"function_call"' not in d
        and d.count('"index":') == d.count('"index":0')
        and d.count('"content"') == 1
        and d.count('"finish_reason"') == d.count('"finish_reason":null')
        and d.count('"usage"') == d.count('"usage":null')
    )


# A JSON string's body from its first character: what ``TextChunks`` takes for the text of a chunk
_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*')


# OpenAI pads each streamed chunk with a random string after its usage (``stream_options.include_obfuscation``,
# on by default): ``…,"usage":null,"obfuscation":"h8Xa1"}``
_PADDING = ',"obfuscation":"'


class TextChunks:
    """``is_text_chunk`` for one stream's chunks, exact about the stream's model, at the cost of a few
    comparisons for most of them.

    ``decoder``: the stream's ``ChatStreamDecoder`` (its ``model`` so far). A chunk the test accepts leaves
    the decoder's state as it was, ``model`` included: its top-level ``model`` is absent, empty, or the
    decoder's own (the decoder keeps the last non-empty one), so a relay that skips it still reports the
    served model a decoding relay would (an OpenAI-compatible server may open with ``"model":""``).

    OpenAI's text chunks of one stream differ only in their text and their padding: the same id, model,
    created and fingerprint before the text, the same ``finish_reason``/``usage`` nulls after it, then a
    random ``obfuscation`` string (OpenAI API reference, "The chat completion chunk object", and
    ``stream_options.include_obfuscation``). The first chunk that passes ``is_text_chunk`` and whose text
    string is well formed (its closing quote followed by ``}`` or ``,``), with its model agreeing, and
    which parses, leaves its shape: the part before its text (up to ``"content":"``) and the part after it
    (from its closing quote, up to the padding). A chunk that starts with that head and, after a non-empty
    JSON string body (``is_string_body``: no bare quote or control character, valid escapes), continues
    with that tail (then the padding: one plain printable string, ``"}``), while the decoder's model is
    still the one it had then, is the same JSON but for its text: a text chunk too. Any other chunk takes
    the first path again. So a chunk that is not JSON is never a text chunk, even shaped ``{…}``: the
    decoder reads it and reports it (``malformed chunk from upstream``, a 502 in the ledger), as the
    openai SDK raises on it; the cost is one parse per shape learnt and, for a token text with an escape
    or a character that is not printable, one parse of the text."""

    __slots__ = ("_decoder", "_head", "_tail", "_model", "_padded", "_spliced", "_lead")

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder
        self._head: str | None = None
        self._tail = ""
        self._model: str | None = None
        self._padded = False
        self._spliced = False  # the shape of the decoder's first chunk was tried (``_splice``)
        # The shape as a usual frame's bytes, for ``run`` (``_set``); None when it has none (no shape yet, or
        # one that is not a usual one-line frame's)
        self._lead: bytes | None = None

    def __call__(self, ev: SSEEvent) -> bool:
        return not ev.comment and self.data(ev.data)

    def run(self, buf: bytes, pos: int) -> tuple[int, int]:
        """How many whole usual frames at ``pos`` of ``buf`` are text chunks ``data`` says True for, read
        on their bytes, and the position after them ((0, ``pos``) when the frame there is not one). For a
        relay that splits a read into frames itself, the SSE decoder at a boundary before ``pos``, ``buf``
        valid UTF-8 with no CR (the caller checks: then the SSE decoder's data of each frame is its bytes
        decoded, and ``data`` of it is what this reads). A frame is taken when it is ``data: `` + the
        shape's head + a non-empty body without quote, backslash or control character + its tail (+ one
        plain printable ASCII padding string), then LF LF: its data is then head + a JSON string body
        that is printable or ``is_string_body`` + tail (+ the padding ``data`` accepts), which ``data``
        takes on its first test, and holds no LF (a one-line frame: the event's whole data; so its LF LF
        is the only one in it, and the frames of the run are counted by those). Its first character is
        ``{`` and its last ``}``, as a relay's token test asks (``relay._token_only``). No shape yet: the
        one spliced from the decoder's first chunk (``_splice``), when it has one.

        One regex call for the whole run, compiled once (``_TEXT_RUN``): the shape's head and tail lead the
        subject, NUL-ended (no JSON text holds a raw NUL), and each frame must repeat them exactly (a
        backreference), so no pattern is made per stream and no Python runs per frame."""
        if self._head is None and not self._spliced:
            self._splice()
        lead = self._lead
        if lead is None or self._decoder.model != self._model:
            return 0, pos
        subject = lead + (buf[pos:] if pos else buf)
        start = len(lead)
        m = (_PADDED_TEXT_RUN if self._padded else _TEXT_RUN)(subject)  # (the lead always matches)
        end = start if m is None else m.end()
        if end == start:
            return 0, pos
        return subject.count(b"\n\n", start, end), pos + end - start

    def _splice(self) -> None:
        """Take the shape of the decoder's first chunk with its first choice's ``delta`` replaced by
        ``{"content":"…"}`` (``_spliced_shape``), when it has one: a stream's first text chunk then needs
        no parse (OpenAI's role chunk and its text chunks differ only in ``delta`` and padding)."""
        decoder = self._decoder
        first = decoder.first_chunk
        if first is None:
            return  # (nothing read yet: tried again at the next frame)
        self._spliced = True
        shape = _spliced_shape(first[0], first[1], decoder.model)
        if shape is not None:
            self._set(*shape)

    def _set(self, head: str, tail: str, model: str | None, padded: bool) -> None:
        """Keep a shape, with the lead ``run`` reads its frames by when they are usual one-line ones."""
        self._head, self._tail, self._model, self._padded = head, tail, model, padded
        usual = (
            head[:1] == "{"
            and (padded or tail[-1:] == "}")
            and "\n" not in head
            and "\n" not in tail
            and "\r" not in head
            and "\r" not in tail
        )
        # ``run``'s subject starts with ``data: `` + head, NUL, tail (+ LF LF unpadded), NUL
        end = b"\x00" if padded else b"\n\n\x00"
        self._lead = b"data: " + head.encode() + b"\x00" + tail.encode() + end if usual else None

    def data(self, d: str) -> bool:
        """The same test for the data of an event that is no comment. A relay that splits a read into
        frames itself asks this, without an event for each text chunk."""
        if self._head is None and not self._spliced:
            self._splice()
        head, tail = self._head, self._tail
        if head is not None and d.startswith(head) and self._decoder.model == self._model:
            start = len(head)
            if self._padded:
                end = d.find(tail, start)
                rest = d[end + len(tail) :] if end > start else ""
                if (
                    rest.startswith(_PADDING)
                    and rest.endswith('"}')
                    and rest.count('"') == 4
                    and "\\" not in rest
                    and rest.isprintable()
                    and '"' not in (text := d[start:end])
                    and ("\\" not in text and text.isprintable() or is_string_body(text))
                ):
                    return True
            elif (
                len(d) > start + len(tail)
                and d.endswith(tail)
                and '"' not in (text := d[start : len(d) - len(tail)])
                # ``is_string_body``, its usual case inline (a call less for each token)
                and ("\\" not in text and text.isprintable() or is_string_body(text))
            ):
                return True
        if not _is_text_data(d):
            return False
        known = self._decoder.model
        if not _names_no_other_model(d, known):
            return False  # the decoder would take this chunk's model: it reads the chunk
        try:  # the shape is learnt from a chunk that parses (the decoder reports one that does not)
            obj = sdk_loads(d)
        except (ValueError, RecursionError):
            return False
        if type(obj) is not dict:
            return False
        start = d.index('"content":"') + 11  # the one ``"content"`` (``is_text_chunk``)
        m = _STRING_BODY.match(d, start)
        end = m.end() if m is not None else -1
        if d[end : end + 1] != '"' or d[end + 1 : end + 2] not in ("}", ","):
            return False  # not a well-formed string there: the decoder reports what is wrong
        tail = d[end:]
        cut = tail.find(_PADDING)
        padded = cut != -1 and tail.endswith('"}') and tail.count('"', cut) == 4 and "\\" not in tail[cut:]
        self._set(d[:start], tail[:cut] if padded else tail, known, padded)
        return True


def _spliced_shape(data: str, obj: Any, model: str | None) -> tuple[str, str, str | None, bool] | None:
    """The text-chunk shape (``TextChunks``: head, tail, the decoder's model it holds for, padded) of the
    chunk ``data`` with its first choice's ``delta`` replaced by ``{"content":"<text>"}``, learnt from
    ``data`` (a chunk's stripped data) and ``obj`` (its parse) alone; ``model``: the decoder's model now.
    None unless every step below holds.

    The argument (RFC 8259's grammar; the SDKs' ``json.loads`` and the decoder's orjson read it alike):
    ``data`` holds no backslash, so each of its strings is spelled as its characters and a quote always
    opens or closes one. It holds ``"delta"`` once: the key of ``obj["choices"][0]``'s ``delta`` (which
    exists) is that one token, so that choice has one ``delta`` member. Right after it come ``:`` and
    the compact JSON of that delta (``orjson.dumps``): a whole object, so the value's text is exactly
    that span (a parser reading a value there reads that object and stops at its closing brace). A
    parser's state after a value depends only on what came before it, so ``data`` with that span
    replaced by any other JSON object parses to ``obj`` with only that delta changed; with
    ``{"content":"`` + ``t`` + ``"}`` (``t`` a JSON string body, non-empty) it is a chunk whose one
    choice's delta is the text alone. When ``data`` ends with OpenAI's padding (``,"obfuscation":"…"}``,
    a plain string: ``_PADDING_END``), its last string is that member's value, whose body can be any
    other string body the same way (a top-level key the decoder never reads).

    What the decoder then makes of such a chunk (``_chunk``): ``obj`` is an object with no truthy
    ``error``, its ``choices`` one object at index 0 with no ``finish_reason``, no ``usage``, and no
    ``usage`` object or ``x_groq`` at the top (``vendor_usage`` None): one ``TextDelta`` of ``t``
    while the stream runs (not finished), nothing else; its ``model`` is ``obj``'s, which leaves the
    decoder's as it is when that is the decoder's (a non-empty string: the shape holds for that model)
    or when it names none (absent, empty, not a string: the shape holds for the decoder's model now,
    ``TextChunks`` asking that it be the same). Source for the chunk: OpenAI API reference, "The chat
    completion chunk object" (a stream's chunks share id, created, model and fingerprint)."""
    if "\\" in data or type(obj) is not dict or obj.get("error") or "x_groq" in obj:
        return None
    choices = obj.get("choices")
    if type(choices) is not list or len(choices) != 1 or type(choice := choices[0]) is not dict:
        return None
    delta = choice.get("delta")
    if (
        type(delta) is not dict
        or choice.get("index", 0) != 0
        or choice.get("finish_reason") is not None
        or "usage" in choice
        or type(obj.get("usage")) is dict
        or data.count('"delta"') != 1
    ):
        return None
    at = data.find('"delta":') + 8
    value = orjson.dumps(delta).decode()
    if at == 7 or not data.startswith(value, at):
        return None
    said = obj.get("model")
    if type(said) is str and said:
        model = said
    rest = '"}' + data[at + len(value) :]
    cut = rest.rfind(_PADDING)
    padded = cut != -1 and _PADDING_END(rest, cut) is not None
    return data[:at] + '{"content":"', rest[:cut] if padded else rest, model, padded


_EMPTY_DELTA_AT = len('{"content":"')  # (a spliced head ends with it, a spliced tail begins with '"}')
_NULL_REASON = '"finish_reason":null'
_REASON_AT = len('"finish_reason":')


def _stop_form(data: str, choice: dict[str, Any], head: str, tail: str) -> tuple[str, str] | None:
    """The stream's finish chunk as the text before and after its reason's string body, from its first chunk
    ``data`` (stripped, no backslash), ``choice`` its first choice and ``head``/``tail`` its spliced text
    shape (``_spliced_shape``: ``data`` with the delta's value replaced by ``{"content":"`` … ``"}``, its
    padding cut off the tail): ``data`` with that delta ``{}`` and the ``null`` of its one
    ``"finish_reason":null`` a string. None unless ``"finish_reason"`` is named once in ``data``, after the
    delta, and is a key of ``choice`` (its value null: ``_spliced_shape`` asks it).

    The argument, as ``_spliced_shape``'s: with no backslash in ``data`` every quote opens or closes a
    string, so the one ``"finish_reason"`` is a string; ``choice`` has that key, whose name must be spelled
    in ``data``: it is that one, and ``null`` after its colon its value. Replacing that value with another
    JSON value, the delta's with ``{}`` and the padding's string body with another, gives ``data``'s object
    with only those three members changed: the decoder makes of it only ``_finish(reason)`` (``_chunk``:
    one choice at index 0, its delta empty, no usage anywhere, the model the shape's; OpenAI API
    reference, "The chat completion chunk object": a stream's chunks share id, created, model)."""
    at = tail.find(_NULL_REASON, 2)  # (after the tail's leading '"}': the delta's value ends there)
    if at == -1 or "finish_reason" not in choice or data.count('"finish_reason"') != 1:
        return None
    cut = at + _REASON_AT
    return head[:-_EMPTY_DELTA_AT] + "{}" + tail[2:cut] + '"', '"' + tail[cut + 4 :]


def is_string_body(text: str) -> bool:
    """``text`` is the body of a JSON string (what lies between its quotes): no bare quote or control
    character, every backslash a valid escape (RFC 8259, section 7). Most token texts are printable with
    no backslash: two C calls; any other is judged as the SDKs judge it (``_scan.sdk_loads``: orjson, and
    the standard parser where orjson refuses, e.g. half of a surrogate pair, ``\\ud83d``). A chunk whose
    text is not one is no JSON: the openai SDK raises on it (``json.loads`` of each event's data), so the
    decoder must read it."""
    if '"' in text or not text:
        return False
    if "\\" not in text and text.isprintable():
        return True
    try:
        sdk_loads('"' + text + '"')
    except (ValueError, RecursionError):
        return False
    return True


def _names_no_other_model(data: str, known: str | None) -> bool:
    """``data``'s top-level ``model`` is absent, empty, null or ``known`` (what the decoder has): decoding it
    would not change the served model. Read from OpenAI's compact JSON without parsing: one ``"model":``
    key (inside a string a quote is escaped, so text cannot fake it), its value compared as JSON text."""
    at = data.find('"model":')
    if at == -1:
        return True
    if data.count('"model":') != 1:
        return False
    value = data[at + 8 :]
    if value.startswith(('""', "null")):
        return True
    if known is None:
        return False
    said = orjson.dumps(known).decode()
    return value.startswith(said) and value[len(said) : len(said) + 1] in (",", "}")


# The keys a chunk the gateway adds copies from the stream's first chunk (OpenAI API reference, "The chat
# completion chunk object").
_CHUNK_HEAD = ("id", "object", "created", "model", "system_fingerprint")


def _empty_object_choice(index: int, legacy: bool, arguments: str = "{}") -> dict[str, Any]:
    """The choice giving tool call ``index`` the arguments ``arguments`` (``"{}"`` unless told): in
    ``tool_calls``, or in the legacy ``function_call`` when the stream's call came that way (one call, no
    index)."""
    if legacy:
        return {"index": 0, "delta": {"function_call": {"arguments": arguments}}, "finish_reason": None}
    call = {"index": index, "function": {"arguments": arguments}}
    return {"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": None}


@dataclass(slots=True)
class _ToolCall:
    index: int = 0  # the upstream's index for it
    id: str | None = None
    name: str | None = None
    fragments: list[str] = field(default_factory=list)
    started: bool = False
    sent: int = 0  # fragments already emitted
    complete: bool = False
    nullish: bool = True  # the arguments so far are blank or a beginning of ``null`` (``holds_null``)
    opening: str = ""  # the arguments' first character that is not white space ("" while they are blank)
    given: bool = (
        False  # arguments encoded twice: a passthrough client had the object's text (``passed_arguments``)
    )
    held_from: int = 0  # the first fragment a passthrough client had held back (the one opening with a quote)
    signature: str | None = None  # Gemini's thought signature on it (``_call_signature.chat_signature``)

    def is_complete(self) -> bool:
        """True once the arguments so far form a whole JSON object: no further fragment can belong to it."""
        if not self.complete and self.fragments:
            try:
                self.complete = isinstance(orjson.loads("".join(self.fragments)), dict)
            except orjson.JSONDecodeError:
                pass
        return self.complete

    def restated_rest(self, text: str, closing: bool) -> str | None:
        """What ``text``, a fragment that is a whole JSON object's text, adds to the call's arguments when it
        restates them: "" when the fragments so far are a whole object of the same value; in the finish
        chunk (``closing``), the part of ``text`` after the fragments so far when ``text`` begins with them
        (vLLM flushes the whole arguments after a streamed beginning: ``{`` then ``{"city": ...}``,
        vllm-project/vllm#51697). None for any other fragment (appended as it came). Only a fragment that
        opens with ``{`` after some fragments is parsed."""
        if not self.fragments or text.lstrip()[:1] != "{":
            return None
        new = _object_or_none(text)
        if new is None:
            return None
        joined = "".join(self.fragments)
        if self.is_complete():
            return "" if orjson.loads(joined) == new else None
        head = joined.lstrip()
        body = text.lstrip()
        if closing and head and body.startswith(head):
            return body[len(head) :]
        return None


def _object_or_none(text: str) -> dict[str, Any] | None:
    """The JSON object ``text`` holds, else None."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if type(value) is dict else None


def vendor_usage(obj: dict[str, Any]) -> Any:
    """A chunk's usage reported outside ``usage``, else None: Groq's streams report it in the last chunk's
    ``x_groq.usage`` (Groq API reference, chat completion chunk ``x_groq``; same counts as ``usage``),
    Moonshot/Kimi's in the finish chunk's ``choices[0].usage`` (higress#1568, vercel/ai#19727); those
    tokens are billed like any others (s10 variant 28-g, s11 variants 28-a/b)."""
    vendor = obj.get("x_groq")
    if type(vendor) is dict:
        return vendor.get("usage")
    choices = obj.get("choices")
    if type(choices) is list and choices and type(first := choices[0]) is dict:
        return first.get("usage")
    return None


# A JSON string's body with no escape and nothing JSON refuses raw (RFC 8259, section 7)
_PLAIN_STRING = re.compile(r'[^"\\\x00-\x1f]*').fullmatch
# OpenAI's padding after a chunk's last key (``stream_options.include_obfuscation``)
_PADDING_END = re.compile(r',"obfuscation":"[^"\\\x00-\x1f]*"\}').fullmatch
# The same as bytes, a frame's end after it (``_TextShape.run``): the UTF-8 of a string without escapes
_PADDED_FRAME_END = re.compile(rb',"obfuscation":"[^"\\\x00-\x1f]*"\}\n\n').match
# A run of text frames (``TextChunks.run``) after its lead: ``data: `` + a head, NUL, a tail, NUL (group 1 and
# 2: no NUL in them), then each frame ``data: `` + that head + a body with no quote, backslash or control
# character + that tail (unpadded, with its LF LF; padded, then a printable ASCII padding string, as
# ``TextChunks.data`` takes it, and LF LF). Each frame is matched exactly by the backreferences; a body's
# ``+`` backtracks only within the body, when the tail does not follow it (the run's end): linear.
_TEXT_RUN = re.compile(rb'data: ([^\x00]*)\x00([^\x00]*)\x00(?:data: \1[^"\\\x00-\x1f]+\2)*').match
_PADDED_TEXT_RUN = re.compile(
    rb'data: ([^\x00]*)\x00([^\x00]*)\x00(?:data: \1[^"\\\x00-\x1f]+\2,"obfuscation":"[ !#-\[\]-~]*"\}\n\n)*'
).match
# A text's JSON string body with no escape, as bytes (``_PLAIN_STRING``'s rule; the caller checks UTF-8)
_PLAIN_BODY = re.compile(rb'[^"\\\x00-\x1f]+').fullmatch
# The usual unnamed frame at a position (``ChatStreamDecoder.feed_frames``): ``data: <data>`` LF LF, group 1 the data
# (the relay's ``_DATA_FRAME``: the same shape, so the same frames as its tap reads one at a time)
_DATA_FRAME = re.compile(rb"data: ([^\n]*)\n\n").match
# The deltas that are a token (``relay._CONTENT``): ``feed_frames`` stops after a frame that brings one
_TOKENS: frozenset[type] = frozenset({TextDelta, ReasoningDelta, ToolCallStart, ToolArgsDelta})


# A chat chunk's opening as OpenAI writes it, its ``id`` and ``created`` (per stream: OpenAI API reference, "The chat
# completion chunk object") as plain strings and digits: ``_TextShape.spliced_from`` keys its shapes on what follows
_OPENING = re.compile(
    r'\{"id":"([^"\\\x00-\x1f]*)","object":"chat\.completion\.chunk","created":[0-9]+,'
).match
# The spliced shapes (``spliced_from``) by (the first chunk after its opening and before its padding, padded, the
# decoder's model): ``_TextShape.kept``'s; None: no shape.
# At most ``_SPLICED_MAX`` kept (a gateway's upstreams send a handful of first-chunk forms; when full it is cleared, so a
# long-running gateway keeps the forms of its current models and fingerprints: s30 review30)
_SPLICED: dict[
    tuple[str, bool, str | None], tuple[str, str, str | None, bool, bytes, tuple[str, str] | None] | None
] = {}
_SPLICED_MAX = 64
# What a fresh decoder's first chunk of a key (as ``_SPLICED``'s, less the model, which the chunk itself names) made
# of it, kept when it was its ``MessageStart`` alone and nothing else of the decoder changed (``_learn_first``): the
# model it then had and its text shape as ``_SPLICED`` keeps it; None: a form read the general way
# (``ChatStreamDecoder._kept_first``; session 31). At most ``_SPLICED_MAX`` kept, cleared when full (as ``_SPLICED``).
_FIRST_READS: dict[
    tuple[str, bool],
    tuple[str | None, tuple[str, str, str | None, bool, bytes, tuple[str, str] | None]] | None,
] = {}


# A first chunk's key (``ChatStreamDecoder._opening``): where its opening ends, its id, and what follows the opening
# up to the padding with whether there is one
_OpeningKey = tuple[int, str, tuple[str, bool]]


@dataclass(slots=True)
class _TextShape:
    """A stream's text chunks, as the text and the padding vary: the bytes before the text's string
    (``head``), after it up to the padding (``tail``), and the model the decoder had then.

    Learnt from a chunk ``feed`` parsed into exactly one TextDelta, its delta's ``content`` (not a refusal's:
    a chunk with both says two; no tool call keys in its delta, its one choice at index 0), whose JSON text
    has no backslash outside the text's string and names ``"content"`` once. Then the string after that
    one ``"content":"`` is the delta's content: the chunk is valid JSON (it parsed), so with no escape
    outside the text every quote there is a string's own, every key is spelt as it reads, and the delta's
    ``content`` key (there: the parse has it) can only be that one ``"content"``, a key (a colon follows
    it), not duplicated, its value the string at the text. So the chunk with another text is the same
    object but for that text (until session 22 a second parse, of the chunk with the text "probe", checked
    it: ~20k instructions a stream; ``tests/unit/dialects/test_text_shape23.py`` checks the rule against
    it). A chunk that is ``head`` + a JSON string body + ``tail`` (+ a plain padding string) is then that
    object with another text and padding, which the decoder turns into that text's TextDelta alone, while
    its model is still the one it had (a chunk names its model in ``head``; the decoder keeps the last one).
    Not frozen: a frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (~7k
    instructions a stream); nothing changes a shape once made."""

    head: str
    tail: str
    padded: bool
    model: str | None
    # A usual frame of this shape as bytes (``run``): ``data: `` + ``head``, and ``tail`` (+ LF LF unpadded)
    frame_head: bytes
    frame_tail: bytes
    # made from the stream's first chunk (``spliced``), not yet from a text chunk: a text chunk the decoder
    # reads into one TextDelta (the shape did not take it) teaches the shape again (``learn``)
    spliced: bool = False
    # The stream's finish chunk around its reason's string body (``finish``), from the first chunk too: None
    # when it gave none (``_stop_form``), or not yet learnt: the first chunk, stripped and parsed, is then kept
    # in ``first`` until ``finish`` is first asked (after the stream's text: off its first token's path)
    stop: tuple[str, str] | None = None
    first: tuple[str, dict[str, Any]] | None = None

    @staticmethod
    def spliced_from(data: str, obj: Any, model: str | None, opened: _OpeningKey | None) -> _TextShape | None:
        """The shape of the stream's text chunks from its first chunk ``data`` (stripped) parsed as ``obj``, the
        decoder's model then ``model``, ``data``'s key ``opened`` (``ChatStreamDecoder._opening``'s):
        ``_spliced_shape``'s (OpenAI's role chunk and its text chunks differ only in ``delta`` and padding; its
        docstring gives the argument), so the stream's first text chunk needs no parse either (session 25). None
        when ``_spliced_shape`` has none.

        Kept across streams (session 29): a first chunk that opens as OpenAI's (``_OPENING``) is keyed on what
        follows its id and ``created`` up to its padding (a plain string: ``_PADDING_END``), whether it has one,
        and ``model``. Two chunks of one key differ only in those three plain values, which no test of
        ``_spliced_shape`` or ``_stop_form`` reads (no backslash or quote in them; the decoder reads neither
        ``created`` nor the padding): their shapes and finish forms are the same after the opening, which is the
        chunk's own (tests/unit/dialects/test_spliced_kept29.py). The first stream of a key learns its finish
        form lazily as before; later ones get it with the shape (no first chunk kept)."""
        if opened is None:
            return _TextShape._spliced(data, obj, model)
        at, _, (after, padded) = opened
        key = (after, padded, model)
        kept = _SPLICED.get(key, _UNPARSED)
        if kept is _UNPARSED:
            made = _TextShape._spliced(data, obj, model)
            if len(_SPLICED) >= _SPLICED_MAX:
                _SPLICED.clear()  # full: start again, so forms that came later (a new model, fingerprint) are kept too
            _SPLICED[key] = None if made is None else made.kept(at)
            return made
        if kept is None:
            return None
        return _TextShape.from_kept(data, at, kept)

    @staticmethod
    def from_kept(
        data: str, at: int, kept: tuple[str, str, str | None, bool, bytes, tuple[str, str] | None]
    ) -> _TextShape:
        """The shape ``kept`` (``kept``'s tuple) for a first chunk ``data`` whose opening ends at ``at``."""
        head = data[:at] + kept[0]
        stop = kept[5] and (data[:at] + kept[5][0], kept[5][1])
        return _TextShape(head, kept[1], kept[3], kept[2], b"data: " + head.encode(), kept[4], True, stop)

    def kept(self, at: int) -> tuple[str, str, str | None, bool, bytes, tuple[str, str] | None]:
        """What ``spliced_from`` keeps of this shape, spliced from a first chunk whose opening (id and created)
        ends at ``at``: the head and the stop form's head after it, the rest as they are (the stop form learnt
        now: ``finish``, once for every stream that shares the key)."""
        first = self.first
        stop = None if first is None else _stop_form(first[0], first[1]["choices"][0], self.head, self.tail)
        return (
            self.head[at:],
            self.tail,
            self.model,
            self.padded,
            self.frame_tail,
            stop and (stop[0][at:], stop[1]),
        )

    @staticmethod
    def _spliced(data: str, obj: Any, model: str | None) -> _TextShape | None:
        """``spliced_from`` made afresh from ``_spliced_shape``."""
        shape = _spliced_shape(data, obj, model)
        if shape is None:
            return None
        head, tail, model, padded = shape
        frame_tail = tail.encode() if padded else tail.encode() + b"\n\n"
        return _TextShape(
            head, tail, padded, model, b"data: " + head.encode(), frame_tail, True, None, (data, obj)
        )

    @staticmethod
    def learn(data: str, obj: dict[str, Any], model: str | None) -> _TextShape | None:
        choices = obj.get("choices")
        if type(choices) is not list or len(choices) != 1 or data.count('"content":"') != 1:
            return None
        delta = choices[0].get("delta")
        if choices[0].get("index", 0) != 0 or "tool_calls" in delta or "function_call" in delta:
            return None
        content = delta.get("content")
        if type(content) is not str or not content:
            return None  # the one TextDelta was the refusal's: a chunk with content would make two
        start = data.index('"content":"') + 11
        end = data.find('"', start)  # the string's end when its body has no backslash (the usual text)
        if "\\" in data[start:end]:
            m = _STRING_BODY.match(data, start)
            end = m.end() if m is not None else -1
        if end == -1 or data[end : end + 1] != '"':
            return None
        rest = data[end:]
        cut = rest.rfind(_PADDING)
        padded = cut != -1 and _PADDING_END(rest, cut) is not None
        tail = rest[:cut] if padded else rest
        frame_tail = tail.encode() if padded else tail.encode() + b"\n\n"
        if "\\" in rest or "\\" in data[:start] or data.count('"content"') != 1:
            return None  # see the docstring: without these, which string the text is needs a parse
        return _TextShape(data[:start], tail, padded, model, b"data: " + data[:start].encode(), frame_tail)

    def run(self, buf: bytes, pos: int) -> tuple[list[bytes], int]:
        """The run of whole frames of this shape at ``pos`` of ``buf``, each ``data: `` + a data ``text``
        reads as a text without escapes, then LF LF: their texts' JSON string bodies (the UTF-8 of the
        texts when the run is valid UTF-8, which the caller checks) and the position after the run (``pos``
        and no body when the frame there is not one). Per frame, ``startswith``, ``find`` and a regex
        ``fullmatch`` of the body, no ``SSEEvent``, no str. A frame is taken only when its data is ``head``
        + a non-empty body without quote, backslash or control character + ``tail`` (+ a plain padding
        string): the first quote after the body is then ``tail``'s first character, so ``find`` stops at
        the body's end, and the data holds no CR or LF, so it is one ``data:`` line, the event's whole data."""
        head, tail = self.frame_head, self.frame_tail
        skip, after_body = len(head), len(tail)
        padded = self.padded
        bodies: list[bytes] = []
        while buf.startswith(head, pos):
            start = pos + skip
            end = buf.find(tail, start)
            if end <= start or _PLAIN_BODY(buf, start, end) is None:
                break
            nxt = end + after_body
            if padded:
                m = _PADDED_FRAME_END(buf, nxt)
                if m is None:
                    break
                nxt = m.end()
            bodies.append(buf[start:end])
            pos = nxt
        return bodies, pos

    def finish(self, data: str, model: str | None) -> str | None:
        """The finish reason of ``data`` when it is the stream's finish chunk of this shape (``stop``: the
        first chunk with its ``delta`` empty and its ``finish_reason`` a string with no escape, non-empty,
        its padding, if any, another plain string) and the decoder's model is still ``model``; else None."""
        stop = self.stop
        if stop is None:
            first = self.first
            if first is None:
                return None
            self.first = None  # (learnt once: a form or none)
            stop = self.stop = _stop_form(first[0], first[1]["choices"][0], self.head, self.tail)
            if stop is None:
                return None
        if model != self.model or not data.startswith(stop[0]):
            return None
        start = len(stop[0])
        end = data.find('"', start)
        if end <= start or _PLAIN_STRING(data, start, end) is None:
            return None
        after = stop[1]
        if self.padded:
            if not data.startswith(after, end) or _PADDING_END(data, end + len(after)) is None:
                return None
        elif len(data) != end + len(after) or not data.endswith(after):
            return None
        return data[start:end]

    def text(self, data: str, model: str | None) -> str | None:
        """The text of ``data`` when it has this shape and the decoder's model is still ``model``."""
        head, tail = self.head, self.tail
        if model != self.model or not data.startswith(head):
            return None
        start = len(head)
        if self.padded:
            end = data.find(tail, start)
            if end == -1 or _PADDING_END(data, end + len(tail)) is None:
                return None
        elif data.endswith(tail):
            end = len(data) - len(tail)
        else:
            return None
        body = data[start:end]
        if not body:
            return None
        if _PLAIN_STRING(body) is not None:
            return body
        try:  # escapes: the JSON string itself says what it is (or is not one)
            text = orjson.loads('"' + body + '"')
        except orjson.JSONDecodeError:
            return None
        return text if type(text) is str and text else None


# the most choices a chat stream's ``n`` makes the decoder await (OpenAI API reference, "Create chat completion":
# ``n`` is at most 128)
MAX_CHOICES = 128


# What ``ChatStreamDecoder._kept_first`` sets of a fresh decoder (the rest must be a fresh decoder's for a form to be
# kept: ``_untouched_but_first``), and a fresh decoder's fields, made at the first ask
_FIRST_SETS = frozenset({"model", "_started", "_first", "_first_data", "_lane", "_lane_wanted"})
_FRESH: dict[str, Any] = {}


class ChatStreamDecoder:
    """Upstream OpenAI-style chat SSE (OpenAI, xAI, OpenRouter) → IR deltas.

    ``done`` turns True at the first ``finish_reason`` (or at ``[DONE]``): a body that ends after a
    finish reason ended normally, with or without the ``[DONE]`` sentinel.

    Tool calls are emitted in order of first appearance, each one's start and argument fragments
    contiguous, because Anthropic clients cannot interleave content blocks. The call being streamed is
    relayed live; a call that shows up while the current one's arguments are not yet a complete JSON
    object (true interleaving, which OpenAI itself never does) is buffered and released as soon as the
    current call completes, or at ``finish_reason`` / ``finish()`` at the latest.
    """

    # ``_opening``'s last data (the very str, held: no other str can have its identity) and its answer, set on the
    # decoder at its first key; class defaults, not set in ``__init__`` (two stores, ~150 instructions a stream)
    _opened_data: str | None = None
    _opened: _OpeningKey | None = None

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.done = False
        self.model: str | None = None
        self._started = False
        self._finished = False
        self._ended = False  # `[DONE]` seen: nothing after it is read
        self.closed = False  # `[DONE]` seen (``registry.StreamDecoder``)
        self._failed = False
        self._refusal = False
        # choices other than 0 seen (a client's ``n``): index → has its finish reason (``_other_choice``)
        self._others: dict[int, bool] | None = None
        self._awaited = 0  # choices other than 0 the request asked for (``expect_choices``)
        self._calls: list[_ToolCall] = []  # by first appearance; position = IR tool index
        self._slots: dict[int, int] = {}  # upstream index → position of the call it names now
        # Some call's arguments began as ``null`` (``_tool_deltas``): a passthrough filter then asks ``holds_null``
        self.null_seen = False
        # Some call's arguments began with a quote (encoded twice?): a passthrough filter then asks ``passed_arguments``
        self.quoted_seen = False
        # Some tool call came without ``index`` (Gemini's OpenAI endpoint): a passthrough filter then asks
        # ``call_number`` for the index a same-format client must get (``openai_chat.indexes_given``)
        self.indexless_seen = False
        # The last chunk's calls without ``index`` whose arguments the decoder read as less than sent (a call
        # restated whole): position in the chunk → the arguments it took (``given_arguments``)
        self._given: dict[int, str] | None = None
        self._cursor = 0  # position in _calls of the call being relayed
        # the first chunk's parse: the shape of a chunk the gateway adds; None: a first chunk read by its kept form
        # (``_kept_first``), parsed when first asked (``_first_object``)
        self._first: dict[str, Any] | None = {}
        self._legacy = False  # the call came as the deprecated ``delta.function_call``
        self._lane: _TextShape | None = None  # the stream's text chunks' shape (``text_of``)
        self._lane_wanted = False  # ``text_of`` was asked: learn the shape (a passthrough never asks)
        # The first chunk read: its stripped data (``first_chunk``)
        self._first_data: str | None = None
        self._signed = False  # a call's start waits for its thought signature (``wait_for_signatures``)
        # Gemini's signatures OpenRouter gave in ``reasoning_details`` (``details_signatures``) for calls not yet seen
        self._detail_signatures: dict[str, str] | None = None  # (made at the first: most streams have none)

    @property
    def first_chunk(self) -> tuple[str, dict[str, Any]] | None:
        """The first chunk read: its stripped data and its parse (``TextChunks`` splices its text shape from it);
        None before it."""
        data = self._first_data
        return None if data is None else (data, self._first_object())

    def _first_object(self) -> dict[str, Any]:
        """The first chunk's parse (``{}`` before it), parsed now when it was read by its kept form
        (``_kept_first``: then it is a chat chunk object, as the chunk it shares its form with)."""
        first = self._first
        if first is None:
            first = self._first = orjson.loads(self._first_data or "{}")
        return first

    def wait_for_signatures(self) -> None:
        """Hold each tool call's start (``ToolCallStart``, which carries the call's id and thought signature)
        until the call carries its signature, another call follows it, or the answer finishes: for a target that
        signs its calls (``Target.thought_signatures``: Gemini, whose signature a translated client keeps only in
        the call's id, ``_call_signature``), as the relay of a translated stream asks (``relay.Translator``).
        Google's endpoint sends the signature with the call's start, but a relay in front of it may stream the
        call as OpenAI does (name first, arguments after) and put ``extra_content`` on a later chunk of the call:
        the arguments' chunk, a chunk of its own, or the finish chunk restating the call. A start given before
        then gave the client an id without the signature, and Gemini the dummy on its own call next turn
        (Gemini API docs, "Thought signatures"; s25 variants 04-gemsig-argchunk-vA..04-gemsig-afterargs-vC).
        Gemini sends a call whole, so holding it costs no streaming of its arguments."""
        self._signed = True

    def expect_choices(self, n: Any) -> None:
        """The request asked for ``n`` choices (its ``n``, relayed as it came): the answer is done only when choices 1
        to ``n - 1`` have their finish reasons too, seen or not yet (``_other_choice``). Without it a choice that
        starts after choice 0's finish was unknown at that finish, which ended the answer (session 27: a body that
        then broke off before that choice's finish was recorded complete). A server that ignores ``n`` sends choice
        0 alone: when the body ends with no other choice seen, choice 0's finish ends the answer (``finish``), as
        ``[DONE]`` does. ``n`` that is no integer above 1 says nothing; at most ``MAX_CHOICES`` are awaited
        (OpenAI's own bound on ``n``)."""
        if type(n) is int and n > 1:
            self._awaited = min(n, MAX_CHOICES) - 1

    def feed(self, ev: SSEEvent) -> list[Delta]:
        """Translate one upstream SSE event."""
        if ev.comment:
            return [KeepAlive()]
        return self.feed_data(ev.data.strip(), event=ev.event)

    def feed_data(self, data: str, parsed: Any = _UNPARSED, event: str | None = None) -> list[Delta]:
        """``feed`` of an event that is no comment, given its data stripped; ``parsed``: that data's
        ``orjson.loads`` when the caller has it already (``plan_tail``), so that it is not parsed twice;
        ``event``: the event's name (None for the unnamed ``data:`` frames the relay splits itself)."""
        if data == "[DONE]":
            self.done = self._ended = self.closed = True
            return []
        if self._ended or not data:
            return []
        if self._failed:
            self._usage_after_failure(data)
            return []
        if parsed is not _UNPARSED:
            obj = parsed
        else:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                obj = None
        if not isinstance(obj, dict):
            # Gemini's OpenAI-compatible endpoint says an error as a one-element list, in its stream as in a body
            # (``unwrapped``; s27 variants 10-gemini-inband-list-cc-vK, 11-gemini-inband-list-429-cc-vM: a 502
            # "malformed chunk" before, its overflow no overflow and its 429 without the wait)
            obj = unwrapped(obj)
            if not isinstance(obj, dict):
                return self._fail(
                    StreamError(status=502, type="api_error", message="malformed chunk from upstream")
                )
        if obj.get("error"):  # (TGI's ``error_type`` beside it: ``stream_error_from_openai``)
            return self._fail(stream_error_from_openai(obj["error"], obj.get("error_type")))
        # an error event whose data is the error object itself (llama.cpp's ``error:`` line, ``SSEDecoder``); ``is not
        # None`` first: a chat chunk has no event name, and ``None == str`` costs two failed comparisons
        if event is not None and event == "error":
            return self._fail(stream_error_from_openai(obj))
        started = self._started
        out = self._chunk(obj)
        if not started:
            self._first_data = data
            if self._lane_wanted:
                self._lane = _TextShape.spliced_from(data, obj, self.model, self._opening(data))
                if self._lane is not None and len(out) == 1 and type(out[0]) is MessageStart:
                    self._learn_first(data, out[0])
        elif (
            self._lane_wanted
            and (self._lane is None or self._lane.spliced)
            and len(out) == 1
            and type(out[0]) is TextDelta
        ):
            self._lane = _TextShape.learn(data, obj, self.model) or self._lane
        return out

    def feed_frame(self, data: bytes) -> list[Delta] | None:
        """``feed`` of an unnamed event, given its data's bytes (a relay that reads a usual ``data: …`` frame
        from its bytes asks this, without an ``SSEEvent``: ``relay.Translator._tapped``): the same deltas
        and state, None, nothing changed, when the bytes are not UTF-8 (the SSE decoder would replace a
        byte). A translator's ``text_of`` asks to learn the text shape before it ``feed``s an event: this
        asks it too, so the shape is learnt from the same chunk."""
        if data == b"[DONE]":  # (``feed_data``'s first test, before the decode)
            self.done = self._ended = self.closed = True
            return []
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return None
        self._lane_wanted = True
        lane = self._lane
        if not self._started and _FIRST_READS and (kept := self._kept_first(text)) is not None:
            return kept
        if lane is not None and not (self._finished or self._ended or self._failed):
            # a text chunk of the stream's text shape (``text_of``'s test): one TextDelta, no parse
            said = lane.text(text, self.model)
            if said is not None:
                return [TextDelta(said)]  # (by position: a keyword costs the type call a dict)
            # its finish chunk (``_TextShape.finish``): what ``_choice`` makes of a usual reason, no parse
            reason = lane.finish(text, self.model)
            if reason is not None and reason != "error" and reason not in CUT_FINISH:
                return self._finish(reason)
        return self.feed_data(text.strip())

    def _opening(self, data: str) -> _OpeningKey | None:
        """Of a chat chunk's data ``data`` opening as OpenAI's (``_OPENING``): where the opening ends, its id, and
        what follows the opening up to the padding (a plain string: ``_PADDING_END``) with whether there is one;
        None for another opening. ``_TextShape.spliced_from``, ``_kept_first`` and ``_learn_first`` key on the last.

        A pure function of ``data``; the decoder keeps its last answer with its data (the same str object): a first
        chunk ``_kept_first`` did not read is keyed once, not again by ``feed_data``'s ``spliced_from`` and
        ``_learn_first`` (``feed_frame`` strips it to the same str when there is nothing to strip). Kept by the
        decoder, not the module (session 32): it lives as long as the stream whose first chunk it keys."""
        if data is self._opened_data:
            return self._opened
        opening = _OPENING(data)
        if opening is None:
            got = None
        else:
            at = opening.end()
            cut = data.rfind(_PADDING)
            padded = cut > at and _PADDING_END(data, cut) is not None
            got = at, opening[1], (data[at:cut] if padded else data[at:], padded)
        self._opened_data, self._opened = data, got
        return got

    def _kept_first(self, data: str) -> list[Delta] | None:
        """``feed_data`` of the stream's first chunk ``data`` (its frame's data, unstripped) read without a parse
        when a chunk of its form was learnt (``_FIRST_READS``: what follows its opening, up to a plain padding,
        the same; its id a non-empty plain string): its ``MessageStart`` with this chunk's id and the model then
        learnt, and the same text shape as ``_TextShape.spliced_from`` gives, the parse left for when asked
        (``_first_object``). None, nothing changed, otherwise, and when the decoder has been told to hold calls or
        await choices (``wait_for_signatures``, ``expect_choices``: not learnt with them), or after ``[DONE]`` or a
        failure (``feed_data`` reads no chunk then).

        The argument (session 31): ``_learn_first`` keeps a form only when its first chunk, read by a fresh
        decoder, made its ``MessageStart`` alone and changed nothing but the model, the started flag, the first
        chunk and the shape, and when what follows its opening holds no ``"id"`` and no backslash (so no other
        key the parse reads as ``id``, escaped or not). Two chunks of one key
        differ only in the opening's id and ``created`` and the padding's plain string: ``_chunk`` reads neither
        ``created`` nor the padding, and the id it reads is the opening's (no other ``"id"`` key; a plain string,
        so the parse gives its text as it is); so a fresh decoder reads this chunk into the same state and a
        ``MessageStart`` with this id. The key's text holds the chunk up to its end, so a chunk with white space
        around it (which ``feed_data``'s strip takes off) matches no key: ``data`` here is the stripped data
        (tests/unit/dialects/test_first_kept31.py)."""
        if self._signed or self._awaited or self._ended or self._failed:
            return None
        # ``_opening(data)`` inline, its answer kept as it keeps it (session 35: a code object less on a c1
        # request's first read; a first chunk is keyed here once, its memo is never asked before)
        opening = _OPENING(data)
        if opening is None:
            self._opened_data, self._opened = data, None
            return None
        at = opening.end()
        cut = data.rfind(_PADDING)
        padded = cut > at and _PADDING_END(data, cut) is not None
        key = (data[at:cut] if padded else data[at:], padded)
        upstream_id = opening[1]
        self._opened_data, self._opened = data, (at, upstream_id, key)
        kept = _FIRST_READS.get(key)
        if kept is None or not upstream_id:
            return None
        model, shape = kept
        self.model = model
        self._started = True
        self._first = None
        self._first_data = data
        # ``_TextShape.from_kept(data, at, shape)`` inline (as above)
        head = data[:at] + shape[0]
        stop = shape[5] and (data[:at] + shape[5][0], shape[5][1])
        self._lane = _TextShape(
            head, shape[1], shape[3], shape[2], b"data: " + head.encode(), shape[4], True, stop
        )
        return [MessageStart(upstream_id, model or "")]  # (by position, as ``_chunk``'s)

    def _learn_first(self, data: str, start: MessageStart) -> None:
        """Keep the form of the first chunk ``data`` just read into ``start`` alone with its text shape spliced
        (``_kept_first``'s), when a fresh decoder read it (nothing else seen, nothing held or awaited), it opens
        as OpenAI's with a non-empty id that ``start`` carries, holds no ``"id"`` and no backslash after its opening, and
        nothing of the decoder changed but what ``_kept_first`` sets (``_untouched_but_first``: every field
        compared with a fresh decoder's, so a field added later is compared too); a form not kept is noted (None)
        so that it is judged once."""
        opened = self._opening(data)
        if opened is None or opened[2] in _FIRST_READS:
            return
        at, upstream_id, key = opened
        shape = _SPLICED.get((key[0], key[1], self.model))
        plain = (
            shape is not None
            and upstream_id
            and start.id == upstream_id
            and '"id"' not in data[at:]
            and "\\" not in data[at:]
            and self._untouched_but_first()
        )
        if len(_FIRST_READS) >= _SPLICED_MAX:
            _FIRST_READS.clear()
        _FIRST_READS[key] = (self.model, shape) if plain and shape is not None else None

    def _untouched_but_first(self) -> bool:
        """Every field of this decoder but those ``_kept_first`` sets (``_FIRST_SETS``) equals a fresh decoder's
        (``_FRESH``): the first chunk changed nothing else, and nothing was told or seen before it (held calls,
        awaited choices, a failure, ``[DONE]``). A snapshot compare, not a list of fields: a field added to
        ``__init__`` is compared without being named here (session 32; asked once a form, off the hot path).
        An attribute ``__init__`` does not make (a test's instrumented method) is not state: not compared."""
        if not _FRESH:
            _FRESH.update(vars(ChatStreamDecoder()))
        state = vars(self)
        return all(
            state.get(name, _UNPARSED) == value for name, value in _FRESH.items() if name not in _FIRST_SETS
        )

    def feed_frames(self, buf: bytes, pos: int, until_token: bool) -> tuple[list[Delta], int]:
        """``feed_frame`` of each usual unnamed frame from ``pos`` of ``buf`` on (``data: <data>`` LF LF; ``buf``
        holds no CR: the caller checks), their deltas in one list, and the position after the last frame read:
        what the relay's tap gives frame by frame (``relay.Translator._tapped``), for a read's frames as one
        batch (one call, one list, one ``_deltas`` in the relay: a one-read answer's finish chunk, usage chunk
        and ``[DONE]`` cost one pass instead of three; session 27, as ``MessagesStreamDecoder.feed_frames``
        for the Anthropic wire). It stops before a frame that is not one or that ``feed_frame`` is unsure of
        (not UTF-8: nothing of it read), after ``[DONE]``, at the end of ``buf``; with ``until_token``, after
        the first frame that brings a token (text, reasoning, a tool call or its arguments: the relay's first
        write); without, before a frame other than the first that opens as the stream's text chunks do
        (``_TextShape.frame_head``: the relay's run lane reads those with no delta made). ``([], pos)`` when
        the first frame is not read. Each frame's deltas are ``feed``'s of its event (``feed_frame``'s
        contract), in order, so the relay's bytes and facts are those of the tap frame by frame
        (tests/unit/dialects/test_chat_batch27.py)."""
        out: list[Delta] = []
        start, n = pos, len(buf)
        lane = self._lane
        head = None if until_token or lane is None else lane.frame_head
        while pos < n and not self._ended:
            framed = _DATA_FRAME(buf, pos)
            if framed is None or (head is not None and pos != start and buf.startswith(head, pos)):
                break
            got = self.feed_frame(framed[1])
            if got is None:
                break
            pos = framed.end()
            if got:
                out += got
                if until_token and not _TOKENS.isdisjoint(map(type, got)):
                    break
        return out, pos

    def plan_tail(
        self, datas: list[str], drop_usage: bool
    ) -> tuple[list[bool], Callable[[], list[Delta]]] | None:
        """What a passthrough client gets of a stream's last frames before they are decoded
        (``registry.PassFrames.tail``): ``datas``, the data of each frame left in the body's last read
        (each a usual one-line ``data:`` frame), read after the stream's first token, each JSON one
        parsed once. Returns, per frame, whether the chat frame filter (``registry._chat_passthrough_frames``
        when ``drop_usage``, else ``_chat_own_frames``) gives it as it came (True) or drops it (False), and
        a call that decodes them all later from those parses (``feed_data``), giving their deltas in order:
        the same deltas and state ``feed`` of each would give. None (decode them now) unless it is sure.

        Sure only for the usual end of a stream (OpenAI API reference, "The chat completion chunk object";
        conformance §1.5): the decoder has begun, has no tool call, has neither finished, failed nor ended;
        the last frame is ``[DONE]`` (so the decoder is closed after it: ``finish`` adds nothing) and every
        other one is a JSON object (``{…}``, no spaces around it: its stripped data) with no truthy
        ``error``, no ``x_groq``, no ``object`` ``"error"`` and a ``choices`` list that is empty or holds one object with no ``usage``
        whose ``delta`` is absent, null or empty and, before the finish, whose ``index`` is 0 or none and
        whose ``finish_reason`` is absent, null or a reason other than ``error`` or one of ``CUT_FINISH``, and a ``usage`` that is
        absent, null or an object. ``_chunk`` then reads from such a frame at most a ``Finish`` (no tool
        call to close: ``_advance`` gives nothing) and a ``UsageUpdate``, and fails on none: the filter
        drops a frame that gives the usage alone when ``drop_usage`` and returns every other as it came
        (no blank data, no tool-call arguments to mend, no repair frames: no call). Anything else (a
        malformed or error chunk, content after the first token in a frame that is no token frame, a tool
        call, vendor usage) gives None. For a client that asked for the usage chunk, whose filter drops none,
        the test is on the bytes alone and the parses wait for ``settle`` (``_plan_own_tail``)."""
        if not self._started or self._failed or self._ended or self.done or self._calls:
            return None
        if len(datas) < 2 or datas[-1] != "[DONE]":
            return None
        if not drop_usage:
            return self._plan_own_tail(datas)
        kept: list[bool] = []
        parsed: list[Any] = []
        finished = False
        for data in datas[:-1]:
            if data[:1] != "{" or data[-1:] != "}":
                return None
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
            if type(obj) is not dict or obj.get("error") or "x_groq" in obj or obj.get("object") == "error":
                return None
            choices = obj.get("choices")
            finish = False
            if type(choices) is not list:
                return None
            if choices:
                choice = choices[0]
                if len(choices) != 1 or type(choice) is not dict or "usage" in choice:
                    return None
                delta = choice.get("delta")  # (after the finish too: the filter mends any delta's arguments)
                if delta is not None and delta != {}:
                    return None
                if not finished:
                    reason = choice.get("finish_reason")
                    if choice.get("index", 0) != 0:
                        return None
                    if reason is not None:
                        if type(reason) is not str or not reason or reason == "error" or reason in CUT_FINISH:
                            return None
                        finish = finished = True
            usage = obj.get("usage")
            if usage is not None and type(usage) is not dict:
                return None
            kept.append(not (drop_usage and usage is not None and not finish))
            parsed.append(obj)
        kept.append(True)
        parsed.append(None)
        return kept, partial(self._feed_planned, datas, parsed)

    def _plan_own_tail(self, datas: list[str]) -> tuple[list[bool], Callable[[], list[Delta]]] | None:
        """``plan_tail`` for a client that asked for the usage chunk (``_chat_own_frames``), by a test on the
        bytes alone, no parse: that filter reads no delta, so a frame goes back as it came unless its data
        is blank (none here: every frame is ``{…}`` or ``[DONE]``) or holds tool-call arguments sent as an
        object (it mends them: ``object_arguments_as_text``, only inside ``tool_calls``), and the relay adds
        repair frames only for a tool call, which a frame can start only by naming ``tool_calls`` or
        ``function_call``: no frame may hold ``_call`` (a key spelled with a ``\\u`` escape is refused:
        none may be in the frames). What the frames decode to (a malformed or
        error chunk included: the client has its bytes) changes none of it; ``[DONE]`` last closes the
        decoder whatever came before, so ``finish`` adds nothing. The frames are parsed in ``settle``."""
        body = "\n".join(datas)
        if "_call" in body or "\\u" in body:
            return None
        if any(data[:1] != "{" or data[-1:] != "}" for data in datas[:-1]):
            return None
        unparsed = [_UNPARSED] * len(datas)
        return [True] * len(datas), partial(self._feed_planned, datas, unparsed)

    def _feed_planned(self, datas: list[str], parsed: list[Any]) -> list[Delta]:
        """``feed_data`` of each of ``plan_tail``'s frames with its parse: their deltas in order."""
        out: list[Delta] = []
        for data, obj in zip(datas, parsed, strict=True):
            out += self.feed_data(data, obj)
        return out

    def text_of(self, ev: SSEEvent) -> str | None:
        """The text of ``ev`` when it is a text chunk ``feed`` can only turn into ``[TextDelta(text)]``,
        changing nothing, read without parsing it: the same bytes as the stream's first such chunk but
        for its text and its padding (``_TextShape``). None for anything else (``feed`` then reads it)."""
        lane = self._lane
        if lane is None or ev.comment or self._finished or self._ended or self._failed:
            self._lane_wanted = True
            return None
        return lane.text(ev.data, self.model)

    def text_run(self, buf: bytes, pos: int) -> tuple[list[bytes], int] | None:
        """The run of whole usual text chunks at ``pos`` of ``buf`` (the SSE decoder at a boundary before
        them), each one an event ``text_of`` reads as a text without escapes: their texts' JSON string
        bodies (the UTF-8 bytes of the texts when the run is valid UTF-8: the caller checks, the SSE
        decoder would replace an invalid byte) and the position after the run; None when the frame at
        ``pos`` is not one (another chunk, another spelling, an escape in its text, no shape learnt yet,
        another model, after the finish, ``[DONE]`` or a failure). ``feed`` of each would give one
        ``TextDelta`` and change nothing (``_TextShape``). No regex is made per stream: the shape's bytes
        are tested frame by frame with C calls (``_TextShape.run``)."""
        lane = self._lane
        if lane is None or self._finished or self._ended or self._failed or self.model != lane.model:
            return None
        bodies, end = lane.run(buf, pos)
        return (bodies, end) if bodies else None

    def finish(self) -> list[Delta]:
        """End of the upstream body: release any tool call still buffered. Choice 0 finished and no other choice
        came though the request asked for more (``expect_choices``): the server ignored ``n``, the answer is whole."""
        if self._finished and self._others is None:
            self.done = True
        # (``_advance`` only with a call not yet passed: with none it returns [] at once; session 35)
        return [] if self._failed or self._cursor >= len(self._calls) else self._advance(final=True)

    def _give(self, pos: int, arguments: str) -> None:
        if self._given is None:
            self._given = {}
        self._given[pos] = arguments

    def given_arguments(self, pos: int) -> str | None:
        """The arguments the decoder took from the tool call at ``pos`` in the last chunk's ``tool_calls``, sent
        without ``index``, when they are less than the chunk carries: ``""`` for a call restated whole under its
        id (Gemini's finish chunk), what a restatement adds for one restated with more; None otherwise. A
        passed-through chat client must get these (``openai_chat.indexes_given``): its SDK joins fragments by
        index, and the whole call again reads ``"{}{}"``."""
        return None if self._given is None else self._given.get(pos)

    def call_number(self, index: int) -> int:
        """The position (from 0, in order of first appearance) of the call the upstream's ``index`` names after
        the chunks read so far; ``index`` itself when it names none. For a call the upstream sent without
        ``index``, ``index`` is its position in its chunk's ``tool_calls`` (``_tool_deltas``), so two calls in
        one chunk, or a later call in a later chunk, get numbers of their own: the index a passed-through chat
        client must get (``openai_chat.indexes_given``)."""
        return self._slots.get(index, index)

    def holds_null(self, index: int) -> bool:
        """Whether the call the upstream's ``index`` names (after the chunks read so far) has for arguments only
        the text ``null`` or a beginning of it, white space aside (``_tool_args.null_so_far``): vLLM's tool parsers
        stream a call made without arguments as ``null`` (vllm-project/vllm#21046), which no client format takes
        (a JSON object) and which nothing can follow in valid JSON. ``_advance`` holds such fragments back from a
        translated client; a passed-through one gets them blanked (``openai_chat.held_arguments_mended``) and
        ``"{}"`` when the answer ends (``blank_arguments_frames``)."""
        slot = self._slots.get(index)
        return slot is not None and null_so_far("".join(self._calls[slot].fragments))

    def passed_arguments(self, index: int) -> str | None:
        """What a passed-through frame carries for the arguments fragment of the call the upstream's ``index``
        names, the frame just read, when that call's arguments are encoded twice (a JSON string holding the
        object's text: they open with a quote, which an object's text never does); None for any other call
        (its fragment goes as sent). While the string may still hold an object, ``""`` (held back); in the frame
        whose fragment ends the string, when it holds an object's text, that text (``_tool_args.twice_encoded_object``),
        and ``""`` for anything after it; a string that holds no object goes out as sent when the answer ends
        (``held_arguments_frames``). So a chat client's joined arguments are the object's text, streamed as they
        are unstreamed (``openai_chat.repair_empty_arguments``, s13 variant 01-i) and as translated clients get
        them (``_advance``): OpenAI's contract, ``function.arguments`` is a JSON object's text (the openai SDK's
        ``parse_tool_calls`` gives a str, not the object, for the text encoded twice). Bugcase 01's kind
        (streamed and unstreamed arguments differ), bug24a variant 01-twice-passthrough-vD. The held text is
        parsed only when the fragment may close the string (``_may_close``), never at each fragment."""
        slot = self._slots.get(index)
        call = self._calls[slot] if slot is not None else None
        if call is None or call.opening != '"':
            return None
        if call.given:
            return ""
        if call.fragments and _may_close(call.fragments[-1]):
            inner = twice_encoded_object("".join(call.fragments))
            if inner is not None:
                call.given = True
                return inner
        return ""

    def held_arguments_frames(self) -> bytes:
        """One chunk per upstream tool-call index whose arguments open with a quote and were held back from a
        passthrough client (``passed_arguments``) without holding an object's text: those fragments as the
        upstream sent them (blank ones before went out already), in the shape of the stream's
        first chunk (as ``blank_arguments_frames``); b"" when there is none, at once unless some call's
        arguments began with a quote. A string that holds an object's text is never one: read before the
        ending chunk's own fragments are mended (``relay.Passthrough._decoded``), it is one whose closing
        fragment rides in that chunk (vLLM flushes a call's rest with the finish), which gives the object's text
        itself (``passed_arguments``); given here too, the SDK's joined arguments were the object's text and the
        string again (session 24 review)."""
        if not self.quoted_seen:
            return b""
        calls = self._calls
        held = [
            (i, calls[s])
            for i, s in self._slots.items()
            if calls[s].opening == '"'
            and not calls[s].given
            and twice_encoded_object("".join(calls[s].fragments)) is None
        ]
        if not held:
            return b""
        first = self._first_object()
        head = {k: first[k] for k in _CHUNK_HEAD if k in first}
        tail = {"usage": None} if "usage" in first else {}
        return b"".join(
            encode_event(
                orjson.dumps(
                    {
                        **head,
                        "choices": [
                            _empty_object_choice(i, self._legacy, "".join(c.fragments[c.held_from :]))
                        ],
                        **tail,
                    }
                )
            )
            for i, c in held
        )

    def blank_arguments_frames(self) -> bytes:
        """One chunk per upstream tool-call index whose arguments so far are blank ("" only, or spaces; or
        ``null``, s23 variant 01-blank-vA: a passed-through client got none of it, ``holds_null``),
        giving it the arguments ``"{}"``, in the shape of the stream's first chunk (its ``id``, ``object``,
        ``created``, ``model``, ``system_fingerprint``, and ``"usage": null`` when it had that key); b""
        when there is none. OpenAI's contract: a call's joined arguments are a JSON object's text, ``"{}"``
        without parameters; llama.cpp and vLLM stream ``""`` only (bugcase 01-k). Only the call an index
        names last is judged: a server that sends every call at index 0 (each with its own id) would have
        the added fragment joined to a later call's arguments. A legacy ``function_call`` stream gets its
        fragment as a ``function_call`` delta."""
        calls = self._calls
        blank = [i for i, s in self._slots.items() if _no_arguments(calls[s].fragments)] if calls else None
        if not blank:
            return b""
        first = self._first_object()
        head = {k: first[k] for k in _CHUNK_HEAD if k in first}
        tail = {"usage": None} if "usage" in first else {}
        return b"".join(
            encode_event(orjson.dumps({**head, "choices": [_empty_object_choice(i, self._legacy)], **tail}))
            for i in blank
        )

    def _usage_after_failure(self, data: str) -> None:
        """A usage chunk after the stream's in-band failure is still read (no delta: the client's answer has
        ended on the error), so the ledger bills what was generated: vLLM sends its usage chunk after
        finish_reason "abort", then [DONE] (s20 13-ad's leftover: the ledger had 0/0 tokens)."""
        if '"usage"' not in data:  # tested first: only a chunk naming usage is parsed
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if type(obj) is dict and type(usage := obj.get("usage")) is dict:
            self.usage = usage_from_openai(usage, self._tier(obj))

    def _tier(self, obj: dict[str, Any]) -> Any:
        """The service tier that served the answer: the usage chunk's ``service_tier``, else the first chunk's. OpenAI
        says it on every chunk, but a relay that rebuilds the usage chunk may leave it out there; the answer was
        still served (and billed) at the tier its chunks named, not the default (OpenAI Priority and Flex
        processing docs; s28 variant 28-priority-tier-not-on-usage-chunk-chat-vI). Asked once, at usage time."""
        tier = obj.get("service_tier")
        return tier if tier is not None else self._first_object().get("service_tier")

    def _fail(self, err: StreamError) -> list[Delta]:
        self._failed = True
        return [err]

    # Values come from orjson, so their types are exact: ``type(v) is str`` is ``isinstance``'s answer
    # without a call (these run for every chunk the decoder reads).
    def _chunk(self, obj: dict[str, Any]) -> list[Delta]:
        out: list[Delta] = []
        model = obj.get("model")
        if type(model) is str and model:
            self.model = model
        if not self._started:
            self._started = True
            self._first = obj
            # (by position: a keyword costs the type call a dict)
            out.append(MessageStart(str(obj.get("id") or new_id("chatcmpl-")), self.model or ""))
        choices = obj.get("choices")
        if choices and type(choices) is list:  # (an empty list: no choice to read, an error chunk maybe)
            for choice in choices:
                if type(choice) is not dict:
                    continue
                if (index := choice.get("index", 0)) != 0:
                    self._other_choice(index, choice)
                elif not self._finished:
                    out += self._choice(choice, obj)
                    if self._failed:
                        # the failing chunk's own usage is still read (DeepSeek's last chunk carries it beside the
                        # finish reason), as a later usage chunk is (``_usage_after_failure``): the ledger bills
                        # what was made
                        if type(usage := obj.get("usage")) is dict:
                            self.usage = usage_from_openai(usage, self._tier(obj))
                        return out
        elif obj.get("object") == "error":
            # an error object as the chunk itself, no ``error`` wrapper and no choices (the bare shape of vLLM's
            # ErrorResponse, ``{"object": "error", "message": …, "type": "BadRequestError", "code": 400}``, which
            # servers on its protocol and relays stream as it came, some with an empty ``choices`` list beside it):
            # read as a chunk, it was an empty answer that ended well, the overflow it told lost (s25 variants
            # 10-vllm-bare-inband-*; review25: ``"choices": []`` too). Asked only of a chunk without a choice:
            # nothing more on a chat chunk's way
            return out + self._fail(stream_error_from_openai(obj))
        usage = obj.get("usage")
        # vendor usage (``vendor_usage``) asked only of a chunk that has a key it reads: ``x_groq``, or ``usage``
        # in its first choice (``in``: no call; most chunks have neither, and its answer is None then)
        if type(usage) is not dict and (
            "x_groq" in obj
            or (choices and type(choices) is list and type(choices[0]) is dict and "usage" in choices[0])
        ):
            usage = vendor_usage(obj)
        if type(usage) is dict:
            # ``_tier(obj)`` inline (session 35: a code object less on a c1 request's first read)
            tier = obj.get("service_tier")
            if tier is None:
                tier = self._first_object().get("service_tier")
            self.usage = usage_from_openai(usage, tier)
            out.append(UsageUpdate(self.usage))
        return out

    def _choice(self, choice: dict[str, Any], obj: dict[str, Any]) -> list[Delta]:
        delta = choice.get("delta")
        reason = choice.get("finish_reason")
        # (a finish chunk's delta is empty: nothing to look up)
        out = self._delta(delta, reason is not None) if type(delta) is dict and delta else []
        if reason is None:  # most chunks: not the last one (no comparison below to make)
            return out
        if reason == "error":  # OpenRouter: the provider failed mid-stream, details (if any) in obj.error
            return out + self._fail(stream_error_from_openai(obj.get("error") or {}))
        if type(reason) is str and reason in CUT_FINISH:
            # the server cut the answer and says so in its finish reason, then may end as if it had finished
            # ([DONE], or the body's end): a failure, not a complete answer (``CUT_FINISH``)
            return out + self._fail(stream_error_from_openai(obj.get("error") or CUT_FINISH[reason]))
        if isinstance(reason, str) and reason:
            out += self._finish(reason)
        return out

    def _delta(self, delta: dict[str, Any], closing: bool = False) -> list[Delta]:
        """The deltas of a choice's non-empty ``delta`` (``closing``: its chunk carries the finish reason). A
        key is looked up only when it is there (``in`` is no call; most chunks carry one or two of these keys)."""
        out: list[Delta] = []
        # xAI and DeepSeek say reasoning_content, OpenRouter says reasoning; some proxies send both.
        if "reasoning_content" in delta or "reasoning" in delta:
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if type(reasoning) is str and reasoning:
                out.append(ReasoningDelta(text=reasoning))
        if "reasoning_details" in delta and type(details := delta["reasoning_details"]) is list:
            out += _claude_deltas(details)
            if signatures := details_signatures(details):
                self._sign_calls(signatures)
        elif "thinking_blocks" in delta and type(blocks := delta["thinking_blocks"]) is list:
            # LiteLLM's shape of Claude's signed thinking (``_claude_details.details_of_thinking_blocks``)
            out += _claude_deltas(details_of_thinking_blocks(blocks))
        if type(content := delta.get("content")) is str and content:
            out.append(TextDelta(text=content))
        if "refusal" in delta and type(refusal := delta["refusal"]) is str and refusal:
            self._refusal = True
            out.append(TextDelta(text=refusal))
        if "tool_calls" in delta and type(calls := delta["tool_calls"]) is list:
            out += self._tool_deltas(calls, closing)
        if "function_call" in delta and type(call := delta["function_call"]) is dict:
            self._legacy = True
            out += self._tool_deltas([{"index": 0, "function": call}])
        return out

    def _sign_calls(self, signatures: dict[str, str]) -> None:
        """Gemini's signatures from ``reasoning_details`` (OpenRouter: ``details_signatures``) onto the calls they
        name, kept for a call not yet seen (``_tool_deltas``); one without an id signs the first call. A call
        already started keeps its start: a target that signs holds starts until then (``wait_for_signatures``)."""
        for call_id, signature in signatures.items():
            call = next((c for c in self._calls if c.id == call_id), None)
            if call is None and not call_id and self._calls:
                call = self._calls[0]
            if call is None:
                if self._detail_signatures is None:
                    self._detail_signatures = {}
                self._detail_signatures.setdefault(call_id, signature)
            elif call.signature is None:
                call.signature = signature

    def _other_choice(self, index: Any, choice: dict[str, Any]) -> None:
        """Note whether choice ``index`` (not 0: a client's ``n`` above 1, relayed as it came) has its finish reason
        (``_others``): the answer is complete only when every choice has one (OpenAI API reference, "The chat
        completion chunk object": each choice's ``finish_reason``), so a body that ends after choice 0's finish while
        another choice is still open was cut (bug26b variant 13-n2-one-choice-unfinished-vH: a 200 in the ledger).
        Choices are told apart by an integer ``index``; any other index says nothing."""
        if type(index) is not int:
            return
        reason = choice.get("finish_reason")
        finished = type(reason) is str and bool(reason)
        if self._others is None:
            self._others = {}
        if finished or not self._others.get(index, False):
            self._others[index] = finished
        if finished and self._finished and self._all_finished():
            self.done = True

    def _all_finished(self) -> bool:
        """Whether every choice but 0 has its finish reason: each seen one, and as many as the request asked for
        (``expect_choices``) once any other choice came (the server honours ``n``)."""
        others = self._others
        if others is None:
            return not self._awaited
        return all(others.values()) and len(others) >= self._awaited

    def _finish(self, finish_reason: str) -> list[Delta]:
        # The answer is complete once a finish reason came (``[DONE]`` is a transport convention some
        # servers omit); the usage chunk that may follow is still read. With other choices (``n``), once each
        # of them has one too (``_other_choice``).
        self._finished = True
        # (without a call for the usual answer, one choice and no tool call: ``_all_finished`` with no other
        # choice seen, ``_advance`` with no call to advance, ``stop_from_finish``'s table; issue 13, session 34:
        # the first read of a one-read answer meets each function's code cold at one connection)
        self.done = not self._awaited if self._others is None else self._all_finished()
        out = self._advance(final=True) if self._calls else []
        stop = FINISH_TO_STOP.get(finish_reason, "end_turn")  # (``stop_from_finish``)
        if stop == "end_turn" and self._calls:
            stop = "tool_use"
        elif stop == "end_turn" and self._refusal:
            stop = "refusal"
        out.append(Finish(reason=stop, filtered=finish_reason == "content_filter"))
        return out

    def _tool_deltas(self, items: list[Any], closing: bool = False) -> list[Delta]:
        self._given = None
        for pos, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            idx = item.get("index")
            indexless = False
            if not isinstance(idx, int):  # a few OpenAI-compatible servers omit it (or send null)
                idx, indexless = pos, True
                self.indexless_seen = True
            item_id = item["id"] if isinstance(item.get("id"), str) and item["id"] else None
            slot = self._slots.get(idx)
            call = self._calls[slot] if slot is not None else None
            # `index` names a call only while its id stays the same: some servers send every call at
            # index 0, each with its own id. Gemini's OpenAI-compatible endpoint, whose calls come whole
            # and without `index`, may send a call again in the finish chunk (same id, same arguments):
            # a call whose arguments came in one piece that is a whole JSON object takes no repeat of it
            # ("{}" twice read "{}{}", which no client parses; s21 variant 01-noindex-vD).
            fn = f if isinstance(f := item.get("function"), dict) else {}
            arguments = fn.get("arguments")
            if type(arguments) is dict:
                # A few servers (llama.cpp, LM Studio, Ollama builds) send the input as an object, not its
                # text: read as its text from here on, so it is held and sent as any fragment is (kept
                # aside, it was never sent once a second call began: bug29a variants 01-vD, 01-vE)
                arguments = orjson.dumps(arguments).decode()
            if call is None or (item_id is not None and call.id is not None and item_id != call.id):
                call = self._new_call(idx, None)
            elif (
                type(arguments) is str
                and (item_id == call.id if item_id is not None else fn.get("name") is None)
                and (rest := call.restated_rest(arguments, closing)) is not None
            ):
                # The call's whole arguments again (vLLM's end-of-stream flush: vllm-project/vllm#51697,
                # #42167, with id, type and name null or absent; under its own id, #16340; a fragment without
                # an id but named is Gemini's next parallel call, below): only what they
                # add to the fragments so far ("" when those were whole). Joined they read "{..}{..}" or
                # "{{..}", which no client parses (bugcase 01's kind, bug28a variants 01-vD, vH..vK). The
                # item's other fields are still read (a signature may ride with it).
                if indexless:  # (the same test as ``indexes_given``: review31, ``"index": null``)
                    self._give(pos, rest)
                arguments = rest
            elif (
                item_id is None
                and type(arguments) is str
                and arguments.lstrip()[:1] == "{"
                and call.is_complete()
            ):
                # A new object after a whole one, on the same index and without an id, is another call: no
                # fragment can follow a whole object's text (OpenAI: a call's joined arguments are one JSON
                # object). Gemini 3.x's parallel calls behind OpenAI-compatible relays all come on index 0,
                # the second one's without an id and with the name "" (dyedd/lens#49) or with its own name
                # (gcli2api#406, hermes-agent#57939); non-streamed, the same answer has two calls. Joined they
                # read "{..}{..}", which no client parses (s22 variants 01-glued-vA..vC). A call named ""
                # keeps the index's name: the only name the upstream gave it.
                named = isinstance(fn.get("name"), str) and bool(fn["name"])
                call = self._new_call(idx, None if named else call.name)
            if call.id is None and item_id is not None:
                call.id = item_id
                if self._detail_signatures and call.signature is None:  # (signed ahead, in reasoning_details)
                    first = call is self._calls[0]
                    call.signature = self._detail_signatures.pop(item_id, None) or (
                        self._detail_signatures.pop("", None) if first else None
                    )
            if "extra_content" in item and call.signature is None:  # (Gemini sends it with the call's start)
                call.signature = chat_signature(item)
            if call.name is None and isinstance(fn.get("name"), str) and fn["name"]:
                call.name = fn["name"]
            if isinstance(arguments, str) and arguments:
                if item_id is not None and call.fragments == [arguments] and call.is_complete():
                    if indexless:
                        self._give(pos, "")
                    continue  # the whole call again, under its id and name (Gemini's finish chunk)
                call.fragments.append(arguments)
                if not call.opening and (opening := arguments.lstrip()[:1]):
                    call.opening = opening
                    if opening == '"':
                        self.quoted_seen = True
                        call.held_from = len(call.fragments) - 1
                if call.nullish:  # (joined only while the arguments may be ``null``: their first fragments)
                    text = "".join(call.fragments)
                    if null_so_far(text):
                        self.null_seen = True
                    else:
                        call.nullish = not text.strip()
        return self._advance(final=False)

    def _new_call(self, idx: int, name: str | None) -> _ToolCall:
        """A call the upstream's ``idx`` names from now on (``_tool_deltas``), in order of appearance."""
        call = _ToolCall(index=idx, name=name)
        self._slots[idx] = len(self._calls)
        self._calls.append(call)
        return call

    def _advance(self, final: bool) -> list[Delta]:
        out: list[Delta] = []
        while self._cursor < len(self._calls):
            call = self._calls[self._cursor]
            if not call.started:
                if call.name is None and not final:
                    break  # some servers send the id first and the name in a later chunk
                if (
                    self._signed
                    and call.signature is None
                    and not final
                    and self._cursor + 1 == len(self._calls)
                ):
                    break  # its thought signature may come in a later chunk (``wait_for_signatures``)
                call.started = True
                call_id = call.id or new_id("call_")
                start = ToolCallStart(
                    index=self._cursor, id=call_id, name=call.name or "", signature=call.signature
                )
                out.append(start)
            unsent = call.sent == 0 and bool(call.fragments)
            if unsent and call.opening == '"':
                # Encoded twice (a JSON string holding the object's text; an object's text never opens
                # with a quote): held until the string ends, then the object's text as one fragment, so a
                # translated client's joined arguments parse as the object (Anthropic ``input``, Responses
                # ``arguments``), as non-streamed answers are read (``twice_encoded_object``). A string
                # that holds no object goes on as it came at the end. (A passthrough client gets the same:
                # ``passed_arguments``, whose frames carry "" while held.) The held text is joined and
                # parsed only when its latest fragment may close the string (``_may_close``), not at each
                # fragment: that was quadratic in a long call's fragments, on the event loop.
                if final or _may_close(call.fragments[-1]):
                    joined = "".join(call.fragments)
                    inner = twice_encoded_object(joined)
                    if inner is not None or final:
                        fragment = joined if inner is None else inner
                        out.append(ToolArgsDelta(index=self._cursor, fragment=fragment))
                        call.sent = len(call.fragments)
                        call.complete = inner is not None
            elif unsent and not call.opening and not final:
                pass  # blank so far: held until a character tells whether they are encoded twice (a blank
                # fragment sent first left a quoted string after it unmended; session 24 review)
            elif unsent and null_so_far("".join(call.fragments)):
                if final:  # the arguments were "null": none at all, which the encoders close as "{}"
                    call.sent = len(call.fragments)  # (kept: a passthrough client has them already)
            else:
                for fragment in call.fragments[call.sent :]:
                    out.append(ToolArgsDelta(index=self._cursor, fragment=fragment))
                call.sent = len(call.fragments)
            if self._cursor + 1 < len(self._calls) and (final or call.is_complete()):
                self._cursor += 1
                continue
            break
        return out


def _no_arguments(fragments: list[str]) -> bool:
    """A call's arguments so far are none: blank, or ``null`` (``ChatStreamDecoder.holds_null``)."""
    text = "".join(fragments)
    return not text.strip() or null_so_far(text)


def _may_close(fragment: str) -> bool:
    """``fragment``, the latest of a call's held arguments that open a JSON string, may end that string:
    its last character that is not whitespace is a quote no backslash of ``fragment`` escapes (an odd run
    of backslashes before it escapes it; a run from the fragment's start may continue an earlier fragment's,
    so it may). Whitespace after the closing quote changes no parse, so a blank fragment never may."""
    text = fragment.rstrip()
    if text[-1:] != '"':
        return False
    body = text[:-1]
    run = len(body) - len(body.rstrip("\\"))
    return run % 2 == 0 or run == len(body)


# Every chunk's fixed head (``ChatStreamEncoder._make_head``): its id, ``created`` and model as JSON
_HEAD = b'data: {"id":%b,"object":"chat.completion.chunk","created":%d,"model":%b,'


class ChatStreamEncoder:
    """IR deltas → the client-facing OpenAI chat stream (conformance §1.5–1.7).

    After a StreamError the stream carries the ``{"error": …}`` frame and nothing else, not even
    ``[DONE]``: the openai SDK raises ``APIError`` on that frame, and a client that ignores error
    objects then sees a truncated stream rather than a normal end.
    """

    def __init__(
        self,
        model: str,
        include_usage: bool,
        completion_id: str | None = None,
        tool_names: dict[str, str] | None = None,
    ) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = completion_id or new_id("chatcmpl-")
        self.created = int(time.time())
        self._tool_names = tool_names or {}
        # the last usage update, its usage read only when written (``UsageUpdate.later``: session 22)
        self._update: UsageUpdate | None = None
        self._started = False
        self._finished = False
        self._has_tools = False
        self._closed = False
        self._args: dict[int, ToolArgs] = {}  # the calls still open, by index
        self._thought: list[str] = []  # the reasoning text since the last signed or redacted block
        self._details = 0  # the ``reasoning_details`` entries written
        # Every chunk's fixed head (``data: {"id":…,"object":…,"created":…,"model":…,``) and end, encoded
        # once at the first frame (``id``, ``created`` and ``model`` may be set until then).
        self._head = b""
        self._end = b',"usage":null}\n\n' if include_usage else b"}\n\n"

    def feed(self, d: Delta) -> bytes:
        """Encode one delta as zero or more complete SSE frames."""
        if self._closed:
            return b""
        if type(d) is TextDelta and not self._finished:  # the usual delta: its chunk written directly
            head = b"" if self._started else self._start()
            return head + self._text_chunk(d.text) if d.text else head
        if type(d) is UsageUpdate:
            self._update = d
            return b""
        if type(d) is KeepAlive:
            return _KEEPALIVE
        if type(d) is StreamError:
            self._closed = True
            etype, message, code = stream_words_for_openai(d.status, d.type, d.message, d.asked_output)
            return encode_event(
                orjson.dumps({"error": {"message": message, "type": etype, "param": None, "code": code}})
            )
        if self._finished:
            return b""
        if type(d) is SignatureDelta or type(d) is RedactedThinking:
            return self._detail(d)
        if type(d) is MessageStart:  # the opening alone (``_content`` has nothing for it)
            return self._start()
        return self._start() + self._content(d)

    def opened(self, opening: Opening) -> None:
        """The client already has its answer's opening (the role chunk, sent for a route that failed before
        its first token, ``relay.Relay.resume``): none is written (a second role would be joined to the
        first by the openai SDK)."""
        if opening.frames:
            self._started = True

    def text(self, text: str) -> bytes | None:
        """``feed(TextDelta(text))`` for a non-empty ``text`` when that is the usual chunk (the stream
        started, no finish yet), else None: the caller then feeds the delta (``relay.Translator``)."""
        if self._closed or self._finished or not self._started:
            return None
        return self._text_chunk(text)

    def text_frames(self, bodies: list[bytes]) -> bytes | None:
        """``text`` of each text in turn, given the texts as the bodies of their JSON strings with no escape
        (non-empty, valid UTF-8, no quote, backslash or control character: ``orjson.dumps`` of such a
        text is its body quoted), joined; None when ``text`` would say None (the state is the same for
        each: ``text`` changes nothing). One join for the run, no chunk built per text."""
        if self._closed or self._finished or not self._started:
            return None
        head = (self._head or self._make_head()) + b'"choices":[{"index":0,"delta":{"content":"'
        tail = b'"},"logprobs":null,"finish_reason":null}]' + self._end
        return head + (tail + head).join(bodies) + tail

    def finish(self) -> bytes:
        """Close the stream: the finish chunk if none came, the usage chunk if asked for, then ``[DONE]``."""
        if self._closed:
            return b""
        self._closed = True
        out = self._start()
        if not self._finished:
            out += self._close_calls() + self._finish_chunk(finish_from_stop("end_turn", self._has_tools))
        if self.include_usage:
            usage = usage_to_openai(Usage() if self._update is None else self._update.usage)
            out += self._frame({"choices": [], "usage": usage})
        return out + DONE_FRAME

    def _content(self, d: Delta) -> bytes:
        if type(d) is TextDelta and d.text:
            return self._chunk({"content": d.text})
        if type(d) is ReasoningDelta and d.text:
            self._thought.append(d.text)  # the block's text, for its signature's entry (``_detail``)
            return self._chunk({"reasoning_content": d.text})
        if type(d) is ToolCallStart:
            self._has_tools = True
            out = self._close_calls()  # the decoders keep each call contiguous: a new call ends the last
            self._args[d.index] = ToolArgs()
            function = {"name": self._tool_names.get(d.name, d.name), "arguments": ""}
            call = {"index": d.index, "id": d.id, "type": "function", "function": function}
            if d.signature is not None:  # Gemini's, where a chat client gives it back (``_call_signature``)
                call["extra_content"] = chat_extra(d.signature)
            return out + self._chunk({"tool_calls": [call]})
        if type(d) is ToolArgsDelta and d.fragment and d.index in self._args:
            self._args[d.index].add(d.fragment)
            return self._args_chunk(d.index, d.fragment)
        if type(d) is Finish:
            self._finished = True
            reason = finish_from_stop(d.reason, self._has_tools)
            return (self._close_calls() if self._args else b"") + self._finish_chunk(reason)
        return b""

    def _detail(self, d: SignatureDelta | RedactedThinking) -> bytes:
        """Claude's signed thinking block (its text streamed so far as ``reasoning_content``, closed by ``d``) or
        redacted block as a ``reasoning_details`` entry, OpenRouter's shape (``_claude_details``): a Chat client
        gives it back on the next turn, so Claude's tool loop keeps its thinking (OpenRouter docs, "Reasoning
        Tokens": "Preserving reasoning blocks"; ``_request_to_anthropic``). The entry holds the block's whole
        text, once. Nothing for the gateway's own synthetic signature (another model's reasoning)."""
        thought, self._thought = "".join(self._thought), []
        if type(d) is SignatureDelta:
            if not real(d.signature) or not thought:
                return b""
            entry = thinking_entry(thought, d.signature, self._details)
        elif real(d.data):
            entry = redacted_entry(d.data, self._details)
        else:
            return b""
        self._details += 1
        return self._start() + self._chunk({"reasoning_details": [entry]})

    def _close_calls(self) -> bytes:
        """Each open call ends with arguments that parse as a JSON object ("{}" for none)."""
        out = b"".join(
            self._args_chunk(i, tail) for i, args in self._args.items() if (tail := args.closing())
        )
        self._args.clear()
        return out

    def _args_chunk(self, index: int, fragment: str) -> bytes:
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    def _start(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        # ``_chunk({"role": "assistant", "content": ""})``, the same bytes, from a template
        return (self._head or self._make_head()) + _ROLE_CHOICES + self._end

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        obj: dict[str, Any] = {"choices": [choice]}
        if self.include_usage:
            obj["usage"] = None
        return self._frame(obj)

    def _text_chunk(self, text: str) -> bytes:
        """``_chunk({"content": text})``, the same bytes, without building its dicts."""
        return (
            (self._head or self._make_head())
            + b'"choices":[{"index":0,"delta":{"content":'
            + orjson.dumps(text)
            + b'},"logprobs":null,"finish_reason":null}]'
            + self._end
        )

    def _finish_chunk(self, reason: str) -> bytes:
        """``_chunk({}, reason)``, the same bytes, without building its dicts."""
        return (
            (self._head or self._make_head())
            + b'"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":'
            + orjson.dumps(reason)
            + b"}]"
            + self._end
        )

    def _frame(self, body: dict[str, Any]) -> bytes:
        """One chunk: the fixed head, then ``body``'s keys (``choices``, ``usage``). orjson writes no line
        break, so the JSON is one ``data:`` line (what ``encode_event`` would write)."""
        return (self._head or self._make_head()) + orjson.dumps(body)[1:] + b"\n\n"

    def _make_head(self) -> bytes:
        # one format of the three values' JSON (``created`` an int: ``%d`` is its JSON)
        self._head = _HEAD % (orjson.dumps(self.id), self.created, orjson.dumps(self.model))
        return self._head


def _claude_deltas(details: list[Any]) -> list[Delta]:
    """Claude's signatures and redacted thinking in a chunk's ``reasoning_details`` (OpenRouter:
    ``_claude_details``), after the chunk's reasoning text: a signature closes the thinking block it ends."""
    out: list[Delta] = []
    for detail in details:
        if (signature := signature_of(detail)) is not None:
            out.append(SignatureDelta(signature=signature))
        elif (data := redacted_of(detail)) is not None:
            out.append(RedactedThinking(data=data))
    return out
