"""ChatStreamDecoder and usage_from_openai: OpenAI, xAI and OpenRouter chunks → IR deltas."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from dialect_helpers import decode, sse_fixture

from services.gateway.dialects.ir import (
    Delta,
    Finish,
    KeepAlive,
    MessageStart,
    ReasoningDelta,
    StreamError,
    TextDelta,
    ToolArgsDelta,
    ToolCallStart,
    Usage,
    UsageUpdate,
)
from services.gateway.dialects.openai_chat import ChatStreamDecoder, is_usage_only_chunk, usage_from_openai
from shared.sse import SSEEvent


def data(obj: Any) -> SSEEvent:
    return SSEEvent(event=None, data=obj if isinstance(obj, str) else orjson.dumps(obj).decode())


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> SSEEvent:
    choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
    return data(
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m-1", "choices": [choice], **extra}
    )


def feed_all(events: list[SSEEvent]) -> tuple[ChatStreamDecoder, list[Delta]]:
    dec = ChatStreamDecoder()
    out: list[Delta] = []
    for ev in events:
        out += dec.feed(ev)
    return dec, out + dec.finish()


def tool(index: int, args: str = "", call_id: str | None = None, name: str | None = None) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": args}
    if name:
        function["name"] = name
    item: dict[str, Any] = {"index": index, "function": function}
    if call_id:
        item.update(id=call_id, type="function")
    return {"tool_calls": [item]}


# ---- usage ---------------------------------------------------------------------------------------


def test_usage_splits_cache_reads_and_writes_out_of_the_prompt() -> None:
    usage = usage_from_openai(
        {
            "prompt_tokens": 2000,
            "completion_tokens": 300,
            "prompt_tokens_details": {"cached_tokens": 1500, "cache_write_tokens": 400},
            "completion_tokens_details": {"reasoning_tokens": 120},
            "cost": 0.0123,
        }
    )
    assert usage == Usage(
        input_tokens=100,
        output_tokens=300,
        cache_read_tokens=1500,
        cache_write_tokens=400,
        reasoning_tokens=120,
        provider_cost_usd=0.0123,
    )


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"prompt_tokens": None, "completion_tokens": None, "prompt_tokens_details": None},
        {
            "prompt_tokens_details": {"cached_tokens": None},
            "completion_tokens_details": {"reasoning_tokens": None},
        },
    ],
)
def test_missing_or_null_usage_fields_count_as_zero(raw: dict[str, Any]) -> None:
    assert usage_from_openai(raw) == Usage()


def test_is_usage_only_chunk() -> None:
    assert is_usage_only_chunk({"choices": [], "usage": {"prompt_tokens": 1}})
    assert not is_usage_only_chunk({"choices": [], "usage": None})
    assert not is_usage_only_chunk({"choices": [{"index": 0, "delta": {}}], "usage": {"prompt_tokens": 1}})


# ---- transcripts ---------------------------------------------------------------------------------


def test_parallel_tool_calls_transcript() -> None:
    dec = ChatStreamDecoder()
    deltas = decode([sse_fixture("openai_parallel_tools")], dec)
    assert deltas == [
        MessageStart(id="chatcmpl-CIk7Qm2Zp8TnW4rYb1Lx", model="gpt-4o-mini-2024-07-18"),
        ToolCallStart(index=0, id="call_Xk2fPq9LmN3vR7tY", name="get_weather"),
        ToolArgsDelta(index=0, fragment='{"lo'),
        ToolArgsDelta(index=0, fragment='cation": "Pa'),
        ToolArgsDelta(index=0, fragment='ris, France"}'),
        ToolCallStart(index=1, id="call_B4nT8sWc1dQe6uHj", name="get_weather"),
        ToolArgsDelta(index=1, fragment='{"location"'),
        ToolArgsDelta(index=1, fragment=': "Tōkyō"}'),
        Finish(reason="tool_use"),
        UsageUpdate(usage=Usage(input_tokens=84, output_tokens=51)),
    ]
    assert (
        dec.done
        and dec.model == "gpt-4o-mini-2024-07-18"
        and dec.usage == Usage(input_tokens=84, output_tokens=51)
    )


def test_openrouter_keepalives_reasoning_and_cost() -> None:
    dec = ChatStreamDecoder()
    deltas = decode([sse_fixture("openrouter_reasoning_keepalive")], dec)
    assert [type(d) for d in deltas[:3]] == [KeepAlive, KeepAlive, MessageStart]
    assert [d.text for d in deltas if isinstance(d, ReasoningDelta)] == ["The user", " wants a greeting."]
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Hello", "!"]
    assert deltas[-2:] == [
        Finish(reason="end_turn"),
        UsageUpdate(
            usage=Usage(input_tokens=14, output_tokens=27, reasoning_tokens=19, provider_cost_usd=0.0000623)
        ),
    ]


def test_openrouter_finish_reason_error_is_one_stream_error() -> None:
    dec = ChatStreamDecoder()
    deltas = decode([sse_fixture("openrouter_error")], dec)
    assert deltas[-1] == StreamError(
        status=502, type="overloaded_error", message="Provider returned error: Overloaded"
    )
    assert sum(isinstance(d, StreamError) for d in deltas) == 1
    assert not any(isinstance(d, Finish) for d in deltas)
    assert dec.done  # [DONE] after the error is still noticed


def test_openai_error_object_midstream() -> None:
    deltas = decode([sse_fixture("openai_error_midstream")], ChatStreamDecoder())
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["The", " question"]
    assert deltas[-1] == StreamError(
        status=500,
        type="api_error",
        message="The server had an error while processing your request. Sorry about that!",
    )


# ---- single behaviours ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "error_type"),
    [
        (429, 429, "rate_limit_error"),
        (503, 503, "overloaded_error"),
        (529, 529, "overloaded_error"),
        (400, 400, "api_error"),
        ("server_error", 500, "api_error"),
        (None, 500, "api_error"),
    ],
)
def test_error_code_to_status_and_type(code: Any, status: int, error_type: str) -> None:
    _, deltas = feed_all([data({"error": {"code": code, "message": "boom"}})])
    assert deltas == [StreamError(status=status, type=error_type, message="boom")]


def test_nothing_after_an_error_is_translated() -> None:
    _, deltas = feed_all(
        [chunk({"content": "a"}), data({"error": {"message": "x"}}), chunk({"content": "b"})]
    )
    assert [type(d) for d in deltas] == [MessageStart, TextDelta, StreamError]


def test_done_sets_flag_and_emits_nothing() -> None:
    dec = ChatStreamDecoder()
    assert dec.feed(data("[DONE]")) == [] and dec.done


def test_comment_is_keepalive_and_null_error_field_is_ignored() -> None:
    _, deltas = feed_all(
        [
            SSEEvent(event=None, data="OPENROUTER PROCESSING", comment=True),
            chunk({"content": "x"}, error=None),
        ]
    )
    assert deltas == [KeepAlive(), MessageStart(id="chatcmpl-1", model="m-1"), TextDelta(text="x")]


def test_malformed_json_is_a_502_stream_error() -> None:
    _, deltas = feed_all([data("{not json")])
    assert deltas == [StreamError(status=502, type="api_error", message="malformed chunk from upstream")]


@pytest.mark.parametrize(
    ("finish", "reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("content_filter", "refusal"),
        ("function_call", "tool_use"),
        ("weird", "end_turn"),
    ],
)
def test_finish_reasons(finish: str, reason: str) -> None:
    _, deltas = feed_all([chunk({"content": "x"}), chunk(finish=finish)])
    assert deltas[-1] == Finish(reason=reason, filtered=finish == "content_filter")  # type: ignore[arg-type]


def test_stop_with_tool_calls_is_tool_use_and_refusal_text_is_refusal() -> None:
    _, deltas = feed_all([chunk(tool(0, "{}", "call_1", "f")), chunk(finish="stop")])
    assert deltas[-1] == Finish(reason="tool_use")
    _, deltas = feed_all([chunk({"refusal": "I can't help with that."}), chunk(finish="stop")])
    assert deltas[1:] == [TextDelta(text="I can't help with that."), Finish(reason="refusal")]


def test_xai_reasoning_content_and_usage_on_the_finish_chunk() -> None:
    usage = {
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "completion_tokens_details": {"reasoning_tokens": 9},
    }
    dec, deltas = feed_all(
        [chunk({"reasoning_content": "hmm", "reasoning": "hmm"}), chunk(finish="stop", usage=usage)]
    )
    assert deltas[1:] == [
        ReasoningDelta(text="hmm"),  # once, though both spellings came
        Finish(reason="end_turn"),
        UsageUpdate(usage=Usage(input_tokens=30, output_tokens=12, reasoning_tokens=9)),
    ]
    assert dec.usage == Usage(input_tokens=30, output_tokens=12, reasoning_tokens=9)


def test_unknown_fields_and_other_choices_are_ignored() -> None:
    extra = chunk({"content": "x", "audio": None}, obfuscation="abc", system_fingerprint="fp")
    other = data({"id": "c", "choices": [{"index": 1, "delta": {"content": "other choice"}}]})
    _, deltas = feed_all([extra, other])
    assert deltas == [MessageStart(id="chatcmpl-1", model="m-1"), TextDelta(text="x")]


def test_interleaved_tool_calls_are_buffered_into_contiguous_runs() -> None:
    events = [
        chunk(tool(0, '{"a":', "call_0", "f")),
        chunk(tool(1, '{"b":', "call_1", "g")),
        chunk(tool(0, " 1}")),
        chunk(tool(1, " 2}")),
        chunk(tool(2, "{}", "call_2", "h")),
        chunk(finish="tool_calls"),
    ]
    _, deltas = feed_all(events)
    assert deltas[1:] == [
        ToolCallStart(index=0, id="call_0", name="f"),
        ToolArgsDelta(index=0, fragment='{"a":'),
        ToolArgsDelta(index=0, fragment=" 1}"),
        ToolCallStart(index=1, id="call_1", name="g"),
        ToolArgsDelta(index=1, fragment='{"b":'),
        ToolArgsDelta(index=1, fragment=" 2}"),
        ToolCallStart(index=2, id="call_2", name="h"),
        ToolArgsDelta(index=2, fragment="{}"),
        Finish(reason="tool_use"),
    ]


def test_sequential_tool_calls_stream_live() -> None:
    dec = ChatStreamDecoder()
    dec.feed(chunk(tool(0, '{"a": 1}', "call_0", "f")))
    assert dec.feed(chunk(tool(1, "", "call_1", "g"))) == [ToolCallStart(index=1, id="call_1", name="g")]
    assert dec.feed(chunk(tool(1, '{"b"'))) == [ToolArgsDelta(index=1, fragment='{"b"')]


def test_tool_name_arriving_after_the_id_and_missing_id() -> None:
    dec = ChatStreamDecoder()
    assert (
        dec.feed(chunk({"tool_calls": [{"index": 0, "id": "call_x", "function": {"arguments": ""}}]}))[1:]
        == []
    )
    assert dec.feed(chunk(tool(0, "{}", name="late_name"))) == [
        ToolCallStart(index=0, id="call_x", name="late_name"),
        ToolArgsDelta(index=0, fragment="{}"),
    ]
    _, deltas = feed_all([chunk(tool(0, "{}", name="f"))])
    start = deltas[1]
    assert isinstance(start, ToolCallStart) and start.id.startswith("call_") and start.name == "f"


def test_finish_flushes_calls_still_buffered_when_the_stream_just_ends() -> None:
    dec = ChatStreamDecoder()
    dec.feed(chunk(tool(0, '{"a":', "call_0", "f")))
    dec.feed(chunk(tool(1, "{}", "call_1", "g")))
    assert dec.finish() == [
        ToolCallStart(index=1, id="call_1", name="g"),
        ToolArgsDelta(index=1, fragment="{}"),
    ]


def test_legacy_function_call_delta() -> None:
    _, deltas = feed_all(
        [chunk({"function_call": {"name": "f", "arguments": '{"x": 1}'}}), chunk(finish="function_call")]
    )
    assert isinstance(deltas[1], ToolCallStart) and deltas[1].name == "f"
    assert deltas[2:] == [ToolArgsDelta(index=0, fragment='{"x": 1}'), Finish(reason="tool_use")]


def test_arguments_sent_as_an_object_are_its_json_text() -> None:
    """s10 variant 01-i: a server streams a call's whole input as a JSON object, not a string; translated
    clients got "{}" (the input lost). The object becomes one fragment of its JSON text."""
    call = {
        "index": 0,
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": {"city": "Paris"}},
    }
    _, out = feed_all([chunk({"role": "assistant", "tool_calls": [call]}), chunk(finish="tool_calls")])
    assert [d for d in out if isinstance(d, ToolCallStart)] == [ToolCallStart(index=0, id="call_1", name="f")]
    fragments = [d.fragment for d in out if isinstance(d, ToolArgsDelta)]
    assert fragments == ['{"city":"Paris"}'] and Finish(reason="tool_use") in out


@pytest.mark.parametrize("pieces", [["null"], ["nu", "ll"], [" n", "ul", "l "]])
def test_arguments_streamed_as_null_are_no_arguments(pieces: list[str]) -> None:
    """s11 variant 01-h/01-j (bug8a): vLLM streams a call made without arguments as the text "null"
    (json.dumps(None)); Anthropic and Responses clients got input/arguments null. Held back while they
    could still be "null", then dropped: the encoders close the call with "{}"."""
    events = [chunk(tool(0, "", "call_1", "now"))] + [chunk(tool(0, p)) for p in pieces]
    _, out = feed_all([*events, chunk(finish="tool_calls")])
    assert [d for d in out if isinstance(d, ToolArgsDelta)] == []
    assert ToolCallStart(index=0, id="call_1", name="now") in out and Finish(reason="tool_use") in out


def test_arguments_beginning_like_null_are_sent_once_they_are_not() -> None:
    dec = ChatStreamDecoder()
    assert dec.feed(chunk(tool(0, "n", "call_1", "f")))[-1] == ToolCallStart(index=0, id="call_1", name="f")
    assert dec.feed(chunk(tool(0, "o"))) == [
        ToolArgsDelta(index=0, fragment="n"),
        ToolArgsDelta(index=0, fragment="o"),
    ]


def test_a_null_value_inside_the_arguments_and_a_null_first_call_leave_the_others_intact() -> None:
    """Review of bug8a (rv-bug): only a call's whole arguments text "null" is no arguments. A model that
    streams ``{"tz": null}`` token by token (the fragment "null" mid-object) keeps every fragment, and a
    call after a "null" one keeps its own arguments."""
    pieces = ['{"tz":', "null", "}"]
    events = [chunk(tool(0, "", "call_1", "now"))] + [chunk(tool(0, p)) for p in pieces]
    _, out = feed_all([*events, chunk(finish="tool_calls")])
    assert [d.fragment for d in out if isinstance(d, ToolArgsDelta)] == pieces
    two = [chunk(tool(0, "null", "call_1", "now")), chunk(tool(1, '{"s":1}', "call_2", "snooze"))]
    _, out = feed_all([*two, chunk(finish="tool_calls")])
    assert [d for d in out if isinstance(d, (ToolCallStart, ToolArgsDelta))] == [
        ToolCallStart(index=0, id="call_1", name="now"),
        ToolCallStart(index=1, id="call_2", name="snooze"),
        ToolArgsDelta(index=1, fragment='{"s":1}'),
    ]


def test_vllm_finish_reason_abort_is_a_stream_error_not_a_finish() -> None:
    """vLLM ends a request its engine aborted with finish_reason "abort" and then [DONE], as if it had finished
    (vllm-project/vllm#57082): the answer was cut (s20 variant 13-ad). One StreamError (503: the server could not
    finish it), no Finish: a translated client is not told end_turn / completed."""
    dec, deltas = feed_all(
        [chunk({"role": "assistant", "content": "Hello "}), chunk({}, "abort"), data("[DONE]")]
    )
    assert [d.text for d in deltas if isinstance(d, TextDelta)] == ["Hello "]
    assert not any(isinstance(d, Finish) for d in deltas)
    errors = [d for d in deltas if isinstance(d, StreamError)]
    assert len(errors) == 1 and errors[0].status == 503 and "abort" in errors[0].message
