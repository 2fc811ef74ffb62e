"""Review of session 21's early end of a passthrough Responses stream (``Passthrough.feed_last``): a body
that arrives in one read and ends with a frame that only looks terminal. Its ``type`` no string (a list), or
a terminal kind under a token event's name: neither ends the upstream's answer, so the client's answer gets
the gateway's error after the upstream's bytes (a 502 in the ledger), as a body read in pieces does; before
the fix the first raised out of the relay (a TypeError: no error event, the row not a 502) and the second
ended the answer early (no error, the row a 200 with no usage).

Real processes: recorder and gateway; the scripted upstream answers with the whole stream as one body (one
read); the official OpenAI SDK as the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import openai
import pytest

from tests.gateway.test_responses_inert_e2e import TWIN
from tests.gateway.test_responses_inert_e2e import _stream as responses_stream
from tests.procs import Stack
from tests.scripted_upstream import Answer, ScriptedUpstream

RESPONSES = "/openai/v1/responses"

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("stream-later21-review", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


def _kinds(gw: Stack, body: bytes) -> tuple[str, list[str]]:
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0, timeout=30.0)
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="hi", stream=True)
    got = raw.http_response.read()
    assert got.startswith(body)  # the upstream's bytes as they came, then the gateway's
    kinds = [json.loads(line[6:])["type"] for line in got.decode().splitlines() if line.startswith("data: {")]
    return raw.headers["x-request-id"], kinds


@pytest.mark.parametrize(
    "last",
    [
        b'event: response.completed\ndata: {"type":["response.completed"],"sequence_number":6}\n\n',
        b'event: response.output_text.delta\ndata: {"type":"response.completed","sequence_number":6,'
        b'"response":{"id":"resp_e2e1","status":"completed","model":"gpt-4o",'
        b'"usage":{"input_tokens":11,"output_tokens":2,"total_tokens":13}}}\n\n',
    ],
    ids=["type-a-list", "terminal-type-under-a-token-name"],
)
def test_a_last_frame_that_ends_nothing_gets_the_gateways_error(
    gw: Stack, up: ScriptedUpstream, last: bytes
) -> None:
    body = responses_stream(TWIN)
    body = body[: body.index(b"event: response.completed")] + last
    up.script(RESPONSES, Answer(body=body, content_type="text/event-stream"))
    rid, kinds = _kinds(gw, body)
    assert kinds[-1] == "response.failed"  # the gateway's: the upstream's answer did not end
    row = gw.row_for(rid)
    assert (row["status"], row["error_type"]) == (502, "broken_stream")


def test_a_cut_after_pings_is_numbered_after_the_last_event(gw: Stack, up: ScriptedUpstream) -> None:
    """bug21a's numbering of the gateway's ``response.failed`` (s21 variant 13-vF) when the upstream pinged
    (``: ping``, sse-starlette's keep-alive) between its last event and the cut: that read named no event, and
    the error went out numbered 0 (the client had 0..5)."""
    from tests.gateway.test_responses_cut_numbering_e2e import EVENTS, RID, _failed, _frames
    from tests.scripted_upstream import Pause, sse

    up.script(RESPONSES, sse([*_frames(EVENTS), Pause(0.1), b": ping\n\n"]))
    body = {"model": "gpt-4.1", "input": "hi", "stream": True}
    with httpx.stream("POST", gw.gateway_url + "/v1/responses", json=body, timeout=30) as r:
        text = r.read().decode()
    failed = _failed(text)
    assert [(f["sequence_number"], f["response"]["id"]) for f in failed] == [(6, RID)], text[-600:]
