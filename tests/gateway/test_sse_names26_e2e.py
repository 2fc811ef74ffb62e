"""Event names the anthropic SDKs dispatch on, and keep-alive events Codex counts, through the real processes
(s26 variants 18-trailname-anth-vA, 18-nonames-anth-vO, 18-trailname-error-anth-vP, 19-codex-event-vA).

- An Anthropic stream whose ``event:`` names carry a trailing space (WHATWG SSE keeps it in the name) reaches the
  anthropic SDK 0.7x (``make old-sdk``; it dispatches on the exact name, as the TypeScript SDK in Claude Code does)
  whole: before, it skipped every event and raised.
- An Anthropic-compatible server that writes no ``event:`` lines (earendil-works/pi#1984): before, the 2.x SDK
  skipped every nameless event and raised.
- A mid-stream ``event: error `` makes the 2.x SDK raise: before, it read it as a message event and returned a
  truncated message as if whole.
- A Responses client (Codex) gets numbered ``keepalive`` events while a translated (Anthropic) upstream is silent: Codex's
  reader drops SSE comments, so before, its idle timer heard nothing.

Real gateway and recorder processes, the scripted upstream. Counts only, no clock read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import anthropic
import httpx2
import openai
import orjson
import pytest

from shared.sse import SSEDecoder
from tests.procs import Stack
from tests.scripted_upstream import Pause, ScriptedUpstream, sse

pytestmark = pytest.mark.usefixtures("fresh_up")
MESSAGES = "/anthropic/v1/messages"
HI = [{"role": "user", "content": "Say hello."}]
KEEPALIVE_S = 1.0
OLD_SDK = Path(__file__).resolve().parents[2] / ".venv" / "old-sdk"


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    paths = {"openai": "/openai/v1", "anthropic": "/anthropic"}
    with scripted_stack(
        "sse_names26", paths, BREAKER_FAILURES="1000", STREAM_KEEPALIVE_S=str(KEEPALIVE_S)
    ) as st:
        yield st


def _anthropic(name_line: str | None, last: dict[str, object] | None = None) -> list[bytes]:
    """Hello there! as Anthropic events, each named by ``name_line`` (a format of the type; None: no line);
    ``last``: an event that replaces everything after the text."""
    message = {
        "id": "msg_26",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    events: list[dict[str, object]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello there!"}},
    ]
    events += (
        [last]
        if last is not None
        else [
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 3},
            },
            {"type": "message_stop"},
        ]
    )
    head = (lambda e: b"") if name_line is None else (lambda e: name_line.format(e["type"]).encode() + b"\n")
    return [head(e) + b"data: " + orjson.dumps(e) + b"\n\n" for e in events]


OLD_CLIENT = r"""
import json, sys, anthropic
c = anthropic.Anthropic(base_url=sys.argv[1], api_key="unused", max_retries=0)
with c.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}],
                       extra_headers={"x-request-id": "names26-old"}) as s:
    m = s.get_final_message()
print(json.dumps([anthropic.__version__, m.content[0].text, m.stop_reason, m.usage.output_tokens]))
"""


def test_old_anthropic_sdk_reads_names_with_a_trailing_space(gw: Stack, up: ScriptedUpstream) -> None:
    assert OLD_SDK.exists(), "run `make old-sdk` (make test does) to install anthropic 0.7x"
    up.script(MESSAGES, sse(_anthropic("event: {} ")))
    env = {**os.environ, "PYTHONPATH": str(OLD_SDK)}
    proc = subprocess.run(
        [sys.executable, "-c", OLD_CLIENT, gw.gateway_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-800:]  # before: no content (every event skipped)
    version, text, stop, output_tokens = json.loads(proc.stdout)
    assert version.startswith("0.7") and (text, stop, output_tokens) == ("Hello there!", "end_turn", 3)
    row = gw.row_for("names26-old")
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 12, 3)


def test_nameless_anthropic_frames_reach_the_sdk(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(MESSAGES, sse(_anthropic(None)))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0) as client:
        with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream:  # type: ignore[arg-type]
            message = stream.get_final_message()  # before: AssertionError (no message_start)
    assert [getattr(b, "text", None) for b in message.content] == ["Hello there!"]
    assert (message.stop_reason, message.usage.output_tokens) == ("end_turn", 3)


def test_a_misnamed_error_event_raises_in_the_sdk(gw: Stack, up: ScriptedUpstream) -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    up.script(MESSAGES, sse(_anthropic("event: {} ", last=error)))
    with anthropic.Anthropic(base_url=gw.gateway_url, api_key="unused", max_retries=0) as client:
        with pytest.raises(anthropic.APIStatusError, match="overloaded"):  # before: a message "Hello there!"
            with client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HI) as stream:  # type: ignore[arg-type]
                stream.get_final_message()


def test_codex_gets_numbered_keepalive_events_in_a_silence(gw: Stack, up: ScriptedUpstream) -> None:
    frames = _anthropic("event: {}")
    second = frames[2].replace(b"Hello there!", b" think.")
    pieces: list[bytes | Pause] = [*frames[:2], frames[2].replace(b"Hello there!", b"Let me")]
    pieces += [Pause(2.5 * KEEPALIVE_S), second, *frames[3:]]
    up.script(MESSAGES, sse(pieces))
    body = {"model": "claude-haiku-4-5", "stream": True, "input": "Think."}
    decoder, kinds, numbers = SSEDecoder(), [], []
    headers = {"x-request-id": "codex26"}
    with httpx2.stream("POST", gw.gateway_url + "/v1/responses", json=body, headers=headers, timeout=30) as r:
        assert r.status_code == 200, r.read()
        for piece in r.iter_bytes():
            for ev in decoder.feed(piece):
                if not ev.comment:  # what Codex's reader (eventsource-stream) yields
                    obj = json.loads(ev.data)
                    kinds.append(obj["type"] + (":" + obj["delta"] if "delta" in obj else ""))
                    numbers.append(obj["sequence_number"])
    texts = [i for i, k in enumerate(kinds) if k.startswith("response.output_text.delta")]
    assert [kinds[i] for i in texts] == [
        "response.output_text.delta:Let me",
        "response.output_text.delta: think.",
    ]
    assert "keepalive" in kinds[texts[0] : texts[1]], kinds  # before: comments only, which Codex drops
    assert numbers == list(range(len(numbers))) and kinds[-1] == "response.completed"
    up.script(MESSAGES, sse(pieces))
    with openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="unused", max_retries=0) as client:
        with client.responses.stream(model="claude-haiku-4-5", input="Think.") as stream:
            final = stream.get_final_response()  # the SDK's accumulator passes over the keepalive events
    assert (final.output_text, final.status) == ("Let me think.", "completed")
    assert gw.row_for("codex26")["status"] == 200
