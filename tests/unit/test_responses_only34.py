"""Which wire an OpenAI model takes (s34 bug34a variants 10i, 18n-18p): the Responses-only models
(``openai_compat._RESPONSES_ONLY``, matched as ``limits.named_in`` matches a model) and one learned from OpenAI's
404 "This model is only supported in v1/responses and not in v1/chat/completions." Other providers' models and
OpenAI's chat models keep the client's pairing (``only_wire`` None)."""

from __future__ import annotations

import pytest

from services.gateway.providers.limits import named_in
from services.gateway.providers.openai_compat import OpenAIProvider, XAIProvider

REFUSAL = "This model is only supported in v1/responses and not in v1/chat/completions."


@pytest.mark.parametrize(
    ("model", "wire"),
    [
        ("gpt-5-codex", "openai_responses"),
        ("gpt-5.1-codex-mini", "openai_responses"),
        ("codex-mini-latest", "openai_responses"),
        ("o3-pro-2025-06-10", "openai_responses"),
        ("computer-use-preview", "openai_responses"),
        ("gpt-5-pro", "openai_responses"),
        ("gpt-5", None),
        ("gpt-4o-mini", None),
        ("o3", None),
        ("gpt-5-codex-max", None),  # a longer name is another model, never a prefix match
    ],
)
def test_responses_only_models_take_the_responses_wire(model: str, wire: str | None) -> None:
    assert OpenAIProvider("openai", "http://127.0.0.1:9", "k").only_wire(model) == wire


def test_a_refusal_teaches_the_wire_of_an_unknown_model() -> None:
    openai = OpenAIProvider("openai", "http://127.0.0.1:9", "k")
    assert openai.only_wire("gpt-5.9-codex") is None
    assert openai.learn_only_wire("gpt-5.9-codex", "The model `gpt-5.9-codex` does not exist") is None
    assert openai.only_wire("gpt-5.9-codex") is None
    assert openai.learn_only_wire("gpt-5.9-codex", REFUSAL) == "openai_responses"
    assert openai.only_wire("gpt-5.9-codex") == "openai_responses"
    assert openai.only_wire("gpt-5.9") is None  # learned for that model only


def test_other_providers_keep_the_clients_pairing() -> None:
    xai = XAIProvider("xai", "http://127.0.0.1:9", "k")
    assert not xai.wires_by_model
    assert xai.only_wire("gpt-5-codex") is None and xai.learn_only_wire("gpt-5-codex", REFUSAL) is None


def test_named_in_matches_as_the_limits_do() -> None:
    names = frozenset({"gpt-5-1-codex"})
    assert named_in("gpt-5.1-codex-2025-11-13", names)
    assert named_in("openai/gpt-5.1-codex", names)
    assert not named_in("gpt-5.1-codex-max", names)
    assert not named_in("gpt-5", names)
