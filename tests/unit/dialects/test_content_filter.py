"""A provider's content filter vs the model's own refusal, as a Responses client sees them (s12 variant 13-d).

OpenAI's Responses API ends a filtered response ``incomplete`` with ``incomplete_details.reason:
"content_filter"``; a model that declines in its own words ends ``completed``. Chat says the first with
``finish_reason: "content_filter"``, the second with ``message.refusal`` and ``finish_reason: "stop"``;
Anthropic's ``stop_reason: "refusal"`` is its safety classifiers stepping in (a filter). Both used to reach
a Responses client as ``completed``.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from dialect_helpers import decode, split
from openai.types.responses import Response
from responses_helpers import events, responses_encoder

from services.gateway.dialects.anthropic import MessagesStreamDecoder, completion_from_messages
from services.gateway.dialects.ir import Delta, Finish
from services.gateway.dialects.openai_chat import ChatStreamDecoder, completion_from_chat
from services.gateway.dialects.openai_responses import (
    ResponsesStreamDecoder,
    completion_from_responses,
    responses_from_completion,
)
from services.gateway.dialects.view import View


def _chat_stream(delta: dict[str, Any], finish: str) -> bytes:
    chunks = [
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": delta}],
        },
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "model": "m",
            "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
        },
    ]
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def _anthropic_stream(stop_reason: str) -> bytes:
    evs = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
         "model": "claude-x", "content": [], "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "I"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
         "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip
    return b"".join(b"event: " + n.encode() + b"\ndata: " + orjson.dumps(d) + b"\n\n" for n, d in evs)


def _responses_stream(status: str, reason: str | None) -> bytes:
    response = {
        "id": "resp_1",
        "object": "response",
        "created_at": 1,
        "model": "gpt-x",
        "status": status,
        "output": [],
        "incomplete_details": {"reason": reason} if reason else None,
        "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
    }
    kind = "response.incomplete" if status == "incomplete" else "response.completed"
    created = {"type": "response.created", "response": {**response, "status": "in_progress", "usage": None}}
    terminal = {"type": kind, "response": response}
    return b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"  # type: ignore[operator]
        for e in (created, terminal)
    )


def _client_end(deltas: list[Delta]) -> dict[str, Any]:
    enc = responses_encoder()
    body = b"".join(enc.feed(d) for d in deltas) + enc.finish()
    last = events(body)[-1]
    Response.model_validate(last["response"])  # the openai SDK's own model of it
    return {
        "type": last["type"],
        "status": last["response"]["status"],
        "incomplete_details": last["response"]["incomplete_details"],
    }


FILTERED = {
    "type": "response.incomplete",
    "status": "incomplete",
    "incomplete_details": {"reason": "content_filter"},
}
COMPLETED = {"type": "response.completed", "status": "completed", "incomplete_details": None}


@pytest.mark.parametrize("size", [None, 7])
@pytest.mark.parametrize(
    ("upstream", "decoder", "expected"),
    [
        (
            _chat_stream({"role": "assistant", "content": "I can"}, "content_filter"),
            ChatStreamDecoder,
            FILTERED,
        ),
        (
            _chat_stream({"role": "assistant", "refusal": "I won't help"}, "stop"),
            ChatStreamDecoder,
            COMPLETED,
        ),
        (_chat_stream({"role": "assistant", "content": "ok"}, "stop"), ChatStreamDecoder, COMPLETED),
        (_anthropic_stream("refusal"), MessagesStreamDecoder, FILTERED),
        (_anthropic_stream("end_turn"), MessagesStreamDecoder, COMPLETED),
        (_responses_stream("incomplete", "content_filter"), ResponsesStreamDecoder, FILTERED),
        (_responses_stream("completed", None), ResponsesStreamDecoder, COMPLETED),
    ],
    ids=[
        "chat-filter",
        "chat-refusal",
        "chat-stop",
        "anthropic-refusal",
        "anthropic-end",
        "resp-filter",
        "resp-ok",
    ],
)
def test_a_filtered_stream_ends_incomplete_and_a_refusal_completed(
    upstream: bytes, decoder: type[Any], expected: dict[str, Any], size: int | None
) -> None:
    deltas = decode(split(upstream, size) if size else [upstream], decoder())
    assert _client_end(deltas) == expected
    finish = [d for d in deltas if isinstance(d, Finish)]
    assert len(finish) == 1 and finish[0].filtered == (expected is FILTERED)


def _chat_answer(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {
        "id": "c1",
        "object": "chat.completion",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }


def _anthropic_answer(stop_reason: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": "I"}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 3, "output_tokens": 1},
    }


@pytest.mark.parametrize(
    ("completion", "status", "details"),
    [
        (
            completion_from_chat(_chat_answer({"content": "I can"}, "content_filter")),
            "incomplete",
            "content_filter",
        ),
        (completion_from_chat(_chat_answer({"content": None, "refusal": "No."}, "stop")), "completed", None),
        (completion_from_messages(_anthropic_answer("refusal")), "incomplete", "content_filter"),
        (completion_from_messages(_anthropic_answer("end_turn")), "completed", None),
        (
            completion_from_responses(
                {"id": "resp_1", "status": "incomplete", "incomplete_details": {"reason": "content_filter"}}
            ),
            "incomplete",
            "content_filter",
        ),
    ],
    ids=["chat-filter", "chat-refusal", "anthropic-refusal", "anthropic-end", "resp-filter"],
)
def test_a_filtered_answer_is_an_incomplete_response(
    completion: Any, status: str, details: str | None
) -> None:
    body = responses_from_completion(completion, View(model="client-model"))
    Response.model_validate(body)
    assert body["status"] == status
    assert body["incomplete_details"] == ({"reason": details} if details else None)
