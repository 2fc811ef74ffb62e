"""Session 23 (issue 13): ``merge_stream_usage`` without a comprehension per nested object gives what it gave.

The merge before session 23 is kept here as it was (``_before``); on random ``message_start`` and
``message_delta`` usage objects (nested objects with and without nulls, on one side or both, ``iterations``
lists, absent, null or given, odd values) the merge gives the same object with the same key order (the
bytes of ``orjson.dumps``) and changes neither input.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_wire import _message_step_updated, merge_stream_usage

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _before(start: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """``merge_stream_usage`` before session 23, as it was."""
    out = dict(start)
    for key, value in delta.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **{k: v for k, v in value.items() if v is not None}}
        else:
            out[key] = value
    steps = out.get("iterations")
    if delta.get("iterations") is None and type(steps) is list:
        out["iterations"] = _message_step_updated(steps, delta)
    return out


KEYS = [
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "server_tool_use",
    "iterations",
    "service_tier",
    "speed",
]
INNER = ["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens", "web_search_requests", "x"]
leaf = st.none() | st.integers(-5, 10**6) | st.booleans() | st.text(max_size=4) | st.floats(allow_nan=False)
inner = st.dictionaries(st.sampled_from(INNER), leaf, max_size=4)
step = st.dictionaries(st.sampled_from(["type", *KEYS[:4], "model"]), leaf | st.just("message"), max_size=5)
value = leaf | inner | st.lists(step | leaf, max_size=3)
usage = st.dictionaries(st.sampled_from(KEYS), value, max_size=len(KEYS))


@PROPS
@given(start=usage, delta=usage)
def test_merge_is_as_before(start: dict[str, Any], delta: dict[str, Any]) -> None:
    start_copy, delta_copy = copy.deepcopy(start), copy.deepcopy(delta)
    got = merge_stream_usage(start, delta)
    assert orjson.dumps(got) == orjson.dumps(_before(start_copy, delta_copy))
    assert start == start_copy and delta == delta_copy  # neither input changed
    for key, v in got.items():  # a merged nested object is a new one, never the start's
        if isinstance(v, dict) and isinstance(start.get(key), dict) and isinstance(delta.get(key), dict):
            assert v is not start[key]


def test_nested_nulls_keep_the_start() -> None:
    start = {"cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 4}}
    delta = {"cache_creation": {"ephemeral_5m_input_tokens": None, "ephemeral_1h_input_tokens": 7, "x": None}}
    merged = merge_stream_usage(start, delta)
    assert merged == {"cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 7}}
