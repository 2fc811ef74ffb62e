"""Anthropic's Messages API."""

from __future__ import annotations

from collections.abc import Mapping

from services.gateway.dialects._thinking_form import takes_adaptive
from services.gateway.dialects.translate_request import Target
from services.gateway.providers import base
from services.gateway.providers.base import Operation, Provider, Wire

DEFAULT_VERSION = "2023-06-01"
# Headers a client sends that Anthropic must receive unchanged: anthropic-version, anthropic-beta, …
_FORWARDED_PREFIX = "anthropic-"


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
        # adaptive for Claude 4.6 and later, budget for older (``_thinking_form.takes_adaptive``: by the version in
        # the id, so a new model does not fall back to a budget it refuses)
        adaptive = takes_adaptive(model)
        return Target(
            model=model,
            max_output_tokens=limit,
            default_max_tokens=min(8192, limit or 8192),
            max_tokens_field="max_tokens",
            reasoning="anthropic_adaptive" if adaptive else "anthropic_budget",
        )
