"""Session 18 (issue 13): the translated request path's shortcuts give what the code they replace gave.

- ``check_field_types``' quick pass (only the fields a body holds, by exact type) against the walk it
  replaced (kept here as it was, ``_walk``): the same verdict, the same error text and param, for bodies of
  every JSON type in every field of both tables, and for values the quick pass cannot vouch for (``bool``
  as an integer, ``str`` and ``dict`` subclasses, lists of mixed elements);
- ``Provider.target_of`` against ``Provider.target`` for every provider kind and a spread of model names,
  and after ``learn_output_limit`` (a kept target holding the old limit would let a translated request ask
  the provider for more than it said it takes: the retry loop of ``Proxy._within_output_limit``);
- the request translators of the modules session 18 changed (their optional fields' steps skipped when the
  body does not hold the field, ``keep_breakpoints`` only after the client's own markers) and
  ``validate_responses_request`` against their frozen copies from before (``legacy18``), byte for byte: on
  the request fixtures, ``../shared/captures``' generation requests and the bench's bodies, each top-level
  field set to each of ``VALUES``, hypothesis changes, and bodies with cache markers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.paths import PATHS
from services.gateway.dialects import _request_from_responses as tr_responses
from services.gateway.dialects import translate_request as tr
from services.gateway.dialects._prompt_cache import Session
from services.gateway.dialects._request_common import (
    _KINDS,
    CHAT_FIELD_TYPES,
    MESSAGES_FIELD_TYPES,
    TranslationError,
    check_field_types,
)
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import Provider
from services.gateway.providers.openai_compat import (
    OpenAICompatProvider,
    OpenAIProvider,
    OpenRouterProvider,
    XAIProvider,
)
from tests.unit.dialects.legacy18 import _request_from_responses as old_from_responses
from tests.unit.dialects.legacy18 import _request_to_anthropic as old_to_anthropic
from tests.unit.dialects.legacy18 import _request_to_chat as old_to_chat

PROPS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _walk(body: dict[str, Any], types: Mapping[str, tuple[str, ...]]) -> None:
    """``check_field_types`` before session 18, as it was."""
    for key, kinds in types.items():
        value = body.get(key)
        if value is None or any(_KINDS[k][0](value) for k in kinds):
            continue
        expected = " or ".join(_KINDS[k][1] for k in kinds)
        raise TranslationError(f"{key}: Input should be a valid {expected}", param=key)


class Text(str):
    pass


class Obj(dict[str, Any]):
    pass


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=3),
    st.builds(Text, st.text(max_size=3)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=2), inner, max_size=2),
        st.builds(Obj, st.dictionaries(st.text(max_size=2), inner, max_size=2)),
        st.builds(OrderedDict, st.dictionaries(st.text(max_size=2), inner, max_size=2)),
    ),
    max_leaves=6,
)
FIELDS = sorted(set(MESSAGES_FIELD_TYPES) | set(CHAT_FIELD_TYPES) | {"model", "messages", "stream"})


def verdict(check: Any, body: dict[str, Any], types: Mapping[str, tuple[str, ...]]) -> tuple[str, str | None]:
    try:
        check(body, types)
    except TranslationError as exc:
        return str(exc), exc.param
    return "", None


@PROPS
@given(st.dictionaries(st.sampled_from(FIELDS), values, max_size=8), st.booleans())
def test_quick_pass_gives_the_walks_verdict(body: dict[str, Any], chat: bool) -> None:
    types = CHAT_FIELD_TYPES if chat else MESSAGES_FIELD_TYPES
    assert verdict(check_field_types, body, types) == verdict(_walk, body, types)


@pytest.mark.parametrize(
    "body",
    [
        {"max_tokens": True},  # a bool is no integer (Pydantic's strict int)
        {"temperature": True},
        {"system": Text("hi")},  # a str subclass is a string to the walk
        {"metadata": Obj(a=1)},
        {"tools": [{"name": "a"}, "b"]},
        {"tools": [Obj(name="a")]},
        {"stop_sequences": ["a", 1]},
        {"stop_sequences": [Text("a")]},
        {"tools": "x", "system": 5},  # two wrong: the first in the table's order is named
        {"system": 5, "tools": "x"},
        {"top_k": 1.0, "thinking": []},
    ],
)
def test_quick_pass_edges(body: dict[str, Any]) -> None:
    for types in (MESSAGES_FIELD_TYPES, CHAT_FIELD_TYPES):
        assert verdict(check_field_types, body, types) == verdict(_walk, body, types)


def test_another_table_is_judged_alike() -> None:
    """A table that is not one of the module's own (no quick pass kept for it) still gets a quick pass."""
    table = {"a": ("objects", "list"), "b": ("integer",), "c": ("strings", "objects")}
    for body in ({"a": [1]}, {"a": [{}]}, {"b": True}, {"c": [1]}, {"c": ["x"]}, {"c": [{}]}, {}):
        assert verdict(check_field_types, body, table) == verdict(_walk, body, table)


MODELS = [
    "gpt-4o-mini",
    "gpt-5",
    "o3-mini",
    "grok-3-mini",
    "claude-haiku-4-5",
    "claude-opus-4-6",
    "claude-opus-4-20250514",
    "anthropic/claude-sonnet-4.5",
    "~anthropic/claude-sonnet-latest",
    "deepseek-chat",
    "unknown-model",
]
PROVIDERS = [
    Provider("base", "http://127.0.0.1:9", "k"),
    OpenAICompatProvider("compat", "http://127.0.0.1:9", "k"),
    OpenAIProvider("openai", "http://127.0.0.1:9", "k"),
    XAIProvider("xai", "http://127.0.0.1:9", "k"),
    OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k"),
    AnthropicProvider("anthropic", "http://127.0.0.1:9", "k"),
]


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_target_of_is_target(provider: Provider) -> None:
    for model in MODELS:
        assert provider.target_of(model) == provider.target(model)
        assert provider.target_of(model) is provider.target_of(model)  # kept


@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_a_learned_limit_reaches_the_target(provider: Provider) -> None:
    for model in MODELS:
        provider.target_of(model)
    provider.learn_output_limit("gpt-4o-mini", 1000)
    provider.learn_output_limit("claude-haiku-4-5", 900)
    for model in MODELS:
        assert provider.target_of(model) == provider.target(model)
    assert provider.target_of("gpt-4o-mini").max_output_tokens == 1000
    assert provider.target_of("claude-haiku-4-5").max_output_tokens == 900


# ---- the translators against their pre-session-18 copies (tests/unit/dialects/legacy18) ------------------

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "requests"
CAPTURES = Path(__file__).resolve().parents[4] / "shared" / "captures"  # ../shared/captures, when there
PATH_FORMATS = {"/v1/messages": "anthropic", "/v1/chat/completions": "chat", "/v1/responses": "responses"}


def _bodies() -> list[tuple[str, dict[str, Any]]]:
    """(name, body) of every request fixture, every captured generation request, and the bench's bodies."""
    out: list[tuple[str, dict[str, Any]]] = []
    for f in sorted(FIXTURES.glob("*.json")):
        out.append((f.name, orjson.loads(f.read_bytes())["body"]))
    for f in sorted(CAPTURES.glob("**/*.json")) if CAPTURES.is_dir() else []:
        data = orjson.loads(f.read_bytes())
        if data.get("path") in PATH_FORMATS and isinstance(data.get("body"), dict):
            out.append((str(f.relative_to(CAPTURES)), data["body"]))
    out += [(f"bench {c.name}", dict(c.body)) for c in PATHS]
    return out


BODIES = _bodies()
TARGETS = [
    OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-4o-mini"),
    OpenAIProvider("openai", "http://127.0.0.1:9", "k").target("gpt-5"),
    XAIProvider("xai", "http://127.0.0.1:9", "k").target("grok-3-mini"),
    OpenRouterProvider("openrouter", "http://127.0.0.1:9", "k").target("anthropic/claude-sonnet-4.5"),
    AnthropicProvider("anthropic", "http://127.0.0.1:9", "k").target("claude-haiku-4-5"),
    AnthropicProvider("anthropic", "http://127.0.0.1:9", "k").target("claude-opus-4-6"),
    AnthropicProvider("anthropic", "http://127.0.0.1:9", "k").target("claude-3-haiku"),
]
# (name, current, pre-session-18): every translator of the modules session 18 changed
TRANSLATORS = [
    ("anthropic_to_chat", tr.anthropic_to_chat, old_to_chat.anthropic_to_chat),
    ("chat_to_anthropic", tr.chat_to_anthropic, old_to_anthropic.chat_to_anthropic),
    ("responses_to_anthropic", tr.responses_to_anthropic, old_from_responses.responses_to_anthropic),
    ("responses_to_chat", tr.responses_to_chat, old_from_responses.responses_to_chat),
]


def outcome(translate: Any, body: dict[str, Any], target: Any, session: str | None) -> tuple[Any, ...]:
    """What a translator made of a copy of ``body``: the body's bytes and the answer's other fields, or the
    error's text and param; and the client's body afterwards (a translator must not change it)."""
    mine = orjson.loads(orjson.dumps(body))
    try:
        got = translate(mine, target, Session(session))
    except TranslationError as exc:
        result: tuple[Any, ...] = ("error", str(exc), exc.param)
    else:
        result = (
            orjson.dumps(got.body),
            got.tool_names,
            sorted(got.custom_tools),
            got.compaction,
        )
    return (*result, orjson.dumps(mine))


def checked(validate: Any, body: dict[str, Any]) -> tuple[str, str | None]:
    try:
        validate(orjson.loads(orjson.dumps(body)))
    except TranslationError as exc:
        return str(exc), exc.param
    return "", None


def same(body: dict[str, Any], session: str | None = None) -> None:
    new_check, old_check = (
        tr_responses.validate_responses_request,
        old_from_responses.validate_responses_request,
    )
    assert checked(new_check, body) == checked(old_check, body)
    for name, new, old in TRANSLATORS:
        for target in TARGETS:
            assert outcome(new, body, target, session) == outcome(old, body, target, session), (name, target)


@pytest.mark.parametrize("name, body", BODIES, ids=[n for n, _ in BODIES])
def test_translations_as_before_on_real_requests(name: str, body: dict[str, Any]) -> None:
    same(body)
    same(body, "sess-1")


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-3, 70_000),
        st.floats(-2, 2, allow_nan=False),
        st.sampled_from(["", "auto", "none", "required", "high", "low", "json_schema", "json_object", "x"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["type", "name", "text", "effort", "format", "schema", "user_id", "ttl", "mode"]),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=8,
)
# the top-level fields the translators read, of every format
TOP_FIELDS = sorted(
    set(MESSAGES_FIELD_TYPES)
    | set(CHAT_FIELD_TYPES)
    | {
        "stream",
        "messages",
        "input",
        "instructions",
        "reasoning",
        "text",
        "max_output_tokens",
        "store",
        "previous_response_id",
        "safety_identifier",
        "cache_control",
        "prompt_cache_key",
        "stop",
        "background",
        "conversation",
        "prompt",
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(range(len(BODIES))),
    st.dictionaries(st.sampled_from(TOP_FIELDS), json_values, max_size=4),
    st.lists(st.sampled_from(TOP_FIELDS), max_size=3),
    st.sampled_from([None, "sess-1"]),
)
def test_translations_as_before_on_changed_requests(
    which: int, changed: dict[str, Any], dropped: list[str], session: str | None
) -> None:
    """A real request with some top-level fields replaced by other JSON values, others removed: the same
    body bytes, or the same error, as before."""
    body = {**BODIES[which][1], **changed}
    for key in dropped:
        body.pop(key, None)
    same(body, session)


def _marked(text: str, ttl: str | None = None) -> dict[str, Any]:
    marker: dict[str, Any] = {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    return {"type": "text", "text": text, "cache_control": marker}


MARKED = [
    # a Chat client's own markers (OpenRouter's extension), more than Anthropic takes: some must go
    {
        "model": "m",
        "messages": [
            {"role": "system", "content": [_marked("s1", "1h"), _marked("s2")]},
            {"role": "user", "content": [_marked("u1"), _marked("u2"), {"type": "text", "text": "u3"}]},
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": [_marked("u4"), _marked("u5", "5m")]},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}, "cache_control": {}}],
    },
    # as many as Anthropic takes, and a "cache_control" that is no marker (null, a schema's property)
    {
        "model": "m",
        "messages": [
            {"role": "system", "content": [_marked("s1")]},
            {
                "role": "user",
                "content": [_marked("u1"), {"type": "text", "text": "t", "cache_control": None}],
            },
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "f",
                    "parameters": {"properties": {"cache_control": {"type": "string"}}},
                },
            }
        ],
    },
    # none at all, a text that names the key
    {"model": "m", "messages": [{"role": "user", "content": 'say "cache_control" five times'}] * 5},
]


@pytest.mark.parametrize("body", MARKED)
def test_translations_as_before_with_markers(body: dict[str, Any]) -> None:
    same(body)
    same({**body, "stream": True, "reasoning_effort": "high", "temperature": 0.5})


# each top-level field set to each of these, alone, on every fixture and bench body (hypothesis draws few of
# the pairs a skipped step depends on: a field alone, ``top_p`` without ``temperature``)
VALUES: list[Any] = [
    None,
    True,
    0,
    1,
    5000,
    0.5,
    "high",
    "auto",
    "required",
    "x",
    [],
    ["a", "b"],
    {},
    {"type": "json_schema", "schema": {"type": "object"}, "json_schema": {"schema": {}}},
    {"type": "json_object"},
    {"type": "enabled", "budget_tokens": 5000},
    {"type": "adaptive"},
    {"effort": "high", "format": {"type": "json_schema", "schema": {}}},
    {"user_id": "u"},
    {"type": "ephemeral", "ttl": "1h"},
    [{"type": "function", "name": "t", "function": {"name": "t"}, "parameters": {}}],
    [{"type": "text", "text": "hi"}],
]
SEEDS = [(n, b) for n, b in BODIES if n.endswith(".json") and "/" not in n or n.startswith("bench ")]


@pytest.mark.parametrize("field", TOP_FIELDS)
def test_translations_as_before_field_by_field(field: str) -> None:
    for _, base in SEEDS:
        for value in VALUES:
            same({**base, field: value})
