"""Session 26 (bug26d): kinds 10 (a context overflow said so the client acts on it) and 17 (output-token requests a
configured provider takes), pure parts.

GitHub Models' 413 ``tokens_limit_reached`` ("Request body too large for gpt-4o model. Max size: 8000 tokens."); an
output-token field refused by its name (OpenAI's and Azure's "Unsupported parameter: 'max_tokens'", Mistral's
pydantic ``extra_forbidden``, older Azure's "Unrecognized request argument supplied"), learned per model; OpenAI's
reasoning models behind a catalog relay asked by ``max_completion_tokens``."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.gateway.dialects import _error_meaning as em
from services.gateway.providers.base import LEARNED_KEPT
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.limits import field_from_refusal, limit_from_refusal, use_tokens_field
from services.gateway.routing.config import parse_catalog

GHM = "Request body too large for gpt-4o model. Max size: 8000 tokens."
UNSUPPORTED = "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."


def _provider(*models: str) -> ConfiguredProvider:
    item = {"name": "azure", "base_url": "http://127.0.0.1:9/v1", "models": list(models)}
    return ConfiguredProvider(parse_catalog({"providers": [item]}).providers[0], None)


@pytest.mark.parametrize("code", ["tokens_limit_reached", None])
def test_github_models_413_is_a_context_overflow(code: str | None) -> None:
    """s26 variants 10-ghmodels-*: the 413 reached Claude Code as request_too_large (no compaction), Codex and chat
    clients without code context_length_exceeded; by its code, or by its words alone."""
    raw = json.dumps({"error": {"code": code, "message": GHM, "details": GHM}}).encode()
    meaning = em.meaning_from_openai(413, raw)
    assert meaning == "context_overflow"
    assert em.words_for_anthropic(meaning, 413, GHM)[:2] == (400, f"prompt is too long: {GHM}")
    assert em.words_for_openai(meaning, 413, GHM)[0::2] == (400, "context_length_exceeded")


@pytest.mark.parametrize(
    "message",
    [
        "Request input tokens exceed model token limit. Reduce the input size.",
        "Your request exceeded model token limit: 8192 (requested: 9000)",
    ],
)
def test_input_tokens_exceeding_the_models_token_limit_is_an_overflow(message: str) -> None:
    """s26 variants 10-input-exceed-model-token-limit-*: Salesforce's gateway says Kimi's words in the present tense;
    they went to Claude Code as they came (no compaction) and to Codex without code context_length_exceeded."""
    raw = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    meaning = em.meaning_from_openai(400, raw)
    assert meaning == "context_overflow"
    assert em.words_for_anthropic(meaning, 400, message)[1].startswith("prompt is too long")


def test_a_413_of_bytes_is_still_too_large() -> None:
    """Anthropic's 413 request_too_large ("maximum allowed number of bytes") stays what it is."""
    raw = b'{"error": {"message": "Request exceeds the maximum allowed number of bytes."}}'
    assert em.meaning_from_openai(413, raw) == "too_large"


@pytest.mark.parametrize(
    ("message", "field"),
    [
        (UNSUPPORTED, "max_completion_tokens"),
        ("Unrecognized request argument supplied: max_completion_tokens", "max_tokens"),
        ("max_completion_tokens: Extra inputs are not permitted", "max_tokens"),
        (
            "store: Extra inputs are not permitted; max_completion_tokens: Extra inputs are not permitted",
            "max_tokens",
        ),
        (
            "[{'type': 'extra_forbidden', 'loc': ('body', 'max_completion_tokens'), 'msg': 'Extra inputs are not "
            "permitted', 'input': 8192}]",
            "max_tokens",
        ),
    ],
)
def test_a_refused_token_field_names_the_other(message: str, field: str) -> None:
    """s26 variants 17-azure-*, 17-mistral-*, 17-vllm-style-extra-forbidden-vI: each went back to the client as it
    came (every request of an Azure o3 deployment, of a Mistral client sending max_completion_tokens, failed)."""
    assert field_from_refusal(message) == field
    assert limit_from_refusal(message, 32000) is None  # no limit on the value: the name is what was refused


@pytest.mark.parametrize(
    "message",
    [
        "Unsupported parameter: 'temperature' is not supported with this model.",
        "reasoning.max_tokens: Extra inputs are not permitted",
        "max_tokens is too large: 32000. This model supports at most 16384 completion tokens",
    ],
)
def test_other_refusals_name_no_field(message: str) -> None:
    assert field_from_refusal(message) is None


def test_use_tokens_field_moves_the_value() -> None:
    body: dict[str, Any] = {"model": "m", "max_completion_tokens": 32000}
    assert use_tokens_field(body, "max_tokens") and body == {"model": "m", "max_tokens": 32000}
    assert not use_tokens_field(body, "max_tokens")  # already so
    assert not use_tokens_field(body, "n")


def test_a_learned_field_is_what_the_model_is_asked_by() -> None:
    """s26 variant 17-azure-deployment-alias-cc-vB: a deployment's name tells nothing; once refused, every later
    request for it (translated: the target; a client's body: ``learned_fields``) uses the other field."""
    provider = _provider("reasoning-prod", "o3-mini")
    assert provider.target_of("reasoning-prod").max_tokens_field == "max_tokens"
    assert provider.tokens_field_from_error(400, UNSUPPORTED) == "max_completion_tokens"
    assert provider.tokens_field_from_error(500, UNSUPPORTED) is None  # no refusal status
    provider.learn_tokens_field("reasoning-prod", "max_completion_tokens")
    assert provider.target_of("reasoning-prod").max_tokens_field == "max_completion_tokens"
    assert provider.learned_fields == {"reasoning-prod": "max_completion_tokens"}


@pytest.mark.parametrize("model", ["o3-mini", "gpt-5", "azure/o4-mini"])
def test_openai_reasoning_models_behind_a_relay_take_max_completion_tokens(model: str) -> None:
    """s26 variants 17-azure-o3-cc-vA, 17-azure-gpt5-chat-passthrough-vC, 17-azure-o4mini-codex-vD: translated
    requests asked by max_tokens (the catalog's default field), a chat client's max_tokens passed on: refused."""
    provider = _provider(model, "gpt-4o")
    assert provider.target_of(model).max_tokens_field == "max_completion_tokens"
    body: dict[str, Any] = {"model": model, "max_tokens": 4000, "messages": []}
    assert provider.prepare(body, False, "openai_chat")
    assert body.get("max_completion_tokens") == 4000 and "max_tokens" not in body


def test_other_models_behind_a_relay_keep_the_catalogs_field() -> None:
    provider = _provider("gpt-4o", "gpt-oss-120b")
    for model in ("gpt-4o", "gpt-oss-120b"):
        assert provider.target_of(model).max_tokens_field == "max_tokens"
        body: dict[str, Any] = {"model": model, "max_tokens": 4000, "messages": []}
        provider.prepare(body, False, "openai_chat")
        assert body["max_tokens"] == 4000


def test_learned_fields_are_bounded_and_keep_the_latest() -> None:
    """Session 27: a pattern-served provider refusing the field for every name a client sends grew ``learned_fields``
    one entry a name, for good; at most ``LEARNED_KEPT`` are kept, the oldest forgotten first."""
    provider = _provider("reasoning-prod", "o3-mini")
    for i in range(LEARNED_KEPT + 50):
        provider.learn_tokens_field(f"m{i}", "max_completion_tokens")
        provider.learn_output_limit(f"m{i}", 1000 + i)
    assert len(provider.learned_fields) == LEARNED_KEPT
    assert "m0" not in provider.learned_fields and f"m{LEARNED_KEPT + 49}" in provider.learned_fields
    assert provider.known_output_limit("m0") is None
    assert provider.known_output_limit(f"m{LEARNED_KEPT + 49}") == 1000 + LEARNED_KEPT + 49
