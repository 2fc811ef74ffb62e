"""Which upstream failures allow trying another provider, and each provider's health.

Retryable (the provider's or the network's fault): connection errors and timeouts (no status),
408, 409, 429, 5xx, 529, and 401/403 (our key, not the client's fault). Everything else in 4xx is
the request's own fault and goes back to the client as it is.

Health is a circuit breaker per provider, plus the provider's own Retry-After::

    closed --K consecutive counted failures--> open --cooldown elapsed--> half-open
    half-open --the probe succeeds--> closed        half-open --the probe fails--> open

Only retryable failures count; a client's bad request (400/404/413/422) never does. In half-open one
request at a time is let through as the probe; a probe that never reports (its request was cancelled)
is given up after one cooldown. Separately, a provider that answered with Retry-After is skipped until
then (capped), whatever its breaker says.

A 429 that says when to retry (``retry_after_s`` known: Retry-After, ``retry-after-ms``, a rate-limit reset)
is the provider working as documented, not failing: it rests the provider for that long and does not count
towards the breaker (nor close it: a half-open probe that meets one is released without a verdict). Five
``retry-after: 0`` refusals used to open the breaker for ``BREAKER_COOLDOWN`` (30 s of 503s for a provider that
had said "now"). A stated wait of 0 gets the openai and anthropic SDKs' own backoff instead
(``_base_client._calculate_retry_timeout`` honours only a Retry-After above 0; otherwise 0.5 s doubled per
retry, at most 8 s: ``INITIAL_RETRY_DELAY``, ``MAX_RETRY_DELAY``): ``RATE_LIMIT_BACKOFF_S`` doubled for each
such 429 in a row since the provider last answered, at most ``RATE_LIMIT_BACKOFF_MAX_S``, so the gateway no
longer sends its ``MAX_ATTEMPTS`` back to back (docs/catalog.md, "Fallback"). Not so a 429 for a quota or credit
used up (OpenAI's ``insufficient_quota``, Anthropic's ``billing_error``, xAI's "used all available credits"): no wait
lifts it, so it counts like any failure, and rests the provider for its Retry-After as well (``counted``).
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from services.gateway.routing.ratelimit_reset import (
    LONGEST_WAIT_S,
    body_reset_seconds,
    rate_limit_reset_seconds,
)
from shared.settings import Settings, load_settings

log = logging.getLogger(__name__)


RATE_LIMIT_BACKOFF_S = (
    0.5  # rest after a 429 that says "retry now" (the openai/anthropic SDKs' first retry delay)
)
RATE_LIMIT_BACKOFF_MAX_S = 8.0  # the doubled rest's bound (the SDKs' MAX_RETRY_DELAY)


def is_retryable(status: int | None) -> bool:
    if status is None:
        return True
    return status in (401, 403, 408, 409, 429) or status >= 500


def retry_after_seconds(
    headers: Mapping[str, str], status: int | None = None, body: bytes = b""
) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms (``x-ms-retry-after-ms``: Azure OpenAI behind
    API Management, Azure's throttling docs; s18 variant 11-l), as seconds. A 429 without either
    (xAI's, OpenRouter's) says when to retry in its rate-limit headers only: their exhausted limit's
    reset (``ratelimit_reset.rate_limit_reset_seconds``), or, with no such header, in its error ``body``
    (OpenRouter's ``metadata.headers``, Google's ``RetryInfo``: ``ratelimit_reset.body_reset_seconds``).
    None when nothing says it, or what says it reads as infinity ("1e999", a 400-digit ``retryDelay``) or as
    longer than any provider's window (``ratelimit_reset.LONGEST_WAIT_S``: "1e20", a year-9999 date; fix28):
    no such wait can be told in a ``retry-after`` header."""
    seconds = _retry_after(headers)
    if seconds is None and status == 429:
        now = time.time()
        seconds = rate_limit_reset_seconds(headers, now)
        if seconds is None and body:
            seconds = body_reset_seconds(body, now)
    return seconds if seconds is None or seconds <= LONGEST_WAIT_S else None  # NaN and inf: None too


def _retry_after(headers: Mapping[str, str]) -> float | None:
    ms = headers.get("retry-after-ms") or headers.get("x-ms-retry-after-ms")
    if ms:
        try:
            if not math.isnan(waited := float(ms)):  # "nan" says nothing (s22 variant 11-w5)
                return max(0.0, waited / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):  # a year past a C long: OverflowError (review22: a 500)
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failures: int = 5  # consecutive counted failures that open the breaker
    cooldown_s: float = 30.0  # open -> half-open after this long; also a stuck probe's time limit
    retry_after_cap_s: float = 600.0  # a provider's Retry-After is believed up to this long

    @classmethod
    def from_settings(cls, settings: Settings) -> BreakerConfig:
        return cls(settings.breaker_failures, settings.breaker_cooldown_s, settings.retry_after_cap_s)


State = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class _Provider:
    state: State = "closed"
    failures: int = 0  # consecutive counted failures
    open_until: float = 0.0
    probe_since: float | None = None  # when the half-open probe was let through
    rate_limited_until: float = 0.0
    last_error: str | None = None
    last_failure_at: float | None = None
    limited: int = 0  # 429s with a stated wait in a row (since the provider last answered)


class ProviderHealth:
    """Circuit breakers and Retry-After windows, per provider. ``clock`` returns unix seconds."""

    def __init__(
        self, config: BreakerConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        # The app builds this at start; without a config, the breaker settings come from the environment.
        self.config = BreakerConfig.from_settings(load_settings()) if config is None else config
        self._clock = clock
        self._providers: dict[str, _Provider] = {}

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> ProviderHealth:
        return cls(BreakerConfig.from_settings(settings), clock=clock)

    @property
    def clock(self) -> Callable[[], float]:
        """The clock the windows are kept on (unix seconds): what else times a provider's rest (the
        proxy's remembered refusals) reads the same one."""
        return self._clock

    # ---- asking -------------------------------------------------------------------------------

    def available(self, provider: str) -> bool:
        """Would a request be let through now? (Does not take the half-open probe.)"""
        return self.wait_time(provider) == 0.0

    def acquire(self, provider: str) -> bool:
        """May this request try ``provider`` now? In half-open, a True answer makes it the probe:
        report its outcome with record_success / record_failure, or ``release`` it."""
        st = self._providers.get(provider)
        if st is None:  # never failed (the usual case): nothing to wait for, no probe to take
            return True
        if not self.available(provider):
            return False
        if st.state != "closed":
            st.state, st.probe_since = "half_open", self._clock()
        return True

    def last_error(self, provider: str) -> str | None:
        """The status and error type of ``provider``'s last counted failure ("401 authentication_error"),
        or None."""
        st = self._providers.get(provider)
        return None if st is None else st.last_error

    def wait_time(self, provider: str) -> float:
        """Seconds until ``provider`` can be tried again (0 when it can be now)."""
        st = self._providers.get(provider)
        if st is None:
            return 0.0
        now = self._clock()
        until = st.rate_limited_until
        if st.state == "open":
            until = max(until, st.open_until)
        elif st.state == "half_open" and st.probe_since is not None:
            until = max(until, st.probe_since + self.config.cooldown_s)
        return max(0.0, until - now)

    def rate_limited(self, provider: str) -> bool:
        st = self._providers.get(provider)
        return st is not None and st.rate_limited_until > self._clock()

    # ---- reporting ----------------------------------------------------------------------------

    def record_success(self, provider: str) -> None:
        st = self._providers.get(provider)
        if st is not None:
            if st.state != "closed":
                log.warning("provider %s answers again: circuit closed", provider)
            st.state, st.failures, st.probe_since, st.rate_limited_until = "closed", 0, None, 0.0
            st.limited = 0

    def record_failure(
        self,
        provider: str,
        status: int | None,
        retry_after_s: float | None = None,
        error_type: str | None = None,
        counted: bool = False,
    ) -> None:
        """An attempt failed. Only the provider's faults count (``is_retryable``); the client's own
        bad requests just end a probe without a verdict. ``counted``: a 429 with a Retry-After that counts
        toward the breaker all the same (a quota or credit used up, ``registry.quota_exhausted``: no rate limit
        its wait lifts), the provider rested for the Retry-After too."""
        if not is_retryable(status):
            self.release(provider)
            return
        if status == 429 and retry_after_s is not None and not counted:
            self._rate_limited(provider, retry_after_s, error_type)
            return
        now = self._clock()
        st = self._providers.setdefault(provider, _Provider())
        st.failures += 1
        st.last_failure_at = now
        st.last_error = f"{status if status is not None else 'no response'}" + (
            f" {error_type}" if error_type else ""
        )
        if retry_after_s is not None:
            st.rate_limited_until = now + min(retry_after_s, self.config.retry_after_cap_s)
        # Logged at a provider's first failure in a row and when its circuit opens, not at every failure:
        # bounded however many requests fail (issue 13: no per-request logging); the status and error type
        # only (a provider's message may quote what a client sent)
        if st.failures == 1:
            log.warning("provider %s failed: %s", provider, st.last_error)
        if st.state == "half_open" or st.failures >= self.config.failures:
            if st.state != "open":
                log.warning(
                    "provider %s: circuit open for %gs after %d failure(s) in a row (last: %s)",
                    provider,
                    self.config.cooldown_s,
                    st.failures,
                    st.last_error,
                )
            st.state, st.open_until, st.probe_since = "open", now + self.config.cooldown_s, None

    def _rate_limited(self, provider: str, retry_after_s: float, error_type: str | None) -> None:
        """A 429 that said when to retry: rest ``provider`` that long (a stated 0: the SDKs' backoff, see the
        module docstring), capped; no breaker verdict either way (a half-open probe is released)."""
        now = self._clock()
        st = self._providers.setdefault(provider, _Provider())
        st.limited += 1
        st.last_failure_at = now
        st.last_error = "429" + (f" {error_type}" if error_type else "")
        wait_s = retry_after_s
        if wait_s <= 0:
            wait_s = min(RATE_LIMIT_BACKOFF_S * 2 ** min(st.limited - 1, 16), RATE_LIMIT_BACKOFF_MAX_S)
        st.rate_limited_until = now + min(wait_s, self.config.retry_after_cap_s)
        if st.limited == 1:
            log.warning(
                "provider %s rate-limited the gateway: %s (retry after %gs)", provider, st.last_error, wait_s
            )
        if st.state == "half_open":
            st.probe_since = None  # no verdict: the next request after the rest is the probe

    def release(self, provider: str) -> None:
        """An attempt ended without a verdict on the provider (cancelled, or the request was bad)."""
        st = self._providers.get(provider)
        if st is not None and st.state == "half_open":
            st.probe_since = None

    # ---- showing ------------------------------------------------------------------------------

    def state(self, provider: str) -> str:
        """``provider``'s ``state`` exactly as ``snapshot`` names it, without describing every provider
        (the metrics read it once per request)."""
        st = self._providers.get(provider)
        if st is None:
            return "healthy"
        now = self._clock()
        if (st.state == "open" and st.open_until > now) or st.rate_limited_until > now:
            return "cooling_down"
        return "healthy" if st.state == "closed" else "half_open"

    def snapshot(self) -> HealthSnapshot:
        """Per provider: ``state`` is healthy, cooling_down (with ``until``, an ISO time, and the
        ``reason``: circuit_open or retry_after) or half_open; plus the failure count and last error."""
        return HealthSnapshot({name: self._describe(st) for name, st in self._providers.items()})

    def _describe(self, st: _Provider) -> dict[str, Any]:
        now = self._clock()
        out: dict[str, Any] = {
            "state": "healthy",
            "consecutive_failures": st.failures,
            "last_error": st.last_error,
            "last_failure_at": _iso(st.last_failure_at),
        }
        if st.state == "open" and st.open_until > now:
            out.update(state="cooling_down", until=_iso(st.open_until), reason="circuit_open")
        elif st.state != "closed":
            out["state"] = "half_open"
        if st.rate_limited_until > now and out["state"] != "cooling_down":
            out.update(state="cooling_down", until=_iso(st.rate_limited_until), reason="retry_after")
        return out


class HealthSnapshot(dict[str, dict[str, Any]]):
    """Providers that never failed are healthy: ``get`` answers for them too."""

    def get(self, key: str, default: Any = None) -> dict[str, Any]:
        return super().get(key) or {"state": "healthy", "consecutive_failures": 0}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
