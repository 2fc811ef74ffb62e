"""Anthropic's Messages API."""

from __future__ import annotations

from collections.abc import Mapping

from services.gateway.dialects.translate_request import Target
from services.gateway.providers import base
from services.gateway.providers.base import Operation, Provider, Wire

DEFAULT_VERSION = "2023-06-01"
# Headers a client sends that Anthropic must receive unchanged: anthropic-version, anthropic-beta, …
_FORWARDED_PREFIX = "anthropic-"
# Models whose thinking is set as ``{"type": "adaptive"}`` with ``output_config.effort`` (a chat/Responses client's
# reasoning effort); the others take ``{"type": "enabled", "budget_tokens": N}``. Adaptive thinking came with Claude
# Opus 4.6 and Sonnet 4.6 (budget_tokens deprecated there); Opus 4.7 and later take only adaptive (a budget is a 400);
# "Older models (Claude Sonnet 4.5, Claude Opus 4.5, etc.) do not support adaptive thinking and require
# thinking.type: "enabled" with budget_tokens" (Anthropic's adaptive-thinking docs, as Amazon Bedrock's user guide
# repeats them; OpenRouter's Claude 4.6 migration guide). s28 variant 17-chat-no-max-effort-high-sonnet45.
ADAPTIVE_THINKING = (
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-opus-4-7",
    "claude-opus-4-8",
    "claude-mythos",
)


class AnthropicProvider(Provider):
    wires: tuple[Wire, ...] = ("anthropic",)

    def __init__(self, name: str, base_url: str, api_key: str | None) -> None:
        super().__init__(name, base_url, api_key)
        # request header name as the client sent it → its lower-case form if forwarded, else None: a
        # client sends the same few names every time, so each is judged once (``_client_forwarded``)
        self._client_names: dict[str, str | None] = {}

    def url(self, op: Operation) -> str:
        path = {
            "messages": "/v1/messages",
            "count_tokens": "/v1/messages/count_tokens",
            "models": "/v1/models",
        }
        return self.base_url + path.get(op, "/v1/messages")

    def headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        # anthropic-version, anthropic-beta and every other anthropic-* header, verbatim (Claude Code's
        # gateway protocol: new betas must work without a gateway release)
        known = self._client_names
        for name, value in client_headers.items():
            low = known[name] if name in known else self._client_forwarded(name)
            if low and value:
                headers[low] = value
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def _client_forwarded(self, name: str) -> str | None:
        """``name`` lower-cased if ``headers`` forwards it (``anthropic-*``), else None; kept for the next
        request (at most ``FORWARD_NAMES_KEPT`` names: a client inventing names cannot grow it)."""
        low = name.lower()
        forwarded = low if low.startswith(_FORWARDED_PREFIX) else None
        if len(self._client_names) < base.FORWARD_NAMES_KEPT:
            self._client_names[name] = forwarded
        return forwarded

    def target(self, model: str) -> Target:
        limit = self.output_limit(model)
        adaptive = model.startswith(ADAPTIVE_THINKING)
        return Target(
            model=model,
            max_output_tokens=limit,
            default_max_tokens=min(8192, limit or 8192),
            max_tokens_field="max_tokens",
            reasoning="anthropic_adaptive" if adaptive else "anthropic_budget",
        )
