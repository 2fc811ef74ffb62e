"""Session 15's byte templates in the Messages and chat stream encoders, and the Messages decoder's frames
known by their text, against what they stand for.

- Messages encoder (``MessagesStreamEncoder``): ``message_start`` (+ ``ping``) with no usage yet, a text
  block's ``content_block_start``, any block's ``content_block_stop``, the closing ``message_delta`` and
  ``message_stop``: the bytes ``encode_event(orjson.dumps(obj), event=obj["type"])`` writes of the objects
  below (their key order is the frames' order; Anthropic Messages streaming guide, "Event types").
- Chat encoder (``ChatStreamEncoder``): the opening role chunk, a finish chunk and the keep-alive comment:
  the chunk objects' bytes (OpenAI API reference, "The chat completion chunk object").
- Messages decoder: ``feed`` of a frame in ``_EXACT`` (ping, message_stop, a text block's empty start, a
  block's stop), read without parsing, returns what the parsing path returns and leaves the same state.
- ``new_id``: a prefix then 24 lowercase hex digits, fresh each time.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import ir
from services.gateway.dialects._anthropic_stream import _EXACT, MessagesStreamDecoder, MessagesStreamEncoder
from services.gateway.dialects._anthropic_wire import usage_to_anthropic
from services.gateway.dialects._openai_stream import ChatStreamEncoder
from services.gateway.dialects._openai_wire import finish_from_stop, new_id, usage_to_openai
from shared.sse import SSEDecoder, SSEEvent, encode_comment, encode_event

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _frame(obj: dict[str, Any]) -> bytes:
    return encode_event(orjson.dumps(obj), event=obj["type"])


def _usages() -> st.SearchStrategy[ir.Usage | None]:
    counts = st.integers(0, 10**7)
    usage = st.builds(
        ir.Usage,
        input_tokens=counts,
        output_tokens=counts,
        cache_read_tokens=counts,
        cache_write_tokens=counts,
        reasoning_tokens=counts,
    )
    return st.none() | usage


_STOPS = st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"])


@_SETTINGS
@given(
    st.text(max_size=12),
    st.none() | st.text(max_size=10),
    st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=3),
    st.none() | st.tuples(_STOPS, st.none() | st.text(max_size=5)),
    _usages(),
)
def test_messages_encoder_frames_are_the_objects_frames(
    model: str,
    upstream_id: str | None,
    texts: list[str],
    finish: tuple[str, str | None] | None,
    usage: ir.Usage | None,
) -> None:
    enc = MessagesStreamEncoder(model)
    out = enc.feed(ir.MessageStart(id=upstream_id or "", model="up"))
    for t in texts:
        out += enc.feed(ir.TextDelta(text=t))
    if finish is not None:
        out += enc.feed(ir.Finish(reason=finish[0], stop_sequence=finish[1]))  # type: ignore[arg-type]
    if usage is not None:
        out += enc.feed(ir.UsageUpdate(usage=usage))
    out += enc.finish()

    frames = [ev.raw for ev in SSEDecoder().feed(out)]
    start = orjson.loads(frames[0][frames[0].index(b"data: ") + 6 :])
    msg_id = start["message"]["id"]
    message = {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage_to_anthropic(ir.Usage()),
    }
    want = [_frame({"type": "message_start", "message": message}), _frame({"type": "ping"})]
    want.append(
        _frame({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    )
    for t in texts:
        delta = {"type": "text_delta", "text": t}
        want.append(_frame({"type": "content_block_delta", "index": 0, "delta": delta}))
    want.append(_frame({"type": "content_block_stop", "index": 0}))
    reason = finish[0] if finish else "end_turn"
    stop_sequence = finish[1] if finish and reason == "stop_sequence" else None
    closing = {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": stop_sequence},
        "usage": usage_to_anthropic(usage or ir.Usage()),
    }
    want += [_frame(closing), _frame({"type": "message_stop"})]
    assert frames == want


@_SETTINGS
@given(st.integers(0, 10**6))
def test_block_frames_at_any_index(index: int) -> None:
    enc = MessagesStreamEncoder("m")
    enc._started, enc._index = True, index - 1
    got = enc.feed(ir.TextDelta(text="x")) + enc.feed(ir.Finish(reason="end_turn"))
    want = (
        _frame({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
        + _frame(
            {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": "x"}}
        )
        + _frame({"type": "content_block_stop", "index": index})
    )
    assert got == want


@_SETTINGS
@given(
    st.text(max_size=12),
    st.booleans(),
    st.sampled_from(["end_turn", "max_tokens", "tool_use", "refusal", "stop_sequence"]),
    st.booleans(),
)
def test_chat_encoder_opening_and_finish_chunks(
    model: str, include_usage: bool, reason: str, ended: bool
) -> None:
    enc = ChatStreamEncoder(model, include_usage, completion_id="chatcmpl-x")
    out = enc.feed(ir.KeepAlive()) + enc.feed(ir.TextDelta(text="hi"))
    if ended:
        out += enc.feed(ir.Finish(reason=reason))  # type: ignore[arg-type]
    out += enc.finish()

    def chunk(delta: dict[str, Any], finish_reason: str | None) -> bytes:
        obj: dict[str, Any] = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": enc.created}
        obj["model"] = model
        obj["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if include_usage:
            obj["usage"] = None
        return encode_event(orjson.dumps(obj))

    want = (
        encode_comment("keep-alive")
        + chunk({"role": "assistant", "content": ""}, None)
        + chunk({"content": "hi"}, None)
        + chunk({}, finish_from_stop(reason if ended else "end_turn", False))
    )
    if include_usage:
        head = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": enc.created, "model": model}
        want += encode_event(orjson.dumps({**head, "choices": [], "usage": usage_to_openai(ir.Usage())}))
    want += b"data: [DONE]\n\n"
    assert out == want


def _state(dec: MessagesStreamDecoder) -> tuple[object, ...]:
    return (dec.done, dec.closed, dec._stopped, dec._failed, dict(dec._blocks), dec._tools, dec.usage)


@_SETTINGS
@given(
    st.lists(st.sampled_from(sorted(_EXACT)), min_size=1, max_size=8), st.sampled_from([None, "ping", "x"])
)
def test_exact_frames_read_as_parsed(frames: list[bytes], name: str | None) -> None:
    """``feed`` reads an ``_EXACT`` frame by its text: the deltas and state the parse would give."""
    fast, parsed = MessagesStreamDecoder(), MessagesStreamDecoder()
    for data in frames:
        text = data.decode()
        got = fast.feed(SSEEvent(name, text))
        obj = orjson.loads(text)
        want = [] if parsed._stopped or parsed._failed else parsed._object(obj, obj.get("type") or name)
        assert got == want
        assert _state(fast) == _state(parsed)


def test_new_id_shape() -> None:
    ids = {new_id("chatcmpl-") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"chatcmpl-[0-9a-f]{24}", i) for i in ids)
