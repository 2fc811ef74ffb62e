"""Session 24 (issue 13): a plain Messages request translated for chat directly (``_request_to_chat._plain_to_chat``).

``anthropic_to_chat`` writes the body of a plain request (text messages, a string ``system``, ``max_tokens``,
``stream``: ``_plain_messages``) without the field walk, the tool namer and ``_messages``. These check the
lane against the general path (the same function with the lane shut: ``_PLAIN_KEYS`` empty): the same body
bytes (key order), tool names, the same error text and param, the client's body left as it was, for random
bodies near the plain shape (contents that are lists, null, empty; roles odd; extra message keys; limits
and systems of every JSON kind) on every chat target kind (OpenAI's two token fields, prompt cache keys with
and without a session, OpenRouter's markers), and on the captured requests (``request_golden.bodies``); and
that the lane is taken.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _request_to_chat as rc
from services.gateway.dialects._prompt_cache import NO_SESSION, Session
from services.gateway.dialects._request_common import Target, TranslationError
from services.gateway.providers.openai_compat import OpenAIProvider, OpenRouterProvider, XAIProvider
from tests.unit.dialects.request_golden import bodies

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TARGETS = [
    OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-4o-mini"),
    OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-5"),
    XAIProvider("xai", "http://127.0.0.1:9", "k").target("grok-3-mini"),
    OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k").target("anthropic/claude-sonnet-4.5"),
]
SESSIONS = [NO_SESSION, Session(id="sess-1")]

json_leaf = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text()
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
texts = st.sampled_from(["", "hello bench", 'say "cache_control"', "é✓ 😀\n\t\\", "\u2028"]) | st.text()
roles = st.sampled_from(["user", "assistant", "user", "assistant", "system"])
odd_roles = st.sampled_from(["tool", "developer", "model", "", None]) | st.just(["user"])
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
            message[draw(st.sampled_from(["cache_control", "name", "x"]))] = draw(json_value)
        elif way == 3:
            del message[draw(st.sampled_from(["role", "content"]))]
        else:
            return draw(json_value)
    return message


@st.composite
def plain_bodies(draw: st.DrawFn) -> dict[str, Any]:
    few = draw(st.integers(0, 19)) == 0  # one in 20: fields not plain, in some way
    body: dict[str, Any] = {"model": draw(st.sampled_from(["gpt-4o-mini", "x"]))}
    body["messages"] = draw(st.none() | json_leaf) if few else draw(st.lists(messages(), max_size=9))
    limit = (
        st.integers(-2, 300_000) | st.sampled_from([True, 1.5, "64", None])
        if few
        else st.integers(1, 300_000)
    )
    if not few or draw(st.booleans()):
        body["max_tokens"] = draw(limit)
    if draw(st.booleans()):
        body["system"] = draw(json_value | parts) if few else draw(texts)
    if draw(st.booleans()):
        body["stream"] = draw(st.none() | st.booleans() | st.just("yes"))
    if few and draw(st.booleans()):  # a field outside the lane
        extra = st.sampled_from(
            ["metadata", "temperature", "tools", "thinking", "stop_sequences", "cache_control"]
        )
        body[draw(extra)] = draw(json_value)
    items = list(body.items())  # the fields' order shuffled: the output's must not follow it
    order = draw(st.permutations(range(len(items))))
    return dict(items[i] for i in order)


def _outcome(body: dict[str, Any], target: Target, session: Session) -> bytes:
    mine = orjson.loads(orjson.dumps(body))
    try:
        got = rc.anthropic_to_chat(mine, target, session)
    except TranslationError as exc:
        result: list[Any] = ["error", str(exc), exc.param]
    else:
        result = [got.body, got.tool_names, sorted(got.custom_tools), got.compaction]
    return orjson.dumps([*result, mine])


def _general(
    body: dict[str, Any], target: Target, session: Session, monkeypatch: pytest.MonkeyPatch
) -> bytes:
    with monkeypatch.context() as m:
        m.setattr(rc, "_PLAIN_KEYS", frozenset())
        return _outcome(body, target, session)


def _same(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for target in TARGETS:
        for session in SESSIONS:
            assert _outcome(body, target, session) == _general(body, target, session, monkeypatch)


@PROPS
@given(body=plain_bodies())
def test_plain_lane_is_the_general_path(body: dict[str, Any]) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        _same(body, monkeypatch)


CAPTURED = [(name, body) for name, body in bodies() if "messages" in body and "max_tokens" in body]


@pytest.mark.parametrize("body", [b for _, b in CAPTURED], ids=[n for n, _ in CAPTURED])
def test_captured_bodies_translate_as_before(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _same(body, monkeypatch)


@pytest.mark.parametrize(
    "body",
    [
        {
            "model": "m",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hello bench"}],
            "stream": True,
        },
        {
            "model": "m",
            "max_tokens": 10**6,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "one"},
                {"role": "user", "content": ""},
                {"role": "assistant", "content": "two"},
                {"role": "system", "content": ""},
                {"role": "system", "content": "mid"},
                {"role": "assistant", "content": ""},
            ],
        },
        {"model": "m", "max_tokens": 1, "system": "", "messages": []},
    ],
)
def test_plain_lane_is_taken(body: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """The lane writes these bodies itself: the general path's steps are never reached."""
    expected = [_general(body, t, s, monkeypatch) for t in TARGETS for s in SESSIONS]

    def general(*_: Any) -> Any:
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(rc, "_messages", general)
    monkeypatch.setattr(rc, "check_field_types", general)
    assert [_outcome(body, t, s) for t in TARGETS for s in SESSIONS] == expected


@pytest.mark.parametrize(
    "extra",
    [
        {"max_tokens": 0},
        {"max_tokens": True},
        {"system": [{"type": "text", "text": "x"}]},
        {"system": None},
        {"metadata": {"user_id": "u"}},
        {"temperature": 0.5},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        {"messages": [{"role": "user", "content": "hi", "cache_control": {"type": "ephemeral"}}]},
        {"messages": [{"role": "developer", "content": "hi"}]},
    ],
)
def test_other_requests_take_the_general_path(extra: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def plain(*_: Any) -> Any:
        raise AssertionError("the plain lane was taken")

    monkeypatch.setattr(rc, "_plain_to_chat", plain)
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], **extra}
    try:
        rc.anthropic_to_chat(body, TARGETS[0])
    except TranslationError:
        pass  # (refused by the general path: what matters is which path)
