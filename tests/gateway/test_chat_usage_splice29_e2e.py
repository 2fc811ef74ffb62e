"""A chat stream's ``stream_options.include_usage`` reaches the provider in a body the gateway read (sessions 29, 31).

The gateway asks an OpenAI-compatible provider for a stream's usage (``OpenAICompatProvider.prepare``): the body it
changed goes as its own reading of it, whatever its size (``bodies.dumps_body``): a top-level name the client
repeated is sent once, with the value the gateway read (the last) and routed by. Session 29 spliced the member into
the client's bytes from 32 kB on, repeated names kept, while a smaller body lost them (s31 fix31: one rule for both
sizes). A body with its own ``stream_options`` is merged. Real gateway and recorder processes, the fake provider, raw
HTTP (the client's exact bytes) and the official ``openai`` SDK.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import httpx
import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack

# a coding agent's size of body (session 29 spliced from 32 kB on), and a small one
PADS = {"large": b"x" * 32_768, "small": b""}


@pytest.fixture(scope="module")
def gw(fake_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with fake_stack("splice29") as st:  # (``fake``, ``fake_stack``: tests/gateway/conftest.py)
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


def _names(raw: bytes) -> list[str]:
    """The top-level names of a JSON object's text, in order, repeated ones each time (what a parser that keeps
    the first, or reports an error, would see)."""
    closed: list[list[tuple[str, object]]] = []

    def pairs_of(pairs: list[tuple[str, object]]) -> dict[str, object]:
        closed.append(pairs)
        return dict(pairs)

    json.loads(raw, object_pairs_hook=pairs_of)
    return [name for name, _ in closed[-1]]  # (the top level is the last object closed)


@pytest.mark.parametrize("size", sorted(PADS))
def test_the_provider_gets_the_body_as_the_gateway_read_it(gw: Stack, fake: FakeProvider, size: str) -> None:
    """Spaces and line ends, escapes, a non-ASCII character, nested members named "model" and "stream_options":
    the provider's body parses to the client's plus the usage option, at either size."""
    raw = (
        b'{ "model" : "gpt-4o-mini",\n  "messages": [{"role": "user", "content": "caf\\u00e9 \\"q\\" \xc3\xa9'
        + PADS[size]
        + b'",'
        b' "model": "x", "stream_options": {"include_usage": false}}],\n  "stream" : true\t}\r\n'
    )
    fake.reset()
    answer = send(gw, raw)
    assert json.loads(fake.last_request.raw) == json.loads(raw) | {"stream_options": {"include_usage": True}}
    # the client did not ask for usage: none in its stream, which ends as the provider's does
    assert b'"usage":{' not in answer and answer.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("size", sorted(PADS))
def test_a_repeated_top_level_name_reaches_the_provider_once_as_the_gateway_read_it(
    gw: Stack, fake: FakeProvider, size: str
) -> None:
    """The client names ``model`` twice: the gateway reads (and routes, prices) the last, and the provider gets that
    one only, at either size. Before (s31 fix31), a body of 32 kB or more kept both: a parser that keeps the first
    name's value (or refuses a repeated one) read a model the gateway did not route."""
    raw = b'{"model":"no-such-model","messages":[{"role":"user","content":"hi' + PADS[size]
    raw += b'"}],"stream":true,"model":"gpt-4o-mini"}'
    fake.reset()
    send(gw, raw)
    sent = fake.last_request.raw
    assert _names(sent) == ["model", "messages", "stream", "stream_options"]
    assert json.loads(sent)["model"] == "gpt-4o-mini"


def test_a_clients_own_stream_options_are_merged(gw: Stack, fake: FakeProvider) -> None:
    """``stream_options`` without ``include_usage``: merged in its place (a serialised body: no second member)."""
    fake.reset()
    raw = (
        b'{"model":"gpt-4o-mini","stream_options":{},"messages":[{"role":"user","content":"hi' + PADS["large"]
    )
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
