"""Anthropic Messages wire shapes (conformance doc §2): message object, SSE events, errors, models."""

from __future__ import annotations

from typing import Any

from tests.fake.conversation import Reply, Usage, fragments, pieces
from tests.fake.frames import Frame, Meta, event_frame

SIGNATURE = "ZmFrZS1zaWduYXR1cmU="  # base64("fake-signature")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def message(meta: Meta, reply: Reply, usage: Usage | None) -> dict[str, Any]:
    """A non-streaming ``message`` object (§2.3)."""
    content: list[dict[str, Any]] = []
    if reply.thinking:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": SIGNATURE})
    if reply.text is not None:
        content.append({"type": "text", "text": reply.text})
    if reply.tool_call is not None:
        call = reply.tool_call
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
    out = _message_base(meta) | {"content": content, "stop_reason": _stop_reason(reply)}
    if usage is not None:
        out["usage"] = usage_dict(usage)
    return out


def stream_frames(meta: Meta, reply: Reply, usage: Usage | None) -> list[Frame]:
    """message_start, ping, one start/deltas/stop group per block, message_delta, message_stop (§2.4)."""
    start = _message_base(meta) | {"content": [], "stop_reason": None}
    if usage is not None:
        start["usage"] = usage_dict(usage) | {"output_tokens": 1}
    frames = [event_frame({"type": "message_start", "message": start}), event_frame({"type": "ping"})]
    index = 0
    if reply.thinking:
        deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(reply.thinking)]
        deltas.append({"type": "signature_delta", "signature": SIGNATURE})
        frames += _block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)
        index += 1
    if reply.text is not None:
        deltas = [{"type": "text_delta", "text": p} for p in pieces(reply.text)]
        frames += _block(index, {"type": "text", "text": ""}, deltas)
        index += 1
    if reply.tool_call is not None:
        call = reply.tool_call
        parts = ["", *fragments(call.arguments_json)]
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in parts]
        frames += _block(index, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}, deltas)
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": _stop_reason(reply), "stop_sequence": None},
    }
    if usage is not None:
        delta["usage"] = usage_dict(usage)  # cumulative output, and the input fields again, as Anthropic does
    frames.append(event_frame(delta, tail=True))
    frames.append(event_frame({"type": "message_stop"}, tail=True))
    return frames


def _block(index: int, block: dict[str, Any], deltas: list[dict[str, Any]]) -> list[Frame]:
    frames = [event_frame({"type": "content_block_start", "index": index, "content_block": block})]
    for delta in deltas:
        has_content = bool(delta.get("text") or delta.get("thinking") or delta.get("partial_json"))
        frames.append(
            event_frame({"type": "content_block_delta", "index": index, "delta": delta}, content=has_content)
        )
    frames.append(event_frame({"type": "content_block_stop", "index": index}))
    return frames


def stream_error_frame() -> Frame:
    """A mid-stream failure: ``event: error`` with overloaded_error, after which the stream just ends."""
    body = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    return event_frame(body, tail=True)


def error_body(status: int, message: str, request_id: str, error_type: str | None = None) -> dict[str, Any]:
    """The error body for an HTTP error status (§2.6)."""
    kind = error_type or _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def usage_dict(usage: Usage) -> dict[str, Any]:
    """Anthropic usage: ``input_tokens`` excludes cache reads and writes (§2.5)."""
    return {
        "input_tokens": usage.uncached,
        "cache_creation_input_tokens": usage.cache_write,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_write - usage.cache_write_1h,
            "ephemeral_1h_input_tokens": usage.cache_write_1h,
        },
        "output_tokens": usage.output,
        "service_tier": "standard",
    }


def models_list(models: list[str], limit: int) -> dict[str, Any]:
    data = [
        {
            "type": "model",
            "id": m,
            "display_name": m.replace("-", " ").title(),
            "created_at": "2025-01-01T00:00:00Z",
        }
        for m in models[:limit]
    ]
    return {
        "data": data,
        "has_more": len(models) > limit,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def _message_base(meta: Meta) -> dict[str, Any]:
    return {"id": meta.id, "type": "message", "role": "assistant", "model": meta.model, "stop_sequence": None}


def _stop_reason(reply: Reply) -> str:
    if reply.tool_call is not None:
        return "tool_use"
    return "max_tokens" if reply.truncated else "end_turn"
