"""A passed-through Responses stream cut after its answer began ends with the gateway's ``response.failed`` that goes
on from what the client has (s21 variant 13-vF; bugcase 13's kind: how a stream that ends early is ended).

Responses API reference, streaming events: each event's ``sequence_number`` follows the previous one and a lifecycle
event names the stream's response. Before the fix the gateway's terminal event said ``sequence_number`` 0 (the
client had 0..N already) and named a response the client never saw: the openai SDK still raises its APIError (the
event's top-level ``error``), but a client resuming with ``starting_after`` drops the event and one tracking the
response id loses it. The body is cut cleanly (no ``response.completed``), and, in a second test, inside an event.
Real processes: recorder and gateway; the scripted upstream is OpenAI's Responses API; the openai SDK and raw
HTTP are the clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import openai
import pytest

from tests.procs import Stack
from tests.scripted_upstream import Pause, ScriptedUpstream, sse

RESPONSES = "/openai/v1/responses"
RID = "resp_cut13"
STARTED = {
    "id": RID,
    "object": "response",
    "created_at": 1,
    "status": "in_progress",
    "model": "gpt-4.1",
    "output": [],
}
ITEM = {"id": "msg_cut13", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
IDS = {"item_id": "msg_cut13", "output_index": 0, "content_index": 0}
PART = {"type": "output_text", "text": "", "annotations": []}
EVENTS = [
    {"type": "response.created", "sequence_number": 0, "response": STARTED},
    {"type": "response.in_progress", "sequence_number": 1, "response": STARTED},
    {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0, "item": ITEM},
    {"type": "response.content_part.added", "sequence_number": 3, **IDS, "part": PART},
    {"type": "response.output_text.delta", "sequence_number": 4, **IDS, "delta": "Half an "},
    {"type": "response.output_text.delta", "sequence_number": 5, **IDS, "delta": "answer"},
]

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("responses-cut", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


def _frames(events: list[dict[str, Any]]) -> list[bytes]:
    return [f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events]


def _failed(body: str) -> list[dict[str, Any]]:
    out = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[6:] for line in block.split("\n") if line.startswith("data: "))
        if data and json.loads(data).get("type") == "response.failed":
            out.append(json.loads(data))
    return out


@pytest.mark.parametrize(
    "cut", ["between events", "inside an event", "after a keep-alive comment", "after OpenRouter's comments"]
)
def test_the_gateways_response_failed_goes_on_from_the_clients_stream(
    gw: Stack, up: ScriptedUpstream, cut: str
) -> None:
    pieces: list[bytes | Pause] = list(_frames(EVENTS))
    # The last read the client got holds no event, only an upstream's comment(s) (s21 variant 13-commentcut:
    # the gateway's response.failed was numbered 0 after such a read). The pause lets it be a read of its own.
    if cut == "after a keep-alive comment":
        pieces += [Pause(0.3), b": keep-alive\n\n"]
    elif cut == "after OpenRouter's comments":
        pieces += [Pause(0.3), b": OPENROUTER PROCESSING\n\n", Pause(0.3), b": OPENROUTER PROCESSING\n\n"]
    if cut == "inside an event":  # half of the next delta came, then the body ended
        pieces.append(
            _frames([{"type": "response.output_text.delta", "sequence_number": 6, **IDS, "delta": "!"}])[0][
                :40
            ]
        )
    up.script(RESPONSES, sse(pieces))
    body = {"model": "gpt-4.1", "input": "hi", "stream": True}
    with httpx.stream("POST", gw.gateway_url + "/v1/responses", json=body, timeout=30) as r:
        text = r.read().decode()
    failed = _failed(text)
    assert [(f["sequence_number"], f["response"]["id"]) for f in failed] == [(6, RID)], text[-600:]


def test_the_openai_sdk_still_raises_with_the_gateways_message(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(RESPONSES, sse(_frames(EVENTS)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    text = ""
    with pytest.raises(openai.APIError, match="upstream stream ended early"):  # noqa: PT012
        with client.responses.stream(model="gpt-4.1", input="hi") as stream:
            for event in stream:
                if event.type == "response.output_text.delta":
                    text += event.delta
    assert text == "Half an answer"
