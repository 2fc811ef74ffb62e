"""The Anthropic Messages dialect: usage, whole responses and streams, to and from the IR (pure).

The stream state machines live in ``_anthropic_stream``; this module is the public face the gateway
imports, plus the non-streaming conversions (conformance §2.3, §6.2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from services.gateway.dialects._anthropic_stream import (
    STOP_FRAME,
    MessagesStreamDecoder,
    MessagesStreamEncoder,
    ends_stream,
)
from services.gateway.dialects._anthropic_wire import (
    SYNTHETIC_SIGNATURE,
    anthropic_error_type,
    client_status,
    error_body,
    stop_from_anthropic,
    usage_from_anthropic,
    usage_to_anthropic,
)
from services.gateway.dialects._call_signature import signed_id
from services.gateway.dialects._openai_wire import new_id
from services.gateway.dialects._opening import Opening, Part, event_kind
from services.gateway.dialects._request_common import (
    TOKEN_LIMIT_MAX,
    ParsedRequest,
    check_token_limit_range,
    require_max_tokens,
    require_messages,
    require_model,
    require_stream_flag,
)
from services.gateway.dialects._tool_args import input_object
from services.gateway.dialects.ir import (
    Block,
    Completion,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
    Usage,
)
from services.gateway.dialects.view import View
from shared.sse import SSEEvent, encode_event, reencode

__all__ = [
    "STOP_FRAME",
    "SYNTHETIC_SIGNATURE",
    "MessagesStreamDecoder",
    "MessagesStreamEncoder",
    "ends_stream",
    "client_status",
    "completion_from_messages",
    "encoder_for",
    "error_body",
    "parse_request",
    "render",
    "stream_error_frame",
    "messages_from_completion",
    "answer_usage",
    "usage_from_anthropic",
    "usage_to_anthropic",
]


def parse_request(body: dict[str, Any]) -> ParsedRequest:
    """Validate what the gateway reads of a Messages request (conformance §2.2): model, messages,
    ``stream``, and ``max_tokens`` (required, a positive integer); raises ``TranslationError`` (400).
    Reasoning goes back only when the client asked for thinking (enabled or adaptive).

    The usual body (a non-empty string ``model``, ``max_tokens`` an integer in 1 … ``TOKEN_LIMIT_MAX``,
    ``stream`` a boolean, null or absent, ``messages`` a non-empty list of objects each with a string ``role``)
    passes every check below, so it is read here without their calls (issue 13, session 35: five code objects
    fewer on every Messages request's path); any other body takes the checks in turn, which raise as before
    (tests/unit/dialects/test_parse_fast35.py compares the two)."""
    model, limit, stream = body.get("model"), body.get("max_tokens"), body.get("stream")
    messages = body.get("messages")
    if (
        type(model) is str
        and model.strip()
        and type(limit) is int
        and 0 < limit <= TOKEN_LIMIT_MAX
        and (stream is True or stream is False or stream is None)
        and type(messages) is list
        and messages
    ):
        for message in messages:
            if type(message) is not dict or type(message.get("role")) is not str:
                break
        else:
            thinking = body.get("thinking")
            reasoning = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
            return ParsedRequest(model, stream is True, False, reasoning)
    return _parse_checked(body)


def _parse_checked(body: dict[str, Any]) -> ParsedRequest:
    """``parse_request`` of a body that is not the usual one: each check in turn (the first that fails raises)."""
    model = require_model(body)
    require_messages(body)
    stream = require_stream_flag(body)
    check_token_limit_range(body, ("max_tokens",), floats=False)
    require_max_tokens(body)
    thinking = body.get("thinking")
    reasoning = isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
    return ParsedRequest(model=model, stream=stream, include_usage=False, reasoning=reasoning)


def stream_error_frame(status: int, message: str) -> bytes:
    """An error after the stream began: an ``event: error`` frame (conformance §2.4)."""
    payload = {"type": "error", "error": {"type": anthropic_error_type(status), "message": message}}
    return encode_event(orjson.dumps(payload), "error")


def opening_part(ev: SSEEvent) -> Part | None:
    """What one frame a client was sent is (``_opening``): ``message_start`` opens every answer, ``ping``
    and comments are keep-alives, anything else (a block's start, a delta, an error) is content.
    Source: Anthropic "Streaming Messages", event flow."""
    if ev.comment:
        return "keepalive"
    kind = event_kind(ev)
    if kind == "ping":
        return "keepalive"
    return "opening" if kind == "message_start" else None


# A frame boundary (LF LF) not followed by a usual frame's start (``event: name`` LF ``data: ``, name in
# ``[a-z_]``), nor by the start of one cut at the read's end: a frame the SDKs may read otherwise than its data's
# type says. One literal-prefix search (the Responses guard's cost: ``openai_responses._BLANK_END``).
_ODD_FRAME = re.compile(
    rb"\n\n(?!event: [a-z_]+\ndata: |event: [a-z_]*(?:\n(?:d(?:a(?:t(?:a:?)?)?)?)?)?\Z|(?:e(?:v(?:e(?:n(?:t:?)?)?)?)?)?\Z)"
).search
_USUAL_START = re.compile(rb"event: [a-z_]+\ndata: ").match


def odd_frame(chunk: bytes) -> re.Match[bytes] | None:  # (the type of ``_ODD_FRAME``, for the docs)
    """A match when the relayed bytes ``chunk`` (LF line ends) hold a frame after a blank line that does not
    start ``event: <name>`` LF ``data:`` with a plain name: an event without its name, a name with spaces,
    a block without data. ``passthrough_frame`` mends those; a superset errs towards turning it on
    (``registry.ClientSpec.blank_guard``). The registry uses ``_ODD_FRAME`` itself (no Python call per read)."""
    return _ODD_FRAME(chunk)


def odd_start(chunk: bytes) -> bool:
    """A read that begins at a frame's start (the body's first, or one after a whole event) does not begin as
    a usual frame (``odd_frame`` for its first frame, which has no blank line before it in the read). A read
    cut short inside the usual start (``event: mess``) counts as odd: the filter then costs, never misleads."""
    return _USUAL_START(chunk) is None


def odd_lines(lines: list[bytes]) -> bool:
    """``odd_frame`` or ``odd_start`` for a read that begins at a frame's start and holds usual named frames
    only, given as the read split at LF (``relay._usual_named``: each frame's ``event: <name>`` line (a name
    not empty), ``data: `` line and blank line in turn, then b""): True when a name is not plain (``[a-z_]+``).
    The frames are whole and each data line begins ``data: ``, so the search's only question is the names:
    asked of them alone, joined (an LF begins each event line and no name holds one, so each ``LF event: ``
    is a line's start), with C calls and no regex (session 27: the search cost ~21k instructions on the
    1.6 kB canned answer, a regex of the event lines ~15k, this ~2k; callgrind)."""
    names = (b"\n" + b"\n".join(lines[0:-1:3])).replace(b"\nevent: ", b"").replace(b"_", b"")
    return bool(names) and not (names.isalpha() and names.islower())  # (ASCII tests: bytes)


def passes_unchanged(ev: SSEEvent) -> bool:
    """``passthrough_frame`` returns ``ev`` as it came: a comment, or an event whose name is a plain one
    (its data's type, as every Anthropic event's is)."""
    name = ev.event
    return ev.comment or (name is not None and name.isidentifier() and name.islower())


def passthrough_frame(ev: SSEEvent, deltas: Sequence[Any], view: View, decoder: Any) -> bytes:
    """A relayed Anthropic event, named as its data's ``type``: Anthropic "Streaming Messages" gives every
    event a name equal to its data's type, and the anthropic SDKs dispatch on the name (python 0.7x and the
    TypeScript SDK Claude Code runs: ``sse.event === "message_start"``, …; python 2.x skips a nameless event).
    WHATWG SSE keeps everything after the colon but one space, so ``event: message_start `` (a trailing space),
    ``event:  ping`` or no ``event:`` line at all (third-party Anthropic-compatible servers: earendil-works/pi
    #1984) made every event one the SDKs skip: an empty answer, or an error event read as a message. A block
    without data (an ``event:`` line alone, a blank ``data:``) is dropped: the SDKs parse every named event's
    data (hermes-agent #35418). Comments pass, each ended by a blank line (the decoder's comment holds its
    line alone: without it, an error event the gateway writes next followed the comment lines with no blank
    line before it; the client's bytes end between events, as unfiltered). (s26 variants 18-*name*-anth.)"""
    if ev.comment:
        raw = reencode(ev)
        return raw if raw.endswith(b"\n\n") else raw + b"\n"
    if not ev.data or ev.data.isspace():
        return b""
    if passes_unchanged(ev):
        return reencode(ev)
    kind = event_kind(ev) or ev.event
    return encode_event(ev.data, (kind or "").strip() or None)


# The input counts of a message's usage: ``message_start`` says them; ``message_delta`` may say them again
# (the anthropic SDK's accumulator then takes them: ``accumulate_event``), and need not
_INPUT_COUNTS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation")


def reopened(ev: SSEEvent, opening: Opening, memo: dict[str, Any]) -> SSEEvent | None:
    """A passed-through frame for a client that already has its answer's opening (``relay.Relay.resume``):
    the upstream's ``message_start`` is dropped (None), its usage's input counts kept in ``memo``; the
    ``message_delta`` gets those it does not say itself, so that the client's usage is this upstream's
    (its SDK reads a ``message_delta``'s input counts over the opening's, which an earlier route said:
    Claude Code's context accounting); any other frame kept as it is (no later event names the message)."""
    if ev.comment:
        return ev
    if "message_start" in ev.data and event_kind(ev) == "message_start":
        obj = orjson.loads(ev.data)
        message = obj.get("message") if isinstance(obj, dict) else None
        usage = message.get("usage") if isinstance(message, dict) else None
        if isinstance(usage, dict):
            memo["input"] = {k: usage[k] for k in _INPUT_COUNTS if usage.get(k) is not None}
        return None
    said = memo.get("input")
    if not said or "message_delta" not in ev.data or event_kind(ev) != "message_delta":
        return ev
    obj = orjson.loads(ev.data)
    usage = obj.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    missing = {k: v for k, v in said.items() if usage.get(k) is None}
    if not missing:
        return ev
    obj["usage"] = {**missing, **{k: v for k, v in usage.items() if v is not None or k not in missing}}
    return SSEEvent(ev.event, orjson.dumps(obj).decode(), False, ev.id, ev.retry)


def encoder_for(view: View) -> MessagesStreamEncoder:
    """The client stream encoder for one call."""
    return MessagesStreamEncoder(view.model, tool_names=view.tool_names)


def render(c: Completion, view: View) -> dict[str, Any]:
    """The non-streamed answer for one call."""
    return messages_from_completion(c, view.model, dict(view.tool_names))


def _block(raw: Any) -> Block | None:
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if kind == "text" and isinstance(raw.get("text"), str):
        return TextBlock(text=raw["text"])
    if kind == "thinking" and isinstance(raw.get("thinking"), str):
        return ThinkingBlock(thinking=raw["thinking"], signature=str(raw.get("signature") or ""))
    if kind == "tool_use":
        tool_input = input_object(raw.get("input"))
        return ToolUseBlock(
            id=str(raw.get("id") or new_id("toolu_")), name=str(raw.get("name") or ""), input=tool_input
        )
    if kind == "redacted_thinking" and isinstance(raw.get("data"), str) and raw["data"]:
        return RedactedThinkingBlock(data=raw["data"])
    return None  # server-tool blocks have no IR form


def completion_from_messages(body: dict[str, Any]) -> Completion:
    """An upstream Anthropic ``message`` object → IR Completion."""
    raw_content = c if isinstance(c := body.get("content"), list) else []
    content = [b for b in (_block(raw) for raw in raw_content) if b is not None]
    stop_sequence = body.get("stop_sequence")
    usage = u if isinstance(u := body.get("usage"), dict) else {}
    return Completion(
        id=str(body.get("id") or new_id("msg_")),
        model=str(body.get("model") or ""),
        content=content,
        stop_reason=stop_from_anthropic(body.get("stop_reason")),
        filtered=body.get("stop_reason") == "refusal",
        stop_sequence=stop_sequence if isinstance(stop_sequence, str) else None,
        usage=usage_from_anthropic(usage),
    )


def messages_from_completion(
    c: Completion, model: str, tool_names: dict[str, str] | None = None
) -> dict[str, Any]:
    """IR Completion → the client-facing Anthropic ``message`` object (conformance §2.3, §6.2).

    ``model`` is the name the client asked for; ``tool_names`` maps upstream tool names back to the
    client's own where they had to be sanitized.
    """
    names = tool_names or {}
    content: list[dict[str, Any]] = []
    for b in c.content:
        if isinstance(b, ThinkingBlock):
            signature = b.signature or SYNTHETIC_SIGNATURE
            content.append({"type": "thinking", "thinking": b.thinking, "signature": signature})
        elif isinstance(b, RedactedThinkingBlock):
            content.append({"type": "redacted_thinking", "data": b.data})
        elif isinstance(b, TextBlock) and b.text:
            content.append({"type": "text", "text": b.text})
        elif isinstance(b, ToolUseBlock):
            # Gemini's signature comes back in the id (``_call_signature``)
            call_id = signed_id(b.id, b.signature)
            content.append(
                {"type": "tool_use", "id": call_id, "name": names.get(b.name, b.name), "input": b.input}
            )
    has_tools = any(isinstance(b, ToolUseBlock) for b in c.content)
    stop_reason = "tool_use" if has_tools and c.stop_reason == "end_turn" else c.stop_reason
    return {
        "id": c.id if c.id.startswith("msg_") else "msg_" + c.id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": c.stop_sequence if stop_reason == "stop_sequence" else None,
        "usage": usage_to_anthropic(c.usage),
    }


def answer_usage(body: dict[str, Any]) -> Usage:
    """Everything a whole (non-streamed) answer bills, from its ``usage`` object."""
    usage = body.get("usage")
    return usage_from_anthropic(usage if isinstance(usage, dict) else {})
