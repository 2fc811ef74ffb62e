"""Which upstream failures allow trying another provider, and each provider's health.

Retryable (the provider's or the network's fault): connection errors and timeouts (no status),
408, 409, 429, 5xx, 529, and 401/403 (our key, not the client's fault). Everything else in 4xx is
the request's own fault and goes back to the client as it is.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping

def is_retryable(status: int | None) -> bool:
    if status is None:
        return True
    return status in (401, 403, 408, 409, 429) or status >= 500


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms, as seconds."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class ProviderHealth:
    """Tracks provider failures. (The circuit breaker builds on this interface.)"""

    def available(self, provider: str) -> bool:
        return True

    def record_success(self, provider: str) -> None:
        return None

    def record_failure(self, provider: str, status: int | None, retry_after_s: float | None = None) -> None:
        return None

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {}
