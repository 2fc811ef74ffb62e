"""A client stream's opening, and a relay that continues a stream an earlier route began (variant 19-a).

``ClientSpec.opening`` judges what a client was sent before the first token (only its format's opening and
keep-alives, or more); ``Relay.resume`` makes the next route's answer continue it: none of that upstream's
own opening (passed through or encoded), the opening's response id kept. Pure: relays fed bytes."""

from __future__ import annotations

import json

import pytest

from services.gateway.dialects import registry
from services.gateway.dialects._opening import Opening
from services.gateway.dialects.formats import ClientFormat, Wire
from services.gateway.dialects.view import View
from services.gateway.relay import Passthrough, Relay, Translator, make_relay
from shared.sse import SSEDecoder, encode_event


def relay(fmt: ClientFormat, wire: Wire, **view: object) -> Relay:
    return make_relay(registry.pairing(fmt, wire), View(model="m", **view))  # type: ignore[arg-type]


def ev(obj: object, name: str | None = None) -> bytes:
    return encode_event(json.dumps(obj).encode(), name)


MESSAGE_START = ev(
    {
        "type": "message_start",
        "message": {
            "id": "msg_B",
            "type": "message",
            "role": "assistant",
            "model": "c",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 3, "output_tokens": 1},
        },
    },
    "message_start",
)
PING = ev({"type": "ping"}, "ping")
BLOCK = ev(
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    "content_block_start",
)
DELTA = ev(
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
    "content_block_delta",
)
ANTHROPIC_END = (
    ev({"type": "content_block_stop", "index": 0}, "content_block_stop")
    + ev(
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}},
        "message_delta",
    )
    + ev({"type": "message_stop"}, "message_stop")
)
ROLE = ev(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
    }
)
ROLE_AND_TEXT = ev(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}],
    }
)
TEXT = ev(
    {
        "id": "c1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}],
    }
)
CHAT_END = (
    ev(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    + b"data: [DONE]\n\n"
)
COMMENT = b": keep-alive\n"


def kinds(raw: bytes) -> list[str]:
    out = []
    for e in SSEDecoder().feed(raw):
        if e.comment:
            out.append(":")
        elif e.data == "[DONE]":
            out.append("[DONE]")
        else:
            obj = json.loads(e.data)
            out.append(obj.get("type") or ("role" if "role" in obj["choices"][0]["delta"] else "chunk"))
    return out


# ---- what the client was sent ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "sent", "want"),
    [
        ("anthropic", MESSAGE_START + PING + PING, Opening(1)),
        ("anthropic", PING + COMMENT, Opening(0)),
        ("anthropic", MESSAGE_START + PING + BLOCK, None),  # a block's start: the answer has begun
        ("anthropic", MESSAGE_START + DELTA, None),
        ("openai_chat", ROLE + COMMENT + COMMENT, Opening(1)),
        ("openai_chat", COMMENT, Opening(0)),
        ("openai_chat", ROLE_AND_TEXT, None),
        ("openai_chat", ROLE + TEXT, None),
        ("anthropic", MESSAGE_START[:-5], None),  # half an event is not an opening
    ],
)
def test_what_the_client_has(fmt: ClientFormat, sent: bytes, want: Opening | None) -> None:
    assert registry.client(fmt).opening(sent) == want


def test_a_responses_opening_gives_its_response_id() -> None:
    r = relay("openai_responses", "openai_chat")
    sent = r.feed(ROLE) + r.keepalive()
    # a silence after response.created: a numbered keepalive event (s26), counted with the opening
    assert kinds(sent) == ["response.created", "response.in_progress", "keepalive"]
    opening = registry.client("openai_responses").opening(sent)
    assert opening is not None and opening.frames == 3 and opening.id and opening.id.startswith("resp_")


# ---- the next route's relay ------------------------------------------------------------------------------


def test_a_translated_answer_continues_an_anthropic_opening() -> None:
    r = relay("anthropic", "openai_chat")
    assert isinstance(r, Translator)
    r.resume(Opening(1))
    out = r.feed(ROLE) + r.keepalive() + r.feed(TEXT + CHAT_END) + r.finish()
    assert kinds(out) == [
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert b'"index":0' in out


@pytest.mark.parametrize("wire", ["anthropic", "openai_chat"])
def test_nothing_sent_before_means_the_usual_opening(wire: Wire) -> None:
    r = relay("anthropic", wire)
    r.resume(Opening(0))
    first = MESSAGE_START if wire == "anthropic" else ROLE
    assert kinds(r.feed(first + (DELTA if wire == "anthropic" else TEXT)))[0] == "message_start"


def test_a_passed_through_anthropic_answer_drops_its_message_start() -> None:
    r = relay("anthropic", "anthropic")
    assert isinstance(r, Passthrough)
    r.resume(Opening(1))
    out = r.feed(MESSAGE_START + PING) + r.feed(BLOCK) + r.feed(DELTA + ANTHROPIC_END) + r.finish()
    assert kinds(out) == [
        "ping",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert r.complete and r.usage is not None and r.usage.input_tokens == 3  # usage still read


def test_a_passed_through_chat_answer_says_the_role_once() -> None:
    r = relay("openai_chat", "openai_chat")
    r.resume(Opening(1))
    assert r.feed(ROLE) == b""
    r2 = relay("openai_chat", "openai_chat")
    r2.resume(Opening(1))
    out = r2.feed(ROLE_AND_TEXT + TEXT + CHAT_END) + r2.finish()
    deltas = [json.loads(e.data)["choices"][0]["delta"] for e in SSEDecoder().feed(out) if e.data != "[DONE]"]
    assert deltas == [{"content": "Hi"}, {"content": "Hi"}, {}]


def test_a_passed_through_responses_answer_keeps_the_openings_id() -> None:
    response = {"id": "resp_B", "object": "response", "status": "in_progress", "output": []}
    created = ev({"type": "response.created", "sequence_number": 0, "response": response}, "response.created")
    progress = ev(
        {"type": "response.in_progress", "sequence_number": 1, "response": response}, "response.in_progress"
    )
    done = ev(
        {
            "type": "response.completed",
            "sequence_number": 2,
            "response": {**response, "status": "completed", "usage": {"input_tokens": 1, "output_tokens": 1}},
        },
        "response.completed",
    )
    r = relay("openai_responses", "openai_responses")
    r.resume(Opening(2, "resp_A"))
    out = r.feed(created + progress) + r.feed(done) + r.finish()
    events = SSEDecoder().feed(out)
    assert [e.event for e in events] == ["response.completed"]
    assert json.loads(events[0].data)["response"]["id"] == "resp_A"


def test_a_translated_responses_answer_keeps_the_openings_id_and_numbers() -> None:
    r = relay("openai_responses", "openai_chat")
    r.resume(Opening(2, "resp_A"))
    out = r.feed(ROLE + TEXT + CHAT_END) + r.finish()
    events = [json.loads(e.data) for e in SSEDecoder().feed(out) if not e.comment]
    assert events[0]["type"] == "response.output_item.added" and events[0]["sequence_number"] == 2
    assert [e["sequence_number"] for e in events] == list(range(2, 2 + len(events)))
    assert events[-1]["type"] == "response.completed" and events[-1]["response"]["id"] == "resp_A"
