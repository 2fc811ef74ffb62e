"""The only place that names every built-in provider; configured ones come from the catalog file."""

from __future__ import annotations

import os
from collections.abc import Mapping

from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.base import Provider
from services.gateway.providers.configured import ConfiguredProvider
from services.gateway.providers.openai_compat import OpenAIProvider, OpenRouterProvider, XAIProvider
from services.gateway.routing.config import CatalogError, load_catalog_file
from shared.settings import Settings, provider_key

BUILTIN: dict[str, type[Provider]] = {
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
    "xai": XAIProvider,
    "openrouter": OpenRouterProvider,
}


def build_providers(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, Provider]:
    """Every provider, configured or not (routing only uses the configured ones): the built-in ones,
    then those the catalog file adds, in its order. Their keys are read from ``env`` (the process
    environment by default), under the variable each one names (``provider_key``: trimmed; a key with a line
    break or a non-ASCII character raises ``CatalogError`` naming the variable)."""
    env = os.environ if env is None else env
    providers: dict[str, Provider] = {
        name: BUILTIN[name](name, ps.base_url, ps.api_key)
        for name, ps in settings.providers.items()
        if name in BUILTIN
    }
    for spec in load_catalog_file(settings.catalog_path).providers:
        if spec.name in providers:
            raise CatalogError(
                f"catalog file {settings.catalog_path}: provider {spec.name!r} is built in; "
                "pick another name (built-in providers are set up with environment variables)"
            )
        try:
            key = provider_key(env, spec.api_key_env) if spec.api_key_env else None
        except ValueError as exc:
            raise CatalogError(
                f"catalog file {settings.catalog_path}: provider {spec.name!r}: {exc}"
            ) from None
        providers[spec.name] = ConfiguredProvider(spec, key)
    return providers
