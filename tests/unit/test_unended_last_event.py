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
