"""A passthrough relay judges a frame malformed only when the client's SDK would raise on it (the openai
and anthropic Python SDKs ``json.loads`` each event's data; ``_scan.sdk_loads``). orjson refuses a
``\\uD800``-``\\uDFFF`` escape without its pair, which ``json.loads`` (and JavaScript's ``JSON.parse``)
read: a server that cuts its text in UTF-16 code units (JavaScript strings) sends an emoji's two halves in
two chunks. Before, such a chat stream reached the client whole, yet the ledger said 502 api_error."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from services.gateway.dialects._openai_stream import ChatStreamDecoder, TextChunks, is_string_body
from services.gateway.dialects._scan import json_object
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from shared.sse import SSEEvent

BASE = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({**BASE, "choices": [choice]}) + b"\n\n"


def _with_text(raw: str) -> bytes:
    """A text chunk whose ``content`` is the JSON string body ``raw`` as written (escapes kept)."""
    return _chunk({"content": "X"}).replace(b'"X"', b'"' + raw.encode() + b'"')


# "Hi there 😀 ok", the emoji cut between its two UTF-16 halves, each escaped as JSON.stringify does
FRAMES = [
    _chunk({"role": "assistant", "content": ""}),
    _chunk({"content": "Hi "}),
    _chunk({"content": "there "}),
    _with_text("\\ud83d"),
    _with_text("\\ude00 ok"),
    _chunk({}, "stop"),
    b"data: [DONE]\n\n",
]


def _sdk_text(body: bytes) -> str:
    """What the openai SDK's ``json.loads`` reads, the halves joined as the client's string holds them."""
    datas = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: {")]
    text = "".join(d["choices"][0]["delta"].get("content", "") for d in datas)
    return text.encode("utf-16", "surrogatepass").decode("utf-16")


@pytest.mark.parametrize("together", [False, True], ids=["a read each", "one read"])
def test_a_chat_stream_with_an_emoji_cut_in_utf16_halves_is_no_failure(together: bool) -> None:
    assert _sdk_text(b"".join(FRAMES)) == "Hi there \U0001f600 ok"  # the SDK reads it
    relay = make_relay(pairing("openai_chat", "openai_chat"), View(model="m"))
    reads = [b"".join(FRAMES)] if together else FRAMES
    out = b"".join(relay.feed(r) for r in reads) + relay.finish()
    assert out == b"".join(FRAMES)
    assert relay.error is None
    assert relay.complete


def test_the_text_test_reads_a_lone_surrogate_escape_as_the_sdk_does() -> None:
    chunk = '{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":null}'
    half = chunk.replace('"a"', '"\\ud83d"')
    texts = TextChunks(ChatStreamDecoder())
    assert texts(SSEEvent(event=None, data=chunk))  # the shape learnt
    assert texts(SSEEvent(event=None, data=half))
    assert is_string_body("\\ude00 ok") and not is_string_body("\\ud83")  # (a short escape: no JSON)
    fresh = TextChunks(ChatStreamDecoder())  # the shape learnt from such a chunk too
    assert fresh(SSEEvent(event=None, data=half))


def test_a_quiet_frame_with_a_lone_surrogate_escape_is_one_json_object() -> None:
    assert json_object('{"type":"response.output_text.done","text":"\\ud83d"}')
    assert not json_object('{"type":"response.output_text.done","text":"\\ud83d"}}')


def test_sdk_loads_raises_what_its_callers_catch() -> None:
    """Nesting too deep for either parser is a caught error, not one out of the relay."""
    from services.gateway.dialects._scan import sdk_loads  # (new with the fix)

    with pytest.raises((ValueError, RecursionError)):
        sdk_loads("[" * 100_000)
    assert not json_object("[" * 100_000) and not is_string_body("\\x")
