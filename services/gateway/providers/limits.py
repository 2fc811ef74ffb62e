"""Output-token limits per model family, so a translated request never asks for more than the model
allows (Claude Code asks for 32,000–64,000 output tokens; gpt-4o accepts 16,384 and answers 400 above).

Matched by the longest prefix of the bare model name (vendor prefix stripped, dots read as dashes, so
OpenRouter's ``anthropic/claude-sonnet-4.5`` matches ``claude-sonnet-4-5``). Unknown models: no clamp.
"""

from __future__ import annotations

_LIMITS: dict[str, int] = {
    # OpenAI
    "gpt-5": 128_000,
    "gpt-4-1": 32_768,
    "gpt-4o": 16_384,
    "chatgpt-4o": 16_384,
    "gpt-4-turbo": 4_096,
    "gpt-4": 8_192,
    "gpt-3-5-turbo": 4_096,
    "o1-mini": 65_536,
    "o1": 100_000,
    "o3": 100_000,
    "o4-mini": 100_000,
    # Anthropic
    "claude-opus-4-1": 32_000,
    "claude-opus-4-0": 32_000,
    "claude-opus-4-2025": 32_000,
    "claude-opus-4": 64_000,
    "claude-sonnet-4": 64_000,
    "claude-haiku-4": 64_000,
    "claude-3-7-sonnet": 64_000,
    "claude-3-5-haiku": 8_192,
    "claude-3-5-sonnet": 8_192,
    "claude-3-haiku": 4_096,
    "claude-3-opus": 4_096,
    # xAI
    "grok-3-mini": 131_072,
    "grok-3": 131_072,
}
_BY_LENGTH = sorted(_LIMITS.items(), key=lambda kv: len(kv[0]), reverse=True)


def max_output_tokens(model: str) -> int | None:
    bare = model.rsplit("/", 1)[-1].replace(".", "-").lower()
    if bare == "claude-opus-4":  # the first Opus 4 (claude-opus-4-20250514) allowed 32k
        return 32_000
    return next((limit for prefix, limit in _BY_LENGTH if bare.startswith(prefix)), None)
