"""A function call's ``function_call_arguments.delta`` from its template (session 28): the bytes and answer of
the encoder before it, whose ``_tool_args`` wrote each delta with ``_frame`` (kept here)."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import ir
from services.gateway.dialects._responses_stream import ResponsesStreamEncoder
from services.gateway.dialects.view import View


def _old_tool_args(self: ResponsesStreamEncoder, d: ir.ToolArgsDelta) -> bytes:
    """``_tool_args`` before session 28: the delta's frame by ``_frame``."""
    item = self._open
    if item is None or item.tool != d.index or item.kind not in ("function_call", "custom_tool_call"):
        return b""
    item.text.append(d.fragment)
    if item.extractor is not None:
        return self._custom_delta(item, item.extractor.feed(d.fragment))
    return self._frame(
        "response.function_call_arguments.delta",
        {"item_id": item.id, "output_index": item.index, "delta": d.fragment},
    )


class _Before(ResponsesStreamEncoder):
    """The encoder before session 28: every delta through ``_content`` (no arguments fast path in ``feed``)."""

    def feed(self, d: ir.Delta) -> bytes:
        if type(d) is ir.ToolArgsDelta:
            if self._closed:
                return b""
            out = self._start(None)
            return out if self._finish is not None else out + self._content(d)
        return super().feed(d)

    _tool_args = _old_tool_args


_FRAGMENT = st.one_of(
    st.sampled_from(['{"a":', "1}", "é", "", '"\\u00e9"', "\n", '{"input":"x']), st.text(max_size=8)
)
_DELTA = st.one_of(
    st.builds(ir.TextDelta, st.text(max_size=4)),
    st.builds(ir.ReasoningDelta, st.text(min_size=1, max_size=4)),
    st.builds(
        ir.ToolCallStart,
        index=st.integers(0, 2),
        id=st.sampled_from(["", "toolu_1", 'a"b']),
        name=st.sampled_from(["f", "g", "ns:h", "free"]),
    ),
    st.builds(ir.ToolArgsDelta, index=st.integers(0, 2), fragment=_FRAGMENT),
    st.builds(ir.UsageUpdate, st.builds(ir.Usage, output_tokens=st.integers(0, 99))),
    st.just(ir.KeepAlive()),
    st.builds(ir.StreamError, st.just(529), st.just("overloaded_error"), st.text(max_size=4)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(_DELTA, max_size=16),
    st.sampled_from([None, "end_turn", "tool_use", "max_tokens"]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.integers(0, 300),
)
def test_the_arguments_template_writes_what_the_frame_did(
    deltas: list[ir.Delta], reason: str | None, frames: bool, compaction: bool, started: bool, count: int
) -> None:
    """Any answer (tool calls function or custom, in a namespace or not, arguments for the call open or another
    index, after an error, a stop reason or none, items past index 255, streamed or for ``final`` alone,
    compacting or not): the same bytes and the same ``final`` as the encoder before."""
    outs, finals = [], []
    for cls in (ResponsesStreamEncoder, _Before):
        view = View(model="m", custom_tools=frozenset({"free"}), compaction=compaction)
        enc = cls(view, response_id="resp_abc", frames=frames)
        enc.created_at = 7
        enc._count = count  # (output indexes from ``count``: two hex digits, then more)
        out = enc.feed(ir.MessageStart(id="msg_1", model="x")) if started else b""
        out += b"".join(enc.feed(d) for d in deltas)
        if reason is not None:
            out += enc.feed(ir.Finish(reason))  # type: ignore[arg-type]
        out += enc.finish()
        outs.append(out)
        finals.append(enc.final)
    assert outs[0] == outs[1]
    assert finals[0] == finals[1]


def test_a_call_streams_its_arguments_by_the_template() -> None:
    """A call's arguments frame by frame: the JSON ``_frame`` writes (the fields in its order), numbered in turn,
    and the fast path taken (``_content`` not called for them)."""
    enc = ResponsesStreamEncoder(View(model="m"), response_id="resp_abc")
    enc.feed(ir.MessageStart(id="msg_1", model="x"))
    enc.feed(ir.ToolCallStart(index=0, id="toolu_1", name="f"))
    enc._content = None  # type: ignore[assignment,method-assign]  # (the fast path calls no ``_content``)
    got = [enc.feed(ir.ToolArgsDelta(index=0, fragment=f)) for f in ('{"a":', '"é\\n"', "}")]
    objs = [orjson.loads(g.split(b"data: ", 1)[1]) for g in got]
    assert [list(o) for o in objs] == [["type", "sequence_number", "item_id", "output_index", "delta"]] * 3
    assert [o["sequence_number"] for o in objs] == [3, 4, 5]
    assert {o["item_id"] for o in objs} == {"fc_abc00"} and "".join(
        o["delta"] for o in objs
    ) == '{"a":"é\\n"}'
    assert all(g.startswith(b"event: response.function_call_arguments.delta\ndata: {") for g in got)
