"""``usage_from_openai``'s path for usage whose keys are all OpenAI's own (session 21, issue 13: the probes of
other servers' spellings skipped) gives the same ``Usage``, every field (those left out of ``==`` too), as the
general path that probes them all (the same body with no usage taken for OpenAI's own: ``probing_all``), for any
usage: OpenAI's keys, other servers' keys, odd values."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _openai_wire
from services.gateway.dialects._openai_wire import usage_from_openai
from services.gateway.dialects.ir import Usage

# every key either path reads, at the top of usage and in ``prompt_tokens_details``
TOP = sorted(
    {
        *_openai_wire._OWN,
        *_openai_wire._OTHER_CACHE_READ,
        *_openai_wire._NEW_API_SPLIT,
        "cache_creation_input_tokens",
        "cache_creation",
        "server_tool_use",
        "cost",
        "cost_in_usd_ticks",
        "cost_details",
        "is_byok",
    }
)
PROMPT = sorted(
    {
        *_openai_wire._OWN_PROMPT,
        "cache_write_tokens",
        "cache_creation_tokens",
        "cached_creation_tokens",
        "cache_creation_input_tokens",
        "cache_creation",
        "cache_creation_token_details",
        "web_search_requests",
    }
)
COMPLETION = ["reasoning_tokens", "audio_tokens", "accepted_prediction_tokens"]
SPLIT = ["ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"]

scalar = st.one_of(
    st.integers(-5, 2_000),
    st.integers(-(2**70), 2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.sampled_from(["", "7", "x"]),
)
# counts as servers send them, most of the time (the buckets' arithmetic), else any scalar
count = st.one_of(st.integers(0, 3_000), st.integers(-3, 3), scalar)
split = st.dictionaries(st.sampled_from(SPLIT), scalar, max_size=2)
inner = st.one_of(
    scalar,
    split,
    st.dictionaries(st.sampled_from(PROMPT + COMPLETION + ["web_search_requests", "total_cost"]), scalar),
)
prompt = st.one_of(scalar, st.dictionaries(st.sampled_from(PROMPT), st.one_of(scalar, split)))
# mostly OpenAI's own keys (the fast path), sometimes another's (the general path must be taken)
own_prompt = st.one_of(st.none(), st.dictionaries(st.sampled_from(sorted(_openai_wire._OWN_PROMPT)), count))
completion = st.one_of(scalar, st.dictionaries(st.sampled_from(COMPLETION), count))


@st.composite
def usages(draw: st.DrawFn) -> dict[str, Any]:
    u: dict[str, Any] = draw(
        st.dictionaries(st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens"]), count)
    )
    if draw(st.booleans()):
        u["prompt_tokens_details"] = draw(own_prompt if draw(st.booleans()) else prompt)
    if draw(st.booleans()):
        u["completion_tokens_details"] = draw(completion)
    if draw(st.booleans()):  # another server's keys beside them
        u.update(draw(st.dictionaries(st.sampled_from(TOP), inner, max_size=3)))
    return u


def every_field(usage: Usage) -> tuple[Any, ...]:
    return tuple((f.name, getattr(usage, f.name)) for f in dataclasses.fields(usage))


@contextmanager
def probing_all() -> Iterator[None]:
    """``usage_from_openai`` with no key of OpenAI's own (``_OWN`` empty): every probe runs on any usage but
    ``{}``."""
    own = _openai_wire._OWN
    _openai_wire._OWN = frozenset()
    try:
        yield
    finally:
        _openai_wire._OWN = own


def general(u: dict[str, Any], tier: Any = None) -> Usage:
    with probing_all():
        return usage_from_openai(u, tier)


@settings(max_examples=600, deadline=None)
@given(usages(), st.one_of(st.none(), st.sampled_from(["default", "flex"]), st.integers()))
def test_the_fast_path_equals_the_general_one(u: dict[str, Any], tier: Any) -> None:
    assert every_field(usage_from_openai(u, tier)) == every_field(general(u, tier))


def test_openai_own_usage_takes_the_fast_path() -> None:
    """The fast path is taken for OpenAI's own usage (the probes are not run: ``_write_1h``, the TTL split's,
    not called though the usage has cache writes), and not for usage with another server's key."""
    calls: list[dict[str, Any]] = []
    write_1h = _openai_wire._write_1h

    def spy(u: dict[str, Any], prompt: Any) -> int | None:
        calls.append(u)
        return write_1h(u, prompt)

    own = {
        "prompt_tokens": 20,
        "completion_tokens": 9,
        "total_tokens": 29,
        "prompt_tokens_details": {
            "cached_tokens": 4,
            "audio_tokens": 0,
            "cache_write_tokens": 2,
            "text_tokens": 1,
        },
        "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0},
    }
    _openai_wire._write_1h = spy
    try:
        fast = usage_from_openai(own)
        assert not calls
        assert (fast.input_tokens, fast.cache_read_tokens, fast.cache_write_tokens) == (14, 4, 2)
        assert (fast.output_tokens, fast.reasoning_tokens) == (9, 3)
        with probing_all():
            assert usage_from_openai(own) == fast
        assert calls == [own]
        other = usage_from_openai({**own, "prompt_tokens_details": None, "prompt_cache_hit_tokens": 5})
        assert other.cache_read_tokens == 5 and other.input_tokens == 15
    finally:
        _openai_wire._write_1h = write_1h


OWN_USAGE = {
    "prompt_tokens": 300,
    "completion_tokens": 20,
    "total_tokens": 320,
    "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
# OpenAI's own keys (API reference, "The chat completion object"; api-conformance.md), spelled here, not taken
# from ``_OWN``/``_OWN_PROMPT``: a probed key added there must fail the test below
OWN_TOP = {
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
}
OWN_PROMPT = {"cached_tokens", "audio_tokens", "cache_write_tokens", "image_tokens", "text_tokens"}
# a value of each kind a probe reads: a count, a cost, a TTL split or a tool-use object
PROBED = [7, 0.25, {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 5, "web_search_requests": 3}]


@pytest.mark.parametrize(
    ("place", "key"),
    [(None, k) for k in TOP if k not in OWN_TOP]
    + [("prompt_tokens_details", k) for k in PROMPT if k not in OWN_PROMPT],
)
def test_every_other_key_beside_openai_own_is_probed(place: str | None, key: str) -> None:
    """Each key another server spells, alone beside OpenAI's own (at the top of usage or in
    ``prompt_tokens_details``), is read as with every probe run: the fast path is never taken for it."""
    for value in PROBED:
        u = {**OWN_USAGE, "prompt_tokens_details": {**OWN_USAGE["prompt_tokens_details"]}}
        (u[place] if place else u)[key] = value
        assert every_field(usage_from_openai(u)) == every_field(general(u)), value


def test_the_fields_usage_from_openai_passes_by_position() -> None:
    """``usage_from_openai`` passes ``Usage``'s first eight fields by position (fewer keywords: cheaper): their
    order is this one."""
    names = [f.name for f in dataclasses.fields(Usage)][:8]
    assert names == [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "provider_cost_usd",
        "cache_write_1h_tokens",
        "web_search_requests",
    ]
