"""Bugcase 01-k: a passed-through Chat answer whose tool call has empty arguments gets "{}"."""

import orjson

from services.gateway.dialects.openai_chat import repair_empty_arguments


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
