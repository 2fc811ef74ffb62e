"""ChatStreamEncoder: IR deltas → the client-facing OpenAI chat stream (conformance §1.5–1.7)."""

from __future__ import annotations

from typing import Any

from dialect_helpers import chat_encoder, encode, frames, json_frames
from openai.types.chat import ChatCompletionChunk

from services.gateway.dialects._anthropic_wire import SYNTHETIC_SIGNATURE
from services.gateway.dialects.ir import (
    Delta,
    Finish,
    KeepAlive,
    MessageStart,
    ReasoningDelta,
    SignatureDelta,
    StreamError,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from services.gateway.dialects.openai_chat import ChatStreamEncoder

USAGE = Usage(
    input_tokens=10, output_tokens=7, cache_read_tokens=90, cache_write_tokens=5, reasoning_tokens=3
)
EXPECTED_USAGE = {
    "prompt_tokens": 105,
    "completion_tokens": 7,
    "total_tokens": 112,
    "prompt_tokens_details": {"cached_tokens": 90, "cache_write_tokens": 5, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 3,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def run(deltas: list[Delta], include_usage: bool = True, **kwargs: Any) -> bytes:
    return encode(deltas, chat_encoder(include_usage, **kwargs))


def deltas_of(out: bytes) -> list[Any]:
    return [c["choices"][0]["delta"] for c in json_frames(out) if c.get("choices")]


def test_exact_bytes_of_a_minimal_stream() -> None:
    out = run(
        [MessageStart(id="up", model="up-model"), TextDelta(text="Hi"), Finish(reason="end_turn")], False
    )
    head = b'{"id":"chatcmpl-gw-test","object":"chat.completion.chunk","created":1764230400,"model":"client-model",'
    choice = b'"choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}\n\n'
    assert out == (
        b"data: " + head + choice % (b'{"role":"assistant","content":""}', b"null")
        + b"data: " + head + choice % (b'{"content":"Hi"}', b"null")
        + b"data: " + head + choice % (b"{}", b'"stop"')
        + b"data: [DONE]\n\n"
    )  # fmt: skip


def test_usage_after_finish_lands_in_the_final_usage_chunk() -> None:
    out = run(
        [MessageStart(id="u", model="m"), TextDelta(text="x"), Finish(reason="end_turn"), UsageUpdate(USAGE)]
    )
    chunks = json_frames(out)
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, None, "stop"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == EXPECTED_USAGE
    assert frames(out)[-1].data == "[DONE]"
    for c in chunks:
        ChatCompletionChunk.model_validate(c)


def test_usage_before_finish_gives_the_same_stream() -> None:
    before = run(
        [MessageStart(id="u", model="m"), UsageUpdate(USAGE), TextDelta(text="x"), Finish(reason="end_turn")]
    )
    after = run(
        [MessageStart(id="u", model="m"), TextDelta(text="x"), Finish(reason="end_turn"), UsageUpdate(USAGE)]
    )
    assert before == after


def test_later_usage_replaces_earlier_usage() -> None:
    out = run([UsageUpdate(Usage(input_tokens=1)), TextDelta(text="x"), UsageUpdate(USAGE)])
    assert json_frames(out)[-1]["usage"] == EXPECTED_USAGE


def test_without_include_usage_there_is_no_usage_anywhere() -> None:
    out = run([TextDelta(text="x"), UsageUpdate(USAGE), Finish(reason="max_tokens")], include_usage=False)
    chunks = json_frames(out)
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_no_usage_known_still_sends_zero_usage_chunk() -> None:
    usage = json_frames(run([TextDelta(text="x"), Finish(reason="end_turn")]))[-1]["usage"]
    assert usage["prompt_tokens"] == 0 and usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_stream_without_finish_gets_one_at_the_end() -> None:
    chunks = json_frames(run([TextDelta(text="x")]))
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]] == [None, None, "stop"]


def test_empty_stream_is_still_a_valid_stream() -> None:
    out = run([])
    assert [c["choices"][0]["delta"] for c in json_frames(out) if c["choices"]] == [
        {"role": "assistant", "content": ""},
        {},
    ]
    assert frames(out)[-1].data == "[DONE]"


def test_tool_calls_first_delta_has_id_type_name_later_only_arguments() -> None:
    deltas: list[Delta] = [
        ToolCallStart(index=0, id="toolu_1", name="get_weather"),
        ToolArgsDelta(index=0, fragment=""),
        ToolArgsDelta(index=0, fragment='{"location": '),
        ToolArgsDelta(index=0, fragment='"Paris"}'),
        Finish(reason="tool_use"),
    ]
    assert deltas_of(run(deltas))[1:] == [
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"location": '}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
        {},
    ]


def test_tool_names_map_back_to_the_client_names() -> None:
    out = run(
        [ToolCallStart(index=0, id="c", name="mcp_srv_tool")], tool_names={"mcp_srv_tool": "mcp/srv.tool"}
    )
    assert deltas_of(out)[1]["tool_calls"][0]["function"]["name"] == "mcp/srv.tool"


def test_end_turn_with_tool_calls_is_tool_calls() -> None:
    out = run(
        [ToolCallStart(index=0, id="c", name="f"), ToolArgsDelta(index=0, fragment="{}"), Finish("end_turn")]
    )
    assert json_frames(out)[-2]["choices"][0]["finish_reason"] == "tool_calls"


def test_reasoning_is_reasoning_content_and_the_synthetic_signature_is_dropped() -> None:
    out = run(
        [ReasoningDelta(text="hmm"), SignatureDelta(signature=SYNTHETIC_SIGNATURE), TextDelta(text="ok")]
    )
    assert deltas_of(out)[1:3] == [{"reasoning_content": "hmm"}, {"content": "ok"}]


def test_claudes_signature_closes_its_thinking_as_a_reasoning_details_entry() -> None:
    # bug27b variant 04-vG: a chat client gives the entry back, whole, so Claude's tool loop keeps its thinking
    out = run(
        [
            ReasoningDelta(text="hm"),
            ReasoningDelta(text="m"),
            SignatureDelta(signature="sig"),
            TextDelta(text="ok"),
        ]
    )
    entry = {
        "type": "reasoning.text",
        "text": "hmm",
        "signature": "sig",
        "format": "anthropic-claude-v1",
        "index": 0,
    }
    assert deltas_of(out)[1:5] == [
        {"reasoning_content": "hm"},
        {"reasoning_content": "m"},
        {"reasoning_details": [entry]},
        {"content": "ok"},
    ]


def test_keepalive_is_an_sse_comment() -> None:
    out = run([KeepAlive(), TextDelta(text="x")])
    assert out.startswith(b": keep-alive\n")
    assert frames(out)[0].comment


def test_only_one_finish_and_nothing_after_it() -> None:
    out = run(
        [TextDelta(text="x"), Finish(reason="end_turn"), TextDelta(text="late"), Finish(reason="max_tokens")]
    )
    reasons = [c["choices"][0]["finish_reason"] for c in json_frames(out) if c["choices"]]
    assert reasons == [None, None, "stop"]
    assert b"late" not in out


def test_error_frame_then_silence() -> None:
    enc = chat_encoder()
    out = enc.feed(TextDelta(text="x")) + enc.feed(
        StreamError(status=529, type="overloaded_error", message="Overloaded")
    )
    out += enc.feed(TextDelta(text="more")) + enc.finish()
    assert (
        frames(out)[-1].data
        == '{"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":"server_error"}}'
    )
    assert b"more" not in out and b"[DONE]" not in out


def test_error_before_anything_is_only_the_error_frame() -> None:
    out = run([StreamError(status=429, type="rate_limit_error", message="slow down")])
    assert json_frames(out) == [
        {
            "error": {
                "message": "slow down",
                "type": "rate_limit_error",
                "param": None,
                "code": "rate_limit_exceeded",  # OpenAI's own code for a 429 (was null)
            }
        }
    ]


def test_finish_twice_is_harmless() -> None:
    enc = chat_encoder()
    first = enc.finish()
    assert (
        first.endswith(b"data: [DONE]\n\n") and enc.finish() == b"" and enc.feed(TextDelta(text="x")) == b""
    )


def test_default_ids_are_fresh() -> None:
    a, b = ChatStreamEncoder("m", True), ChatStreamEncoder("m", True)
    assert a.id.startswith("chatcmpl-") and a.id != b.id
