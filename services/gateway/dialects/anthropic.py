"""The Anthropic Messages dialect: usage, whole responses and streams, to and from the IR (pure).

The stream state machines live in ``_anthropic_stream``; this module is the public face the gateway
imports, plus the non-streaming conversions (conformance §2.3, §6.2).
"""

from __future__ import annotations

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
from shared.sse import SSEEvent, encode_event

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
    Reasoning goes back only when the client asked for thinking (enabled or adaptive)."""
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
