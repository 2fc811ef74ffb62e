"""A whole answer gathered from a stream's IR deltas: for an upstream that answers a non-streamed request
with an event stream anyway (some OpenAI-compatible servers and relays ignore ``"stream": false``).

Pure: the caller decodes the body (``shared.sse.SSEDecoder`` and the wire's stream decoder) and renders the
``ir.Completion`` this makes in its client's format, as for a whole JSON answer. The blocks are the stream's,
in order: text pieces joined into one text block until another kind of block begins, reasoning into a thinking
block (with its signature), each tool call into a tool-use block whose input is its argument fragments joined
and parsed (blank: ``{}``, as ``ir.ToolArgsDelta`` says the pieces joined are a JSON object).
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson

from services.gateway.dialects import ir
from shared.sse import SSEDecoder, SSEEvent


class StreamAnswerError(ValueError):
    """The stream does not make a whole answer: it ended before its finish (``complete`` False), or a
    tool call's arguments joined are not a JSON object. The message says which."""


def gathered(deltas: list[ir.Delta], usage: ir.Usage | None, model: str | None) -> ir.Completion:
    """The ``ir.Completion`` of ``deltas`` (a whole stream, decoded), with ``usage`` (the decoder's last:
    ``StreamDecoder.usage``; None: zero counts) and ``model`` when the stream named none (``MessageStart``).

    Raises ``StreamAnswerError`` when no ``Finish`` came or a tool call's arguments are not a JSON object.
    An ``ir.StreamError`` is the caller's to look for first: this ignores it."""
    answer = ir.Completion(id="", model=model or "", usage=usage or ir.Usage())
    calls: dict[int, tuple[ir.ToolUseBlock, list[str]]] = {}
    finished = False
    for d in deltas:
        if isinstance(d, ir.TextDelta):
            _text(answer.content, d.text)
        elif isinstance(d, ir.ReasoningDelta):
            _thinking(answer.content).thinking += d.text
        elif isinstance(d, ir.SignatureDelta):
            _thinking(answer.content).signature = d.signature
        elif isinstance(d, ir.RedactedThinking):
            answer.content.append(ir.RedactedThinkingBlock(d.data))
        elif isinstance(d, ir.ToolCallStart):
            block = ir.ToolUseBlock(d.id, d.name, {}, d.signature)
            answer.content.append(block)
            calls[d.index] = (block, [])
        elif isinstance(d, ir.ToolArgsDelta):
            if d.index in calls:
                calls[d.index][1].append(d.fragment)
        elif isinstance(d, ir.MessageStart):
            answer.id, answer.model = d.id, d.model or answer.model
        elif isinstance(d, ir.Finish):
            finished = True
            answer.stop_reason, answer.stop_sequence, answer.filtered = d.reason, d.stop_sequence, d.filtered
    if not finished:
        raise StreamAnswerError("the stream ended before its finish")
    for block, fragments in calls.values():
        block.input = _arguments(block.name, "".join(fragments))
    return answer


def _text(content: list[ir.Block], text: str) -> None:
    last = content[-1] if content else None
    if isinstance(last, ir.TextBlock):
        last.text += text
    elif text:
        content.append(ir.TextBlock(text))


def _thinking(content: list[ir.Block]) -> ir.ThinkingBlock:
    last = content[-1] if content else None
    if isinstance(last, ir.ThinkingBlock):
        return last
    block = ir.ThinkingBlock("")
    content.append(block)
    return block


def _arguments(name: str, text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise StreamAnswerError(f"tool call {name!r}: its arguments are not JSON") from exc
    if not isinstance(value, dict):
        raise StreamAnswerError(f"tool call {name!r}: its arguments are not a JSON object")
    return value


class _Decoder(Protocol):
    """What ``decoded`` needs of a wire's stream decoder (``registry.StreamDecoder``)."""

    def feed(self, ev: SSEEvent) -> list[ir.Delta]: ...
    def finish(self) -> list[ir.Delta]: ...


def decoded(body: bytes, decoder: _Decoder) -> list[ir.Delta]:
    """The IR deltas of a whole event-stream ``body`` read by ``decoder``: the events as the WHATWG rules make
    them (``SSEDecoder``: any line ends, several ``data:`` lines joined, a leading BOM dropped; a last event
    without its blank line still counts, ``flush(ended=True)``), comments left out, then the decoder's
    ``finish``."""
    sse = SSEDecoder()
    deltas: list[ir.Delta] = []
    for ev in sse.feed(body) + sse.flush(ended=True):
        if not ev.comment:
            deltas += decoder.feed(ev)
    return deltas + decoder.finish()


def is_event_stream(body: bytes) -> bool:
    """Whether a body that is not JSON is an event stream: its first line, after a BOM and white space, is an
    SSE field (``data:``, ``event:``, ``id:``, ``retry:``) or a comment (WHATWG HTML, "Interpreting an event
    stream")."""
    head = body[:64].removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith((b"data:", b"event:", b":", b"id:", b"retry:"))
