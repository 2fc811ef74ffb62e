"""Anthropic Messages bodies for the thinking-refusal tests (gateway end-to-end and the dialect's unit tests).

Anthropic refuses a body with thinking on whose last assistant turn is a tool turn without a thinking block
(400 ``invalid_request_error``: "Expected `thinking` or `redacted_thinking`, but found `tool_use`" or
"... found `text`", Anthropic's extended-thinking docs, "Preserving thinking blocks"). The tests build the
same conversation shape and the same error envelope: here, once.
"""

from __future__ import annotations

from typing import Any


def text_then_tool_turn(*, ask: str, said: str, tool_id: str, result: str) -> list[dict[str, Any]]:
    """A Messages ``messages`` list: the user's ``ask``; the assistant's tool turn, a text block ``said``
    then a ``Bash`` ``tool_use`` (``ls``) with id ``tool_id`` and no thinking block; the user's
    ``tool_result`` (``result``) for it. A fresh list each call."""
    return [
        {"role": "user", "content": ask},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": said},
                {"type": "tool_use", "id": tool_id, "name": "Bash", "input": {"command": "ls"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_id, "content": result}],
        },
    ]


def invalid_request(message: str) -> dict[str, Any]:
    """Anthropic's error body for a 400 ``invalid_request_error`` saying ``message`` (Messages API, Errors)."""
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
