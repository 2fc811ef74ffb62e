"""Providers that speak OpenAI's Chat Completions: OpenAI itself, xAI, OpenRouter, and any configured one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.gateway.dialects.translate_request import Target
from services.gateway.providers.base import Operation, Provider, Wire

# Models that reason and take `reasoning_effort`; they also need `max_completion_tokens`.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class OpenAICompatProvider(Provider):
    wires: tuple[Wire, ...] = ("openai_chat",)
    max_tokens_field = "max_completion_tokens"

    def url(self, op: Operation) -> str:
        if op == "models":
            return f"{self.base_url}/models"
        if op == "responses":
            return f"{self.base_url}/responses"
        if op == "responses_compact":
            return f"{self.base_url}/responses/compact"
        return f"{self.base_url}/chat/completions"

    def headers(self, client_headers: Mapping[str, str]) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        if not stream or wire != "openai_chat":  # the Responses API reports usage in response.completed
            return False
        options = body.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage") is True:
            return False
        # The gateway needs usage for the ledger; the client's own choice is honoured downstream.
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return True

    def target(self, model: str) -> Target:
        bare = model.rsplit("/", 1)[-1]
        reasoning = "reasoning_effort" if bare.startswith(_REASONING_PREFIXES) else None
        return Target(
            model=model,
            max_output_tokens=self.output_limit(model),
            max_tokens_field=self.max_tokens_field,
            reasoning=reasoning,
        )


class OpenAIProvider(OpenAICompatProvider):
    # Codex's Responses requests pass through untouched (reasoning encrypted_content included).
    wires = ("openai_chat", "openai_responses")


class XAIProvider(OpenAICompatProvider):
    max_tokens_field = "max_tokens"

    def target(self, model: str) -> Target:
        # grok-3-mini takes reasoning_effort; grok-4 reasons always and rejects the parameter.
        reasoning = "reasoning_effort" if model.startswith("grok-3-mini") else None
        return Target(
            model=model,
            max_output_tokens=self.output_limit(model),
            max_tokens_field="max_tokens",
            reasoning=reasoning,
        )


class OpenRouterProvider(OpenAICompatProvider):
    max_tokens_field = "max_tokens"

    def prepare(self, body: dict[str, Any], stream: bool, wire: Wire) -> bool:
        changed = super().prepare(body, stream, wire)
        usage = body.get("usage")
        if not (isinstance(usage, dict) and usage.get("include") is True):
            # Usage accounting: OpenRouter then reports what it charged (usage.cost).
            body["usage"] = {**(usage if isinstance(usage, dict) else {}), "include": True}
            changed = True
        return changed

    def target(self, model: str) -> Target:
        return Target(
            model=model,
            max_output_tokens=self.output_limit(model),
            max_tokens_field="max_tokens",
            reasoning="openrouter",
        )
