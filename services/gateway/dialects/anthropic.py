"""The Anthropic Messages dialect: usage, whole responses and streams, to and from the IR (pure).

The stream state machines live in ``_anthropic_stream``; this module is the public face the gateway
imports, plus the non-streaming conversions (conformance §2.3, §6.2).
"""

from __future__ import annotations

from typing import Any

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder, MessagesStreamEncoder
from services.gateway.dialects._anthropic_wire import (
    SYNTHETIC_SIGNATURE,
    stop_from_anthropic,
    usage_from_anthropic,
    usage_to_anthropic,
)
from services.gateway.dialects._openai_wire import new_id
from services.gateway.dialects.ir import Block, Completion, TextBlock, ThinkingBlock, ToolUseBlock

__all__ = [
    "SYNTHETIC_SIGNATURE",
    "MessagesStreamDecoder",
    "MessagesStreamEncoder",
    "completion_from_messages",
    "messages_from_completion",
    "usage_from_anthropic",
    "usage_to_anthropic",
]


def _block(raw: Any) -> Block | None:
    if not isinstance(raw, dict):
        return None
    kind = raw.get("type")
    if kind == "text" and isinstance(raw.get("text"), str):
        return TextBlock(text=raw["text"])
    if kind == "thinking" and isinstance(raw.get("thinking"), str):
        return ThinkingBlock(thinking=raw["thinking"], signature=str(raw.get("signature") or ""))
    if kind == "tool_use":
        tool_input = i if isinstance(i := raw.get("input"), dict) else {}
        return ToolUseBlock(
            id=str(raw.get("id") or new_id("toolu_")), name=str(raw.get("name") or ""), input=tool_input
        )
    return None  # redacted_thinking and server-tool blocks have no IR form


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
        elif isinstance(b, TextBlock) and b.text:
            content.append({"type": "text", "text": b.text})
        elif isinstance(b, ToolUseBlock):
            content.append(
                {"type": "tool_use", "id": b.id, "name": names.get(b.name, b.name), "input": b.input}
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
