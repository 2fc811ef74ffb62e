"""bug30a variant 01-gemini-noindex-two-calls-chat-vK: tool calls streamed without ``index`` (Gemini's OpenAI
endpoint) are given one for a passed-through chat client (``openai_chat.indexes_given``), and a call restated whole
adds nothing (``ChatStreamDecoder.given_arguments``)."""

from typing import Any

import orjson

from services.gateway.dialects._openai_stream import ChatStreamDecoder
from services.gateway.dialects.openai_chat import indexes_given
from shared.sse import SSEEvent


def _chunk(calls: list[dict[str, Any]], finish: str | None = None) -> SSEEvent:
    delta: dict[str, Any] = {"role": "assistant", "tool_calls": calls}
    body = {"id": "g", "object": "chat.completion.chunk", "created": 1, "model": "gemini-2.5-flash"}
    body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}]
    return SSEEvent(None, orjson.dumps(body).decode())


def _call(call_id: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "get_time", "arguments": arguments}}


def _mended(decoder: ChatStreamDecoder, ev: SSEEvent) -> Any:
    decoder.feed(ev)
    out = indexes_given(ev, decoder)
    return None if out is None else orjson.loads(out.data)["choices"][0]["delta"].get("tool_calls")


def test_calls_in_one_chunk_get_their_positions() -> None:
    decoder = ChatStreamDecoder()
    got = _mended(decoder, _chunk([_call("a", "{}"), _call("b", '{"tz":"UTC"}')], "tool_calls"))
    assert [(c["index"], c["id"], c["function"]["arguments"]) for c in got] == [
        (0, "a", "{}"),
        (1, "b", '{"tz":"UTC"}'),
    ]
    assert decoder.indexless_seen


def test_a_later_call_in_its_own_chunk_gets_the_next_number() -> None:
    decoder = ChatStreamDecoder()
    assert [c["index"] for c in _mended(decoder, _chunk([_call("a", "{}")]))] == [0]
    assert [c["index"] for c in _mended(decoder, _chunk([_call("b", "{}")]))] == [1]


def test_a_call_restated_whole_is_dropped() -> None:
    decoder = ChatStreamDecoder()
    _mended(decoder, _chunk([_call("a", "{}")]))
    assert _mended(decoder, _chunk([_call("a", "{}")], "tool_calls")) is None  # no tool_calls key left


def test_indexed_calls_are_left_alone() -> None:
    decoder = ChatStreamDecoder()
    ev = _chunk([dict(_call("a", "{}"), index=0)])
    decoder.feed(ev)
    assert indexes_given(ev, decoder) is None
    assert not decoder.indexless_seen


def test_a_call_restated_whole_with_a_null_index_is_dropped() -> None:
    """review31: ``"index": null`` is read as no index (``_tool_deltas``: not an int), so a call restated whole
    under it is dropped as one without the key is; it went on with an index given, and the SDK joined ``"{}{}"``."""
    decoder = ChatStreamDecoder()
    first = _mended(decoder, _chunk([dict(_call("a", "{}"), index=None)]))
    assert [(c["index"], c["function"]["arguments"]) for c in first] == [(0, "{}")]
    assert _mended(decoder, _chunk([dict(_call("a", "{}"), index=None)], "tool_calls")) is None


def test_a_restatement_with_more_under_a_null_index_gives_only_the_rest() -> None:
    decoder = ChatStreamDecoder()
    _mended(
        decoder, _chunk([{"index": None, "id": "a", "function": {"name": "get_time", "arguments": '{"tz":'}}])
    )
    # vLLM's end-of-stream flush of the whole arguments, in the finish chunk: only what it adds goes on
    got = _mended(decoder, _chunk([{"index": None, "function": {"arguments": '{"tz":"UTC"}'}}], "tool_calls"))
    assert got == [{"index": 0, "function": {"arguments": '"UTC"}'}}]
