"""The only place that names every built-in provider."""

from __future__ import annotations

from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import Provider
from services.gateway.providers.openai_compat import OpenAIProvider, OpenRouterProvider, XAIProvider
from shared.settings import Settings

BUILTIN: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "xai": XAIProvider,
    "openrouter": OpenRouterProvider,
}


def build_providers(settings: Settings) -> dict[str, Provider]:
    """Every built-in provider, configured or not (routing only uses the configured ones)."""
    return {
        name: BUILTIN[name](name, ps.base_url, ps.api_key)
        for name, ps in settings.providers.items()
        if name in BUILTIN
    }
