"""How a stream ends, by its own words (s20 variants 13-ab, 13-ac, 13-ad).

- The closing frame ends it: after chat's ``data: [DONE]`` or Anthropic's ``message_stop`` nothing may follow, so a
  server that keeps the body open after it (``: ping`` comments or ping events from a keep-alive loop that outlives
  its generator) must not hold the client's answer open until it closes. Here the upstream keeps pinging for far
  longer than the clients' read timeout: before the fix each client waited for the upstream's close and timed out.
- vLLM ends a request its engine aborted with ``finish_reason: "abort"`` and then ``[DONE]``, as if it had finished
  (vllm-project/vllm#57082): a translated client must not be told ``end_turn`` / ``completed``, and the ledger
  records a failure, not a 200.
Real processes: recorder and gateway; the scripted upstream; the official SDKs as clients.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.procs import Stack, wait_until
from tests.scripted_upstream import Answer, Pause, ScriptedUpstream, json_answer, sse

XAI = "/xai/v1/chat/completions"
ANTHROPIC = "/anthropic/v1/messages"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
# the upstream pings every 0.2 s for 120 s after its closing frame; the clients give up reading after 30 s
HELD = [piece for _ in range(600) for piece in (Pause(0.2), b": ping\n\n")]

pytestmark = pytest.mark.usefixtures("fresh_up")


@pytest.fixture(scope="module")
def gw(scripted_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    # every test here may fail a request (aborts): no cooldown between them
    with scripted_stack(
        "stream-close", {"xai": "/xai/v1", "anthropic": "/anthropic"}, BREAKER_FAILURES="1000"
    ) as st:
        yield st


def _chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> bytes:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    obj = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "grok-3-mini",
        "choices": choices,
    }
    return b"data: " + json.dumps({**obj, **extra}).encode() + b"\n\n"


def _event(obj: dict[str, Any]) -> bytes:
    return f"event: {obj['type']}\ndata: {json.dumps(obj)}\n\n".encode()


CHAT_DONE = [
    _chunk({"role": "assistant", "content": "Hello "}),
    _chunk({"content": "there!"}),
    _chunk({}, "stop"),
    _chunk(None, usage=USAGE),
    b"data: [DONE]\n\n",
]
MESSAGE = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5", "content": []}
MESSAGE_STOPPED = [
    _event(
        {"type": "message_start", "message": {**MESSAGE, "usage": {"input_tokens": 12, "output_tokens": 1}}}
    ),
    _event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    _event(
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello there!"}}
    ),
    _event({"type": "content_block_stop", "index": 0}),
    _event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}}),
    _event({"type": "message_stop"}),
]


def _openai(gw: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key="sk-client", max_retries=0, timeout=30.0)


def _anthropic(gw: Stack) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.gateway_url, api_key="sk-ant-client", max_retries=0, timeout=30.0)


@pytest.mark.parametrize(
    ("path", "pieces"), [(XAI, CHAT_DONE), (ANTHROPIC, MESSAGE_STOPPED)], ids=["done", "stop"]
)
def test_the_closing_frame_ends_every_clients_answer_while_the_upstream_holds_the_body_open(
    gw: Stack, up: ScriptedUpstream, path: str, pieces: list[bytes]
) -> None:
    model = "grok-3-mini" if path == XAI else "claude-sonnet-4-5"
    for _ in range(3):
        up.script(path, sse([*pieces, *HELD]))
    ask = [{"role": "user", "content": "Say hello."}]
    # a raw chat client reads the body to its end (the openai SDK would stop at [DONE] on its own)
    with httpx.Client(timeout=30.0) as raw:
        body = {"model": model, "stream": True, "messages": ask}
        chat = raw.post(gw.gateway_url + "/v1/chat/completions", json=body).text
    assert "Hello " in chat and "there!" in chat and chat.endswith("data: [DONE]\n\n")
    with _anthropic(gw).messages.stream(model=model, max_tokens=100, messages=ask) as stream:
        message = stream.get_final_message()  # reads the body to its end
    assert message.content[0].type == "text" and message.content[0].text == "Hello there!"
    assert message.stop_reason == "end_turn"
    with _openai(gw).responses.stream(model=model, input="Say hello.") as events:
        response = events.get_final_response()
    assert response.status == "completed" and response.output_text == "Hello there!"


@pytest.mark.parametrize(
    ("path", "pieces"), [(XAI, CHAT_DONE), (ANTHROPIC, MESSAGE_STOPPED)], ids=["done", "stop"]
)
def test_a_body_that_ends_just_after_its_closing_frame_keeps_its_connection(
    gw: Stack, up: ScriptedUpstream, path: str, pieces: list[bytes]
) -> None:
    """A server writes its closing frame and the chunked body's end in two writes (here 0.1 s apart): the
    gateway stops reading at the frame, yet the connection goes back to the pool when the end comes, so the
    next request reuses it (closing it would cost a real provider's next request a new TLS connection)."""
    model = "grok-3-mini" if path == XAI else "claude-sonnet-4-5"
    up.script(path, sse([*pieces, Pause(0.1)]), sse([*pieces, Pause(0.1)]))
    ask = [{"role": "user", "content": "Say hello."}]
    with httpx.Client(timeout=30.0) as raw:
        for _ in range(2):
            body = {"model": model, "stream": True, "messages": ask, "max_tokens": 100}
            answer = raw.post(gw.gateway_url + "/v1/chat/completions", json=body)
            assert answer.status_code == 200 and "there!" in answer.text
            # the upstream wrote the body's end (after its 0.1 s pause: seconds on a loaded machine, where a fixed
            # 0.3 s sleep could end first and the next request open a new connection), then a moment for the
            # gateway to read it: the connection is back in the pool
            wait_until(lambda: up.seen(path) and up.seen(path)[-1].done.is_set(), 30)
            time.sleep(0.3)
    first, second = up.seen(path)
    assert first.peer is not None and first.peer == second.peer


def test_vllm_finish_reason_abort_is_no_normal_end(gw: Stack, up: ScriptedUpstream) -> None:
    aborted = [_chunk({"role": "assistant", "content": "Hello "}), _chunk({}, "abort"), b"data: [DONE]\n\n"]
    up.script(XAI, sse(aborted), sse(aborted))
    ask = [{"role": "user", "content": "Say hello."}]
    with pytest.raises(anthropic.APIStatusError) as failed:
        with _anthropic(gw).messages.stream(model="grok-3-mini", max_tokens=100, messages=ask) as stream:
            stream.get_final_message()
    assert "abort" in str(failed.value)
    body = {"model": "grok-3-mini", "input": "Say hello.", "stream": True}
    with httpx.Client(timeout=30.0) as raw:
        answer = raw.post(gw.gateway_url + "/v1/responses", json=body)
    rid = answer.headers["x-request-id"]
    kinds = [json.loads(line[6:])["type"] for line in answer.text.splitlines() if line.startswith("data: {")]
    assert "response.completed" not in kinds and kinds[-1] == "response.failed"
    row = gw.row_for(rid)
    assert row["status"] != 200


@pytest.mark.parametrize(
    ("path", "pieces"), [(XAI, CHAT_DONE[:-1]), (ANTHROPIC, MESSAGE_STOPPED[:-1])], ids=["no-done", "no-stop"]
)
def test_a_finished_answer_with_its_usage_ends_when_only_pings_follow(
    gw: Stack, up: ScriptedUpstream, path: str, pieces: list[bytes]
) -> None:
    """s20 variant 13-aa: the finish and the usage came, then no closing frame ([DONE], message_stop), only pings
    for longer than the clients' read timeout. Every client gets the whole answer and its format's normal end, the
    ledger the usage; before, each client waited for the upstream's close (UPSTREAM_CHUNK_TIMEOUT, 120 s) and timed
    out."""
    model = "grok-3-mini" if path == XAI else "claude-sonnet-4-5"
    for _ in range(3):
        up.script(path, sse([*pieces, *HELD]))
    ask = [{"role": "user", "content": "Say hello."}]
    with httpx.Client(timeout=30.0) as raw:
        body = {"model": model, "stream": True, "messages": ask}
        answer = raw.post(gw.gateway_url + "/v1/chat/completions", json=body)
    assert "Hello " in answer.text and "there!" in answer.text and answer.text.endswith("data: [DONE]\n\n")
    row = gw.row_for(answer.headers["x-request-id"])
    assert (row["status"], row["input_tokens"], row["output_tokens"]) == (200, 12, 3)
    with _anthropic(gw).messages.stream(model=model, max_tokens=100, messages=ask) as stream:
        message = stream.get_final_message()  # reads the body to its end
    assert message.content[0].type == "text" and message.content[0].text == "Hello there!"
    assert message.stop_reason == "end_turn"
    with _openai(gw).responses.stream(model=model, input="Say hello.") as events:
        response = events.get_final_response()
    assert response.status == "completed" and response.output_text == "Hello there!"


@pytest.mark.parametrize("shape", ["same-read", "next-read", "pings-no-done"])
def test_vllm_abort_bills_the_usage_that_follows_it(gw: Stack, up: ScriptedUpstream, shape: str) -> None:
    """vLLM sends its usage chunk after finish_reason "abort" (then [DONE]): the answer is a failure (503), yet the
    ledger bills the tokens generated (12 in, 3 out); before, the decoder read nothing after the abort: 0/0. And a
    server that then pings on without [DONE] does not hold the clients' answers (before: UPSTREAM_CHUNK_TIMEOUT)."""
    gap = [Pause(0.2)] if shape != "same-read" else []
    end = HELD if shape == "pings-no-done" else [b"data: [DONE]\n\n"]
    aborted = [
        _chunk({"role": "assistant", "content": "Hello "}),
        _chunk({}, "abort"),
        *gap,
        _chunk(None, usage=USAGE),
        *end,
    ]
    up.script(XAI, sse(aborted), sse(aborted))
    ask = [{"role": "user", "content": "Say hello."}]
    with httpx.Client(timeout=30.0) as raw:
        for path, body in (
            ("/v1/messages", {"model": "grok-3-mini", "max_tokens": 100, "stream": True, "messages": ask}),
            ("/v1/chat/completions", {"model": "grok-3-mini", "stream": True, "messages": ask}),
        ):
            answer = raw.post(gw.gateway_url + path, json=body, headers={"anthropic-version": "2023-06-01"})
            assert "abort" in answer.text, path
            row = gw.row_for(answer.headers["x-request-id"])
            assert row["status"] == 503 and (row["input_tokens"], row["output_tokens"]) == (12, 3), path


def test_a_whole_json_answer_to_a_streamed_request_reaches_every_client_as_its_stream(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s20 variant 13-ae: a non-streaming proxy answers a stream: true request with one whole chat.completion
    (application/json; ChatGPTBox-dev/chatGPTBox#294). Every client gets the answer as its own stream, the ledger
    its usage; before, 502 empty_stream for each."""
    whole = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "grok-3-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
    for _ in range(3):
        up.script(XAI, json_answer(whole))
    ask = [{"role": "user", "content": "Say hello."}]
    chat = _openai(gw).chat.completions.create(
        model="grok-3-mini", messages=ask, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(chat)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    with _anthropic(gw).messages.stream(model="grok-3-mini", max_tokens=100, messages=ask) as stream:
        message = stream.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "Hello there!"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 3
    with _openai(gw).responses.stream(model="grok-3-mini", input="Say hello.") as events:
        response = events.get_final_response()
    assert response.status == "completed" and response.output_text == "Hello there!"


def _pieces(whole: dict[str, Any]) -> list[bytes | Pause]:
    """A whole JSON answer as a chunked body: white space first, then cut mid-document, a pause between."""
    raw = b"\n " + json.dumps(whole).encode()
    return [raw[:1], Pause(0.05), raw[1:20], Pause(0.05), raw[20:]]


def test_a_chunked_whole_json_answer_to_a_streamed_request_reaches_chat_and_anthropic_clients_as_streams(
    gw: Stack, up: ScriptedUpstream
) -> None:
    """s21: the whole answer of a non-streaming proxy comes chunked (no content-length), application/json, in
    pieces: the chat client gets it as its stream from a chat upstream, the Anthropic client from an Anthropic
    upstream (and translated from a chat one), the ledger the usage; before, 502 empty_stream for each."""
    chat_whole = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "grok-3-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
    message_whole = {
        **MESSAGE,
        "content": [{"type": "text", "text": "Hello there!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 3},
    }
    for _ in range(2):
        up.script(XAI, Answer(body=_pieces(chat_whole)))
    up.script(ANTHROPIC, Answer(body=_pieces(message_whole)))
    ask = [{"role": "user", "content": "Say hello."}]
    chat = _openai(gw).chat.completions.with_raw_response.create(
        model="grok-3-mini", messages=ask, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(chat.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    row = gw.row_for(chat.headers["x-request-id"])
    assert row["status"] == 200 and (row["input_tokens"], row["output_tokens"]) == (12, 3)
    for model in ("claude-sonnet-4-5", "grok-3-mini"):
        with _anthropic(gw).messages.stream(model=model, max_tokens=100, messages=ask) as stream:
            message = stream.get_final_message()
        assert message.content[0].type == "text" and message.content[0].text == "Hello there!", model
        assert message.stop_reason == "end_turn" and message.usage.output_tokens == 3, model


def test_a_stream_mislabelled_application_json_still_streams(gw: Stack, up: ScriptedUpstream) -> None:
    """The other chunked application/json body: a stream with the wrong type goes through the stream relay,
    the bytes read to tell it from a whole answer first."""
    up.script(XAI, Answer(body=[*CHAT_DONE[:2], Pause(0.05), *CHAT_DONE[2:]]))
    ask = [{"role": "user", "content": "Say hello."}]
    chunks = list(_openai(gw).chat.completions.create(model="grok-3-mini", messages=ask, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there!"


BOM = b"\xef\xbb\xbf"


def test_a_whole_json_answer_after_a_byte_order_mark_is_the_answer(gw: Stack, up: ScriptedUpstream) -> None:
    """s22 variant 13-bom-vA: a relay puts a UTF-8 BOM before its whole JSON answer. RFC 8259 §8.1: JSON parsers
    "MAY ignore the presence of a byte order mark rather than treating it as an error"; the answer is the answer,
    chunked with the BOM split across reads or with a length, to a streamed request or not. Before: 502 each (the
    chunked body was read as a mislabelled stream, the others as invalid JSON)."""
    whole = {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "grok-3-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hello there!"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
    raw = BOM + json.dumps(whole).encode()
    up.script(
        XAI, Answer(body=[raw[:1], Pause(0.05), raw[1:2], Pause(0.05), raw[2:30], Pause(0.05), raw[30:]])
    )
    up.script(XAI, Answer(body=raw), Answer(body=raw))
    ask = [{"role": "user", "content": "Say hello."}]
    chat = _openai(gw).chat.completions.with_raw_response.create(
        model="grok-3-mini", messages=ask, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(chat.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there!"
    row = gw.row_for(chat.headers["x-request-id"])
    assert row["status"] == 200 and (row["input_tokens"], row["output_tokens"]) == (12, 3)
    with _anthropic(gw).messages.stream(model="grok-3-mini", max_tokens=100, messages=ask) as stream:
        message = stream.get_final_message()
    assert message.content[0].type == "text" and message.content[0].text == "Hello there!"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens == 3
    answer = _anthropic(gw).messages.create(model="grok-3-mini", max_tokens=100, messages=ask)  # not streamed
    assert answer.content[0].type == "text" and answer.content[0].text == "Hello there!"
    assert answer.usage.input_tokens == 12 and answer.usage.output_tokens == 3
