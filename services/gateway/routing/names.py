"""Pure helpers for model names: the pin syntax, dated names, and dotted versus dashed versions.

Vendors and OpenRouter spell the same model differently: Anthropic says ``claude-sonnet-4-5`` (or the
dated ``claude-sonnet-4-5-20250929``), OpenRouter says ``anthropic/claude-sonnet-4.5``. These functions
only rewrite strings; which spelling a provider uses is the catalog's business.
"""

from __future__ import annotations

import re

PIN_SEPARATOR = "::"
# A provider name as the catalog file and the pin syntax accept it.
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

# `-20250929`, `-2024-08-06` and `-latest` name a snapshot (or the newest one) of the same model.
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest)$")
# A dash between two single-digit version parts: `4-5` in claude-sonnet-4-5 (not `4-0709` in grok-4-0709).
_DASHED_VERSION = re.compile(r"(?<=\d)-(?=\d(?!\d))")
_DOTTED_VERSION = re.compile(r"(?<=\d)\.(?=\d)")
_POINT_ZERO = re.compile(r"\.0(?=$|-)")


def split_pin(model: str) -> tuple[str | None, str]:
    """``"openrouter::openai/gpt-4o"`` -> ``("openrouter", "openai/gpt-4o")``; no pin -> ``(None, model)``.

    ``::`` clashes with neither OpenRouter's ``vendor/model`` nor Ollama's ``name:tag`` (one colon).
    """
    provider, sep, rest = model.partition(PIN_SEPARATOR)
    if not sep:
        return None, model
    return provider.strip().lower(), rest.strip()


def undated(name: str) -> str:
    """Drop a snapshot date or ``-latest``: ``claude-sonnet-4-5-20250929`` -> ``claude-sonnet-4-5``."""
    return _DATE_SUFFIX.sub("", name)


def dotted(name: str) -> str:
    """``claude-sonnet-4-5`` -> ``claude-sonnet-4.5`` (OpenRouter's spelling of version numbers)."""
    return _DASHED_VERSION.sub(".", name)


def dashed(name: str) -> str:
    """``claude-sonnet-4.5`` -> ``claude-sonnet-4-5`` (Anthropic's and xAI's API spelling)."""
    return _DOTTED_VERSION.sub("-", name)


def without_point_zero(name: str) -> str:
    """``claude-opus-4.0`` -> ``claude-opus-4``: OpenRouter drops a ``.0`` minor version."""
    return _POINT_ZERO.sub("", name)


def unique(names: list[str]) -> list[str]:
    """The names in order, each once (case-insensitively)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return out
