"""A passthrough stream with a frame that is not JSON after its first token, though shaped ``{…}``, through
the real gateway and recorder with the official SDKs: the SDK raises on that frame (it ``json.loads`` each
event's data), so the ledger must not record a success. The relay lets tokens by undecoded; a chat text
chunk (``TextChunks``: the text must be a JSON string body, the shape learnt from a chunk that parses) and a
frame of a quiet name (``_scan.json_object``) that does not parse now reach the wire's decoder, which
reports it: the ledger says 502 ``api_error``, as for any other malformed frame."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import openai
import orjson
import pytest

from tests.procs import Stack
from tests.scripted_upstream import ScriptedUpstream, sse

CHAT = "/openai/v1/chat/completions"
RESPONSES = "/openai/v1/responses"
MESSAGES = "/anthropic/v1/messages"


pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    providers = {"openai": "/openai/v1", "anthropic": "/anthropic"}
    with scripted_stack("malformed", providers, BREAKER_FAILURES="1000") as st:
        yield st


def _data(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _chat_chunk(delta: dict[str, Any], finish: str | None = None, padding: str | None = None) -> bytes:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }
    if padding is not None:
        chunk["obfuscation"] = padding
    return _data(chunk)


def _chat_stream(bad: bytes | None, padded: bool) -> list[bytes]:
    """OpenAI's chunks, "Hello there world", each in its own write; ``bad`` replaces the third."""
    pad = "xY3" if padded else None
    frames = [
        _chat_chunk({"role": "assistant", "content": "", "refusal": None}, padding=pad),
        _chat_chunk({"content": "Hello"}, padding=pad),
        _chat_chunk({"content": " there"}, padding=pad),
        _chat_chunk({"content": " world"}, padding=pad),
        _chat_chunk({}, "stop", padding=pad),
        _data(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o",
                "choices": [],
                "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
            }
        ),
        b"data: [DONE]\n\n",
    ]
    if bad is not None:
        frames[2] = bad
    return frames


def _bad_chat(kind: str, padded: bool) -> bytes:
    good = _chat_stream(None, padded)[2]
    if kind == "extra brace":  # not the learnt shape: the decoder's parse says
        return good.replace(b"}\n\n", b"}}\n\n")
    if kind == "bad escape":  # the learnt shape, its text no JSON string body
        return good.replace(b'" there"', b'" th\\qere"')
    return good.replace(b'" there"', b'" th\x01ere"')  # a raw control character in the text


def _row(gw: Stack, request_id: str) -> dict[str, Any]:
    return gw.row_for(request_id)


@pytest.mark.parametrize("padded", [False, True], ids=["plain", "padded"])
@pytest.mark.parametrize("kind", ["extra brace", "bad escape", "control character"])
def test_a_chat_chunk_that_is_not_json_is_a_failure_not_a_success(
    gw: Stack, up: ScriptedUpstream, kind: str, padded: bool
) -> None:
    up.script(CHAT, sse(_chat_stream(_bad_chat(kind, padded), padded)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="client", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    texts: list[str] = []
    with pytest.raises(json.JSONDecodeError):  # the openai SDK: ``sse.json()`` of each event
        for chunk in raw.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)
    assert texts == ["Hello"]
    row = _row(gw, raw.headers["x-request-id"])
    assert (row["provider"], row["status"], row["error_type"]) == ("openai", 502, "api_error"), row


def test_a_well_formed_chat_stream_is_still_a_success(gw: Stack, up: ScriptedUpstream) -> None:
    """The guard's other side: escapes and non-ASCII text parse, so they are text chunks."""
    frames = _chat_stream(_chat_chunk({"content": ' "th\\ere\n\té漢\u2028'}), False)
    up.script(CHAT, sse(frames))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="client", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == 'Hello "th\\ere\n\té漢\u2028 world'
    row = _row(gw, raw.headers["x-request-id"])
    assert (row["status"], row["error_type"], row["output_tokens"]) == (200, None, 3), row


def test_a_chat_stream_with_an_emoji_cut_in_utf16_halves_is_still_a_success(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """The guard judges as the SDK does: half of a surrogate pair as an escape (a server that cuts its
    text in UTF-16 code units, as JavaScript's JSON.stringify writes it) is JSON to ``json.loads``, which
    orjson refuses; the client reads the emoji whole, and the ledger says 200, not 502."""
    frames = _chat_stream(None, False)
    frames[2:4] = [
        _chat_chunk({"content": "X"}).replace(b'"X"', b'" \\ud83d"'),
        _chat_chunk({"content": "X"}).replace(b'"X"', b'"\\ude00 world"'),
    ]
    up.script(CHAT, sse(frames))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="client", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text.encode("utf-16", "surrogatepass").decode("utf-16") == "Hello \U0001f600 world"
    row = _row(gw, raw.headers["x-request-id"])
    assert (row["status"], row["error_type"], row["output_tokens"]) == (200, None, 3), row


def _named(name: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


def _responses_stream(broken: bool) -> list[bytes]:
    """A Responses answer, "Hello there"; ``broken``: its ``response.output_text.done`` (a quiet frame)
    has a trailing brace."""
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1700000000,
        "status": "in_progress",
        "model": "gpt-4o",
        "output": [],
        "usage": None,
    }
    done = dict(
        response, status="completed", usage={"input_tokens": 9, "output_tokens": 2, "total_tokens": 11}
    )
    text_done = _named(
        "response.output_text.done",
        {
            "type": "response.output_text.done",
            "sequence_number": 5,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "text": "Hello there",
        },
    )
    item = {"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    delta = {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0}
    return [
        _named("response.created", {"type": "response.created", "sequence_number": 0, "response": response}),
        _named(
            "response.output_item.added",
            {"type": "response.output_item.added", "sequence_number": 1, "output_index": 0, "item": item},
        ),
        _named("response.output_text.delta", {**delta, "sequence_number": 3, "delta": "Hello "}),
        _named("response.output_text.delta", {**delta, "sequence_number": 4, "delta": "there"}),
        text_done.replace(b"}\n\n", b"}}\n\n") if broken else text_done,
        _named("response.completed", {"type": "response.completed", "sequence_number": 6, "response": done}),
    ]


@pytest.mark.parametrize("together", [False, True], ids=["a write each", "one write"])
def test_a_responses_quiet_frame_that_is_not_json_is_a_failure(
    gw: Stack, up: ScriptedUpstream, together: bool
) -> None:
    frames = _responses_stream(broken=True)
    up.script(RESPONSES, sse([b"".join(frames)] if together else list(frames)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="client", max_retries=0)
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="hi", stream=True)
    with pytest.raises(json.JSONDecodeError):
        for _ in raw.parse():
            pass
    row = _row(gw, raw.headers["x-request-id"])
    assert (row["provider"], row["status"], row["error_type"]) == ("openai", 502, "api_error"), row


def test_a_well_formed_responses_stream_is_still_a_success(gw: Stack, up: ScriptedUpstream) -> None:
    up.script(RESPONSES, sse(_responses_stream(broken=False)))
    client = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="client", max_retries=0)
    raw = client.responses.with_raw_response.create(model="gpt-4o", input="hi", stream=True)
    kinds = [ev.type for ev in raw.parse()]
    assert kinds[-1] == "response.completed"
    row = _row(gw, raw.headers["x-request-id"])
    assert (row["status"], row["error_type"], row["output_tokens"]) == (200, None, 2), row


def _anthropic_stream(stop: bytes) -> list[bytes]:
    usage = {"input_tokens": 9, "output_tokens": 1}
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [],
    }
    text = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}
    return [
        _named("message_start", {"type": "message_start", "message": {**message, "usage": usage}}),
        _named(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _named("content_block_delta", text),
        _named("content_block_delta", {**text, "delta": {"type": "text_delta", "text": " there"}}),
        b"event: content_block_stop\ndata: " + stop + b"\n\n",
        _named(
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        ),
        _named("message_stop", {"type": "message_stop"}),
    ]


@pytest.mark.parametrize(
    "stop",
    [b'{"type":"content_block_stop","index":0,}', b'{"type":"content_block_stop","index":0}}'],
    ids=["trailing comma", "extra brace"],
)
def test_an_anthropic_quiet_frame_that_is_not_json_is_a_failure(
    gw: Stack, up: ScriptedUpstream, stop: bytes
) -> None:
    up.script(MESSAGES, sse(_anthropic_stream(stop)))
    client = anthropic.Anthropic(base_url=gw.gateway_url, api_key="client", max_retries=0)
    raw = client.messages.with_raw_response.create(
        model="claude-sonnet-4-5",
        max_tokens=64,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
    )
    with pytest.raises(json.JSONDecodeError):  # the anthropic SDK: ``sse.json()`` of each event
        for _ in raw.parse():
            pass
    row = _row(gw, raw.headers["x-request-id"])
    assert (row["provider"], row["status"], row["error_type"]) == ("anthropic", 502, "api_error"), row
