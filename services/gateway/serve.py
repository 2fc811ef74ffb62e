"""The serve loop: try the routes best first until one answers (code-review example 4: a public seam).

``serve`` knows nothing of HTTP or formats: it takes the routes, an ``attempt`` function and the
providers' health, so tests drive it with plain functions. The rules are in docs/catalog.md
("Fallback").
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.gateway.dialects import registry
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from services.gateway.routing.health import ProviderHealth

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Limits:
    max_attempts: int  # upstream attempts per request (MAX_ATTEMPTS)
    retry_after_max_wait_s: (
        float  # longest the gateway waits itself for a resting provider (RETRY_AFTER_MAX_WAIT)
    )


@dataclass(slots=True)
class Answer(Generic[T]):
    """An attempt that answered the client. ``failure``: the provider failed after the answer began
    (a stream that broke after its first token): too late to fall back, but it counts against the
    provider — (status, error type). ``judged``: False when the request ended before the provider could
    answer (the client hung up while its headers were awaited): no verdict on the provider either way."""

    response: T
    failure: tuple[int, str | None] | None = None
    judged: bool = True


@dataclass(frozen=True, slots=True)
class Unfit:
    """A route that cannot express this request (a translation the target format has no way to say):
    not the provider's fault and not an attempt. ``error`` is what the client gets when no route fits."""

    error: Exception


async def serve(
    routes: list[Route],
    attempt: Callable[[Route], Awaitable[Answer[T] | UpstreamError | Unfit]],
    health: ProviderHealth,
    limits: Limits,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T | UpstreamError:
    """Try ``routes`` best first until one answers; the answer, or the error to give the client.

    A provider that is cooling down (open breaker, or its own Retry-After) is skipped. When all that
    remain are, the request waits for the soonest one if that fits in ``retry_after_max_wait_s`` (in
    total); a route that answered 429 with a Retry-After that short goes back in line. At most
    ``max_attempts`` attempts. A request nothing served gets the last real error, or, when no provider
    could even be tried, a 429/503 that says when to retry. A route whose ``attempt`` says ``Unfit`` is
    passed over (not counted, its provider released); when no route fits at all, the first route's
    ``Unfit.error`` is raised (the client's 400). Every attempt's result is reported to
    ``health`` here, and only here; an attempt that raises (cancelled, or a request the gateway itself
    refuses) releases its provider and the exception propagates.
    """
    pending = list(routes)
    last: UpstreamError | None = None
    waited = 0.0
    tried = 0
    unfit: Unfit | None = None
    passed_over: list[Route] = []
    while pending and tried < limits.max_attempts:
        route = None
        for candidate in pending:  # the first one whose provider admits a request (a plain loop: per request)
            if health.acquire(candidate.provider):
                route = candidate
                break
        if route is None:
            delay = max(0.001, min(health.wait_time(r.provider) for r in pending))
            if waited + delay > limits.retry_after_max_wait_s:
                break
            waited += delay
            await sleep(delay)
            continue
        pending.remove(route)
        try:
            outcome = await attempt(route)
        except BaseException:
            health.release(route.provider)
            raise
        if isinstance(outcome, Unfit):
            health.release(route.provider)
            unfit = unfit or outcome
            passed_over.append(route)
            continue
        tried += 1
        if isinstance(outcome, Answer):
            if not outcome.judged:
                health.release(route.provider)
            elif outcome.failure is None:
                health.record_success(route.provider)
            else:
                health.record_failure(route.provider, outcome.failure[0], None, outcome.failure[1])
            return outcome.response
        last = outcome
        if too_large_for_its_limit(outcome):  # the request's own size: no verdict on the provider, no rest
            health.release(route.provider)
        else:
            health.record_failure(
                route.provider,
                outcome.upstream_status,
                outcome.retry_after_s,
                outcome.error_type,
                counted=registry.quota_exhausted(outcome.upstream_status, outcome.body),
            )
        if not outcome.retryable:
            break
        if (
            outcome.retry_after_s is not None
            and outcome.retry_after_s <= limits.retry_after_max_wait_s
            and not told_not_to_retry(outcome)
        ):
            pending.append(route)  # worth another try once its Retry-After is over
    if last is None and unfit is not None and not pending:  # no route could express it
        raise unfit.error
    # the routes that could express it say when to retry (a route passed over as unfit never will)
    return last or unavailable([r for r in routes if r not in passed_over] or routes, health)


def told_not_to_retry(error: UpstreamError) -> bool:
    """The provider said ``x-should-retry: false``: this request is not to be sent to it again, whatever its
    status or Retry-After (the anthropic and openai SDKs obey the header before anything else,
    ``_base_client._should_retry``; s10 variant 11-j). Another route may still serve it. So too a 429 for a
    request larger than the limit it hit ("Request too large … Limit 30000, Requested 250011": no wait admits it;
    ``registry.over_the_limit_itself``, s16 variant 11-h), and a 429 for a quota or credit used up
    (``registry.quota_exhausted``: OpenAI's ``insufficient_quota``, Anthropic's ``billing_error``, xAI's credits;
    conformance §1.8, "insufficient_quota … must not be retried"): a short Retry-After on it (a proxy's generic
    one, or a reset read from the rate-limit headers every OpenAI answer carries) had the gateway wait it out and
    send the same request to the same provider up to ``max_attempts`` times (s25 variants 11-quota-short-vA,
    11-quota-resethdr-vB, 11-billing-short-vC, 11-xai-credits-ms-vD)."""
    return (
        error.headers.get("x-should-retry") == "false"
        or too_large_for_its_limit(error)
        or registry.quota_exhausted(error.upstream_status, error.body)
    )


def too_large_for_its_limit(error: UpstreamError) -> bool:
    """A 429 for a request larger than the limit it hit (``registry.over_the_limit_itself``): the request's
    own fault, like a 413, so it neither rests the provider for its Retry-After nor counts towards its
    breaker: the next request of a usual size is served at once (s16 variant 11-h)."""
    return error.upstream_status == 429 and registry.over_the_limit_itself(error.message)


def unavailable(routes: list[Route], health: ProviderHealth) -> UpstreamError:
    """No candidate could be tried: all are cooling down. 429 if all said Retry-After, else 503."""
    names = list(dict.fromkeys(r.provider for r in routes))
    if not names:
        return UpstreamError(
            503,
            "no provider can serve this request",
            provider="",
            retryable=True,
            error_type="providers_unavailable",
        )
    waits = {name: health.wait_time(name) for name in names}
    limited = all(health.rate_limited(name) for name in names)
    detail = ", ".join(
        f"{name} for {wait:.1f}s" + (f" (last error: {err})" if (err := health.last_error(name)) else "")
        for name, wait in waits.items()
    )
    return UpstreamError(
        429 if limited else 503,
        f"no provider can take this request now; cooling down: {detail}",
        provider=names[0],
        retryable=True,
        error_type="rate_limit_error" if limited else "providers_unavailable",
        retry_after_s=min(waits.values()),
    )
