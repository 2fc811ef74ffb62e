"""``usage_from_anthropic`` (written for few calls: positional ``Usage``, no helper per field) reads any
usage object as the plain field-by-field reading below does: the same counts for every value a field may
hold (ints, bools, floats, strings, nulls, objects), present or absent, with or without iterations."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_wire import usage_from_anthropic
from services.gateway.dialects.ir import Iteration, Usage, summed


def _int(value: Any) -> int:
    return value if type(value) is int else 0


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _counts(u: dict[str, Any]) -> Usage:
    split = _dict(u.get("cache_creation"))
    write_5m, write_1h = (
        _int(split.get("ephemeral_5m_input_tokens")),
        _int(split.get("ephemeral_1h_input_tokens")),
    )
    write = u.get("cache_creation_input_tokens")
    if type(write) is not int:  # absent, null or not a count: the split's sum (s20 variant 06-aa)
        write = write_5m + write_1h
    return Usage(
        input_tokens=_int(u.get("input_tokens")),
        output_tokens=_int(u.get("output_tokens")),
        cache_read_tokens=_int(u.get("cache_read_input_tokens")),
        cache_write_tokens=write,
        cache_write_1h_tokens=min(write_1h, write),
        reasoning_tokens=_int(_dict(u.get("output_tokens_details")).get("thinking_tokens")),
    )


def reference(u: dict[str, Any]) -> Usage:
    searches = _int(_dict(u.get("server_tool_use")).get("web_search_requests"))
    raw = u.get("iterations")
    steps = [it for it in raw if isinstance(it, dict)] if isinstance(raw, list) else []
    if not steps:
        usage = _counts(u)
        usage.web_search_requests = searches
        return usage
    iterations = tuple(
        Iteration(
            _counts(it), model=it["model"] if isinstance(it.get("model"), str) and it["model"] else None
        )
        for it in steps
    )
    usage = summed([it.usage for it in iterations])
    usage.web_search_requests = searches
    usage.iterations = iterations
    return usage


ints = st.integers(0, 100)
values = st.one_of(
    ints, ints, ints, st.integers(-5, 10**6), st.booleans(), st.none(), st.floats(0, 10), st.text(max_size=3)
)
split = st.dictionaries(st.sampled_from(["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"]), values)
counts = st.fixed_dictionaries(
    {},
    optional={
        "input_tokens": values,
        "output_tokens": values,
        "cache_read_input_tokens": values,
        "cache_creation_input_tokens": values,
        "cache_creation": st.one_of(split, split, split, values),
        "output_tokens_details": st.one_of(
            st.fixed_dictionaries({}, optional={"thinking_tokens": values}), values
        ),
        "server_tool_use": st.one_of(
            st.fixed_dictionaries({}, optional={"web_search_requests": values}), values
        ),
        "model": st.one_of(st.sampled_from(["", "claude-opus-4-1"]), values),
    },
)
usages = st.one_of(
    counts,
    st.builds(
        lambda top, steps: {**top, "iterations": steps},
        counts,
        st.lists(st.one_of(counts, values), max_size=3),
    ),
)


@settings(max_examples=500, deadline=None)
@given(usages)
def test_usage_reads_as_the_field_by_field_reference(u: dict[str, Any]) -> None:
    assert usage_from_anthropic(u) == reference(u)
    assert usage_from_anthropic(u).web_search_requests == reference(u).web_search_requests
