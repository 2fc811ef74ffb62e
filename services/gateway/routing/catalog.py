"""Which providers can serve a requested model, and under which name.

A first, rule-based catalog: model-name families map to their vendor's provider. The full catalog
(aliases, OpenRouter names, a user-editable file, price-ordered selection) builds on this interface.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.gateway.providers.base import Provider, Route

_FAMILIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("gpt-", "o1", "o3", "o4", "chatgpt-", "text-embedding-"), "openai"),
    (("claude-",), "anthropic"),
    (("grok-",), "xai"),
)


class UnknownModel(LookupError):
    def __init__(self, model: str, available: list[str]) -> None:
        super().__init__(model)
        self.model = model
        self.available = available


@dataclass
class Catalog:
    providers: dict[str, Provider]

    def configured(self) -> list[Provider]:
        return [p for p in self.providers.values() if p.configured]

    def routes(self, model: str, pin: str | None = None) -> list[Route]:
        """Candidate routes for ``model``, best first. Raises UnknownModel when none can serve it."""
        candidates: list[Route] = []
        for prefixes, provider in _FAMILIES:
            if model.startswith(prefixes):
                candidates.append(Route(provider, model))
        if "/" in model:
            candidates.append(Route("openrouter", model))
        usable = [
            r for r in candidates
            if r.provider in self.providers and self.providers[r.provider].configured
            and (pin is None or r.provider == pin)
        ]
        if not usable:
            raise UnknownModel(model, self.model_names())
        return usable

    def model_names(self) -> list[str]:
        names = {"openai": ["gpt-4o", "gpt-4o-mini"], "anthropic": ["claude-sonnet-4-5", "claude-haiku-4-5"],
                 "xai": ["grok-4"], "openrouter": ["openai/gpt-4o"]}
        return [m for p in self.configured() for m in names.get(p.name, [])]
