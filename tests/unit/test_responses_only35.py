"""bill35: the refusal "only supported in v1/responses" is read by the chat wire (``WireSpec.served_only_on``), and
any provider that speaks the Responses wire too learns it (``Provider.learn_only_wire``): a catalog provider with
``responses = true`` (Azure OpenAI, LiteLLM) as OpenAI does; a chat-only one, xAI and Anthropic never."""

from __future__ import annotations

from services.gateway.dialects.registry import WIRES
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.openai_compat import OpenAIProvider, XAIProvider
from services.gateway.routing.config import ProviderSpec

REFUSAL = "This model is only supported in v1/responses and not in v1/chat/completions."


def _configured(responses: bool) -> ConfiguredProvider:
    return ConfiguredProvider(
        ProviderSpec("azure", "http://x/v1", models=("dep",), responses=responses), None
    )


def test_the_chat_wire_reads_the_refusal_and_no_other_wire_does() -> None:
    assert WIRES["openai_chat"].served_only_on(REFUSAL) == "openai_responses"
    assert WIRES["openai_chat"].served_only_on("The model `x` does not exist") is None
    assert WIRES["anthropic"].served_only_on(REFUSAL) is None
    assert WIRES["openai_responses"].served_only_on(REFUSAL) is None


def test_a_relay_that_speaks_the_responses_api_learns_the_model() -> None:
    relay = _configured(True)
    assert relay.wires_by_model and relay.speaks("openai_responses")
    assert relay.only_wire("dep") is None
    assert relay.learn_only_wire("dep", REFUSAL) == "openai_responses"
    assert relay.only_wire("dep") == "openai_responses" and relay.only_wire("other") is None


def test_providers_that_speak_chat_only_learn_nothing() -> None:
    for provider in (_configured(False), XAIProvider("xai", "http://x/v1", None)):
        assert not provider.wires_by_model
        assert provider.learn_only_wire("dep", REFUSAL) is None and provider.only_wire("dep") is None
    claude = AnthropicProvider("anthropic", "http://x", None)
    assert claude.learn_only_wire("dep", REFUSAL) is None


def test_openai_still_learns_it() -> None:
    openai = OpenAIProvider("openai", "http://x/v1", None)
    assert openai.learn_only_wire("gpt-5.9-codex", REFUSAL) == "openai_responses"
    assert openai.only_wire("gpt-5.9-codex") == "openai_responses"
