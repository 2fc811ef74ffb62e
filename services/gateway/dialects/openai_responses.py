"""The OpenAI Responses dialect: usage, whole responses and streams, to and from the IR (pure).

The stream state machines live in ``_responses_stream``, the wire helpers in ``_responses_wire``; this
module is the public face the gateway imports, plus the non-streamed conversions. Sources:
``../shared/docs/api-conformance.md`` §4 and §6.11, ``client-protocols.md`` (Codex), the openai SDK's
``types/responses`` and its stream accumulator, Codex's ``codex-rs`` (compaction).

Decisions:
- ``Finish(max_tokens)`` ends the stream with ``response.incomplete`` (status ``incomplete``,
  ``incomplete_details.reason = max_output_tokens``), as OpenAI does, except for a compaction (a cut
  summary is still usable, and Codex cannot compact otherwise); everything else with ``response.completed``. A StreamError ends it with ``response.failed`` (``error.code`` ``rate_limit_exceeded``
  or ``server_error``, the codes the SDK's ``ResponseError`` allows); items still open are not closed.
- Reasoning from an Anthropic thinking block with a real signature carries ``encrypted_content`` =
  ``encode_thinking(thinking, signature)`` (``"ekai.t1." + base64url(JSON)``), which the request translator
  turns back into the thinking block; ``view.compaction`` answers with one ``compaction`` item whose
  ``encrypted_content`` is ``encode_compaction(summary)`` (``"ekai.c1." + …``). Formats:
  ``_responses_wire`` and ``/work/notes/reasoning-encrypted.md``.
- Custom (free-form) tools go upstream as functions taking ``{"input": string}``; their calls come back as
  ``custom_tool_call`` items whose input is decoded from the argument fragments as they stream.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import orjson

from services.gateway.dialects._error_meaning import stream_words_for_openai

# OpenAI's error shape and types: /v1/responses answers errors as chat completions does
from services.gateway.dialects._openai_wire import error_body, new_id, openai_error_type
from services.gateway.dialects._opening import Opening, Part, event_kind
from services.gateway.dialects._request_common import (
    ParsedRequest,
    TranslationError,
    check_token_limit_range,
)
from services.gateway.dialects._request_from_responses import validate_responses_request
from services.gateway.dialects._responses_opaque import (
    decode_compaction,
    decode_thinking,
    encode_compaction,
    encode_thinking,
)
from services.gateway.dialects._responses_stream import (
    ResponsesStreamDecoder,
    ResponsesStreamEncoder,
    ends_lines,
    ends_stream,
    filtered,
    keepalive_event,
    response_object,
    stop_from_incomplete,
)
from services.gateway.dialects._responses_wire import (
    billed_usage,
    error_code_for_status,
    new_hex,
    response_id_for,
    usage_from_responses,
    usage_to_responses,
)
from services.gateway.dialects.ir import (
    Block,
    Completion,
    Delta,
    Finish,
    MessageStart,
    ReasoningDelta,
    RedactedThinking,
    RedactedThinkingBlock,
    SignatureDelta,
    StopReason,
    TextBlock,
    TextDelta,
    ThinkingBlock,
    ToolArgsDelta,
    ToolCallStart,
    ToolUseBlock,
    UsageUpdate,
)
from services.gateway.dialects.view import View
from shared.sse import SSEEvent, encode_event, reencode

__all__ = [
    "error_after_answer",
    "keepalive_after",
    "keepalive_event",
    "ResponsesStreamDecoder",
    "client_error_body",
    "client_status",
    "encoder_for",
    "parse_compact_request",
    "parse_request",
    "render",
    "render_compact",
    "stream_error",
    "ResponsesStreamEncoder",
    "ends_stream",
    "ends_lines",
    "compact_from_completion",
    "completion_from_responses",
    "decode_compaction",
    "decode_thinking",
    "encode_compaction",
    "encode_thinking",
    "error_body",
    "responses_from_completion",
    "stream_error_frame",
    "billed_usage",
    "usage_from_responses",
    "usage_to_responses",
]


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _parse_arguments(arguments: Any) -> dict[str, Any]:
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {}  # cut-off arguments: keep the call with empty input (conformance §6.2)
    return value if isinstance(value, dict) else {}


def _blocks(item: dict[str, Any]) -> list[Block]:
    kind = item.get("type")
    if kind == "message":
        parts = [p for p in item.get("content") or [] if isinstance(p, dict)]
        text = "".join(
            _str(p.get("text")) if p.get("type") == "output_text" else _str(p.get("refusal")) for p in parts
        )
        return [TextBlock(text=text)] if text else []
    if kind == "reasoning":
        parts = item.get("summary") or item.get("content") or []
        text = "\n\n".join(t for p in parts if isinstance(p, dict) and (t := _str(p.get("text"))))
        block = decode_thinking(item.get("encrypted_content"))
        if (
            block is not None and block["type"] == "thinking"
        ):  # gateway-made, from an Anthropic thinking block
            return [ThinkingBlock(thinking=block["thinking"], signature=block["signature"])]
        return [ThinkingBlock(thinking=text)] if text else []
    if kind in ("function_call", "custom_tool_call"):
        call_id = _str(item.get("call_id")) or _str(item.get("id")) or new_id("call_")
        name = _str(item.get("name"))
        if kind == "custom_tool_call":
            return [ToolUseBlock(id=call_id, name=name, input={"input": _str(item.get("input"))})]
        return [ToolUseBlock(id=call_id, name=name, input=_parse_arguments(item.get("arguments")))]
    return []  # web_search_call, compaction and other items have no IR form


def completion_from_responses(body: dict[str, Any]) -> Completion:
    """An upstream ``Response`` object → IR Completion.

    Messages become text, reasoning summaries thinking, ``function_call`` and ``custom_tool_call`` items
    tool uses (a custom call's raw input as ``{"input": text}``). ``status: incomplete`` is ``max_tokens``
    (``content_filter``: ``refusal``).
    """
    content: list[Block] = []
    for item in body.get("output") or []:
        if isinstance(item, dict):
            content += _blocks(item)
    has_tools = any(isinstance(b, ToolUseBlock) for b in content)
    stop: StopReason = "tool_use" if has_tools else "end_turn"
    if body.get("status") == "incomplete":
        stop = stop_from_incomplete(body)
    return Completion(
        id=_str(body.get("id")) or "resp_" + new_hex(),
        model=_str(body.get("model")),
        content=content,
        stop_reason=stop,
        filtered=body.get("status") == "incomplete" and filtered(body),
        usage=billed_usage(body),
    )


def completion_deltas(c: Completion) -> list[Delta]:
    """A Completion as the deltas a stream would have carried (so both paths make the same items; a whole
    answer to a streamed request goes to its client through the stream encoder with these)."""
    out: list[Delta] = [MessageStart(id=c.id, model=c.model)]
    tool = 0
    for b in c.content:
        if isinstance(b, ThinkingBlock):
            out += [ReasoningDelta(text=b.thinking)] if b.thinking else []
            out += [SignatureDelta(signature=b.signature)] if b.signature else []
        elif isinstance(b, RedactedThinkingBlock):
            out.append(RedactedThinking(data=b.data))
        elif isinstance(b, TextBlock) and b.text:
            out.append(TextDelta(text=b.text))
        elif isinstance(b, ToolUseBlock):
            out.append(ToolCallStart(index=tool, id=b.id, name=b.name, signature=b.signature))
            out.append(ToolArgsDelta(index=tool, fragment=orjson.dumps(b.input).decode()))
            tool += 1
    return out + [
        UsageUpdate(usage=c.usage),
        Finish(reason=c.stop_reason, stop_sequence=c.stop_sequence, filtered=c.filtered),
    ]


def responses_from_completion(c: Completion, view: View) -> dict[str, Any]:
    """IR Completion → the client-facing ``Response`` object (what ``POST /v1/responses`` answers).

    The items are exactly those the stream encoder would have sent for the same answer: reasoning
    (with a gateway-made ``encrypted_content`` when an Anthropic signature came with it), messages,
    ``function_call`` / ``custom_tool_call`` with client tool names, or one ``compaction`` item when
    ``view.compaction``. ``status`` is ``incomplete`` (``max_output_tokens``) on ``max_tokens``.
    """
    encoder = ResponsesStreamEncoder(view, response_id=response_id_for(c.id), frames=False)
    for d in completion_deltas(c):
        encoder.feed(d)
    encoder.finish()
    assert encoder.final is not None
    return encoder.final


def compact_from_completion(c: Completion, view: View, keep: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """IR Completion (the routed model's handoff summary) → the ``POST /v1/responses/compact`` answer.

    Shape (openai SDK ``CompactedResponse``; Codex reads only ``output``, ``CompactHistoryResponse`` in
    codex-rs ``codex-api/src/endpoint/compact.rs``)::

        {"id": "resp_…", "object": "response.compaction", "created_at": int,
         "output": [*keep, {"id": "cmp_…", "type": "compaction", "encrypted_content": encode_compaction(text)}],
         "usage": {…}}

    ``keep``: items to put before the compaction item (OpenAI lists the request's user messages there);
    Codex keeps user and assistant messages and compaction items from ``output`` and re-adds its context.
    """
    summary = "".join(b.text for b in c.content if isinstance(b, TextBlock))
    rid = response_id_for(c.id)
    item = {"id": "cmp_" + rid[5:], "type": "compaction", "encrypted_content": encode_compaction(summary)}
    return {
        "id": rid,
        "object": "response.compaction",
        "created_at": int(time.time()),
        "output": [*keep, item],
        "usage": usage_to_responses(c.usage),
    }


def stream_error_frame(
    status: int, message: str, sequence_number: int = 0, response_id: str | None = None
) -> bytes:
    """An error after the stream began when no encoder state exists (a passthrough stream cut off).
    ``response_id``: the response the client's stream is of, when known (else a fresh id).

    A ``response.failed`` event (terminal for Codex, which reads ``response.error.message``) that also
    carries a top-level ``error`` object: the openai SDK raises ``APIError`` on any event with one, the
    way it does for chat streams, instead of tripping over a response id it has not seen. A context
    overflow's code is ``context_length_exceeded`` (Codex compacts on it; ``stream_words_for_openai``).
    """
    code = stream_words_for_openai(status, openai_error_type(status), message)[2]  # a context overflow's
    error = {"code": error_code_for_status(status, code), "message": message}
    response = response_object(
        response_id or response_id_for(None),
        "",
        int(time.time()),
        "failed",
        output=[],
        usage=None,
        error=error,
    )
    payload = {
        "type": "response.failed",
        "sequence_number": sequence_number,
        "response": response,
        "error": {
            "type": openai_error_type(status),
            "code": error["code"],
            "message": message,
            "param": None,
        },
    }
    return encode_event(orjson.dumps(payload), event="response.failed")


# ---- the client format's registry entries --------------------------------------------------------


def parse_request(body: dict[str, Any]) -> ParsedRequest:
    """Validate what the gateway reads of a Responses request (conformance §4; ``validate_responses_request``);
    raises ``TranslationError`` (400 in OpenAI's shape). Reasoning always goes back (as reasoning items).

    ``validate_responses_request`` refuses a ``model`` that is not a non-empty string and a ``stream`` that is
    neither a boolean nor null, so both are read as they are here: ``require_model`` and
    ``require_stream_flag`` after it were checks that could not fail, 6 calls on every request's path
    (issue 13, session 20: the Responses plain path's A had them over the chat path's). The token limit's
    range is judged only when the body has one (absent, it passes: one call fewer; session 25)."""
    if "max_output_tokens" in body:
        check_token_limit_range(body, ("max_output_tokens",))
    validate_responses_request(body)
    return ParsedRequest(
        model=body["model"], stream=body.get("stream") is True, include_usage=False, reasoning=True
    )


def parse_compact_request(body: dict[str, Any]) -> ParsedRequest:
    """``POST /v1/responses/compact``: as ``parse_request``, but the answer is one JSON object, never a stream
    (OpenAI's compact endpoint has no ``stream``), so ``stream: true`` is refused."""
    parsed = parse_request(body)
    if parsed.stream:
        raise TranslationError(
            "stream: /v1/responses/compact answers one JSON object and cannot stream", param="stream"
        )
    return parsed


_OPENING_EVENTS = ("response.created", "response.in_progress")


def opening_part(ev: SSEEvent) -> Part | None:
    """What one frame a client was sent is (``_opening``): ``response.created`` and
    ``response.in_progress`` open the answer, comments are keep-alives, anything else (an output item, a
    delta, a terminal event, an error) is content. Source: OpenAI "Streaming API responses". A ``keepalive``
    event (the encoder's in a silence, ``ResponsesStreamEncoder._keepalive``) counts with the opening: it
    holds no content, and it took a sequence number, which ``Opening.frames`` counts for the answer that
    continues the stream (its next number)."""
    if ev.comment:
        return "keepalive"
    kind = event_kind(ev)
    return "opening" if kind in _OPENING_EVENTS or kind == "keepalive" else None


def opening_id(ev: SSEEvent) -> str | None:
    """The response id an opening event (``response.created``, ``response.in_progress``) gives."""
    try:
        obj = orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return None
    response = obj.get("response") if isinstance(obj, dict) else None
    ident = response.get("id") if isinstance(response, dict) else None
    return ident if isinstance(ident, str) and ident else None


# The events that carry the whole response object, whose id the openai SDK holds to the first one's
# (``ResponseStreamState.accumulate_event``: "Lifecycle response identity changed")
_LIFECYCLE = frozenset(
    {*_OPENING_EVENTS, "response.queued", "response.completed", "response.failed", "response.incomplete"}
)


def reopened(ev: SSEEvent, opening: Opening, memo: dict[str, Any]) -> SSEEvent | None:
    """A passed-through event for a client that already has its answer's opening (``relay.Relay.resume``):
    ``response.created`` and ``response.in_progress`` are dropped (None; the next number after them kept in
    ``memo``), unless the opening is this upstream's own (``Opening.own``: they are renumbered as any event); an event that carries the whole response (``response.completed``, ``response.failed``, …) names
    the opening's response id; any other event is kept as it is. When the client's opening took more numbers
    than this upstream's (the encoder's numbered ``keepalive`` events: ``Opening.frames``), every kept event's
    ``sequence_number`` is moved on by the difference, so the client's numbers still follow each other (OpenAI
    API reference, streaming events: ``sequence_number``; session 26: B's events restarted at 2 after A's
    keepalive events 2–5)."""
    if ev.comment:
        return ev
    if '"response"' in ev.data:
        kind = event_kind(ev)
        if kind in _OPENING_EVENTS and not opening.own:
            seq = _SEQUENCE_TEXT.search(ev.data)
            if seq is not None:
                memo["next"] = int(seq[1]) + 1
            return None
        if kind in _LIFECYCLE and opening.id is not None:
            obj = orjson.loads(ev.data)
            response = obj.get("response")
            if isinstance(response, dict) and response.get("id") != opening.id:
                obj["response"] = {**response, "id": opening.id}
                ev = SSEEvent(ev.event, orjson.dumps(obj).decode(), False, ev.id, ev.retry)
    shift = opening.frames - memo.get("next", len(_OPENING_EVENTS))
    if shift > 0:
        data = ev.data
        usual = _USUAL_HEAD.match(data)
        if usual is not None and data.find('"sequence_number"', usual.end()) == -1:
            # the usual form: its number spliced, not a parse and a dump of the whole event (fix28)
            n = int(usual[1]) + shift
            return SSEEvent(
                ev.event, f"{data[: usual.start(1)]}{n}{data[usual.end(1) :]}", False, ev.id, ev.retry
            )
        try:
            obj = orjson.loads(ev.data)
        except orjson.JSONDecodeError:
            return ev
        if isinstance(obj, dict) and type(seq_n := obj.get("sequence_number")) is int:
            obj["sequence_number"] = seq_n + shift
            return SSEEvent(ev.event, orjson.dumps(obj).decode(), False, ev.id, ev.retry)
    return ev


# an event's data as OpenAI writes it: its ``type`` (a string without escapes) then its ``sequence_number``, the
# second member of the top-level object (RFC 8259: a member name inside a string has its quotes escaped). With no
# other ``"sequence_number"`` after it (a duplicate key: a parser reads the last), splicing the number is what a
# parse, a change and a dump give, less the re-serialisation of the rest (fix28)
_USUAL_HEAD = re.compile(r'\{"type":"[^"\\]*","sequence_number":([0-9]{1,19})(?=[,}])')
# a top-level ``sequence_number`` in an event's data text (a name inside a JSON string has its quotes escaped)
_SEQUENCE_TEXT = re.compile(r'"sequence_number"\s*:\s*([0-9]{1,19})')


def encoder_for(view: View) -> ResponsesStreamEncoder:
    """The client stream encoder for one call."""
    return ResponsesStreamEncoder(view)


def render(c: Completion, view: View) -> dict[str, Any]:
    """The non-streamed ``Response`` for one call."""
    return responses_from_completion(c, view)


def render_compact(c: Completion, view: View) -> dict[str, Any]:
    """The ``POST /v1/responses/compact`` answer for one translated call."""
    return compact_from_completion(c, view)


client_error_body = error_body
"""OpenAI's error object, as chat completions answers it (``_openai_wire.error_body``: the request id travels
in the ``x-request-id`` header)."""


def client_status(status: int) -> int:
    """OpenAI clients get the status as it is."""
    return status


def stream_error(status: int, message: str) -> bytes:
    """An in-stream error for a relayed stream that broke off (``response.failed``)."""
    return stream_error_frame(status, message)


def resumed_error(opening: Opening, status: int, message: str) -> bytes:
    """An in-stream error (``response.failed``) on a stream whose client has only ``opening`` (its
    ``response.created``/``response.in_progress``, numbered from 0) and keep-alives: the next sequence
    number and the opening's response id (the openai SDK holds lifecycle events to it)."""
    return stream_error_frame(status, message, opening.frames, opening.id)


_SEQUENCE = re.compile(rb'"sequence_number"\s*:\s*([0-9]{1,19})')


def error_after_answer(sent: bytes, answer_id: str | None, status: int, message: str) -> bytes:
    """An in-stream error (``response.failed``) on a passed-through stream whose answer has begun: the sequence
    number after the last one in ``sent`` (the last bytes the client got that carry an event, a read of
    comments alone skipped: ``relay.Passthrough.feed``; 0 when they name none) and the
    answer's response id (``answer_id``, from its ``response.created``; a fresh one when unknown). Responses
    API reference, streaming events: each event's ``sequence_number`` follows the previous one, and a lifecycle
    event names the stream's response (the openai SDK raises "Lifecycle response identity changed" otherwise;
    a client resuming with ``starting_after`` drops an event numbered at or below what it had). s21 variant
    13-vF: a stream cut after its content got ``sequence_number`` 0 and another response's id."""
    found = _SEQUENCE.findall(sent)
    return stream_error_frame(status, message, int(found[-1]) + 1 if found else 0, answer_id)


def keepalive_after(sent: bytes) -> bytes | None:
    """A ``keepalive`` event numbered after the last ``sequence_number`` in ``sent`` (the last bytes a passed-through
    stream's client got that carry an event), None when they name none. OpenAI sends these events itself in long
    streams (openai-node #1965); other Responses servers send none, and Codex's reader drops comments (its idle
    timer waits on events). Responses API reference, streaming events: numbers follow each other."""
    found = _SEQUENCE.findall(sent)
    return keepalive_event(int(found[-1]) + 1) if found else None


# Events whose data carries a function call's final arguments: the call's ``arguments.done``, its item's
# ``output_item.done``, and the terminal response's output (``response.output_item.added`` is left alone: its
# arguments are "" by design, the deltas follow).
_FINAL_ARGUMENTS = frozenset(
    {"response.function_call_arguments.done", "response.output_item.done", "response.completed"}
)


def may_mend_answer(raw: bytes) -> bool:
    """False when ``repair_blank_arguments`` returns the answer bytes ``raw`` as they came: no function call."""
    # (``find``: ``in`` first tries its argument as an int, ~1k instructions; session 24)
    return raw.find(b'"function_call"') != -1


def repair_blank_arguments(raw: bytes, data: dict[str, Any]) -> bytes:
    """A Responses answer's bytes with each ``function_call`` item's blank arguments ("" or whitespace) made
    ``"{}"`` (Responses API: ``arguments`` is "a JSON string of the arguments"; Codex parses it; s8 variant
    01-n). ``data`` is the same answer parsed (changed in place when repaired). Returns ``raw`` itself
    unless a repair was needed: one bytes search decides for answers without a function call."""
    if not may_mend_answer(raw):
        return raw
    return orjson.dumps(data) if _mend_items(data.get("output")) else raw


def _mend_items(items: Any) -> bool:
    mended = False
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("type") == "function_call" and _blank(item.get("arguments")):
            item["arguments"] = "{}"
            mended = True
    return mended


def _blank(arguments: Any) -> bool:
    return isinstance(arguments, str) and not arguments.strip()


# An ``arguments`` string that may be blank (``_blank``: ``str.strip`` leaves nothing): any spacing around
# the colon (RFC 8259 section 2), a body of whitespace characters (``\s`` is ``str.isspace``, what
# ``strip`` removes: form feeds, no-break spaces, ...) and escapes (RFC 8259 section 7: the short ones and
# ``\uXXXX``, which may spell a space). A superset: what it finds is parsed and judged by ``_blank``.
# A blank line not after a JSON object's "}": one literal-prefix search (LF LF) at C speed (with a CR or a leading
# LF as alternatives in the same pattern, sre searched byte by byte: ~5x the instructions)
_BLANK_END = re.compile(rb"\n\n(?<!}\n\n)").search


def blank_end(chunk: bytes) -> re.Match[bytes] | None:  # (the type of ``_BLANK_END``, for the docs)
    """A match when the relayed bytes ``chunk`` (LF line ends) hold a blank line not after a JSON object's
    ``}``: a block the openai SDK may dispatch as a blank event (``passthrough_frame`` drops them): one without
    data (``retry:``, ``id:``, ``event:`` or a comment alone), blank or white data, a third LF. None for a read
    of usual frames only: every Responses event's data is a JSON object (OpenAI API reference, "Streaming
    events"). Errs on the side of a match: it only turns the filter on (``registry.ClientSpec.blank_guard``,
    whose relay also takes a CR or a leading LF for one). The registry uses ``_BLANK_END`` itself (no Python
    call per read)."""
    return _BLANK_END(chunk)


def blank_lines(lines: list[bytes]) -> bool:
    """``blank_end`` for a read of usual named frames only (LF line ends, no blank line but each frame's last),
    given as the read split at LF (``relay._usual_named``: each frame's ``event:`` line, ``data: `` line and
    blank line in turn, then b""): True when a data line does not end with ``}``. Its blank lines are those
    after the data lines, so the search's question is each data line's last byte: asked of those bytes, not
    of the read (session 27)."""
    for data in lines[1::3]:
        if data[-1] != 0x7D:  # (``data: `` leads it: never empty)
            return True
    return False


_MAYBE_BLANK = re.compile(r'"arguments"\s*:\s*"(?:\s|\\[bfnrt/]|\\u[0-9A-Fa-f]{4})*"')


def passes_unchanged(ev: SSEEvent) -> bool:
    """``passthrough_frame`` returns ``ev`` as it came, whatever it holds: not an event that carries a
    call's final arguments, or one without a possibly blank ``arguments`` string."""
    return ev.event not in _FINAL_ARGUMENTS or _MAYBE_BLANK.search(ev.data) is None


def passthrough_frame(ev: SSEEvent, deltas: Sequence[Any], view: View, decoder: Any) -> bytes:
    """A relayed Responses event: unchanged (``reencode``), except that a
    function call's final arguments, when blank, become ``"{}"`` (``repair_blank_arguments``'s rule) in the
    events that carry them (``_FINAL_ARGUMENTS``), and that an event whose data is blank (``data:`` alone, or
    white space: legal SSE, a server's keep-alive) is dropped: every Responses stream event is a JSON object
    (OpenAI API reference, "Streaming events") and the openai SDK parses each event's data, so a blank one
    stops it (s25 variant 18-blank-resp-vG; the chat filter's rule, s11 variant 18-g). Comments pass."""
    data = ev.data
    if not ev.comment and (not data or data.isspace()):
        return b""
    if ev.event not in _FINAL_ARGUMENTS or _MAYBE_BLANK.search(data) is None:
        return reencode(ev)
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return reencode(ev)
    if not isinstance(obj, dict):
        return reencode(ev)
    mended = False
    if obj.get("type") == "response.function_call_arguments.done" and _blank(obj.get("arguments")):
        obj["arguments"] = "{}"
        mended = True
    item, response = obj.get("item"), obj.get("response")
    mended = _mend_items([item]) or mended
    mended = (isinstance(response, dict) and _mend_items(response.get("output"))) or mended
    return encode_event(orjson.dumps(obj), ev.event) if mended else reencode(ev)
