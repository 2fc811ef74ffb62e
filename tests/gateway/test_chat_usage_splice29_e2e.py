"""A chat stream's ``stream_options.include_usage`` reaches the provider in the client's own bytes (session 29).

The gateway asks an OpenAI-compatible provider for a stream's usage (``OpenAICompatProvider.prepare``); the body
is otherwise the client's, so the provider gets the client's bytes with that one member spliced in before the
closing brace (``bodies.appended``), not a serialisation of the whole (issue 13: "passthrough untouched"). A body
with its own ``stream_options`` is still merged and serialised. Real gateway and recorder processes, the fake
provider, raw HTTP (the client's exact bytes) and the official ``openai`` SDK.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from services.gateway.bodies import SPLICE_MIN_BYTES
from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack

SPLICED = b',"stream_options":{"include_usage":true}'
# a coding agent's size of body (``bodies.SPLICE_MIN_BYTES``: smaller ones are serialised, faster)
PAD = b"x" * SPLICE_MIN_BYTES


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProvider]:
    fp = FakeProvider.start_in_thread(name="openai")
    try:
        yield fp
    finally:
        fp.stop()


@pytest.fixture(scope="module")
def gw(fake: FakeProvider, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("splice29"), {"openai": f"{fake.base_url}/v1"}) as st:
        yield st


def send(gw: Stack, raw: bytes) -> bytes:
    response = httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        content=raw,
        headers={"content-type": "application/json", "authorization": "Bearer client"},
        timeout=30,
    )
    assert response.status_code == 200, response.content
    return response.content


@pytest.mark.parametrize(
    "raw",
    [
        # spaces and line ends, escapes, a non-ASCII character, nested members named "model" and "stream_options"
        b'{ "model" : "gpt-4o-mini",\n  "messages": [{"role": "user", "content": "caf\\u00e9 \\"q\\" \xc3\xa9'
        + PAD
        + b'",'
        b' "model": "x", "stream_options": {"include_usage": false}}],\n  "stream" : true\t}\r\n',
        # a repeated top-level name: passed on as the client wrote it (the parser's last value routed it)
        b'{"model":"no-such-model","messages":[{"role":"user","content":"hi'
        + PAD
        + b'"}],"stream":true,"model":"gpt-4o-mini"}',
    ],
)
def test_the_provider_gets_the_clients_bytes_with_the_usage_option(
    gw: Stack, fake: FakeProvider, raw: bytes
) -> None:
    fake.reset()
    answer = send(gw, raw)
    end = len(raw.rstrip(b" \t\r\n")) - 1
    assert fake.last_request.raw == raw[:end] + SPLICED + raw[end:]
    # the client did not ask for usage: none in its stream, which ends as the provider's does
    assert b'"usage":{' not in answer and answer.endswith(b"data: [DONE]\n\n")


def test_a_clients_own_stream_options_are_merged(gw: Stack, fake: FakeProvider) -> None:
    """``stream_options`` without ``include_usage``: merged in its place (a serialised body: no second member)."""
    fake.reset()
    raw = b'{"model":"gpt-4o-mini","stream_options":{},"messages":[{"role":"user","content":"hi' + PAD
    raw += b'"}],"stream":true}'
    send(gw, raw)
    sent = fake.last_request.raw
    assert sent.count(b'"stream_options"') == 1 and json.loads(sent)["stream_options"] == {
        "include_usage": True
    }


def test_the_sdk_stream_with_and_without_usage(gw: Stack, fake: FakeProvider) -> None:
    """The openai SDK's stream, its usage chunk only when asked; the provider's body parses to the client's plus
    the option (a guard: the same on main)."""
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="client", max_retries=0)
    messages = [{"role": "user", "content": "hello"}]
    for asked in (False, True):
        fake.reset()
        options = {"stream_options": {"include_usage": True}} if asked else {}
        chunks = list(
            client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True, **options)  # type: ignore[call-overload]
        )
        usage = [c.usage for c in chunks if c.usage is not None]
        assert len(usage) == int(asked) and "".join(
            c.choices[0].delta.content or "" for c in chunks if c.choices
        )
        sent = json.loads(fake.last_request.raw)
        assert sent["stream_options"] == {"include_usage": True} and sent["messages"] == messages
