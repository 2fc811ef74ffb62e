"""The verdict ``GET /health`` gives: can this gateway serve, and what is wrong with it (pure, no I/O).

Three statuses, for a load balancer (the HTTP status) and a human (``status`` and ``reasons``):

- ``ok`` (200): a provider can take requests, the recorder is connected, no event is being lost.
- ``degraded`` (200): it serves, but something needs a look. Reasons (``code``):
  ``recorder_not_connected`` (events wait in memory, up to ``EVENT_QUEUE_MAX``),
  ``events_piling_up`` (at least half of ``EVENT_QUEUE_MAX`` held unacknowledged),
  ``events_dropped`` (an event dropped in the last ``DROPPED_RECENT_S``: the ledger misses requests),
  ``no_provider_configured`` (no provider key or keyless catalog provider: every generation request gets an
  error; still 200, because the rest serves (``/usage``, ``/metrics``, the models list) and no other
  instance with the same configuration would do better, while a 503 would make an orchestrator restart a
  gateway that only needs a key), ``provider_cooling_down`` (some configured providers rest; others serve).
- ``unavailable`` (503, with ``retry-after``): no generation request can be served now, because every
  configured provider is cooling down (its circuit open after ``BREAKER_FAILURES`` failures, or its own
  Retry-After); it clears by itself when the soonest cooldown ends, which ``retry-after`` says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["ok", "degraded", "unavailable"]
DROPPED_RECENT_S = 300.0  # a drop this recent (seconds) keeps the gateway "degraded"
PILING_UP_SHARE = 0.5  # held events, as a share of EVENT_QUEUE_MAX, that count as piling up


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    reasons: tuple[Reason, ...]
    retry_after_s: int | None = None  # only when unavailable: whole seconds until a provider can be tried

    @property
    def http_status(self) -> int:
        return 503 if self.status == "unavailable" else 200

    def as_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
        }


@dataclass(frozen=True, slots=True)
class EventsState:
    """What the publisher says: ``recorder_connected``; ``queued`` of ``max_queued`` held unacknowledged;
    ``dropped`` in all, the last ``since_drop_s`` seconds ago (None: never)."""

    recorder_connected: bool
    queued: int
    max_queued: int
    dropped: int
    since_drop_s: float | None


def assess(
    configured: Sequence[str],
    breakers: Mapping[str, Mapping[str, Any]],
    waits_s: Mapping[str, float],
    events: EventsState,
) -> Verdict:
    """The verdict from the configured providers' names, their breaker states (``ProviderHealth.snapshot``:
    ``state`` healthy, half_open or cooling_down with a ``reason``), the seconds until each can be tried
    (``ProviderHealth.wait_time``) and the events' state."""
    reasons = list(_event_reasons(events))
    cooling = {
        n: str(breakers.get(n, {}).get("reason", "")) for n in configured if _cooling(breakers.get(n, {}))
    }
    if not configured:
        reasons.insert(0, Reason("no_provider_configured", _NO_PROVIDER))
    elif len(cooling) == len(configured):
        wait = min((waits_s.get(n, 0.0) for n in configured), default=0.0)
        message = "every configured provider is cooling down, no request can be served now: " + _list(cooling)
        return Verdict(
            "unavailable", (Reason("all_providers_cooling_down", message), *reasons), max(1, math.ceil(wait))
        )
    elif cooling:
        reasons.append(Reason("provider_cooling_down", "cooling down (the others serve): " + _list(cooling)))
    return Verdict("degraded" if reasons else "ok", tuple(reasons))


_NO_PROVIDER = (
    "no provider is configured: set a provider key (OPENAI_API_KEY, ANTHROPIC_API_KEY, …) or add one in the "
    "catalog file (CATALOG_PATH); generation requests get an error until then"
)


def _cooling(state: Mapping[str, Any]) -> bool:
    return state.get("state") == "cooling_down"


def _list(cooling: Mapping[str, str]) -> str:
    return ", ".join(f"{name} ({why or 'cooling down'})" for name, why in cooling.items())


def _event_reasons(ev: EventsState) -> list[Reason]:
    out: list[Reason] = []
    if not ev.recorder_connected:
        out.append(
            Reason(
                "recorder_not_connected",
                f"no recorder connected: {ev.queued} events held in memory (at most {ev.max_queued}) until one is",
            )
        )
    if ev.max_queued > 0 and ev.queued >= ev.max_queued * PILING_UP_SHARE:
        out.append(
            Reason(
                "events_piling_up",
                f"{ev.queued} of at most {ev.max_queued} events held unacknowledged by the recorder",
            )
        )
    if ev.since_drop_s is not None and ev.since_drop_s < DROPPED_RECENT_S:
        out.append(
            Reason(
                "events_dropped",
                f"{ev.dropped} events dropped (the ledger misses those requests), "
                f"the last {ev.since_drop_s:.0f} s ago",
            )
        )
    return out
