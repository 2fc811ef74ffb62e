"""Session 27 (bug27a), kind 19: a translated Responses stream whose upstream is silent before its first token.

Codex reads SSE with eventsource-stream, which drops comment lines, and its idle timer waits on the next event:
a comment before ``response.created`` was nothing to it. The encoder now opens the response on the first
silence (``response.created``, ``response.in_progress``), as the Anthropic encoder writes ``message_start``, and
numbers a ``keepalive`` event for each later one (s27 variant 19-ka-before-first-chunk-chat2anth-vAF)."""

from __future__ import annotations

import json

from services.gateway.dialects import ir
from services.gateway.dialects._responses_stream import ResponsesStreamEncoder
from services.gateway.dialects.openai_responses import encoder_for
from services.gateway.dialects.view import View
from shared.sse import SSEDecoder


def _events(body: bytes) -> list[dict[str, object]]:
    frames = SSEDecoder().feed(body)
    assert not any(f.comment for f in frames)  # every silence is an event a client's idle timer sees
    return [json.loads(f.data) for f in frames]


def test_a_silence_before_the_first_token_opens_the_response() -> None:
    enc = encoder_for(View(model="m"))
    first = _events(enc.feed(ir.KeepAlive()))
    assert [e["type"] for e in first] == ["response.created", "response.in_progress"]  # before: a comment
    body = enc.feed(ir.KeepAlive()) + enc.feed(ir.MessageStart(id="up_1", model="m"))
    body += enc.feed(ir.TextDelta(text="Hi")) + enc.feed(ir.Finish(reason="stop")) + enc.finish()
    rest = _events(body)
    assert rest[0] == {"type": "keepalive", "sequence_number": 2}
    kinds = [e["type"] for e in first + rest]
    assert kinds.count("response.created") == 1 and kinds[-1] == "response.completed"
    assert [e["sequence_number"] for e in first + rest] == list(range(len(kinds)))
    ids = {e["response"]["id"] for e in first + rest if "response" in e}  # type: ignore[index]
    assert len(ids) == 1  # the openai SDK holds every lifecycle event to the first one's id


def test_a_non_streamed_answer_gets_no_events() -> None:
    enc = ResponsesStreamEncoder(View(model="m"), frames=False)  # a non-streamed answer's encoder
    assert enc.feed(ir.KeepAlive()).startswith(b":")
