"""SSE framing the official SDKs read differently from the WHATWG rules (s25 variants 18-bom-*, 18-retry-resp-vF,
18-blank-resp-vG, 18-evonly-resp-vH), and a whole answer gathered from a stream (18-nonstream-sse-*).

The client's bytes are read with the openai SDK's own decoder (the anthropic SDK's is the same code): it strips no
byte order mark, and at a blank line it dispatches an event with data "" once an id, a retry or an event name was
seen; the openai SDK then parses that data as JSON and raises, the anthropic SDK skips an event without a name.
"""

from __future__ import annotations

import json

import orjson
import pytest
from openai._streaming import SSEDecoder as SDKDecoder

from services.gateway.dialects import gathered, ir
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay

BOM = b"\xef\xbb\xbf"


def _named(name: str, obj: dict[str, object]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


ANTHROPIC = b"".join(
    [
        _named(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-haiku-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 12, "output_tokens": 1},
                },
            },
        ),
        _named(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _named(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
        ),
        _named("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _named(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 3},
            },
        ),
        _named("message_stop", {"type": "message_stop"}),
    ]
)

_RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "status": "in_progress",
    "model": "gpt-4o-mini",
    "output": [],
}
_DONE = {
    **_RESPONSE,
    "status": "completed",
    "usage": {"input_tokens": 12, "output_tokens": 3, "total_tokens": 15},
}
RESPONSES = [
    _named("response.created", {"type": "response.created", "sequence_number": 0, "response": _RESPONSE}),
    _named(
        "response.output_text.delta",
        {
            "type": "response.output_text.delta",
            "sequence_number": 1,
            "item_id": "m",
            "output_index": 0,
            "content_index": 0,
            "delta": "Hello",
        },
    ),
    _named("response.completed", {"type": "response.completed", "sequence_number": 2, "response": _DONE}),
]


def _relayed(client: str, wire: str, reads: list[bytes], tools: bool = False) -> bytes:
    relay = make_relay(pairing(client, wire), View(model="m", tools=tools))  # type: ignore[arg-type]
    return b"".join(relay.feed(r) for r in reads) + relay.finish()


def _sdk(body: bytes) -> list[tuple[str | None, str]]:
    return [(e.event, e.data) for e in SDKDecoder().iter_bytes(iter([body]))]


@pytest.mark.parametrize("cut", [None, 1, 2, 3, 5])
def test_an_anthropic_passthrough_drops_a_leading_bom(cut: int | None) -> None:
    body = BOM + ANTHROPIC
    reads = [body] if cut is None else [body[:cut], body[cut:]]
    out = _relayed("anthropic", "anthropic", reads)
    assert not out.startswith(BOM)
    assert _sdk(out)[0][0] == "message_start"  # before: None (the anthropic SDK skipped it)


def test_a_responses_passthrough_drops_a_leading_bom_split_across_reads() -> None:
    body = BOM + b"".join(RESPONSES)
    out = _relayed("openai_responses", "openai_responses", [body[:1], body[1:2], body[2:]])
    assert [e for e, _ in _sdk(out)] == [
        "response.created",
        "response.output_text.delta",
        "response.completed",
    ]


@pytest.mark.parametrize(
    "odd",
    [
        b"retry: 3000\n\n",
        b"id: 7\n\n",
        b"event: keepalive\n\n",
        b"data:\n\n",
        b"data:  \n\n",
        b"id: 9\n: ping - 2026-12-03 15:00:00\n\n",
    ],
)
@pytest.mark.parametrize("tools", [False, True])
def test_a_responses_passthrough_gives_the_sdk_no_empty_event(odd: bytes, tools: bool) -> None:
    body = RESPONSES[0] + odd + b"id: 1\n" + RESPONSES[1] + odd + RESPONSES[2]
    for reads in ([body], [body[i : i + 1] for i in range(len(body))]):
        events = _sdk(_relayed("openai_responses", "openai_responses", reads, tools))
        for _, data in events:
            json.loads(data)  # before: "" for each odd block (JSONDecodeError in the openai SDK)
        assert [json.loads(d)["type"] for _, d in events] == [
            "response.created",
            "response.output_text.delta",
            "response.completed",
        ]


def _chat(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"id": "c1", "model": "m1", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_a_chat_stream_is_gathered_into_one_answer() -> None:
    """Text over several data lines and CRLF, a tool call's arguments in pieces, the finish, the usage."""
    frames = [
        _chat({"role": "assistant", "content": "Hello"}),
        _chat({"content": " there"}),
        _chat(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        _chat({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        _chat({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        _chat({}, "tool_calls"),
        {"id": "c1", "model": "m1", "choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3}},
    ]
    body = (
        BOM
        + b"".join(
            b"data: " + json.dumps(f).replace(', "', ',\r\ndata: "').encode() + b"\r\n\r\n" for f in frames
        )
        + b"data: [DONE]\r\n\r\n"
    )
    assert gathered.is_event_stream(body)
    decoder = pairing("openai_chat", "openai_chat").wire.decoder()
    answer = gathered.gathered(gathered.decoded(body, decoder), decoder.usage, decoder.model)
    assert answer.content == [
        ir.TextBlock("Hello there"),
        ir.ToolUseBlock("call_1", "get_weather", {"city": "Paris"}),
    ]
    assert answer.stop_reason == "tool_use"
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 3)


def test_an_anthropic_stream_is_gathered_into_one_answer() -> None:
    decoder = pairing("anthropic", "anthropic").wire.decoder()
    answer = gathered.gathered(gathered.decoded(ANTHROPIC, decoder), decoder.usage, decoder.model)
    assert (answer.id, answer.content, answer.stop_reason) == ("msg_1", [ir.TextBlock("Hello")], "end_turn")
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (12, 3)


def test_a_stream_without_its_finish_is_no_answer() -> None:
    decoder = pairing("anthropic", "anthropic").wire.decoder()
    cut = ANTHROPIC[: ANTHROPIC.index(b"event: message_delta")]
    with pytest.raises(gathered.StreamAnswerError):
        gathered.gathered(gathered.decoded(cut, decoder), decoder.usage, decoder.model)


@pytest.mark.parametrize("body", [b'{"id": 1}', b"  [1]", b"", b"<html>", b"\xef\xbb\xbf{}"])
def test_a_json_or_other_body_is_no_event_stream(body: bytes) -> None:
    assert not gathered.is_event_stream(body)
