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
  ``validate_responses_request``: their outputs' digests on the fixed requests of ``request_golden`` (the
  request fixtures, ``../shared/captures``' generation requests, the bench's bodies, each top-level field set
  to each of its ``VALUES``, bodies with cache markers) are those of the code before session 18, which was
  checked against the new code byte for byte, hypothesis changes included, when the change was merged.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from tests.unit.dialects import request_golden

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


# ---- the translators' outputs on fixed requests, against the digests of the code before session 18 ------

GOLDEN = orjson.loads(request_golden.GOLDEN.read_bytes())
GROUPS = list(request_golden.groups())


def test_every_group_has_a_digest() -> None:
    """The fixtures and the bench's bodies are in the repository: each of their groups has its digest (only
    ``../shared/captures``' groups may be missing, where that folder is not beside the checkout)."""
    names = {name for name, _ in GROUPS}
    assert len(names) >= 40
    missing = [n for n in GOLDEN if n not in names and "/" not in n]
    assert not missing, missing


@pytest.mark.parametrize("name, pairs", GROUPS, ids=[name for name, _ in GROUPS])
def test_translations_as_before(name: str, pairs: list[tuple[dict[str, Any], str | None]]) -> None:
    assert name in GOLDEN, f"{name}: no digest (python -m tests.unit.dialects.request_golden --write)"
    assert request_golden.digest(pairs) == GOLDEN[name], name
