"""Which whole SSE frames of an upstream read a passthrough relay must decode, found by scanning bytes (pure).

Once a passthrough stream has its first token, most of it is tokens the relay only forwards. Decoding each
frame to learn nothing costs Python calls per event; a ``ScanRule`` instead answers, for a run of whole frames
(``body``), with C-speed ``bytes`` searches and literal-prefixed regexes, where the first frame from a
position on is that can change what the relay reports (usage, the finish, an error, the served model, a
keep-alive's silence), and whether the frames before it have the usual shape. The relay decodes that frame
with the wire's own decoder, counts the ones before it as progress, and searches on from after it: a few C
calls per loud frame, not a Python call per frame.

Why no frame that matters can be missed (false negatives are impossible; false positives cost a parse):

1. ``frames`` must accept every run of frames the relay passes undecoded (those between loud frames):
   frames of an ``event: <name>`` line (when the wire names its events), lines that begin ``data: {`` and
   a blank line preceded by ``}``; no CR, comment or other line.
   It counts LFs: every LF must be one that ends a frame (``}`` LF LF, then the next frame's first line or
   the end) or one followed by ``data: {``; the counts of those disjoint kinds must add up to all LFs. Each
   frame's data then begins with ``{`` and ends with ``}``: the "plausibly one whole JSON object" test a
   relay applies before it lets a token event by undecoded. Anything else is decoded event by event.
   Chat frames must moreover parse (``_chat_frames``): its decoder reads every chunk that is not plain
   text (role, tool calls), and reports one that does not parse.
2. Inside a JSON string a quote is always escaped (``\\"``), so a key ``"usage"`` always shows as the bytes
   ``"usage"``; text may show them too (a string that begins ``\\"usage``: a false positive, one decode).
   A key or a type could still be spelled with ``\\u`` escapes (``"us\\u0061ge"``), so a frame holding
   any ``\\u`` is loud.
3. Each wire's markers are every key and type value its decoder reads a fact from (listed at each rule,
   with the decoder they come from). A frame without them cannot change a fact once the stream has its
   first token and until it has finished or failed (the relay scans only then).
4. A wire whose decoder falls back on the SSE event name when the data has no ``type`` (Anthropic,
   Responses) is also scanned for event lines whose name is not one of its token events.

The served model (``StreamDecoder.model``) is a fact too: OpenAI chat repeats it in every chunk, so a chat
frame is loud unless each ``"model"`` it holds names the model already known.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

# The position of the first byte at or after ``pos`` that makes its frame loud, or -1 (the third argument:
# the model known so far).
First = Callable[[bytes, int, str | None], int]


@dataclass(frozen=True, slots=True)
class ScanRule:
    """How a passthrough relay scans one wire's frames (module docstring: why nothing is missed)."""

    frames: Callable[[bytes], bool]  # the body is whole usual frames whose data is ``{…}``
    first: First
    unscanned: tuple[bytes, ...] = ()  # a read holding any of these is decoded event by event instead

    def scans(self, read: bytes) -> bool:
        """``read`` may be scanned (it holds no ``unscanned`` bytes)."""
        for needle in self.unscanned:
            if read.find(needle) != -1:  # (``in`` builds and drops a TypeError for a bytes needle)
                return False
        return True

    # One event's data (text) names a mark (or holds a ``\u`` escape), or is not one JSON object
    # (``json_object``): what a frame of a quiet name (``WireSpec.quiet_events``) is tested for before a
    # relay lets it by undecoded. None: the wire has no quiet names.
    marked: Callable[[str], bool] | None = None

    def quiet(self, frame: bytes, model: str | None) -> bool:
        """``frame`` (whole frames) has the usual shape and nothing loud."""
        return self.frames(frame) and self.first(frame, 0, model) == -1


def _first(*found: int) -> int:
    hits = [i for i in found if i >= 0]
    return min(hits) if hits else -1


def _search(pattern: re.Pattern[bytes], body: bytes, pos: int) -> int:
    m = pattern.search(body, pos)
    return -1 if m is None else m.start()


def _named_frames(body: bytes) -> bool:
    """``event:`` line, ``data: {`` lines, ``}`` LF LF, for every frame (module docstring, 1)."""
    ends = body.count(b"\n\n")
    return (
        body.startswith(b"event: ")
        and body.endswith(b"}\n\n")
        and body.find(b"\r") == -1
        and body.count(b"}\n\nevent: ") == ends - 1
        and body.count(b"\n") == body.count(b"\ndata: {") + 2 * ends
    )


def _unnamed_frames(body: bytes) -> bool:
    """``data: {`` lines, ``}`` LF LF, for every frame; a frame's first LF after the previous frame's end
    is one followed by ``data: {`` too (module docstring, 1)."""
    ends = body.count(b"\n\n")
    return (
        body.startswith(b"data: {")
        and body.endswith(b"}\n\n")
        and body.find(b"\r") == -1
        and body.count(b"}\n\ndata: {") == ends - 1
        and body.count(b"\n") == body.count(b"\ndata: {") + ends + 1
    )


# OpenAI chat (``ChatStreamDecoder``): usage from a ``usage`` object (``"usage":null`` in every other chunk
# of a stream with include_usage), the finish from a non-null ``finish_reason`` (``"error"`` included, as
# OpenRouter fails mid-stream), an error from an ``error`` key, the end from ``[DONE]``, the model from
# ``model`` (loud unless it names the model already known, written as orjson writes it). A read holding a
# tool call (``"tool_calls"``, or the legacy ``"function_call"``) is not scanned at all (``ScanRule.unscanned``): a relay mends a call whose
# arguments were only ever blank when the answer ends (``WireSpec.repair_stream``), so the decoder must read
# every fragment (bugcase 01-k); and were each such frame loud, each search would run from each frame to the
# read's end (quadratic in a long read of argument chunks).
_USAGE = re.compile(rb'"usage"(?!:null)')
_FINISH = re.compile(rb'"finish_reason"(?!:null)')


@functools.lru_cache(maxsize=64)
def _other_model(model: str | None) -> re.Pattern[bytes]:
    if model is None:
        return re.compile(rb'"model"')
    return re.compile(rb'"model"(?!:' + re.escape(orjson.dumps(model)) + rb")")


def _chat_first(body: bytes, pos: int, model: str | None) -> int:
    return _first(
        _search(_USAGE, body, pos),
        _search(_FINISH, body, pos),
        body.find(b'"error"', pos),
        body.find(b"[DONE]", pos),
        body.find(b"\\u", pos),
        _search(_other_model(model), body, pos),
    )


def named_rule(token_events: frozenset[str], marks: tuple[bytes, ...]) -> ScanRule:
    """The rule for a wire that names its events: a frame named other than ``token_events``, or holding
    one of ``marks`` (the quoted keys and type values its decoder reads facts from), is loud."""
    names = b"|".join(re.escape(name.encode()) for name in sorted(token_events))
    other_name = re.compile(rb"event: (?!(?:" + names + rb")\n)")
    # Marks found by one ``find`` / ``in`` per needle, not by one regex of alternatives: that tries each
    # at every quote (callgrind, a Responses stream's three quiet frames: 32k instructions more than
    # decoding them)
    found = tuple(b'"' + m + b'"' for m in marks) + (b"\\u",)

    def first(body: bytes, pos: int, model: str | None) -> int:
        return _first(_search(other_name, body, pos), *[body.find(m, pos) for m in found])

    needles = tuple(f'"{m.decode()}"' for m in marks) + ("\\u",)

    def is_marked(data: str) -> bool:
        for needle in needles:
            if needle in data:
                return True
        try:  # ``json_object``'s first parse, without its two calls (a quiet frame is almost always JSON)
            return type(orjson.loads(data)) is not dict
        except orjson.JSONDecodeError:
            return not json_object(data)

    return ScanRule(_named_frames, first, marked=is_marked)


def json_object(data: str | bytes) -> bool:
    """``data`` is one JSON object (what a wire's decoder reads; RFC 8259). A frame that is not one, even
    shaped ``{…}``, must reach the decoder, which reports it (``malformed event from upstream``: a 502 in
    the ledger), as the client's SDK raises on it (the openai and anthropic SDKs ``json.loads`` each
    event's data). One C parse: asked of the few frames a relay lets by undecoded other than tokens (a
    quiet frame, ``ScanRule.marked``), not of each token. Read as the SDKs read it (``sdk_loads``)."""
    try:
        return type(sdk_loads(data)) is dict
    except (ValueError, RecursionError):
        return False


def sdk_loads(data: str | bytes) -> Any:
    """``data`` (one event's data) parsed as the clients' SDKs parse it: the openai and anthropic Python
    SDKs ``json.loads`` each event's data (``SSE.json()``). orjson first (one C call); only when orjson
    refuses it, the standard library's parser, which reads what orjson refuses and the SDKs accept: a
    ``\\uD800``-``\\uDFFF`` escape without its pair (RFC 8259, section 8.2: grammatically valid; a server
    that cuts its text in UTF-16 code units, as JavaScript strings are, sends an emoji's two halves in two
    chunks, and ``JSON.parse`` reads them too) and ``NaN``/``Infinity``. So a relay's test for "the SDK
    raises on this frame" judges a frame malformed only when the SDK would: never a valid stream recorded
    a failure. Raises ``ValueError`` (``orjson.JSONDecodeError`` and ``json.JSONDecodeError`` are ones)
    when neither reads it, ``RecursionError`` when the standard parser nests too deep (callers catch
    both)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _chat_frames(body: bytes) -> bool:
    """``_unnamed_frames``, and every frame's data is JSON, each frame parsed alone: the chat decoder
    reads every chunk that is not text, and reports one that does not parse (a tool call's chunk with a
    trailing comma is shaped like an object, yet an error), so a run with a frame that does not parse is
    decoded. The frames joined into one array would not do: two frames that are each invalid can make
    valid JSON together (``{"a":"x}`` and ``{y"},{"b":1}``; nesting spans a join as well as a string)."""
    if not _unnamed_frames(body):
        return False
    try:  # a JSON string holds no raw LF: LF LF "data: " is only ever a boundary between two frames
        for data in body[6:-2].split(b"\n\ndata: "):
            orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


CHAT = ScanRule(_chat_frames, _chat_first, unscanned=(b'"tool_calls"', b'"function_call"'))

# Anthropic (``MessagesStreamDecoder``): model and usage in message_start, usage and the stop reason in
# message_delta, the end in message_stop, errors in ``error`` events, silence in ``ping``s. The decoder
# reads the kind from the data's ``type`` first, so these are matched as quoted values too.
ANTHROPIC_MARKS = (b"message_start", b"message_delta", b"message_stop", b"error", b"ping", b"usage")

# Responses (``ResponsesStreamDecoder``): the model from any ``response`` object, usage and the end in the
# terminal events (completed, incomplete, failed), errors in ``error`` events.
RESPONSES_MARKS = (
    b"response",
    b"response.completed",
    b"response.incomplete",
    b"response.failed",
    b"error",
    b"usage",
)
