"""``response.in_progress`` and ``response.content_part.added`` let by undecoded in a Responses passthrough stream
(``WireSpec.inert_events``), through the real gateway and recorder: a stream whose ``in_progress`` repeats its
``created`` reaches the openai SDK byte for byte and is recorded as usual; one whose ``in_progress`` (or empty
``content_part.added``) is malformed still fails before the first token, so the request falls back to the next
provider (OpenRouter, the fake) and the ledger records the failed attempt."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack
from tests.scripted_upstream import ScriptedUpstream, sse

RESPONSES = "/openai/v1/responses"
RESPONSE = (
    b'{"id":"resp_e2e1","object":"response","created_at":1700000000,"status":"in_progress","error":null,'
    b'"model":"gpt-4o","output":[],"usage":null}'
)
PART = (
    b'{"type":"response.content_part.added","sequence_number":3,"item_id":"msg_1","output_index":0,'
    b'"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}'
)


def _frame(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


def _stream(in_progress: bytes, part: bytes = PART) -> bytes:
    """A whole Responses answer, "Hello there", in OpenAI's shape."""
    item = b'{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}'
    done = RESPONSE.replace(b'"in_progress"', b'"completed"').replace(
        b'"usage":null', b'"usage":{"input_tokens":11,"output_tokens":2,"total_tokens":13}'
    )
    delta = b'{"type":"response.output_text.delta","sequence_number":%d,"item_id":"msg_1","output_index":0,"content_index":0,"delta":"%b","logprobs":[]}'
    return b"".join(
        [
            _frame(
                "response.created",
                b'{"type":"response.created","sequence_number":0,"response":' + RESPONSE + b"}",
            ),
            _frame("response.in_progress", in_progress),
            _frame(
                "response.output_item.added",
                b'{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":'
                + item
                + b"}",
            ),
            _frame("response.content_part.added", part),
            _frame("response.output_text.delta", delta % (4, b"Hello ")),
            _frame("response.output_text.delta", delta % (5, b"there")),
            _frame(
                "response.completed",
                b'{"type":"response.completed","sequence_number":6,"response":' + done + b"}",
            ),
        ]
    )


TWIN = b'{"type":"response.in_progress","sequence_number":1,"response":' + RESPONSE + b"}"


@pytest.fixture(scope="module")
def openrouter() -> Iterator[FakeProvider]:
    fake = FakeProvider.start_in_thread(name="openrouter")
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def gw(
    up: ScriptedUpstream, openrouter: FakeProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    urls = {"openai": f"{up.url}/openai/v1", "openrouter": openrouter.openrouter_base_url}
    with stack(tmp_path_factory.mktemp("inert"), urls, BREAKER_FAILURES="1000") as st:
        yield st


@pytest.fixture(autouse=True)
def clean(up: ScriptedUpstream, openrouter: FakeProvider) -> None:
    up.reset()
    openrouter.reset()


def _ask(gw: Stack) -> tuple[httpx.Headers, bytes, str]:
    """One streamed Responses request through the openai SDK: headers, raw body, the text it read."""
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0)
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="hi", stream=True)
    body = raw.http_response.read()
    text = "".join(
        json.loads(line[6:])["delta"]
        for line in body.decode().splitlines()
        if line.startswith("data: ") and '"response.output_text.delta"' in line
    )
    return raw.headers, body, text


def _row(gw: Stack, headers: httpx.Headers) -> dict[str, Any]:
    return gw.row_for(headers["x-request-id"])


def test_an_in_progress_that_repeats_created_passes_as_it_came(gw: Stack, up: ScriptedUpstream) -> None:
    body = _stream(TWIN)
    up.script(RESPONSES, sse([body]))
    headers, got, text = _ask(gw)
    assert got == body and text == "Hello there"
    row = _row(gw, headers)
    assert (row["provider"], row["attempts"], row["status"]) == ("openai", 1, 200)
    assert (row["input_tokens"], row["output_tokens"]) == (11, 2)


@pytest.mark.parametrize(
    ("in_progress", "part"),
    [(TWIN[:-1], PART), (TWIN + b",", PART), (TWIN.replace(b":1,", b":01,"), PART), (TWIN, PART[:-1])],
    ids=["in_progress cut", "in_progress trailing comma", "in_progress leading zero", "content_part cut"],
)
def test_a_malformed_opening_frame_falls_back_to_the_next_provider(
    gw: Stack, up: ScriptedUpstream, openrouter: FakeProvider, in_progress: bytes, part: bytes
) -> None:
    up.script(RESPONSES, sse([_stream(in_progress, part)]))
    headers, _, text = _ask(gw)
    assert "fake-openrouter" in text and openrouter.requests
    assert headers["x-ekai-provider"] == "openrouter" and headers["x-ekai-attempts"] == "2"
    row = _row(gw, headers)
    assert (row["provider"], row["attempts"], row["status"]) == ("openrouter", 2, 200)
    assert [a["provider"] for a in json.loads(row["failed_attempts"])] == ["openai"]
