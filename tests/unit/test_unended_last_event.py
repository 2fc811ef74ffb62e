"""s8 variant 13-k: a stream whose last event lacks its blank line (the server closed right after the line)."""

from typing import Any

import orjson
import pytest

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from shared.sse import SSEDecoder

HEAD = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 7, "model": "local-llama"}


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({**HEAD, "choices": [choice], **extra}) + b"\n\n"


@pytest.mark.parametrize(
    ("fmt", "include_usage"), [("openai_chat", True), ("openai_chat", False), ("anthropic", False)]
)
def test_a_last_frame_without_its_blank_line_is_still_read(fmt: str, include_usage: bool) -> None:
    """s8 variant 13-k: the server closes right after the usage chunk's line, without its blank line and
    without [DONE]: the usage counts (ledger), the client that asked for it gets it as a whole frame, and
    the stream ends as its API ends one, without an error."""
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    frames = [
        _chunk({"role": "assistant", "content": "Hi"}, usage=None),
        _chunk({}, "stop", usage=None),
        b"data: " + orjson.dumps({**HEAD, "choices": [], "usage": usage}) + b"\n",
    ]
    for reads in ([b"".join(frames)], frames):
        relay = make_relay(pairing(fmt, "openai_chat"), View(model="m", include_usage=include_usage))  # type: ignore[arg-type]
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        assert relay.usage is not None and relay.usage.output_tokens == 3 and relay.complete
        assert relay.error is None and b"error" not in out
        events = SSEDecoder().feed(out)
        assert (b'"completion_tokens":3' in out) is include_usage and out.endswith(b"\n\n")
        assert all(ev.data != "" for ev in events)


def _named(kind: str, obj: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: ".encode() + orjson.dumps({"type": kind, **obj}) + b"\n\n"


ANTHROPIC = [
    _named(
        "message_start",
        {
            "message": {
                "id": "m",
                "type": "message",
                "role": "assistant",
                "model": "c",
                "content": [],
                "usage": {"input_tokens": 20, "output_tokens": 1},
            }
        },
    ),
    _named("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
    _named("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Fine."}}),
    _named("content_block_stop", {"index": 0}),
    _named("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}),
    _named("message_stop", {})[:-1],  # its blank line missing
]
USAGE = {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}
DONE = {"id": "r", "object": "response", "status": "completed", "model": "g", "output": [], "usage": USAGE}
RESPONSES = [
    _named("response.created", {"response": {**DONE, "status": "in_progress", "usage": None}}),
    _named(
        "response.output_text.delta",
        {"output_index": 0, "content_index": 0, "item_id": "i", "delta": "Done."},
    ),
    _named("response.completed", {"response": DONE})[:-1],
]


@pytest.mark.parametrize(
    ("wire", "frames", "stop"),
    [("anthropic", ANTHROPIC, "message_stop"), ("openai_responses", RESPONSES, "response.completed")],
)
def test_a_passed_through_last_event_without_its_blank_line_ends_the_answer_once(
    wire: str, frames: list[bytes], stop: str
) -> None:
    """s8 variants 13-l, 13-m: the closing event's line came, its blank line did not. The answer is
    complete (no error, usage read) and the client gets that event once, ended by a blank line."""
    for reads in ([b"".join(frames)], frames):
        relay = make_relay(pairing(wire, wire), View(model="m"))  # type: ignore[arg-type]
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        events = SSEDecoder().feed(out)
        assert relay.complete and relay.error is None and relay.usage is not None
        assert [ev.event for ev in events].count(stop) == 1 and events[-1].event == stop


@pytest.mark.parametrize("include_usage", [True, False])
def test_an_unended_done_line_gives_one_done(include_usage: bool) -> None:
    """s8 variant 13-n: the body ends with ``data: [DONE]`` and a line break, no blank line."""
    usage = {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}
    frames = [
        _chunk({"role": "assistant", "content": "Ok"}),
        _chunk({}, "stop"),
        b"data: " + orjson.dumps({**HEAD, "choices": [], "usage": usage}) + b"\n\n",
        b"data: [DONE]\n",
    ]
    for reads in ([b"".join(frames)], frames):
        relay = make_relay(
            pairing("openai_chat", "openai_chat"), View(model="m", include_usage=include_usage)
        )
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        assert out.count(b"[DONE]") == 1 and out.endswith(b"data: [DONE]\n\n") and relay.error is None
