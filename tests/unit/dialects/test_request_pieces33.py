"""Session 33 (issue 13, responses → anthropic): the Responses encoder's request-only pieces and joined frames.

The encoder makes with itself (in the upstream's wait) the model's JSON and the response object's bytes after its
id for the opening and ``response.completed``; its message frames, text deltas and ``response.completed`` are
joined from pieces with their numbers from a table (``_NUMS``, 0–255; past it the ``%`` templates); a closed
message item's object is made only when read (``_objects``). Each is checked here against the frames ``_frame``'s
rule makes of the objects (the openai SDK's event shapes), built independently below, for any model, creation
time, number of keep-alives before the text (sequence numbers on both sides of the table's end) and texts fed one
by one (``feed``) or as a run (``text_frames``); and the objects a failed or cut response carries.
"""

from __future__ import annotations

from typing import Any

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

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _message(item_id: str, status: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "content": [_part(text)], "role": "assistant"}


def _expected(
    rid: str, model: str, created: int, waits: int, texts: list[str], usage: ir.Usage
) -> list[bytes]:
    """The stream's frames from their objects: opening, ``waits`` keep-alives, one message, completed."""
    opening = {"response": response_object(rid, model, created, "in_progress", output=[], usage=None)}
    frames = [_frame("response.created", 0, opening), _frame("response.in_progress", 1, opening)]
    seq = 2
    for _ in range(waits):
        frames.append(_frame("keepalive", seq, {}))
        seq += 1
    item_id = f"msg_{rid[5:]}00"
    ref = {"item_id": item_id, "output_index": 0}
    added = {"id": item_id, "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
    frames.append(_frame("response.output_item.added", seq, {"output_index": 0, "item": added}))
    frames.append(
        _frame("response.content_part.added", seq + 1, {**ref, "content_index": 0, "part": _part("")})
    )
    seq += 2
    for t in texts:
        delta = {**ref, "content_index": 0, "delta": t, "logprobs": []}
        frames.append(_frame("response.output_text.delta", seq, delta))
        seq += 1
    text = "".join(texts)
    frames.append(
        _frame("response.output_text.done", seq, {**ref, "content_index": 0, "text": text, "logprobs": []})
    )
    frames.append(
        _frame("response.content_part.done", seq + 1, {**ref, "content_index": 0, "part": _part(text)})
    )
    item = _message(item_id, "completed", text)
    frames.append(_frame("response.output_item.done", seq + 2, {"output_index": 0, "item": item}))
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    said = {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": prompt + usage.output_tokens,
    }
    done = response_object(rid, model, created, "completed", output=[item], usage=said)
    frames.append(_frame("response.completed", seq + 3, {"response": done}))
    return frames


_TEXTS = st.lists(st.text(alphabet="ab é\u2603", min_size=1, max_size=5), min_size=1, max_size=8)


@PROPS
@given(
    st.text(max_size=10),
    st.integers(0, 2**40),
    st.sampled_from([0, 1, 200, 247, 248, 250, 251, 252, 253, 254, 255, 256, 300]),
    _TEXTS,
    st.booleans(),
    _USAGE,
)
def test_the_joined_frames_are_the_objects_frames(
    model: str, created: int, waits: int, texts: list[str], as_run: bool, usage: ir.Usage
) -> None:
    """Opening, message frames and ``response.completed`` from the pieces (or, past the number table, the
    templates): the frames of the objects, with ``created_at`` set after the encoder was made (the pieces that
    write it made again)."""
    enc = ResponsesStreamEncoder(View(model=model))
    enc.created_at = created
    out = enc.feed(ir.MessageStart(id="msg_01Ab", model="claude"))
    out += b"".join(enc.feed(ir.KeepAlive()) for _ in range(waits))
    out += enc.feed(ir.TextDelta(texts[0]))
    if as_run:  # the run lane's bodies: JSON string bodies of texts without escapes (these have none)
        run = enc.text_frames([orjson.dumps(t)[1:-1] for t in texts[1:]]) if texts[1:] else b""
        assert run is not None
        out += run
    else:
        out += b"".join(enc.feed(ir.TextDelta(t)) for t in texts[1:])
    out += enc.feed(ir.UsageUpdate(usage)) + enc.feed(ir.Finish("end_turn")) + enc.finish()
    assert enc.response_id == "resp_msg01Ab"
    assert _frames(out) == _expected("resp_msg01Ab", model, created, waits, texts, usage)


@PROPS
@given(_TEXTS, st.sampled_from(["failed", "max_tokens", "content_filter"]))
def test_a_closed_messages_object_is_in_a_failed_or_cut_response(texts: list[str], end: str) -> None:
    """The message item closed before the stream fails or is cut carries its object (made when read: ``_objects``)
    in ``response.failed`` / ``response.incomplete``."""
    enc = ResponsesStreamEncoder(View(model="m"), response_id="resp_1")
    out = enc.feed(ir.MessageStart(id="msg_1", model="m"))
    out += b"".join(enc.feed(ir.TextDelta(t)) for t in texts)
    if end == "failed":
        out += enc.feed(ir.Finish("end_turn"))
        out += enc.feed(ir.StreamError(status=500, type="api_error", message="boom")) + enc.finish()
        status, kind = "completed", "response.failed"
    else:
        out += enc.feed(
            ir.Finish("max_tokens" if end == "max_tokens" else "refusal", None, end != "max_tokens")
        )
        out += enc.finish()
        status, kind = ("incomplete" if end == "max_tokens" else "completed"), "response.incomplete"
    last = _frames(out)[-1]
    assert last.startswith(b"event: " + kind.encode() + b"\n")
    response = orjson.loads(last.split(b"data: ", 1)[1])["response"]
    assert response["output"] == [_message("msg_100", status, "".join(texts))]
    assert enc.final is not None and enc.final["output"] == response["output"]


def test_a_whole_answers_message_object_is_made_when_read() -> None:
    """A non-streamed answer (no frames) keeps the message's object for ``final``."""
    enc = ResponsesStreamEncoder(View(model="m"), response_id="resp_1", frames=False)
    enc.feed(ir.MessageStart(id="msg_1", model="m"))
    assert (
        enc.feed(ir.TextDelta("hi ")) + enc.feed(ir.TextDelta("there")) + enc.feed(ir.Finish("end_turn"))
        == b""
    )
    assert enc.finish() == b""
    assert enc.final is not None and enc.final["output"] == [_message("msg_100", "completed", "hi there")]
