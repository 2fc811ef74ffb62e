"""Session 23: a chat passthrough answer with non-ASCII text, ``\\u`` escapes, a surrogate pair and OpenAI's
padding, whole in one read (``Relay.feed_last`` takes UTF-8 reads now) and a chunk a read (``TextChunks.run``
reads the text frames on their bytes, the shape spliced from the role chunk): the client gets the upstream's
text exactly, the usage chunk only when it asked for it, and the ledger the usage chunk's tokens and the served
model. (These pass on the general path too: they guard the fast lanes' bytes and facts end to end; the unit
tests in ``tests/unit/test_passthrough_chat_head23.py`` show the lanes are taken.)

Real processes: recorder and gateway; the scripted upstream answers with the stream as one body (a
``Content-Length`` response: one read) or a chunk a write; the official OpenAI SDK as the client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from tests.openai_clients import read_chat_stream
from tests.procs import Stack
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream

CHAT = "/openai/v1/chat/completions"
MODEL = "gpt-4o"

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    with scripted_stack("chat-head23", {"openai": "/openai/v1"}, BREAKER_FAILURES="1000") as st:
        yield st


HEAD = '{"id":"chatcmpl-h23","object":"chat.completion.chunk","created":1,"model":"' + MODEL + '"'


def _chunk(delta: str, finish: str = "null", pad: str = "h8Xa1") -> bytes:
    choices = '"choices":[{"index":0,"delta":' + delta + ',"logprobs":null,"finish_reason":' + finish + "}]"
    data = HEAD + "," + choices + ',"usage":null,"obfuscation":"' + pad + '"}'
    return b"data: " + data.encode() + b"\n\n"


USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
TEXTS = ['"Grüße, "', '"caf\\u00e9 "', '"日本語 "', '"\\ud83d\\ude00"', '" \\"done\\""']
BODY = b"".join(
    [
        _chunk('{"role":"assistant","content":"","refusal":null}', pad="Qz"),
        *(_chunk('{"content":' + t + "}", pad="p" * i) for i, t in enumerate(TEXTS)),
        _chunk("{}", '"stop"'),
        b"data: " + json.dumps({**json.loads(HEAD + "}"), "choices": [], "usage": USAGE}).encode() + b"\n\n",
        b"data: [DONE]\n\n",
    ]
)
WANT = "".join(json.loads(t) for t in TEXTS)


def _answer(split: bool) -> Answer:
    if split:
        frames: list[bytes | Pause] = [f + b"\n\n" for f in BODY.split(b"\n\n") if f]
        return Answer(body=frames, content_type="text/event-stream")
    return Answer(body=BODY, content_type="text/event-stream")


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("include_usage", [False, True])
def test_a_non_ascii_chat_answer_reaches_the_client_and_the_ledger_exactly(
    gw: Stack, up: ScriptedUpstream, include_usage: bool, split: bool
) -> None:
    up.script(CHAT, _answer(split))
    read = read_chat_stream(gw, MODEL, include_usage)
    assert read.text == WANT
    # the usage chunk the gateway asked for on the client's behalf is dropped; the client's own is kept
    assert read.usage == ([(12, 5)] if include_usage else [])
    row = read.row
    assert (row["status"], row["input_tokens"], row["output_tokens"], row["served_model"]) == (
        200,
        12,
        5,
        MODEL,
    )
