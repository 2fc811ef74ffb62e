"""Session 23: the Responses wire's frame tap (``ResponsesStreamDecoder.feed_data``, ``WireSpec.frame_tap``)
and the bytes form of its inert test (``inert_data``), which a passthrough relay that splits a read into
frames itself (``Passthrough._feed_frames``) uses instead of making an ``SSEEvent`` and the data's text.

- The decoder: for every frame, ``feed_data`` of its data bytes gives ``feed``'s deltas and leaves ``feed``'s
  state, or says None and changes nothing (``feed`` then reads it); ``inert_data`` says yes only where
  ``feed`` would report nothing and change nothing.
- The relay's cut of the body's last read after the first text delta's frame (``Passthrough._feed_opening``,
  ``WireSpec.token_line``): the rest waits for ``settle`` unsplit, both parts when the first token came before.
- The relay: for hypothesis' Responses streams (the usual opening and near misses, text with non-ASCII,
  refusals, tool calls, usage with cached and reasoning tokens, ``response.incomplete``, ``response.failed``,
  error events, malformed and untyped frames, invalid UTF-8), read whole through ``feed_last``, a frame a
  read, or in two pieces, the bytes, facts, progress and ledger usage are the event-by-event reference's
  (``EventPassthrough``: ``tests/unit/test_passthrough_later21.py``'s ``_check``).
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._responses_stream import ResponsesStreamDecoder, ends_stream
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import Passthrough
from shared.sse import SSEEvent
from tests.unit.test_passthrough_later21 import _check

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1700000000,
    "status": "in_progress",
    "model": "gpt-x",
    "output": [],
    "usage": None,
}


def _j(obj: Any) -> bytes:
    return orjson.dumps(obj)


def _created(seq: int = 0, **over: Any) -> bytes:
    return _j({"type": "response.created", "sequence_number": seq, "response": {**RESPONSE, **over}})


def _in_progress(seq: int = 1, **over: Any) -> bytes:
    return _j({"type": "response.in_progress", "sequence_number": seq, "response": {**RESPONSE, **over}})


def _part(seq: int = 3) -> bytes:
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
    return _j(
        {
            "type": "response.content_part.added",
            "sequence_number": seq,
            "item_id": "msg_1",
            "output_index": 0,
            "content_index": 0,
            "part": part,
        }
    )


def _delta(text: str, kind: str = "response.output_text.delta", index: Any = 0) -> bytes:
    return _j({"type": kind, "sequence_number": 4, "item_id": "msg_1", "output_index": index, "delta": text})


def _item(kind: str, item: dict[str, Any], index: Any = 0) -> bytes:
    return _j({"type": kind, "sequence_number": 2, "output_index": index, "item": item})


USAGE = {
    "input_tokens": 40,
    "input_tokens_details": {"cached_tokens": 16, "cache_write_tokens": 4},
    "output_tokens": 9,
    "output_tokens_details": {"reasoning_tokens": 5},
    "total_tokens": 49,
}


def _terminal(kind: str, **over: Any) -> bytes:
    status = {"response.completed": "completed", "response.incomplete": "incomplete"}.get(kind, "failed")
    response = {**RESPONSE, "status": status, "usage": USAGE, **over}
    if kind == "response.failed":
        response["error"] = {"code": "rate_limit_exceeded", "message": "slow down"}
    return _j({"type": kind, "sequence_number": 12, "response": response})


MESSAGE = {"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}
CALL = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "f", "arguments": ""}
TEXTS = st.sampled_from(["Hello ", "h\u00e9llo ", "\u65e5\u672c ", "\U0001f600", "", 'a\\n"b'])
ODD = st.sampled_from(
    [
        b"{",  # malformed
        b"[1,2]",
        b'{"sequence_number":5}',  # no type: the event's name decides
        b'{"type":""}',
        b'{"type":7}',
        b'{"type":["response.created"]}',
        b'{"type":"error","error":{"code":"server_error","message":"boom"}}',
        b'{"type":"error","code":"rate_limit_exceeded","message":"x"}',
        b' {"type":"response.output_text.delta","output_index":0,"delta":"lead"}',
        b'{"type":"response.output_text.delta","output_index":0,"delta":"trail"} ',
        b'{"type":"response.output_text.delta","output_index":true,"delta":"bool index"}',
        b'{"type":"response.output_text.delta","output_index":0,"delta":5}',
        b'{"type":"response.refusal.delta","output_index":0,"delta":"no"}',
        b'{"type":"response.output_text.delta","output_index":0,"delta":"x","response":{"model":"m2"}}',
        b'{"type":"response.output_text.delta","output_index":0,"delta":"x","response":7}',
        b'{"type":"response.created","response":{"model":"m3","id":""}}',
        b'{"type":"response.in_progress","response":{"model":5}}',
        b'{"type":"response.output_text.delta","delta":"\xff\xfe"}',  # not UTF-8
        b"[DONE]",
        b"",
    ]
)


@st.composite
def _frames(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """(event name, data) pairs: a Responses stream's usual order with near misses and odd frames mixed in."""
    out: list[tuple[str, bytes]] = []
    model = draw(st.sampled_from(["gpt-x", "gpt-\u00e9", ""]))
    created = _created(0, model=model)
    if draw(st.booleans()):
        created = created.replace(b',"response":', b' ,"response":')  # not the usual head: no twin
    out.append(("response.created", created))
    twin = draw(st.sampled_from(["twin", "other seq", "other model", "none", "bad"]))
    if twin == "twin":
        out.append(("response.in_progress", _in_progress(1, model=model)))
    elif twin == "other seq":
        big = _in_progress(1, model=model).replace(
            b'"sequence_number":1,', b'"sequence_number":' + b"9" * 21 + b","
        )
        out.append(("response.in_progress", big))  # (more digits than ``inert`` reads)
    elif twin == "other model":
        out.append(("response.in_progress", _in_progress(1, model="gpt-z")))
    elif twin == "bad":
        out.append(("response.in_progress", _in_progress(1, model=model)[:-1]))
    call = draw(st.booleans())
    out.append(("response.output_item.added", _item("response.output_item.added", CALL if call else MESSAGE)))
    if draw(st.booleans()):  # a reasoning model's first token comes before the text's frames
        out.append(
            (
                "response.reasoning_summary_text.delta",
                _delta("think", "response.reasoning_summary_text.delta"),
            )
        )
    if draw(st.booleans()):
        out.append(("response.content_part.added", _part()))
    for _ in range(draw(st.integers(0, 4))):
        if call:
            out.append(
                (
                    "response.function_call_arguments.delta",
                    _delta('{"a":', "response.function_call_arguments.delta"),
                )
            )
        else:
            out.append(("response.output_text.delta", _delta(draw(TEXTS))))
        if draw(st.integers(0, 5)) == 0:
            out.append((draw(st.sampled_from(["response.output_text.delta", "x", "error"])), draw(ODD)))
    done = dict(MESSAGE, status="completed") if not call else dict(CALL, arguments='{"a":1}')
    out.append(("response.output_item.done", _item("response.output_item.done", done)))
    end = draw(
        st.sampled_from(["response.completed", "response.incomplete", "response.failed", "none", "odd"])
    )
    if end in ("none", "odd"):
        if end == "odd":
            out.append((draw(st.sampled_from(["response.completed", "x"])), draw(ODD)))
    else:
        out.append((end, _terminal(end, model=model)))
    return out


def _body(frames: list[tuple[str, bytes]]) -> bytes:
    return b"".join(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n" for name, data in frames)


def _state(decoder: ResponsesStreamDecoder) -> dict[str, Any]:
    state = copy.deepcopy(vars(decoder))
    twin = state.pop("_twin")
    state["twin"] = twin.decode() if type(twin) is bytes else twin
    state.pop("parsed")
    return state


def _deltas(deltas: list[Any]) -> list[str]:
    # (``MessageStart``'s id is made fresh when the response names none: compared by kind then)
    return [repr(d) if type(d).__name__ != "MessageStart" or d.id != "" else "start" for d in deltas]


@FUZZ
@given(_frames())
def test_feed_data_reads_every_frame_as_feed_does(frames: list[tuple[str, bytes]]) -> None:
    tapped, fed = ResponsesStreamDecoder(), ResponsesStreamDecoder()
    for name, data in frames:
        text = data.decode("utf-8", "replace")
        got = tapped.feed_data(data)
        if got is None:
            got = tapped.feed(SSEEvent(name, text))
        want = fed.feed(SSEEvent(name, text))
        assert _deltas(got) == _deltas(want)
        assert _state(tapped) == _state(fed)


@FUZZ
@given(_frames())
def test_inert_data_says_yes_only_where_feed_changes_nothing(frames: list[tuple[str, bytes]]) -> None:
    decoder = ResponsesStreamDecoder()
    for name, raw in frames:
        if decoder.inert_data(raw):
            before = _state(decoder)
            assert decoder.feed(SSEEvent(name, raw.decode())) == []
            # (but the twin: ``feed`` forgets it after any event, and the relay let this one by unread)
            assert {**_state(decoder), "twin": None} == {**before, "twin": None}
            continue
        if decoder.feed_data(raw) is None:
            decoder.feed(SSEEvent(name, raw.decode("utf-8", "replace")))


def test_inert_data_and_inert_agree_on_the_usual_opening() -> None:
    tapped, fed = ResponsesStreamDecoder(), ResponsesStreamDecoder()
    assert tapped.feed_data(_created()) is not None
    fed.feed(SSEEvent("response.created", _created().decode()))
    assert tapped.inert_data(_in_progress()) and fed.inert(_in_progress().decode())
    # each reads its own kind of twin: a created read by ``feed`` makes no bytes twin, and the reverse
    assert not tapped.inert(_in_progress().decode()) and not fed.inert_data(_in_progress())
    assert tapped.inert_data(_part()) and fed.inert(_part().decode())
    assert not tapped.inert_data(_part().replace(b'"text":""', b'"text":"x"'))


def test_the_terminal_frame_parsed_by_ends_stream_is_not_parsed_again() -> None:
    body = _body([("response.created", _created()), ("response.completed", _terminal("response.completed"))])
    decoder = ResponsesStreamDecoder()
    assert ends_stream(decoder, body) and decoder.parsed is not None
    kept = decoder.parsed[1]
    decoder.feed_data(_created())
    assert decoder.parsed is not None and decoder.parsed[1] is kept  # (another frame: kept)
    assert decoder.feed_data(_terminal("response.completed")) is not None
    assert decoder.parsed is None and decoder.done and decoder.usage is not None
    assert (
        decoder.usage.input_tokens,
        decoder.usage.cache_read_tokens,
        decoder.usage.cache_write_tokens,
    ) == (
        20,
        16,
        4,
    )
    assert decoder.usage.reasoning_tokens == 5


@FUZZ
@given(_frames(), st.sampled_from(["whole", "frames", "two"]), st.integers(0, 10**6))
def test_relay_streams_match_the_reference(frames: list[tuple[str, bytes]], how: str, cut: int) -> None:
    body = _body(frames)
    if how == "whole":
        reads = [body]
    elif how == "frames":
        reads = [f + b"\n\n" for f in body.split(b"\n\n") if f]
    else:
        at = cut % (len(body) - 1) + 1
        reads = [body[:at], body[at:]]
    _check("openai_responses", reads)


def test_the_usual_answer_in_one_read_ends_early() -> None:
    frames = [
        ("response.created", _created()),
        ("response.in_progress", _in_progress()),
        ("response.output_item.added", _item("response.output_item.added", MESSAGE)),
        ("response.content_part.added", _part()),
        ("response.output_text.delta", _delta("h\u00e9llo")),
        ("response.output_text.delta", _delta(" world")),
        ("response.output_item.done", _item("response.output_item.done", dict(MESSAGE, status="completed"))),
        ("response.completed", _terminal("response.completed")),
    ]
    assert _check("openai_responses", [_body(frames)])


@FUZZ
@given(
    st.fixed_dictionaries(
        {"type": st.just("response.output_text.delta")},
        optional={
            "output_index": st.sampled_from([0, 1, True, False, -1, "0", None, 2**70]),
            "delta": st.one_of(TEXTS, st.sampled_from([None, 5, ["x"], {"a": 1}])),
            "response": st.sampled_from([None, 7, "r"]),
        },
    ),
    st.booleans(),
)
def test_the_text_delta_shortcut_is_the_general_reading(obj: dict[str, Any], call: bool) -> None:
    """``_object``'s text delta without ``_event``'s calls: the same deltas and state as ``_event``."""
    short, general = ResponsesStreamDecoder(), ResponsesStreamDecoder()
    for decoder in (short, general):
        decoder.feed_data(_created())
        decoder.feed_data(_item("response.output_item.added", CALL if call else MESSAGE))
    kind = obj["type"]
    assert _deltas(short._object(kind, obj, b"")) == _deltas(general._event(kind, obj))
    assert _state(short) == _state(general)


def test_only_the_frames_up_to_the_first_text_are_split_before_the_answer_ends() -> None:
    """A one-read Responses answer: the frames after the first text delta's frame wait for ``settle``
    (``_later``), and ``settle`` reads them. Since session 27 (perf27pt) the guarded Responses passthrough
    splits its whole last read once (``Passthrough.feed_last``: the blank guard tests the split lines) and
    keeps the lines for ``settle``, from the frame after the first token on (``_feed_opening``, which left
    the rest unsplit, serves the unguarded wires)."""
    frames = [
        ("response.created", _created()),
        ("response.output_item.added", _item("response.output_item.added", MESSAGE)),
        ("response.output_text.delta", _delta("one")),
        ("response.output_text.delta", _delta("two")),
        ("response.completed", _terminal("response.completed")),
    ]
    body = _body(frames)
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    assert relay.feed_last(body) == body and relay.saw_content
    assert relay._later is not None and relay._later[1] is not None
    # the read, its lines, and the first frame not yet decoded: the one after the first text ("two")
    assert (relay._later[0], relay._later[2], relay._later[3]) == (body, 3, b"")
    assert relay.usage is None
    relay.settle()
    assert relay.complete and relay.usage is not None and relay.usage.reasoning_tokens == 5


def test_a_first_token_before_the_cut_leaves_both_parts_for_settle() -> None:
    frames = [
        ("response.created", _created()),
        ("response.reasoning_summary_text.delta", _delta("think", "response.reasoning_summary_text.delta")),
        ("response.output_item.added", _item("response.output_item.added", MESSAGE)),
        ("response.output_text.delta", _delta("one")),
        ("response.output_text.delta", _delta("two")),
        ("response.completed", _terminal("response.completed")),
    ]
    body = _body(frames)
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"))
    assert relay.feed_last(body) == body and relay.saw_content
    # the whole read split once (session 27): decoded up to the first token (the reasoning delta, frame 1)
    assert relay._later is not None and relay._later[1] is not None
    assert (relay._later[0], relay._later[2], relay._later[3]) == (body, 2, b"")
    assert _check("openai_responses", [body])
