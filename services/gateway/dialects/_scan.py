"""Which whole SSE frames of an upstream read a passthrough relay must decode, found by scanning bytes (pure).

Once a passthrough stream has its first token, most of it is tokens the relay only forwards. Decoding each
frame to learn nothing costs Python calls per event; a ``ScanRule`` instead answers, for a run of whole frames
(``body``), with C-speed ``bytes`` counts and searches, whether any frame in it can change what the relay
reports (usage, the finish, an error, the served model, a keep-alive's silence). ``loud_spans`` finds those
frames by halving a body that is not quiet (a few passes over it, not a Python call per frame). The relay
decodes them with the wire's own decoder and counts the others as progress.

Why no frame that matters can be missed (false negatives are impossible; false positives cost a parse):

1. ``frames`` must accept the whole body: frames of an ``event: <name>`` line (when the wire names its
   events), lines that begin ``data: {`` and a blank line preceded by ``}``; no CR, comment or other line.
   It counts LFs: every LF must be one that ends a frame (``}`` LF LF, then the next frame's first line or
   the end) or one followed by ``data: {``; the counts of those disjoint kinds must add up to all LFs. Each
   frame's data then begins with ``{`` and ends with ``}``: the "plausibly one whole JSON object" test a
   relay applies before it lets a token event by undecoded. Anything else is decoded event by event.
2. Inside a JSON string a quote is always escaped (``\\"``), so the bytes ``"usage"`` can only be the
   string token ``"usage"`` itself (a key, or a value: a false positive), never text that mentions it.
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

import re
from collections.abc import Callable
from dataclasses import dataclass

import orjson

# True when no frame of the body can change a fact (the second argument: the model known so far).
Quiet = Callable[[bytes, str | None], bool]


@dataclass(frozen=True, slots=True)
class ScanRule:
    """How a passthrough relay scans one wire's frames (module docstring: why nothing is missed)."""

    frames: Callable[[bytes], bool]  # the body is whole usual frames whose data is ``{…}``
    quiet: Quiet


def loud_spans(body: bytes, rule: ScanRule, model: str | None, utf8: bool = False) -> list[tuple[int, int]]:
    """The (start, end) byte spans, in order, of the frames of ``body`` (whole frames: it ends with a
    blank line, and the SSE decoder is at a boundary before it) that must be decoded: not of the usual
    shape (``rule.frames``), not quiet, or (``utf8``) not valid UTF-8. A part of the body that fails is
    halved at a frame boundary and only a failing half is searched further: a few passes over the body
    per loud frame, not a Python call per frame. Every span ends at a blank line (an SSE boundary)."""
    out: list[tuple[int, int]] = []

    def ok(part: bytes) -> bool:
        return (
            rule.frames(part) and rule.quiet(part, model) and (not utf8 or part.isascii() or _is_utf8(part))
        )

    _locate(body, 0, len(body), ok, out)
    return out


def _locate(body: bytes, lo: int, hi: int, ok: Callable[[bytes], bool], out: list[tuple[int, int]]) -> None:
    if ok(body[lo:hi] if lo or hi < len(body) else body):
        return
    cut = body.find(b"\n\n", lo + (hi - lo) // 2) + 2  # the end of the frame holding the middle
    if cut >= hi or cut <= lo + 1:
        cut = body.rfind(b"\n\n", lo, hi - 2) + 2
        if cut <= lo + 1:  # one frame
            out.append((lo, hi))
            return
    _locate(body, lo, cut, ok, out)
    _locate(body, cut, hi, ok, out)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _named_frames(body: bytes) -> bool:
    """``event:`` line, ``data: {`` lines, ``}`` LF LF, for every frame (module docstring, 1)."""
    ends = body.count(b"\n\n")
    return (
        body.startswith(b"event: ")
        and body.endswith(b"}\n\n")
        and b"\r" not in body
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
        and b"\r" not in body
        and body.count(b"}\n\ndata: {") == ends - 1
        and body.count(b"\n") == body.count(b"\ndata: {") + ends + 1
    )


# OpenAI chat (``ChatStreamDecoder``): usage from a ``usage`` object (``"usage":null`` in every other chunk
# of a stream with include_usage), the finish from a non-null ``finish_reason`` (``"error"`` included, as
# OpenRouter fails mid-stream), an error from an ``error`` key, the end from ``[DONE]``, the model from
# ``model``. ``"usage"`` counted as often as ``"usage":null``: each one is null.
def _chat_quiet(body: bytes, model: str | None) -> bool:
    named = body.count(b'"model"')
    return (
        body.count(b'"usage"') == body.count(b'"usage":null')
        and body.count(b'"finish_reason"') == body.count(b'"finish_reason":null')
        and b'"error"' not in body
        and b"[DONE]" not in body
        and b"\\u" not in body
        and (not named or (model is not None and body.count(b'"model":' + orjson.dumps(model)) == named))
    )


def named_rule(token_events: frozenset[str], marks: tuple[bytes, ...]) -> ScanRule:
    """The rule for a wire that names its events: a frame named other than ``token_events``, or holding
    one of ``marks`` (the quoted keys and type values its decoder reads facts from), is loud."""
    names = b"|".join(re.escape(name.encode()) for name in sorted(token_events))
    other_name = re.compile(rb"event: (?!(?:" + names + rb")\n)")
    mark = re.compile(rb'"(?:' + b"|".join(re.escape(m) for m in marks) + rb')"')

    def quiet(body: bytes, model: str | None) -> bool:
        return b"\\u" not in body and other_name.search(body) is None and mark.search(body) is None

    return ScanRule(_named_frames, quiet)


CHAT = ScanRule(_unnamed_frames, _chat_quiet)

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
