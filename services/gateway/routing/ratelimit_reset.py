"""When an upstream's exhausted rate limit resets, read from its rate-limit headers (pure).

Some providers answer 429 with no ``retry-after`` and only their rate-limit headers (bugcase 11's
kind: the client and the gateway then retry blind). The forms, by source:

- OpenAI (and xAI, Groq, …, OpenAI's rate-limits guide): ``x-ratelimit-reset-requests: 1s``,
  ``x-ratelimit-reset-tokens: 6m0s``: a Go-style duration, beside ``x-ratelimit-remaining-*``;
- OpenRouter (its limits docs): ``X-RateLimit-Reset``: a Unix time in milliseconds, beside
  ``X-RateLimit-Remaining``;
- Anthropic (its rate-limits docs): ``anthropic-ratelimit-{requests,tokens,…}-reset``: an RFC 3339
  time; ``anthropic-ratelimit-unified-reset`` (Claude subscriptions): a Unix time in seconds.

A plain number is read by size: from 10^12 a Unix time in ms, from 10^9 one in seconds, below that a
number of seconds from now.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_MS_EPOCH = 1e12
_S_EPOCH = 1e9


def reset_seconds(value: str, now: float) -> float | None:
    """Seconds from ``now`` (Unix seconds) until the reset ``value`` names (>= 0), or None if the
    value is none of the forms in the module docstring."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if number >= _MS_EPOCH:
            return max(0.0, number / 1000 - now)
        if number >= _S_EPOCH:
            return max(0.0, number - now)
        return max(0.0, number)
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNIT_S[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def _remaining_name(reset_name: str) -> str:
    """The ``remaining`` header beside a ``reset`` one (``x-ratelimit-reset-tokens`` →
    ``x-ratelimit-remaining-tokens``; ``anthropic-ratelimit-tokens-reset`` → ``…-tokens-remaining``)."""
    return reset_name.replace("reset", "remaining")


def rate_limit_reset_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds until the exhausted limit resets, from a 429's rate-limit headers, or None if they
    name no reset.

    A limit whose ``remaining`` header says 0 is the exhausted one; when none says so (or there is no
    ``remaining`` header), every named reset counts. Of those, the latest: when it has passed, each
    limit that may have refused the request has reset. Header names are matched case-insensitively.
    """
    low = {name.lower(): value for name, value in headers.items()}
    exhausted: list[float] = []
    every: list[float] = []
    for name, value in low.items():
        if not (name.startswith(("x-ratelimit-", "anthropic-ratelimit-")) and "reset" in name):
            continue
        seconds = reset_seconds(value, now)
        if seconds is None:
            continue
        every.append(seconds)
        if low.get(_remaining_name(name), "").strip() == "0":
            exhausted.append(seconds)
    chosen = exhausted or every
    return max(chosen) if chosen else None
