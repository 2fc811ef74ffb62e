"""``place_anthropic_breakpoints`` leaves a plain system prompt out of its look for the client's own markers
(``_prompt_cache._plain``): it marks every body exactly as the look over the whole body does, whatever the
system, tools and turns hold."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _prompt_cache
from services.gateway.dialects._prompt_cache import has_markers, place_anthropic_breakpoints

MARK = {"type": "ephemeral"}
texts = st.sampled_from(["", "be brief", "cache_control", '{"cache_control": 1}'])
blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}),
    st.fixed_dictionaries(
        {"type": st.just("text"), "text": texts, "cache_control": st.sampled_from([MARK, "x"])}
    ),
    st.fixed_dictionaries({"type": st.just("text"), "text": texts, "citations": st.just([])}),
    st.fixed_dictionaries({"type": st.just("text"), "text": st.just({"cache_control": MARK})}),
    st.fixed_dictionaries({"type": st.just({"cache_control": MARK}), "text": texts}),
    st.just("text"),
)
systems = st.one_of(st.none(), texts, st.lists(blocks, max_size=3), st.just({"cache_control": MARK}))
tools = st.lists(
    st.fixed_dictionaries(
        {"name": st.just("t"), "input_schema": st.just({"type": "object"})},
        optional={"cache_control": st.just(MARK)},
    ),
    max_size=2,
)
turns = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["user", "assistant"]),
            "content": st.one_of(texts, st.lists(blocks, max_size=2)),
        }
    ),
    max_size=3,
)


def _body(system: Any, tool_list: list[Any], messages: list[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "max_tokens": 8, "messages": messages}
    if system is not None:
        body["system"] = system
    if tool_list:
        body["tools"] = tool_list
    return body


@settings(max_examples=300, deadline=None)
@given(systems, tools, turns)
def test_marks_as_the_whole_body_look_does(system: Any, tool_list: list[Any], messages: list[Any]) -> None:
    body = _body(system, tool_list, messages)
    fast, whole = copy.deepcopy(body), copy.deepcopy(body)
    place_anthropic_breakpoints(fast)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_prompt_cache, "_plain", lambda system: False)
        place_anthropic_breakpoints(whole)
    assert fast == whole


@given(systems)
def test_a_plain_system_holds_no_marker(system: Any) -> None:
    if _prompt_cache._plain(system):
        assert not has_markers(system)
