"""Session 23 (issue 13): a plain Responses request translated for Anthropic directly (``_plain_to_anthropic``).

``responses_to_anthropic`` writes the body of a plain request (a string ``input``, at most ``instructions``,
``max_output_tokens``, ``stream`` and fields it drops: ``_PLAIN_KEYS``) without its transcript, turns and
breakpoint search. These check the lane against the general path (the same function with the lane shut:
``_PLAIN_KEYS`` empty): the same body bytes (key order, markers), tool names, custom tools, compaction, the
same error text and param, and the client's body left as it was, for random plain bodies (unicode, empty and
marker-naming inputs and instructions, token limits valid and not, ``store`` of every kind, dropped fields of
any JSON value) on every Anthropic target kind, validated or not; and that the lane is taken.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _request_from_responses as rr
from services.gateway.dialects._request_common import Target, TranslationError
from services.gateway.providers.anthropic import AnthropicProvider

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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
DROPPED = sorted(rr._PLAIN_KEYS - {"model", "input", "stream", "instructions", "max_output_tokens", "store"})


@st.composite
def plain_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"model": draw(st.sampled_from(["claude-haiku-4-5", "x"])), "input": draw(texts)}
    if draw(st.booleans()):
        body["instructions"] = draw(
            st.none() | texts | st.integers(-(2**63), 2**63 - 1)
        )  # a body is JSON orjson read: 64-bit ints
    if draw(st.booleans()):
        body["stream"] = draw(st.none() | st.booleans() | st.just("yes"))
    if draw(st.booleans()):
        limit = st.integers(-2, 300_000) | st.sampled_from([True, 1.5, "64", None])
        body["max_output_tokens"] = draw(limit)
    if draw(st.booleans()):
        body["store"] = draw(st.none() | st.booleans() | st.just("no"))
    for key in draw(st.lists(st.sampled_from(DROPPED), unique=True, max_size=4)):
        body[key] = draw(json_value)
    # the fields' order shuffled: the output's order must not follow it
    items = list(body.items())
    order = draw(st.permutations(range(len(items))))
    return dict(items[i] for i in order)


def _outcome(body: dict[str, Any], target: Target, validated: bool) -> bytes:
    mine = orjson.loads(orjson.dumps(body))
    try:
        got = rr.responses_to_anthropic(mine, target, validated=validated)
    except TranslationError as exc:
        result: list[Any] = ["error", str(exc), exc.param]
    else:
        result = [got.body, got.tool_names, sorted(got.custom_tools), got.compaction]
    return orjson.dumps([*result, mine])


def _general(body: dict[str, Any], target: Target, validated: bool, monkeypatch: pytest.MonkeyPatch) -> bytes:
    with monkeypatch.context() as m:
        m.setattr(rr, "_PLAIN_KEYS", frozenset())
        return _outcome(body, target, validated)


def _valid(body: dict[str, Any]) -> bool:
    try:
        rr.validate_responses_request(orjson.loads(orjson.dumps(body)))
    except TranslationError:
        return False
    return True


@PROPS
@given(body=plain_bodies(), validated=st.booleans())
def test_plain_lane_is_the_general_path(body: dict[str, Any], validated: bool) -> None:
    if validated and not _valid(body):
        validated = False  # the gateway validates before it translates: an invalid body is never "validated"
    with pytest.MonkeyPatch.context() as monkeypatch:
        for target in TARGETS:
            assert _outcome(body, target, validated) == _general(body, target, validated, monkeypatch)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m", "input": "hello bench", "stream": True},
        {"model": "m", "input": "", "instructions": "be brief", "max_output_tokens": 10**6},
        {"model": "m", "input": "hi", "instructions": "", "store": False, "include": ["reasoning"]},
        {"model": "m", "input": 'a "cache_control": {"type": "ephemeral"}', "metadata": {"cache_control": 1}},
    ],
)
def test_plain_lane_is_taken(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The lane writes these bodies itself: the general path's steps are never reached."""
    expected = [_general(body, t, True, monkeypatch) for t in TARGETS]

    def general(*_: Any) -> Any:
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(rr, "_prepare", general)
    assert [_outcome(body, t, True) for t in TARGETS] == expected


@pytest.mark.parametrize(
    "extra",
    [
        {"store": True},
        {"input": ["hi"]},
        {"tools": []},
        {"reasoning": {"effort": "high"}},
        {"temperature": 0.5},
        {"user": "u"},
        {"text": {"verbosity": "low"}},
        {"previous_response_id": "resp_1"},
    ],
)
def test_other_requests_take_the_general_path(extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def plain(*_: Any) -> Any:
        raise AssertionError("the plain lane was taken")

    monkeypatch.setattr(rr, "_plain_to_anthropic", plain)
    body = {"model": "m", "input": "hi", **extra}
    try:
        rr.responses_to_anthropic(body, TARGETS[0])
    except TranslationError:
        pass  # (refused by the general path: what matters is which path)
