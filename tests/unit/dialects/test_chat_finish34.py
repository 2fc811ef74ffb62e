"""``ChatStreamDecoder._finish`` without its calls for the usual answer (one choice, no tool call: issue 13,
session 34) gives the deltas and state the general path gives, whatever the chunks before the finish were (text,
tool calls, other choices with or without their finish, ``expect_choices``) and whatever the finish reason is:
the reference below is ``_finish`` as it was before, run on a copy of the same decoder."""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects._openai_stream import ChatStreamDecoder
from services.gateway.dialects._openai_wire import stop_from_finish
from services.gateway.dialects.ir import Delta, Finish


def _reference_finish(self: ChatStreamDecoder, finish_reason: str) -> list[Delta]:
    """``ChatStreamDecoder._finish`` before session 34."""
    self._finished = True
    self.done = self._all_finished()
    out = self._advance(final=True)
    stop = stop_from_finish(finish_reason)
    if stop == "end_turn" and self._calls:
        stop = "tool_use"
    elif stop == "end_turn" and self._refusal:
        stop = "refusal"
    out.append(Finish(reason=stop, filtered=finish_reason == "content_filter"))
    return out


def _chunk(choices: list[dict[str, Any]]) -> str:
    return orjson.dumps(
        {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m", "choices": choices}
    ).decode()


CALL = st.fixed_dictionaries(
    {
        "index": st.integers(0, 1),
        "id": st.sampled_from(["call_a", "call_b"]),
        "function": st.fixed_dictionaries(
            {
                "name": st.sampled_from(["get", "put"]),
                "arguments": st.sampled_from(["", '{"a":', "1}", '"{\\"x\\":1}"', "null"]),
            }
        ),
    }
)
CHOICE = st.one_of(
    st.builds(
        lambda t: {"index": 0, "delta": {"content": t}, "finish_reason": None},
        st.sampled_from(["Hi", "", " there"]),
    ),
    st.builds(lambda c: {"index": 0, "delta": {"tool_calls": [c]}, "finish_reason": None}, CALL),
    st.builds(
        lambda r: {"index": 0, "delta": {"refusal": r}, "finish_reason": None}, st.sampled_from(["no", ""])
    ),
    st.builds(
        lambda i, f: {"index": i, "delta": {"content": "x"}, "finish_reason": f},
        st.integers(1, 3),
        st.sampled_from([None, "stop"]),
    ),
)
REASONS = st.sampled_from(["stop", "length", "tool_calls", "content_filter", "function_call", "other", ""])


@settings(max_examples=300, deadline=None)
@given(st.lists(CHOICE, max_size=8), st.sampled_from([None, 1, 2, 3]), REASONS)
def test_finish_is_the_general_path(choices: list[dict[str, Any]], n: int | None, reason: str) -> None:
    dec = ChatStreamDecoder()
    dec.expect_choices(n)
    dec.feed_data(
        _chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
    )
    for choice in choices:
        dec.feed_data(_chunk([choice]))
    ref = copy.deepcopy(dec)
    assert dec._finish(reason) == _reference_finish(ref, reason)
    assert vars(dec) == vars(ref)


def test_a_plain_answers_finish_calls_no_helper(monkeypatch: Any) -> None:
    """One choice, no tool call: the finish runs neither ``_all_finished`` nor ``_advance``."""

    def called(*_: Any) -> Any:
        raise AssertionError("the general path ran")

    dec = ChatStreamDecoder()
    dec.feed_data(
        _chunk([{"index": 0, "delta": {"role": "assistant", "content": "Hi"}, "finish_reason": None}])
    )
    monkeypatch.setattr(ChatStreamDecoder, "_all_finished", called)
    monkeypatch.setattr(ChatStreamDecoder, "_advance", called)
    assert dec._finish("stop") == [Finish("end_turn")]
    assert dec.done
