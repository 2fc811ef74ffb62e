"""One client call and its upstream attempts, and the pure function that makes its ledger event.

The handler creates a ``Call`` when a request arrives; each upstream attempt appends an ``Attempt``
(what happened on that route: status, error, usage, served model, time to first token); the proxy sets
the status the client finally got. ``event_for`` then builds the ``UsageEvent`` in one place
(code-review example 3): acks, new ledger columns and metrics have one place to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.gateway.dialects.formats import ClientFormat, Wire
from services.gateway.dialects.ir import Usage
from services.gateway.dialects.registry import Endpoint
from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Route
from shared.events import FailedAttempt, UsageEvent
from shared.pricing import Pricer

MESSAGE_LIMIT = 300  # characters of a failed attempt's message kept in the ledger


@dataclass(slots=True)
class Attempt:
    """One upstream attempt on one route.

    ``status``: for an attempt that answered the client, 200; for a failed one, the provider's HTTP
    status (None when there was no answer: connection error, timeout).
    """

    route: Route
    wire: Wire
    translated: bool
    answered: bool = False  # this attempt's answer went to the client
    status: int | None = None
    error_type: str | None = None
    message: str = ""
    error: UpstreamError | None = None
    usage: Usage | None = None
    served_model: str | None = None
    ttft_ms: float | None = None
    client_disconnected: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # the provider's forwarded response headers

    def failed(self, exc: UpstreamError) -> None:
        self.status, self.error_type, self.message, self.error = (
            exc.upstream_status,
            exc.error_type,
            exc.message,
            exc,
        )


@dataclass(slots=True)
class Call:
    """One client request: what it asked (filled in as parsing goes), its attempts and its outcome."""

    endpoint: Endpoint
    request_id: str
    headers: Mapping[str, str]
    t0: float  # time.monotonic() at arrival
    started_at: float  # unix seconds at arrival
    body: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    model: str = ""  # the model name the client asked for
    stream: bool = False
    include_usage: bool = False
    reasoning: bool = True
    attempts: list[Attempt] = field(default_factory=list)
    status: int = 0  # the HTTP status the client got
    error_type: str | None = None

    @property
    def fmt(self) -> ClientFormat:
        return self.endpoint.format

    def answer(self, status: int, error_type: str | None = None) -> None:
        """Record what the client got."""
        self.status, self.error_type = status, error_type


def event_for(call: Call, pricer: Pricer, finished_at: float, latency_ms: float) -> UsageEvent:
    """The ledger event for a finished call (pure).

    Provider, wire and translation are the last attempt's (the one that answered, or the last tried);
    usage and cost are the answering attempt's. Cost: the catalog file's price when the route was
    priced from it, else ``pricer`` (genai-prices), else the provider's own figure (OpenRouter's
    ``usage.cost``) takes precedence over both; ``None`` when no price is known (never a silent 0).
    """
    last = call.attempts[-1] if call.attempts else None
    answered = next((a for a in call.attempts if a.answered), None)
    usage = (answered.usage if answered else None) or Usage()
    cost: float | None = None
    if answered is not None:
        cost = _cost(answered, usage, pricer)
    return UsageEvent(
        request_id=call.request_id,
        endpoint=call.endpoint.path,
        client_format=call.fmt,
        model=call.model,
        started_at=call.started_at,
        finished_at=finished_at,
        provider=last.route.provider if last else None,
        provider_format=last.wire if last else None,
        translated=last.translated if last else False,
        served_model=answered.served_model if answered else None,
        status=call.status or 500,
        error_type=call.error_type if call.status else (call.error_type or "internal_error"),
        streamed=call.stream,
        client_disconnected=any(a.client_disconnected for a in call.attempts),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        reasoning_tokens=usage.reasoning_tokens,
        cost_usd=cost,
        latency_ms=latency_ms,
        ttft_ms=answered.ttft_ms if answered else None,
        attempts=len(call.attempts),
        failed_attempts=[
            FailedAttempt(a.route.provider, a.status, a.error_type or "error", a.message[:MESSAGE_LIMIT])
            for a in call.attempts
            if not a.answered
        ],
    )


def _cost(attempt: Attempt, usage: Usage, pricer: Pricer) -> float | None:
    if usage.provider_cost_usd is not None:
        return usage.provider_cost_usd
    route = attempt.route
    counts = (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
    if route.price_source == "catalog" and route.rates is not None:
        return route.rates.cost(*counts)  # the catalog file's price is the one this request is charged at
    return pricer.cost(route.provider, route.model, *counts)
