"""The answer text in each wire format, to check the benchmark's answers and time their first token.

``text(fmt, body)`` returns the assistant text of a whole answer and raises ``ValueError`` when the body is
malformed or a stream lacks its terminator (OpenAI chat ``data: [DONE]``, Anthropic ``message_stop``,
Responses ``response.completed``). ``partial_text(fmt, buf)`` returns the text of the complete SSE events
received so far, for time to first token. Formats: ``openai``, ``openai-sse``, ``anthropic``,
``anthropic-sse``, ``responses``, ``responses-sse`` (shapes: tests/fake/*_wire.py).
"""

from __future__ import annotations

from typing import Any

import orjson

FORMATS = ("openai", "openai-sse", "anthropic", "anthropic-sse", "responses", "responses-sse")


def _events(buf: bytes) -> list[bytes]:
    """The ``data:`` payloads of the complete SSE events in ``buf``."""
    complete = buf.replace(b"\r\n", b"\n").rsplit(b"\n\n", 1)[0] if b"\n\n" in buf else b""
    return [line[5:].strip() for line in complete.split(b"\n") if line.startswith(b"data:")]


def _delta(fmt: str, data: bytes) -> str:
    if data == b"[DONE]":
        return ""
    event: dict[str, Any] = orjson.loads(data)
    if fmt == "openai-sse":
        return "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])
    if fmt == "anthropic-sse":
        delta = event.get("delta") or {}
        return str(delta.get("text", "")) if event.get("type") == "content_block_delta" else ""
    if event.get("type") == "response.output_text.delta":
        return str(event.get("delta", ""))
    return ""


def partial_text(fmt: str, buf: bytes) -> str:
    """The text carried by the complete events of a stream's first bytes ``buf``."""
    return "".join(_delta(fmt, data) for data in _events(buf))


def _terminated(fmt: str, events: list[bytes]) -> bool:
    if not events:
        return False
    if fmt == "openai-sse":
        return events[-1] == b"[DONE]"
    kind = "message_stop" if fmt == "anthropic-sse" else "response.completed"
    return any(orjson.loads(e).get("type") == kind for e in events[-2:] if e != b"[DONE]")


def text(fmt: str, body: bytes) -> str:
    """The assistant text of a whole answer in ``fmt``; ``ValueError`` when malformed or unterminated."""
    try:
        if fmt.endswith("-sse"):
            events = _events(body + b"\n\n")
            if not _terminated(fmt, events):
                raise ValueError(f"{fmt} stream without its terminator")
            return "".join(_delta(fmt, e) for e in events)
        doc: dict[str, Any] = orjson.loads(body)
        if fmt == "openai":
            return str(doc["choices"][0]["message"]["content"])
        if fmt == "anthropic":
            return "".join(b.get("text", "") for b in doc["content"] if b.get("type") == "text")
        return "".join(
            part.get("text", "")
            for item in doc["output"]
            if item.get("type") == "message"
            for part in item.get("content") or []
            if part.get("type") == "output_text"
        )
    except (KeyError, IndexError, TypeError, AttributeError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"malformed {fmt} answer: {exc!r}") from exc
