"""A Codex (Responses) client of a chat upstream that is silent before its first byte gets events, not comments
(s27 variant 19-ka-before-first-chunk-chat2anth-vAF).

Codex reads SSE with eventsource-stream, which drops comment lines, and its idle timer waits on the next event
(``stream_idle_timeout_ms``): comments alone are a silence to it. An xAI model (chat wire, translated) answers
with its headers, then stays silent for 2.5 keep-alive periods before its first chunk. The client must get
``response.created`` and ``response.in_progress`` when the first period ends (the opening, as an Anthropic client
gets ``message_start``) and a numbered ``keepalive`` event at the next: before the fix it got only comments until
the first token. The test counts events between the request and the first text (no clock is read).

Real gateway and recorder processes, the scripted upstream; the client reads the raw stream.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from shared.sse import SSEDecoder
from tests.gateway.test_fallback_after_keepalive_e2e import chat, chat_opening, unnamed
from tests.procs import Stack, stack
from tests.scripted_upstream import Pause, ScriptedUpstream, sse

KEEPALIVE_S = 1.0
XAI_CHAT = "/xai/v1/chat/completions"

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("responses_silence_opening27")
    env = {"STREAM_KEEPALIVE_S": str(KEEPALIVE_S), "BREAKER_FAILURES": "1000"}
    with stack(tmp, {"xai": f"{up.url}/xai/v1"}, **env) as st:
        yield st


def test_a_silence_before_the_first_byte_opens_the_response(gw: Stack, up: ScriptedUpstream) -> None:
    usage = {"prompt_tokens": 19, "completion_tokens": 8, "total_tokens": 27}
    pieces: list[bytes | Pause] = [
        b"\n",  # (the headers and a blank line: nothing of the answer yet)
        Pause(2.5 * KEEPALIVE_S),
        *chat_opening(),
        *unnamed(chat({"content": "Forty-two."}), chat({}, "stop"), chat(None, usage=usage), b"[DONE]"),
    ]
    up.script(XAI_CHAT, sse(pieces))
    body = {"model": "grok-3-mini", "stream": True, "input": "What is six times seven?"}
    decoder = SSEDecoder()
    events: list[dict[str, object]] = []
    comments = 0
    with httpx2.stream(
        "POST", gw.gateway_url + "/v1/responses", json=body, headers={"x-request-id": "ro27"}, timeout=30
    ) as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            for ev in decoder.feed(piece):
                if ev.comment:
                    comments += 1
                else:
                    events.append(json.loads(ev.data))
    kinds = [e["type"] for e in events]
    first_text = kinds.index("response.output_text.delta")
    # before the fix: no event before the first text's item, only comments (Codex's reader drops them)
    assert kinds[:3] == ["response.created", "response.in_progress", "keepalive"], (kinds, comments)
    assert kinds.count("response.created") == 1 and kinds[-1] == "response.completed", kinds
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[first_text]["delta"] == "Forty-two."
    row = gw.row_for("ro27")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 19, 8)


def test_held_headers_get_numbered_keepalive_events_after_the_opening(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The provider holds its status line (a cold model loading; s19 variant 19-r): the client's answer starts
    (``response.created``, ``response.in_progress``), and every later period of the wait is a ``keepalive`` event
    numbered after them (``OpenStream.keepalive``), not a comment (before s27: comments, nothing to Codex's reader;
    s27 variant 19-fallback-events-resp-vAG, the same keep-alives in a fallback's wait). The headers are let go
    once the client has read two keep-alives of either kind (a handshake, not a clock); the answer then goes on
    numbered after them, under the opening's response id."""
    gate = threading.Event()
    usage = {"prompt_tokens": 19, "completion_tokens": 8, "total_tokens": 27}
    answer = [
        *chat_opening(),
        *unnamed(chat({"content": "Forty-two."}), chat({}, "stop"), chat(None, usage=usage), b"[DONE]"),
    ]
    up.script(XAI_CHAT, sse(answer, gate=gate))
    body = {"model": "grok-3-mini", "stream": True, "input": "What is six times seven?"}
    decoder = SSEDecoder()
    events: list[dict[str, Any]] = []
    comments = waits = 0
    try:
        with httpx2.stream(
            "POST",
            gw.gateway_url + "/v1/responses",
            json=body,
            headers={"x-request-id": "ro27-held"},
            timeout=30,
        ) as r:
            assert r.status_code == 200, r.read()
            for piece in r.iter_bytes():
                for ev in decoder.feed(piece):
                    if ev.comment:
                        comments += 1
                    else:
                        events.append(json.loads(ev.data))
                    if ev.comment or events[-1]["type"] == "keepalive":
                        waits += 1
                        if waits == 2:
                            gate.set()
    finally:
        gate.set()
    kinds = [e["type"] for e in events]
    assert comments == 0, (kinds, comments)  # before the fix: comments after the opening
    assert kinds[:4] == ["response.created", "response.in_progress", "keepalive", "keepalive"], kinds
    assert kinds.count("response.created") == 1 and kinds[-1] == "response.completed", kinds
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert len({e["response"]["id"] for e in events if "response" in e}) == 1
    row = gw.row_for("ro27-held")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 19, 8)
