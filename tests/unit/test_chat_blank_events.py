"""A chat passthrough drops events whose data is blank (s11 variant 18-g).

``data:`` alone and a run of empty ``data:`` lines are legal SSE (WHATWG dispatches them with empty data),
but every chat chunk is a JSON object and the openai SDK parses each event's data as JSON: a blank one
stops the client. The relay's frame filter drops them; every other byte (comments included) reaches the
client unchanged, and the answer's facts are those of the stream without them."""

from __future__ import annotations

import orjson
import pytest

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough


def _chunk(delta: dict[str, object], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    body = {
        "id": "c1",
        "object": "chat.completion.chunk",
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        body["usage"] = usage
    return b"data: " + orjson.dumps(body) + b"\n\n"


BLANKS = (b"data:\n\n", b"data:\ndata:\n\n", b"data: \n\n", b"data:  \r\n\r\n", b"data:\n\n\n")
HEAD = _chunk({"role": "assistant", "content": "Hello"})
TAIL = (
    _chunk({"content": " there!"})
    + _chunk({}, "stop", {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15})
    + b"data: [DONE]\n\n"
)


@pytest.mark.parametrize("relay_class", [Passthrough, EventPassthrough])
@pytest.mark.parametrize("blank", BLANKS)
@pytest.mark.parametrize("include_usage", [False, True])
def test_blank_data_events_do_not_reach_a_chat_client(
    relay_class: type[Passthrough], blank: bytes, include_usage: bool
) -> None:
    comment = b": still here\n\n"
    body = HEAD + blank + comment + blank + TAIL
    relay = relay_class(pairing("openai_chat", "openai_chat"), View(model="m", include_usage=include_usage))
    out = b"".join(relay.feed(body[i : i + 7]) for i in range(0, len(body), 7)) + relay.finish()
    clean = relay_class(pairing("openai_chat", "openai_chat"), View(model="m", include_usage=include_usage))
    expected = clean.feed(HEAD + comment + TAIL) + clean.finish()
    assert out == expected
    assert b"still here" in out
    for event in out.split(b"\n\n"):
        for line in event.splitlines():
            if line.startswith(b"data:"):
                data = line[5:].strip()
                assert data == b"[DONE]" or orjson.loads(data)
    assert relay.usage == clean.usage and relay.usage is not None and relay.usage.output_tokens == 3
    assert relay.complete and relay.error is None
