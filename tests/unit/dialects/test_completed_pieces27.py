"""Session 27 (issue 13, responses → anthropic): the Responses encoder's shortcuts give the bytes they stand for.

- ``response_id_for`` without its per-character filter for ids of letters, digits and underscores: the id the
  filter makes, for any upstream id;
- ``_item_id`` from a hex table: the f-string's id, for any index;
- ``response.completed`` from pieces (the id and model JSON kept from the opening, the message item's JSON
  kept from its ``output_item.done``, the usage from a template): the frame ``_frame`` writes of the response
  object, also when the opening was sent for an earlier route (``opened``: no id or model kept) and when
  items of other kinds come before or after the message (their JSON not kept).
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import ir
from services.gateway.dialects._opening import Opening
from services.gateway.dialects._responses_stream import ResponsesStreamEncoder
from services.gateway.dialects._responses_wire import new_hex, response_id_for
from services.gateway.dialects.view import View

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _filtered(upstream_id: str | None) -> str | None:
    """``response_id_for`` before session 27, but for a fresh id (None: the caller checks the shape)."""
    if upstream_id and upstream_id.startswith("resp_"):
        return upstream_id
    tail = "".join(filter(str.isalnum, upstream_id or ""))
    return "resp_" + tail if tail else None


_IDS = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.text(alphabet="ab_01-é٣ ", max_size=12),
    st.from_regex(r"msg_[0-9A-Za-z]{1,26}", fullmatch=True),
    st.sampled_from(["", "_", "__", "resp_x", "chatcmpl-1", "msg_01XFDUDYJgAACzvnptvVoYEL"]),
)


@PROPS
@given(_IDS)
def test_response_id_is_the_filters(upstream_id: str | None) -> None:
    got = response_id_for(upstream_id)
    want = _filtered(upstream_id)
    if want is None:  # nothing of the id kept: a fresh one
        assert got.startswith("resp_") and len(got) == 5 + len(new_hex())
    else:
        assert got == want


@PROPS
@given(st.integers(0, 5000), st.sampled_from(["msg_", "fc_", "rs_", "ctc_"]))
def test_item_id_is_the_f_strings(index: int, prefix: str) -> None:
    enc = ResponsesStreamEncoder(View(model="m"), response_id="resp_abc_01")
    assert enc._item_id(prefix, index) == f"{prefix}abc_01{index:02x}"


def _general_completed(self: ResponsesStreamEncoder) -> bytes:
    """``response.completed`` as ``_frame`` writes the whole response object."""
    return self._frame("response.completed", {"response": self._response("completed")})


_USAGE = st.builds(
    ir.Usage,
    input_tokens=st.integers(0, 10**7),
    output_tokens=st.integers(0, 10**6),
    cache_read_tokens=st.integers(0, 10**6),
    cache_write_tokens=st.integers(0, 10**6),
    reasoning_tokens=st.integers(0, 10**5),
)
_DELTA = st.one_of(
    st.builds(ir.TextDelta, st.text(max_size=6)),
    st.builds(ir.ReasoningDelta, st.text(min_size=1, max_size=6)),
    st.builds(ir.SignatureDelta, st.text(min_size=1, max_size=6)),
    st.builds(ir.ToolCallStart, index=st.integers(0, 2), id=st.text(max_size=4), name=st.sampled_from(["f"])),
    st.builds(ir.ToolArgsDelta, index=st.integers(0, 2), fragment=st.sampled_from(['{"a":', "1}", ""])),
    st.builds(ir.UsageUpdate, _USAGE),
    st.just(ir.KeepAlive()),
)


def _run(deltas: list[ir.Delta], general: bool, resumed: int, model: str) -> tuple[bytes, Any]:
    enc = ResponsesStreamEncoder(View(model=model, reasoning=True), response_id=None)
    enc.created_at = 1_700_000_000
    if general:
        enc._completed = _general_completed.__get__(enc)  # type: ignore[method-assign]
    if resumed:
        enc.opened(Opening(frames=resumed, id="resp_earlier"))
    out = enc.feed(ir.MessageStart(id="msg_01Ab", model="x"))
    out += b"".join(enc.feed(d) for d in deltas)
    out += enc.feed(ir.Finish("end_turn")) + enc.finish()
    return out, enc.final


@PROPS
@given(st.lists(_DELTA, max_size=12), st.sampled_from([0, 2, 5]), st.sampled_from(["m", 'q"é', "claude-x"]))
def test_completed_from_pieces_is_the_objects_frame(deltas: list[ir.Delta], resumed: int, model: str) -> None:
    fast, fast_final = _run(deltas, False, resumed, model)
    general, general_final = _run(deltas, True, resumed, model)
    assert fast == general
    assert fast_final == general_final and fast_final is not None
    last = fast[fast.rindex(b"event: response.completed") :]
    body = orjson.loads(last.split(b"data: ", 1)[1])
    assert body["response"] == fast_final  # the object ``final`` gives is the one written


def test_a_message_then_a_call_writes_both_items() -> None:
    """A message closed by a tool call: the message's JSON is kept, the call's is not, and the completed
    frame still holds both (the kept pieces are used only when every item's is known)."""
    deltas: list[ir.Delta] = [ir.TextDelta("hi"), ir.ToolCallStart(index=0, id="c", name="f")]
    fast, final = _run(deltas, False, 0, "m")
    assert fast == _run(deltas, True, 0, "m")[0]
    assert final is not None and [item["type"] for item in final["output"]] == ["message", "function_call"]
