"""Session 27 (bug27a), kind 19: keep-alives on the Responses passthrough are numbered events.

Codex reads SSE with eventsource-stream, which drops comment lines, and its idle timer waits on the next event:
a Responses server that sends no ``keepalive`` events of its own (vLLM, LiteLLM, a relay; OpenAI sends them)
left a Codex client of the passthrough without an event for the whole silence (s26 variant 19-codex-passthrough-vC,
left then; s27 19-codex-passthrough-vAE). ``relay.Passthrough.keepalive`` now writes a ``keepalive`` event
numbered after the client's last event, and every later upstream event's ``sequence_number`` is moved on by the
keep-alives sent (OpenAI API reference, streaming events: numbers follow each other). Reads whole, cut at any
byte, many tokens after the silence (the token frames that usually pass a filter by name go through it)."""

from __future__ import annotations

import json
import re

import pytest

from services.gateway.dialects import registry
from services.gateway.dialects.openai_responses import keepalive_after
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from shared.sse import SSEDecoder


def _ev(obj: dict[str, object]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


def _stream(tokens: int) -> tuple[list[bytes], list[bytes]]:
    """(the events before the silence, the events after it) of a Responses answer numbered from 0."""
    resp = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "m", "output": []}
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    n = iter(range(1000))
    head = [
        _ev({"type": "response.created", "sequence_number": next(n), "response": resp}),
        _ev({"type": "response.in_progress", "sequence_number": next(n), "response": resp}),
        _ev(
            {
                "type": "response.output_item.added",
                "sequence_number": next(n),
                "output_index": 0,
                "item": item,
            }
        ),
        _ev(
            {
                "type": "response.output_text.delta",
                "sequence_number": next(n),
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "Hi",
            }
        ),
    ]
    tail = [
        _ev(
            {
                "type": "response.output_text.delta",
                "sequence_number": next(n),
                "item_id": "msg_1",
                "output_index": 0,
                "content_index": 0,
                "delta": "x",
            }
        )
        for _ in range(tokens)
    ]
    done = dict(item, status="completed", content=[{"type": "output_text", "text": "Hi" + "x" * tokens}])
    usage = {"input_tokens": 5, "output_tokens": 3, "total_tokens": 8}
    tail += [
        _ev(
            {"type": "response.output_item.done", "sequence_number": next(n), "output_index": 0, "item": done}
        ),
        _ev(
            {
                "type": "response.completed",
                "sequence_number": next(n),
                "response": dict(resp, status="completed", output=[done], usage=usage),
            }
        ),
    ]
    return head, tail


def _numbers(body: bytes) -> list[int]:
    return [json.loads(f.data)["sequence_number"] for f in SSEDecoder().feed(body) if not f.comment]


@pytest.mark.parametrize("tokens", [1, 40])
@pytest.mark.parametrize("cut", [0, 7, 50, 1 << 20])
def test_keepalives_are_numbered_events_and_later_events_follow_them(tokens: int, cut: int) -> None:
    head, tail = _stream(tokens)
    relay = make_relay(registry.pairing("openai_responses", "openai_responses"), View(model="m"))
    out = b"".join(relay.feed(e) for e in head)
    kept = relay.keepalive() + relay.keepalive()
    assert kept.count(b"event: keepalive\n") == 2 and not kept.startswith(b":")  # before: two comments
    body = b"".join(tail)
    reads = tail if cut == 0 else [body[i : i + cut] for i in range(0, len(body), cut)]
    out += kept + b"".join(relay.feed(r) for r in reads) + relay.finish()
    numbers = _numbers(out)
    assert numbers == list(range(len(head) + 2 + len(tail)))  # before: 4, 5 (keep-alives), then 4, 5, …
    assert relay.complete and relay.error is None


def test_before_any_event_a_keepalive_stays_a_comment() -> None:
    relay = make_relay(registry.pairing("openai_responses", "openai_responses"), View(model="m"))
    assert relay.keepalive().startswith(b":")  # nothing numbered yet to follow
    assert keepalive_after(b": keep-alive\n\n") is None
    assert re.search(rb'"sequence_number":8\}', keepalive_after(b'data: {"sequence_number":7}\n\n') or b"")
