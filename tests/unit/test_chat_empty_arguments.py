"""Bugcase 01-k: a passed-through Chat answer or stream whose tool call has empty arguments gets "{}"."""

from typing import Any

import orjson
import pytest

from services.gateway.dialects._openai_stream import ChatStreamDecoder
from services.gateway.dialects.openai_chat import (
    held_arguments_mended,
    repair_empty_arguments,
    repair_stream,
)
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Passthrough
from shared.sse import SSEDecoder, SSEEvent
from tests.unit.test_passthrough_scan import sized


def _answer(arguments: object) -> bytes:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": arguments}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    return orjson.dumps(
        {"id": "x", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    )


def _arguments(raw: bytes) -> object:
    return orjson.loads(raw)["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]


def test_empty_and_blank_arguments_become_an_empty_object() -> None:
    for empty in ("", "  \n"):
        raw = _answer(empty)
        assert _arguments(repair_empty_arguments(raw, orjson.loads(raw))) == "{}"


def test_answers_needing_no_repair_keep_their_bytes() -> None:
    raw = _answer('{"tz": "UTC"}')
    assert repair_empty_arguments(raw, orjson.loads(raw)) is raw
    plain = orjson.dumps({"choices": [{"message": {"role": "assistant", "content": "hi"}}]})
    assert repair_empty_arguments(plain, orjson.loads(plain)) is plain


HEAD = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 7, "model": "local-llama"}


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return b"data: " + orjson.dumps({**HEAD, "choices": [choice], **extra}) + b"\n\n"


def _call(index: int, arguments: str, name: str | None = None) -> dict[str, Any]:
    function = {"arguments": arguments} if name is None else {"name": name, "arguments": arguments}
    call: dict[str, Any] = {"index": index, "function": function}
    return call if name is None else {**call, "id": f"call_{index}", "type": "function"}


def _stream(calls: list[list[str]], **extra: Any) -> list[bytes]:
    """A tool-call stream: for each call, its start (arguments "") and then its fragments; the finish."""
    out = [_chunk({"role": "assistant", "content": None}, **extra)]
    for i, fragments in enumerate(calls):
        out.append(_chunk({"tool_calls": [_call(i, "", name=f"tool_{i}")]}, **extra))
        out += [_chunk({"tool_calls": [_call(i, f)]}, **extra) for f in fragments]
    return [*out, _chunk({}, "tool_calls", **extra), b"data: [DONE]\n\n"]


def _decoded(frames: list[bytes]) -> tuple[ChatStreamDecoder, list[SSEEvent]]:
    decoder, events = ChatStreamDecoder(), SSEDecoder().feed(b"".join(frames))
    for ev in events:
        decoder.feed(ev)
    return decoder, events


def _joined(raw: bytes) -> dict[int, str]:
    args: dict[int, str] = {}
    for ev in SSEDecoder().feed(raw):
        if ev.data != "[DONE]":
            for choice in orjson.loads(ev.data)["choices"]:
                for call in choice["delta"].get("tool_calls") or []:
                    args[call["index"]] = args.get(call["index"], "") + call["function"]["arguments"]
    return args


def test_blank_calls_get_one_empty_object_chunk_each_in_the_first_chunks_shape() -> None:
    decoder, _ = _decoded(_stream([["", ""], ['{"tz":', '"UTC"}'], [" "]], usage=None))
    frames = decoder.blank_arguments_frames()
    assert _joined(frames) == {0: "{}", 2: "{}"}
    first = orjson.loads(SSEDecoder().feed(frames)[0].data)
    assert {k: first[k] for k in HEAD} == HEAD and "usage" in first and first["usage"] is None
    decoder, _ = _decoded(_stream([['{"a":', "1}"]]))
    assert decoder.blank_arguments_frames() == b""


def test_null_text_arguments_in_an_answer_and_in_a_stream_become_an_empty_object() -> None:
    """bug8a variant 01-k: vLLM renders a call without arguments as the text "null" (json.dumps(None)):
    a relayed answer gets "{}" instead. A relayed stream's client gets the "null" fragments blanked
    (``held_arguments_mended``, s23 variant 01-blank-vA; before, it got "null", which its SDK parsed to None)
    and "{}" added, as for blank arguments; a ``null`` value inside an object is no such call."""
    raw = _answer(" null")
    assert _arguments(repair_empty_arguments(raw, orjson.loads(raw))) == "{}"
    decoder, events = _decoded(_stream([["nu", "ll"]]))
    assert decoder.holds_null(0) and decoder.null_seen
    before, after = repair_stream(decoder, events[-2])
    assert _joined(before) == {0: "{}"} and after == b""
    blanked = held_arguments_mended(events[2], decoder)  # the "nu" fragment
    assert blanked is not None and _joined(blanked) == {0: ""}
    decoder, events = _decoded(_stream([['{"tz":', " null", "}"]]))
    assert not decoder.holds_null(0) and not decoder.null_seen
    assert decoder.blank_arguments_frames() == b""


def test_repair_goes_before_the_finish_unless_the_finishing_chunk_carries_a_call() -> None:
    decoder, events = _decoded(_stream([[""]]))
    before, after = repair_stream(decoder, events[-2])
    assert _joined(before) == {0: "{}"} and after == b""
    one = [_chunk({"role": "assistant"}), _chunk({"tool_calls": [_call(0, "", name="now")]}, "tool_calls")]
    decoder, events = _decoded(one)
    assert repair_stream(decoder, events[-1]) == (b"", decoder.blank_arguments_frames())
    assert repair_stream(object(), events[-1]) == (b"", b"")


@pytest.mark.parametrize("include_usage", [False, True])
@pytest.mark.parametrize("min_frames", [2, Passthrough.min_frames])
def test_a_relayed_chat_stream_ends_each_blank_call_with_an_empty_object(
    include_usage: bool, min_frames: int
) -> None:
    """Through the passthrough relay, in one read (never scanned: it holds tool calls, ``ScanRule.unscanned``) and event by event:
    the client's joined arguments parse, "{}" for the blank call, and the finish chunk comes last."""
    frames = _stream([[""] * 20, ['{"tz":', '"UTC"}'] * 1, [""]], usage=None)
    for reads in ([b"".join(frames)], frames):
        relay = sized(min_frames)(
            pairing("openai_chat", "openai_chat"), View(model="m", include_usage=include_usage)
        )
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        assert _joined(out) == {0: "{}", 1: '{"tz":"UTC"}', 2: "{}"}
        events = [ev for ev in SSEDecoder().feed(out) if ev.data != "[DONE]"]
        assert orjson.loads(events[-1].data)["choices"][0]["finish_reason"] == "tool_calls"
        assert relay.complete and out.endswith(b"data: [DONE]\n\n")


def test_missing_and_null_arguments_become_an_empty_object_too() -> None:
    raw = _answer(None)
    assert _arguments(repair_empty_arguments(raw, orjson.loads(raw))) == "{}"
    message = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "now"}}],
    }
    raw = orjson.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]})
    assert _arguments(repair_empty_arguments(raw, orjson.loads(raw))) == "{}"


def test_arguments_sent_as_an_object_become_its_json_text() -> None:
    """s8 variant 01-q: a server that sends ``arguments`` as a JSON object rather than its text."""
    raw = _answer({"city": "Paris"})
    assert orjson.loads(str(_arguments(repair_empty_arguments(raw, orjson.loads(raw))))) == {"city": "Paris"}


@pytest.mark.parametrize("include_usage", [False, True])
def test_a_relayed_stream_gives_object_arguments_as_their_json_text(include_usage: bool) -> None:
    """s10 variant 01-k: a server streams a call's arguments as a JSON object; the openai SDK joins the
    fragments as strings, so the client gets the object's JSON text (in one read and event by event)."""
    start = {
        "index": 0,
        "id": "call_0",
        "type": "function",
        "function": {"name": "f", "arguments": {"city": "Paris"}},
    }
    frames = [
        _chunk({"role": "assistant", "tool_calls": [start]}),
        _chunk({}, "tool_calls"),
        b"data: [DONE]\n\n",
    ]
    for reads in ([b"".join(frames)], frames):
        relay = Passthrough(
            pairing("openai_chat", "openai_chat"), View(model="m", include_usage=include_usage)
        )
        out = b"".join(relay.feed(r) for r in reads) + relay.finish()
        assert {i: orjson.loads(a) for i, a in _joined(out).items()} == {0: {"city": "Paris"}}
        assert relay.complete and out.endswith(b"data: [DONE]\n\n")


def test_calls_sharing_index_zero_judge_only_the_last_one() -> None:
    """Servers that send every call at index 0, each with its own id: a blank first call must not have
    "{}" joined to a later call's arguments at the same index (it would read ``{"x":1}{}``)."""
    first = {"index": 0, "id": "call_a", "type": "function", "function": {"name": "a", "arguments": ""}}
    second = {"index": 0, "id": "call_b", "type": "function", "function": {"name": "b", "arguments": ""}}
    frames = [
        _chunk({"role": "assistant", "content": None}),
        _chunk({"tool_calls": [first]}),
        _chunk({"tool_calls": [second]}),
        _chunk({"tool_calls": [_call(0, '{"x":1}')]}),
        _chunk({}, "tool_calls"),
    ]
    decoder, _ = _decoded(frames)
    assert decoder.blank_arguments_frames() == b""
    decoder, _ = _decoded([*frames[:3], frames[4]])  # the last call at index 0 blank too: repaired
    assert _joined(decoder.blank_arguments_frames()) == {0: "{}"}


@pytest.mark.parametrize("min_frames", [2, Passthrough.min_frames])
def test_a_legacy_function_call_stream_is_repaired_in_its_own_shape(min_frames: int) -> None:
    """``delta.function_call`` (the deprecated single call): a blank one gets ``{"function_call":
    {"arguments": "{}"}}``, never a made-up ``tool_calls`` entry; one with arguments, read in one long
    read (the scan must read its fragments: ``ScanRule.unscanned``), gets nothing added."""

    def legacy(fragments: list[str]) -> bytes:
        start = _chunk({"role": "assistant", "function_call": {"name": "now", "arguments": ""}})
        parts = [_chunk({"function_call": {"arguments": f}}) for f in fragments]
        return b"".join([start, *parts, _chunk({}, "function_call"), b"data: [DONE]\n\n"])

    for fragments, expected in (([""] * 20, "{}"), (['{"tz":'] + [" "] * 20 + ['"UTC"}'], '{"tz": "UTC"}')):
        relay = sized(min_frames)(pairing("openai_chat", "openai_chat"), View(model="m"))
        out = relay.feed(legacy(fragments)) + relay.finish()
        joined, calls = "", 0
        for ev in SSEDecoder().feed(out):
            if ev.data != "[DONE]":
                delta = orjson.loads(ev.data)["choices"][0]["delta"]
                calls += len(delta.get("tool_calls") or [])
                joined += (delta.get("function_call") or {}).get("arguments", "")
        assert calls == 0 and orjson.loads(joined) == orjson.loads(expected)


def test_a_legacy_function_call_answer_with_blank_arguments_gets_an_empty_object() -> None:
    message = {"role": "assistant", "content": None, "function_call": {"name": "now", "arguments": " "}}
    raw = orjson.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "function_call"}]})
    repaired = orjson.loads(repair_empty_arguments(raw, orjson.loads(raw)))
    assert repaired["choices"][0]["message"]["function_call"] == {"name": "now", "arguments": "{}"}


def test_arguments_with_a_null_value_or_the_string_null_are_kept() -> None:
    """Review of bug8a (rv-bug): only the whole text "null" is no arguments; a null value inside the object
    and the JSON string "null" (a quoted value, not JSON null) keep their bytes."""
    for kept in ('{"tz": null}', '"null"'):
        raw = _answer(kept)
        assert repair_empty_arguments(raw, orjson.loads(raw)) is raw


def test_arguments_encoded_twice_are_read_as_the_object() -> None:
    """s13 variant 01-i: a relay json.dumps an already serialised arguments string, so ``arguments`` is a JSON
    string whose value is the object's text. Translated (Anthropic ``tool_use.input``) it is the object, not
    ``{}`` (the call's arguments silently lost); passed through, the answer carries the object's text once."""
    from services.gateway.dialects._tool_args import input_object
    from services.gateway.dialects.openai_chat import parse_arguments

    twice = orjson.dumps(orjson.dumps({"city": "Rome"}).decode()).decode()
    assert parse_arguments(twice) == {"city": "Rome"} and input_object(twice) == {"city": "Rome"}
    raw = _answer(twice)
    assert orjson.loads(str(_arguments(repair_empty_arguments(raw, orjson.loads(raw))))) == {"city": "Rome"}
    for kept in ('"Rome"', '"[1, 2]"', '"{"'):  # a string that is no object's text: not read further
        assert parse_arguments(kept) == {}
        raw = _answer(kept)
        assert repair_empty_arguments(raw, orjson.loads(raw)) is raw
