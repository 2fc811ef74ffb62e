"""Codex on the Responses passthrough: a silent upstream's gap gets numbered ``keepalive`` events (s27 variant
19-codex-passthrough-vAE; s26 variant 19-codex-passthrough-vC, left then).

A Responses server that sends no keep-alive events of its own (vLLM, LiteLLM, a relay; OpenAI sends them) goes
silent for 2.5 keep-alive periods after its first text. Codex's reader (eventsource-stream) drops comments and its
idle timer waits on the next event: the client must get ``keepalive`` events in the gap, numbered after the last
event it had, and the upstream's later events numbered after those (the openai SDK's ``responses.stream()`` reads
the whole answer). Before the fix: comments only, and the numbers as the upstream gave them. The test counts
events between the two texts (no clock is read).

Real gateway and recorder processes, the scripted upstream; the client reads the raw stream.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from shared.sse import SSEDecoder
from tests.gateway.test_fallback_after_keepalive_e2e import named, responses_object
from tests.procs import Stack, stack
from tests.scripted_upstream import Pause, ScriptedUpstream, sse

KEEPALIVE_S = 1.0
RESPONSES = "/openai/v1/responses"

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(up: ScriptedUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp: Path = tmp_path_factory.mktemp("responses_passthrough_keepalive27")
    env = {"STREAM_KEEPALIVE_S": str(KEEPALIVE_S), "BREAKER_FAILURES": "1000"}
    with stack(tmp, {"openai": f"{up.url}/openai/v1"}, **env) as st:
        yield st


def _delta(n: int, text: str) -> dict[str, Any]:
    return {
        "type": "response.output_text.delta",
        "sequence_number": n,
        "item_id": "msg_1",
        "output_index": 0,
        "content_index": 0,
        "delta": text,
    }


def test_a_silence_on_the_passthrough_gets_numbered_keepalive_events(gw: Stack, up: ScriptedUpstream) -> None:
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
    done = dict(
        item,
        status="completed",
        content=[{"type": "output_text", "text": "Six by seven: 42.", "annotations": []}],
    )
    usage = {
        "input_tokens": 19,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 8,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 27,
    }
    started = responses_object("in_progress", [], None)
    pieces: list[bytes | Pause] = [
        *named(
            {"type": "response.created", "sequence_number": 0, "response": started},
            {"type": "response.in_progress", "sequence_number": 1, "response": started},
            {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": item},
            _delta(3, "Six by seven:"),
        ),
        Pause(2.5 * KEEPALIVE_S),
        *named(
            _delta(4, " 4"),
            _delta(5, "2."),
            {"type": "response.output_item.done", "sequence_number": 6, "output_index": 0, "item": done},
            {
                "type": "response.completed",
                "sequence_number": 7,
                "response": responses_object("completed", [done], usage),
            },
        ),
    ]
    up.script(RESPONSES, sse(pieces))
    body = {"model": "gpt-4o-mini", "stream": True, "input": "What is six times seven?"}
    decoder = SSEDecoder()
    events: list[dict[str, Any]] = []
    with httpx2.stream(
        "POST", gw.gateway_url + "/v1/responses", json=body, headers={"x-request-id": "rpk27"}, timeout=30
    ) as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            events += [json.loads(ev.data) for ev in decoder.feed(piece) if not ev.comment]
    kinds = [e["type"] for e in events]
    texts = [i for i, k in enumerate(kinds) if k == "response.output_text.delta"]
    assert kinds[texts[0] + 1 : texts[0] + 3] == ["keepalive", "keepalive"], kinds  # before: comments only
    assert [e["sequence_number"] for e in events] == list(range(len(events))), events
    assert (
        "".join(events[i]["delta"] for i in texts) == "Six by seven: 42."
        and kinds[-1] == "response.completed"
    )
    row = gw.row_for("rpk27")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 19, 8)
