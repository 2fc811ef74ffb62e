"""Wire-neutral pieces shared by both formats: response metadata and SSE frame encoders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Meta:
    """Identity of one response: the same id and model appear in every chunk of a stream."""

    id: str
    model: str
    created: int
    flavour: str  # "openai", "openrouter", "xai" or "anthropic"


@dataclass(frozen=True, slots=True)
class Frame:
    """One SSE frame. ``content`` marks text/argument deltas (counted by mid-stream faults);
    ``tail`` marks the frames that end a stream (finish chunk, usage, [DONE], message_delta/stop)."""

    data: bytes
    content: bool = False
    tail: bool = False


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)


def data_frame(obj: Any, *, content: bool = False, tail: bool = False) -> Frame:
    """OpenAI style: a ``data:`` line only."""
    return Frame(b"data: " + dumps(obj) + b"\n\n", content, tail)


def event_frame(obj: dict[str, Any], *, content: bool = False, tail: bool = False) -> Frame:
    """Anthropic style: an ``event:`` line equal to ``data.type``, then the ``data:`` line."""
    return Frame(b"event: " + obj["type"].encode() + b"\ndata: " + dumps(obj) + b"\n\n", content, tail)


def comment_frame(text: str) -> Frame:
    """An SSE comment (keep-alive), e.g. OpenRouter's ``: OPENROUTER PROCESSING``."""
    return Frame(b": " + text.encode() + b"\n\n")


DONE = Frame(b"data: [DONE]\n\n", tail=True)
