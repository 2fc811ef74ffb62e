"""The Responses encoder's frames written from byte templates (``response.created``/``.in_progress``, a
message item's opening and closing frames) are the bytes ``_frame`` writes of the objects they stand for
(the dicts below, in their key order), for any text, item index, status and sequence number."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import ir
from services.gateway.dialects._responses_stream import ResponsesStreamEncoder, response_object
from services.gateway.dialects.view import View
from tests.e2e_builders import IR_USAGES as _USAGE
from tests.e2e_builders import output_text as _part
from tests.e2e_builders import raw_frames as _frames
from tests.e2e_builders import responses_frame as _frame


def _expected(enc: ResponsesStreamEncoder, texts: list[str], leading: int, status: str) -> list[bytes]:
    """The frames, from their objects, of a message item at output index ``leading``."""
    rid = enc.response_id
    assert rid is not None
    opening = {"response": response_object(rid, "m", enc.created_at, "in_progress", output=[], usage=None)}
    item_id = f"msg_{rid[5:]}{leading:02x}"
    ref = {"item_id": item_id, "output_index": leading}
    text = "".join(texts)
    seq = 2
    frames = [_frame("response.created", 0, opening), _frame("response.in_progress", 1, opening)]
    added = {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    frames.append(_frame("response.output_item.added", seq, {"output_index": leading, "item": added}))
    frames.append(
        _frame("response.content_part.added", seq + 1, {**ref, "content_index": 0, "part": _part("")})
    )
    seq += 2
    for t in texts:
        frames.append(
            _frame("response.output_text.delta", seq, {**ref, "content_index": 0, "delta": t, "logprobs": []})
        )
        seq += 1
    done_text = {**ref, "content_index": 0, "text": text, "logprobs": []}
    frames.append(_frame("response.output_text.done", seq, done_text))
    frames.append(
        _frame("response.content_part.done", seq + 1, {**ref, "content_index": 0, "part": _part(text)})
    )
    item = {"id": item_id, "type": "message", "status": status, "content": [_part(text)], "role": "assistant"}
    frames.append(_frame("response.output_item.done", seq + 2, {"output_index": leading, "item": item}))
    return frames


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4),
    st.integers(0, 300),
    st.sampled_from(["end_turn", "max_tokens"]),
    st.text(max_size=6),
)
def test_templated_frames_are_the_objects_frames(
    texts: list[str], leading: int, reason: str, up: str
) -> None:
    enc = ResponsesStreamEncoder(View(model="m"))
    enc._count = leading  # items before this one (their frames are not templated)
    out = enc.feed(ir.MessageStart(id="msg_" + up, model="m"))
    out += b"".join(enc.feed(ir.TextDelta(t)) for t in texts)
    out += enc.feed(ir.Finish(reason))  # type: ignore[arg-type]
    status = "incomplete" if reason == "max_tokens" else "completed"
    assert _frames(out) == _expected(enc, texts, leading, status)
    final = orjson.loads(enc.finish().split(b"data: ", 1)[1])["response"]
    assert final["output"] == [
        {
            "id": final["output"][0]["id"],
            "type": "message",
            "status": status,
            "content": [_part("".join(texts))],
            "role": "assistant",
        }
    ]


def test_no_frames_mode_writes_nothing_and_keeps_the_answer() -> None:
    enc = ResponsesStreamEncoder(View(model="m"), frames=False)
    assert enc.feed(ir.MessageStart(id="msg_1", model="m")) + enc.feed(ir.TextDelta("hi")) == b""
    assert enc.feed(ir.Finish("end_turn")) + enc.finish() == b""
    assert enc.final is not None and enc.final["output"][0]["content"][0]["text"] == "hi"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=12), st.text(max_size=12), st.integers(0, 2**40))
def test_the_opening_frames_are_the_response_objects_frames(model: str, up: str, created_at: int) -> None:
    """``response.created`` and ``response.in_progress`` (``_IN_PROGRESS_RESPONSE``) for any model name,
    upstream id and creation time: the bytes ``_frame`` makes of the response object."""
    enc = ResponsesStreamEncoder(View(model=model))
    enc.created_at = created_at
    out = enc.feed(ir.MessageStart(id=up, model="x"))
    rid = enc.response_id
    assert rid is not None
    opening = {"response": response_object(rid, model, created_at, "in_progress", output=[], usage=None)}
    assert _frames(out) == [
        _frame("response.created", 0, opening),
        _frame("response.in_progress", 1, opening),
    ]


# IR deltas of an answer: text, reasoning (signed or not), tool calls with arguments, usage updates
_DELTA = st.one_of(
    st.builds(ir.TextDelta, st.text(max_size=6)),
    st.builds(ir.ReasoningDelta, st.text(min_size=1, max_size=6)),
    st.builds(ir.SignatureDelta, st.text(min_size=1, max_size=6)),
    st.builds(
        ir.ToolCallStart, index=st.integers(0, 2), id=st.text(max_size=4), name=st.sampled_from(["f", "g"])
    ),
    st.builds(ir.ToolArgsDelta, index=st.integers(0, 2), fragment=st.sampled_from(['{"a":', "1}", "é", ""])),
    st.builds(ir.UsageUpdate, _USAGE),
    st.just(ir.KeepAlive()),
)


def _general_completed(self: ResponsesStreamEncoder) -> bytes:
    """``response.completed`` as ``_frame`` writes the response object (before session 23's template)."""
    return self._frame("response.completed", {"response": self._response("completed")})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_DELTA, max_size=12),
    st.sampled_from(["end_turn", "tool_use", "stop_sequence"]),
    st.text(max_size=8),
    st.integers(0, 2**40),
    st.booleans(),
)
def test_the_completed_frame_is_the_response_objects_frame(
    deltas: list[ir.Delta], reason: str, model: str, created_at: int, reasoning: bool
) -> None:
    """``response.completed`` from its template (``_COMPLETED``) for any answer, model and creation time: the
    bytes ``_frame`` makes of the response object, the same stream as the general path gives, and ``final``
    (made when read) the object the general path keeps."""
    streams, finals = [], []
    for completed in (None, _general_completed):
        enc = ResponsesStreamEncoder(View(model=model, reasoning=reasoning), response_id="resp_x")
        enc.created_at = created_at
        if completed is not None:
            enc._completed = completed.__get__(enc)  # type: ignore[method-assign]
        out = enc.feed(ir.MessageStart(id="msg_1", model="x"))
        out += b"".join(enc.feed(d) for d in deltas)
        out += enc.feed(ir.Finish(reason)) + enc.finish()  # type: ignore[arg-type]
        streams.append(out)
        finals.append(enc.final)
    assert streams[0] == streams[1]
    assert finals[0] == finals[1] and finals[0] is not None
    last = _frames(streams[0])[-1]
    seq = orjson.loads(last.split(b"data: ", 1)[1])["sequence_number"]
    assert last == _frame("response.completed", seq, {"response": finals[0]})
