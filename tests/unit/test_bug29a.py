"""Session 29 (bug29a): the pure parts of the fixes for bugcases 01 and 11's kinds (e2e: tests/gateway/test_bug29a_e2e.py)."""

from __future__ import annotations

import json
import time

from services.gateway.dialects import ir, registry
from services.gateway.dialects._retry_words import said_with_wait
from services.gateway.routing.health import retry_after_seconds
from services.gateway.routing.ratelimit_reset import body_reset_seconds
from shared.sse import SSEDecoder


def _chunk(delta: dict[str, object]) -> bytes:
    obj = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    obj["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def _arguments(stream: bytes) -> dict[int, str]:
    decoder = registry.WIRES["openai_chat"].decoder()
    joined: dict[int, str] = {}
    for ev in SSEDecoder().feed(stream):
        for d in decoder.feed(ev):
            if isinstance(d, ir.ToolArgsDelta):
                joined[d.index] = joined.get(d.index, "") + d.fragment
    return joined


def test_object_arguments_of_a_first_call_are_sent_before_the_second_call_begins() -> None:
    """bug29a variants 01-chat-args-object-stream-*: the first call's object was kept aside and never sent."""
    first = {"index": 0, "id": "a", "function": {"name": "read_file", "arguments": {"path": "a.txt"}}}
    second = {"index": 1, "id": "b", "function": {"name": "get_time", "arguments": {}}}
    stream = _chunk({"tool_calls": [first]}) + _chunk({"tool_calls": [second]}) + b"data: [DONE]\n\n"
    got = {i: json.loads(text) for i, text in _arguments(stream).items()}
    assert got == {0: {"path": "a.txt"}, 1: {}}


def test_a_wait_is_said_in_codex_words_once() -> None:
    assert said_with_wait("Rate limited", 29.2) == "Rate limited (Please try again in 30s.)"
    assert said_with_wait("Rate limited", 0.2) == "Rate limited (Please try again in 1s.)"
    assert said_with_wait("Rate limited", None) == "Rate limited"
    already = "Rate limit reached. Please try again in 20s."
    assert said_with_wait(already, 30.0) == already


def test_a_retry_after_among_an_error_bodys_relayed_headers_is_its_wait() -> None:
    """OpenRouter relays the provider's 429 headers in ``error.metadata.headers``: a ``retry-after`` there was no wait."""
    body = json.dumps(
        {"error": {"code": 429, "message": "x", "metadata": {"headers": {"Retry-After": "30"}}}}
    ).encode()
    assert body_reset_seconds(body, time.time()) == 30.0
    assert retry_after_seconds({}, 429, body) == 30.0
    in_ms = json.dumps({"error": {"code": 429, "metadata": {"headers": {"retry-after-ms": "1500"}}}}).encode()
    assert body_reset_seconds(in_ms, time.time()) == 1.5
    worded = json.dumps({"error": {"code": 429, "metadata": {"headers": {"retry-after": "soon"}}}}).encode()
    assert body_reset_seconds(worded, time.time()) is None
