"""MessagesStreamDecoder and MessagesStreamEncoder: the Anthropic Messages stream to and from the IR."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from dialect_helpers import decode, encode, frames, messages_encoder, sse_fixture

from services.gateway.dialects.anthropic import (
    SYNTHETIC_SIGNATURE,
    MessagesStreamDecoder,
    MessagesStreamEncoder,
    usage_from_anthropic,
)
from services.gateway.dialects.ir import (
    Delta,
    Finish,
    KeepAlive,
    MessageStart,
    ReasoningDelta,
    RedactedThinking,
    SignatureDelta,
    StreamError,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from shared.sse import SSEEvent


def event(obj: dict[str, Any]) -> SSEEvent:
    return SSEEvent(event=obj["type"], data=orjson.dumps(obj).decode())


def feed_all(objs: list[dict[str, Any]]) -> tuple[MessagesStreamDecoder, list[Delta]]:
    dec = MessagesStreamDecoder()
    out: list[Delta] = []
    for obj in objs:
        out += dec.feed(event(obj))
    return dec, out + dec.finish()


def start(usage: dict[str, Any] | None = None) -> dict[str, Any]:
    message = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [],
        "usage": usage or {"input_tokens": 0, "output_tokens": 0},
    }
    return {"type": "message_start", "message": message}


# ---- usage and decoder ----------------------------------------------------------------------------


def test_usage_from_anthropic() -> None:
    raw = {
        "input_tokens": 12,
        "cache_creation_input_tokens": 1532,
        "cache_read_input_tokens": 18210,
        "output_tokens": 187,
        "output_tokens_details": {"thinking_tokens": 40},
        "cache_creation": {"ephemeral_5m_input_tokens": 1532, "ephemeral_1h_input_tokens": 0},
    }
    assert usage_from_anthropic(raw) == Usage(
        input_tokens=12,
        output_tokens=187,
        cache_read_tokens=18210,
        cache_write_tokens=1532,
        reasoning_tokens=40,
    )
    assert usage_from_anthropic({"input_tokens": None, "cache_read_input_tokens": None}) == Usage()


def test_thinking_text_and_two_tools_transcript() -> None:
    dec = MessagesStreamDecoder()
    deltas = decode([sse_fixture("anthropic_thinking_text_tools")], dec)
    start_usage = Usage(input_tokens=12, output_tokens=3, cache_read_tokens=18210, cache_write_tokens=1532)
    final_usage = Usage(input_tokens=12, output_tokens=187, cache_read_tokens=18210, cache_write_tokens=1532)
    assert deltas == [
        MessageStart(id="msg_01XFDUDYJgAACzvnptvVoYEL", model="claude-sonnet-4-5-20250929"),
        UsageUpdate(usage=start_usage),
        KeepAlive(),
        ReasoningDelta(text="The user wants the files listed, "),
        ReasoningDelta(text="and the README read."),
        SignatureDelta(signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"),
        TextDelta(text="I'll list the files"),
        TextDelta(text=" and read the README — ✓."),
        ToolCallStart(index=0, id="toolu_01D7FLrfh4GYq7yT1ULFeyMV", name="Bash"),  # block 2 is tool 0
        ToolArgsDelta(index=0, fragment='{"command": "ls'),
        ToolArgsDelta(index=0, fragment=' -la", "description": "List fil'),
        ToolArgsDelta(index=0, fragment='es in the current directory"}'),
        KeepAlive(),
        ToolCallStart(index=1, id="toolu_01Hq8Wn3ZfXk2Lp9Rt4Vb6Mc", name="Read"),
        ToolArgsDelta(index=1, fragment='{"file_path": "/work/README.md"}'),
        UsageUpdate(usage=final_usage),
        Finish(reason="tool_use"),
    ]
    assert dec.done and dec.usage == final_usage and dec.model == "claude-sonnet-4-5-20250929"


def test_error_event_transcript() -> None:
    dec = MessagesStreamDecoder()
    deltas = decode([sse_fixture("anthropic_error_midstream")], dec)
    assert deltas[-1] == StreamError(status=529, type="overloaded_error", message="Overloaded")
    assert not dec.done


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        ("overloaded_error", 529),
        ("rate_limit_error", 429),
        ("api_error", 500),
        ("invalid_request_error", 400),
        ("new_error", 500),
    ],
)
def test_error_types_to_status(error_type: str, status: int) -> None:
    _, deltas = feed_all([start(), {"type": "error", "error": {"type": error_type, "message": "m"}}])
    assert deltas[-1] == StreamError(status=status, type=error_type, message="m")


def test_message_delta_usage_overwrites_message_start_usage() -> None:
    # Some gateways (and Claude Code's own tests) send zeros first and the totals at the end.
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 50, "input_tokens": 900, "cache_read_input_tokens": None},
    }
    dec, deltas = feed_all(
        [start({"input_tokens": 0, "cache_read_input_tokens": 300, "output_tokens": 1}), delta]
    )
    assert dec.usage == Usage(input_tokens=900, output_tokens=50, cache_read_tokens=300)
    assert deltas[-2:] == [UsageUpdate(usage=dec.usage), Finish(reason="end_turn")]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("stop_sequence", "stop_sequence"),
        ("model_context_window_exceeded", "max_tokens"),
        ("pause_turn", "pause_turn"),
        ("novel", "end_turn"),
    ],
)
def test_stop_reasons(raw: str, reason: str) -> None:
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": raw, "stop_sequence": "###"},
        "usage": {"output_tokens": 1},
    }
    _, deltas = feed_all([start(), delta])
    assert deltas[-1] == Finish(reason=reason, stop_sequence="###")  # type: ignore[arg-type]


def test_server_tools_and_unknown_events_are_skipped_redacted_thinking_is_kept() -> None:
    """A redacted_thinking block is one RedactedThinking (a Responses client carries it back: s19 variant 04-s)."""
    objs = [
        start(),
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "server_tool_use", "id": "srv", "name": "web_search", "input": {}},
        },
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "input_json_delta", "partial_json": '{"q": 1}'},
        },
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "redacted_thinking", "data": "xx"},
        },
        {"type": "brand_new_event", "index": 1},
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {}},
        },
    ]
    _, deltas = feed_all(objs)
    assert deltas[2:] == [RedactedThinking(data="xx"), ToolCallStart(index=0, id="toolu_9", name="f")]


def test_ping_and_comment_are_keepalives() -> None:
    dec = MessagesStreamDecoder()
    assert dec.feed(SSEEvent(event="ping", data='{"type": "ping"}')) == [KeepAlive()]
    assert dec.feed(SSEEvent(event=None, data="", comment=True)) == [KeepAlive()]


# ---- encoder ---------------------------------------------------------------------------------------


def run(deltas: list[Delta], **kwargs: Any) -> list[dict[str, Any]]:
    out = encode(deltas, messages_encoder(**kwargs))
    events = frames(out)
    assert all(ev.event == json.loads(ev.data)["type"] for ev in events)
    return [json.loads(ev.data) for ev in events]


def kinds(payloads: list[dict[str, Any]]) -> list[str]:
    names = []
    for p in payloads:
        name = p["type"]
        if name == "content_block_start":
            name += ":" + p["content_block"]["type"]
        elif name == "content_block_delta":
            name += ":" + p["delta"]["type"]
        names.append(name)
    return names


def test_blocks_are_numbered_in_order_and_never_interleave() -> None:
    payloads = run(
        [
            MessageStart(id="chatcmpl-1", model="m"),
            ReasoningDelta(text="think"),
            TextDelta(text="a"),
            ToolCallStart(index=0, id="call_1", name="f"),
            ToolArgsDelta(index=0, fragment='{"x": 1}'),
            ToolCallStart(index=1, id="call_2", name="g"),
            Finish(reason="tool_use"),
            UsageUpdate(Usage(input_tokens=3, output_tokens=4)),
        ]
    )
    assert kinds(payloads) == [
        "message_start",
        "ping",
        "content_block_start:thinking",
        "content_block_delta:thinking_delta",
        "content_block_delta:signature_delta",
        "content_block_stop",
        "content_block_start:text",
        "content_block_delta:text_delta",
        "content_block_stop",
        "content_block_start:tool_use",
        "content_block_delta:input_json_delta",
        "content_block_stop",
        "content_block_start:tool_use",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert [p["index"] for p in payloads if p["type"] == "content_block_start"] == [0, 1, 2, 3]
    assert payloads[4]["delta"]["signature"] == SYNTHETIC_SIGNATURE
    assert payloads[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert payloads[-2]["usage"] == {
        "input_tokens": 3,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 4,
    }


def test_message_start_ids_and_known_usage() -> None:
    first = run(
        [UsageUpdate(Usage(input_tokens=5)), MessageStart(id="chatcmpl-abc", model="up")], message_id=None
    )[0]
    assert first["message"]["id"] == "msg_chatcmpl-abc" and first["message"]["model"] == "client-model"
    assert first["message"]["usage"]["input_tokens"] == 5 and first["message"]["content"] == []
    again = run([MessageStart(id="msg_already", model="up")], message_id=None)[0]
    assert again["message"]["id"] == "msg_already"


def test_real_signature_is_kept_and_no_synthetic_one_added() -> None:
    payloads = run([ReasoningDelta(text="t"), SignatureDelta(signature="real-sig"), TextDelta(text="x")])
    signatures = [
        p["delta"]["signature"] for p in payloads if p.get("delta", {}).get("type") == "signature_delta"
    ]
    assert signatures == ["real-sig"]


def test_signature_without_thinking_text_still_gets_a_thinking_block() -> None:
    payloads = run([SignatureDelta(signature="sig"), TextDelta(text="x")])
    assert kinds(payloads)[2:5] == [
        "content_block_start:thinking",
        "content_block_delta:signature_delta",
        "content_block_stop",
    ]


def test_no_finish_closes_blocks_and_ends_turn() -> None:
    payloads = run([MessageStart(id="x", model="m"), TextDelta(text="partial")])
    assert kinds(payloads)[-4:] == [
        "content_block_delta:text_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert payloads[-2]["delta"]["stop_reason"] == "end_turn"


def test_no_finish_with_tools_ends_with_tool_use_and_stop_sequence_is_kept() -> None:
    payloads = run([ToolCallStart(index=0, id="c", name="f")])
    assert payloads[-2]["delta"]["stop_reason"] == "tool_use"
    payloads = run([TextDelta(text="x"), Finish(reason="stop_sequence", stop_sequence="END")])
    assert payloads[-2]["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "END"}


def test_tool_use_start_has_empty_input_and_client_name() -> None:
    payloads = run(
        [ToolCallStart(index=0, id="call_1", name="srv_tool"), ToolArgsDelta(index=0, fragment="")],
        tool_names={"srv_tool": "srv.tool"},
    )
    assert payloads[2]["content_block"] == {
        "type": "tool_use",
        "id": "call_1",
        "name": "srv.tool",
        "input": {},
    }
    assert kinds(payloads)[3] == "content_block_stop"  # empty fragments are not sent


def test_error_is_the_last_frame() -> None:
    enc = messages_encoder()
    out = enc.feed(MessageStart(id="x", model="m")) + enc.feed(TextDelta(text="a"))
    out += enc.feed(StreamError(status=529, type="overloaded_error", message="Overloaded"))
    out += enc.feed(TextDelta(text="late")) + enc.finish()
    payloads = [json.loads(ev.data) for ev in frames(out)]
    assert payloads[-1] == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert kinds(payloads).count("message_stop") == 0 and b"late" not in out


@pytest.mark.parametrize(
    ("status", "error_type", "told"),
    [
        (
            502,
            "broken_stream",
            "overloaded_error",
        ),  # the gateway's own: the upstream broke off (s17 variant 19-a)
        (502, "empty_stream", "overloaded_error"),
        (500, "server_error", "api_error"),  # OpenAI's names, from a translated upstream
        (429, "rate_limit_exceeded", "rate_limit_error"),
        (400, "BadRequestError", "invalid_request_error"),  # vLLM's
        (529, "overloaded_error", "overloaded_error"),  # Anthropic's own pass as they are
        (500, "timeout_error", "timeout_error"),
    ],
)
def test_an_error_event_carries_an_anthropic_error_type(status: int, error_type: str, told: str) -> None:
    """The ``error`` event's ``error.type`` is one of Anthropic's (Messages API, "Errors"; Claude Code retries
    on ``overloaded_error``), as the passthrough path's ``stream_error_frame`` gives: a type another format or the
    gateway named is Anthropic's for the status."""
    enc = messages_encoder()
    out = enc.feed(MessageStart(id="x", model="m")) + enc.feed(KeepAlive())
    out += enc.feed(StreamError(status=status, type=error_type, message="upstream: stream broke"))
    payloads = [json.loads(ev.data) for ev in frames(out)]
    assert payloads[-1] == {"type": "error", "error": {"type": told, "message": "upstream: stream broke"}}


def test_keepalive_is_ping_and_content_after_finish_is_dropped() -> None:
    payloads = run(
        [
            MessageStart(id="x", model="m"),
            KeepAlive(),
            TextDelta(text="a"),
            Finish("end_turn"),
            TextDelta(text="b"),
            KeepAlive(),
        ]
    )
    assert kinds(payloads) == [
        "message_start",
        "ping",
        "ping",
        "content_block_start:text",
        "content_block_delta:text_delta",
        "content_block_stop",
        "ping",
        "message_delta",
        "message_stop",
    ]


def test_keepalive_before_anything_starts_the_message() -> None:
    enc = MessagesStreamEncoder("m")
    first = frames(enc.feed(KeepAlive()))
    assert [f.event for f in first] == ["message_start", "ping"]
    assert json.loads(first[0].data)["message"]["id"].startswith("msg_")
