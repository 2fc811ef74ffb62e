"""Session 24 (issue 13): a plain chat request translated for Anthropic directly (``_plain_to_anthropic``).

``chat_to_anthropic`` writes the body of a plain request (text messages of the system, developer, user and
assistant roles, a token limit, ``stream``, ``stream_options``: ``_plain_turns``) without the field walk,
``_messages`` and the breakpoint search. These check the lane against the general path (the same function
with the lane shut: ``_PLAIN_KEYS`` empty): the same body bytes (key order, markers), tool names, the same
error text and param, the client's body left as it was, for random bodies near the plain shape (contents
that are lists, null, empty; roles odd; extra message keys; limits of every JSON kind; ``stream`` and
``stream_options`` of every kind) on every Anthropic target kind, and the openai SDK's captured chat bodies;
that the lane is taken; and that a body said ``unminted`` is one ``strip_for_anthropic`` leaves as it is
(``Proxy._build`` skips the strip for it).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _request_to_anthropic as ra
from services.gateway.dialects._minted import strip_for_anthropic
from services.gateway.dialects._request_common import Target, TranslationError
from services.gateway.providers.anthropic import AnthropicProvider

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "requests"

_PROVIDER = AnthropicProvider("anthropic", "http://127.0.0.1:9", "k")
# a current model, one with adaptive thinking, an old one with a small output limit
TARGETS = [_PROVIDER.target(m) for m in ("claude-haiku-4-5", "claude-opus-4-6", "claude-3-haiku")]

json_leaf = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
texts = st.sampled_from(["", "hello bench", 'say "cache_control"', "é✓ 😀\n\t\\", "\u2028"]) | st.text()
roles = st.sampled_from(["system", "developer", "user", "assistant"])
odd_roles = st.sampled_from(["tool", "function", "model", "", None]) | st.just(["user"])
parts = st.lists(
    st.fixed_dictionaries({"type": st.just("text"), "text": texts}) | json_value, min_size=0, max_size=2
)


@st.composite
def messages(draw: st.DrawFn) -> Any:
    message: dict[str, Any] = {"role": draw(roles), "content": draw(texts)}
    if draw(st.integers(0, 24)) == 0:  # one in 25: not plain, in one way
        way = draw(st.integers(0, 4))
        if way == 0:
            message["content"] = draw(parts | st.none() | st.integers(-(2**63), 2**63 - 1))
        elif way == 1:
            message["role"] = draw(odd_roles)
        elif way == 2:
            message[draw(st.sampled_from(["name", "cache_control", "tool_calls", "x"]))] = draw(json_value)
        elif way == 3:
            del message[draw(st.sampled_from(["role", "content"]))]
        else:
            return draw(json_value)
    return message


@st.composite
def plain_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.sampled_from(["claude-haiku-4-5", "x"]))}
    few = draw(st.integers(0, 19)) == 0  # one in 20: fields not plain, in some way
    body["messages"] = draw(st.none() | json_leaf) if few else draw(st.lists(messages(), max_size=9))
    if draw(st.booleans()):
        body["stream"] = draw(st.none() | st.booleans() | st.just("yes"))
    if draw(st.booleans()):
        body["stream_options"] = draw(json_value) if few else {"include_usage": draw(st.booleans())}
    limit = (
        st.integers(-2, 300_000) | st.sampled_from([True, 1.5, "64", None])
        if few
        else st.integers(-2, 300_000)
    )
    for key in draw(st.lists(st.sampled_from(["max_tokens", "max_completion_tokens"]), unique=True)):
        body[key] = draw(limit)
    if few and draw(st.booleans()):  # a field outside the lane
        extra = st.sampled_from(["n", "temperature", "user", "stop", "reasoning_effort", "tools", "seed"])
        body[draw(extra)] = draw(json_value)
    items = list(body.items())  # the fields' order shuffled: the output's must not follow it
    order = draw(st.permutations(range(len(items))))
    return dict(items[i] for i in order)


def _outcome(body: dict[str, Any], target: Target) -> bytes:
    mine = orjson.loads(orjson.dumps(body))
    try:
        got = ra.chat_to_anthropic(mine, target)
    except TranslationError as exc:
        result: list[Any] = ["error", str(exc), exc.param]
    else:
        result = [got.body, got.tool_names, sorted(got.custom_tools), got.compaction, got.unminted]
    return orjson.dumps([*result, mine])


def _general(body: dict[str, Any], target: Target, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as m:
        m.setattr(ra, "_PLAIN_KEYS", frozenset())
        return _outcome(body, target)


@PROPS
@given(body=plain_bodies())
def test_plain_lane_is_the_general_path(body: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        for target in TARGETS:
            assert _outcome(body, target) == _general(body, target, monkeypatch)


def _captured_chat_bodies() -> list[dict[str, Any]]:
    """The openai SDK's chat bodies kept in the fixtures (verbatim captures)."""
    out = []
    for path in sorted(FIXTURES.glob("openai_sdk_*.json")):
        body = json.loads(path.read_text())["body"]
        if "messages" in body:
            out.append(body)
    return out


@pytest.mark.parametrize("body", _captured_chat_bodies())
def test_captured_bodies_translate_as_before(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for target in TARGETS:
        assert _outcome(body, target) == _general(body, target, monkeypatch)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "messages": [{"role": "user", "content": "hello bench"}], "stream": True},
        {
            "model": "m",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Plain text."},
                {"role": "user", "content": "one"},
                {"role": "user", "content": ""},
                {"role": "user", "content": "two"},
                {"role": "assistant", "content": "three"},
                {"role": "user", "content": "four"},
                {"role": "assistant", "content": ""},
            ],
            "max_tokens": 10**6,
            "stream_options": {"include_usage": True},
        },
        {"model": "m", "messages": [{"role": "user", "content": '"cache_control": {"type": "ephemeral"}'}]},
        {"model": "m", "messages": [], "max_completion_tokens": 5, "max_tokens": 7},
    ],
)
def test_plain_lane_is_taken(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The lane writes these bodies itself: the general path's steps are never reached."""
    expected = [_general(body, t, monkeypatch) for t in TARGETS]

    def general(*_: Any) -> Any:
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(ra, "_messages", general)
    monkeypatch.setattr(ra, "place_anthropic_breakpoints", general)
    assert [_outcome(body, t) for t in TARGETS] == expected


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 1},
        {"temperature": 0.5},
        {"reasoning_effort": "high"},
        {"tools": []},
        {"max_tokens": None},
        {"max_tokens": True},
        {"stream_options": None},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        {"messages": [{"role": "user", "content": "hi", "name": "u"}]},
        {"messages": [{"role": "tool", "content": "hi", "tool_call_id": "c"}]},
    ],
)
def test_other_requests_take_the_general_path(extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def plain(*_: Any) -> Any:
        raise AssertionError("the plain lane was taken")

    monkeypatch.setattr(ra, "_plain_to_anthropic", plain)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}
    try:
        ra.chat_to_anthropic(body, TARGETS[0])
    except TranslationError:
        pass  # (refused by the general path: what matters is which path)


reasoning_bodies = st.fixed_dictionaries(
    {"model": st.just("m"), "messages": st.lists(messages(), max_size=5)},
    optional={
        "reasoning_effort": st.sampled_from(["low", "high", "none", "x"]),
        "max_tokens": st.integers(1, 9000),
    },
)


@PROPS
@given(body=plain_bodies() | reasoning_bodies)
def test_an_unminted_body_is_one_the_strip_leaves(body: dict[str, Any]) -> None:
    """``unminted`` (the strip skipped) only on a body ``strip_for_anthropic`` would not change."""
    for target in TARGETS:
        try:
            got = ra.chat_to_anthropic(orjson.loads(orjson.dumps(body)), target)
        except TranslationError:
            continue
        before = copy.deepcopy(got.body)
        changed = strip_for_anthropic(got.body)
        if got.unminted:
            assert not changed
            assert got.body == before


def test_a_body_with_thinking_is_not_unminted() -> None:
    """With thinking on, the strip may have work (a tool loop's last turn without thinking): not skipped."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "reasoning_effort": "high"}
    got = ra.chat_to_anthropic(body, TARGETS[0])
    assert "thinking" in got.body
    assert got.unminted is False
