"""Budgets and rate limits per gateway key: in-memory counters, O(1) per request, no I/O.

* **Budget** (``budget_usd`` per UTC ``day`` or ``month``): ``spent_usd`` starts from the ledger's total for
  the key in the current period (read once at start, :func:`shared.ledger.queries.key_spend`) and grows by
  each finished request's ``cost_usd``. A request is admitted while ``spent_usd < budget_usd``; the cost of a
  request is known only when it ends, so the overspend is bounded by the requests that were in flight when
  the budget was crossed (each at most its ``max_tokens`` worth). With several gateway processes each one
  also follows the others' finished requests (``follow_others`` in ``services/gateway/auth.py``), so the bound
  becomes the requests in flight across all of them, plus those finished in the few milliseconds the
  recorder takes to republish an event (it does so on receipt, before writing it).
* **Rate limits** (``requests_per_minute``, ``tokens_per_minute``): token buckets that hold one minute's
  allowance and refill continuously. A request takes one request token when admitted; its tokens (input,
  output, cache) are taken when it ends, so a bucket can go below zero and then refuses until it refills.

At 80% and 95% of a budget the first request admitted past the mark (in a period, and after a start)
carries ``budget_alert`` (ledger, ``tail``) and a log line is written; the first refused request carries
``"100%"``; from 80% on, responses carry ``x-ekai-budget-remaining-usd``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.gateway.errors import ClientError
from services.gateway.keys.keyfile import KeyEntry, Period
from shared.ledger.params import iso

log = logging.getLogger("gateway.quotas")
ALERT_LEVELS = (0.95, 0.80)  # highest first
PERIOD_WORDS = {"day": "daily", "month": "monthly"}


def period_bounds(period: Period, now: float) -> tuple[float, float]:
    """Start and end (unix seconds) of the UTC calendar day or month holding ``now``."""
    moment = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end_ts = start.timestamp() + 86400
    else:
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (
            start.replace(year=start.year + 1, month=1)
            if start.month == 12
            else start.replace(month=start.month + 1)
        )
        end_ts = end.timestamp()
    return start.timestamp(), end_ts


class QuotaExceeded(ClientError):
    """429: a budget or a rate limit refuses the request. ``retry_after_s``: when it resets."""

    def __init__(self, message: str, code: str, retry_after_s: int, alert: str | None = None) -> None:
        super().__init__(429, message, code=code)
        self.retry_after_s = retry_after_s
        self.alert = alert  # "100%" on the first refusal of a budget period (ledger, tail)


@dataclass(slots=True)
class Bucket:
    """A token bucket holding at most ``capacity``, refilled at ``capacity`` per minute."""

    capacity: float
    level: float
    at: float  # time.monotonic() of the last refill

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.capacity / 60.0)
        self.at = now

    def wait_s(self, need: float) -> int:
        """Whole seconds until the bucket holds ``need`` (at least 1)."""
        return max(1, math.ceil((need - self.level) * 60.0 / self.capacity))


@dataclass(slots=True)
class Admission:
    """What a request admitted for a key should tell: remaining budget (from 80% used on), new alert."""

    remaining_usd: float | None = None
    alert: str | None = None


@dataclass(slots=True)
class KeyState:
    entry: KeyEntry
    period_start: float = 0.0
    period_end: float = 0.0
    spent_usd: float = 0.0
    alerted: float = 0.0  # highest alert level reported this period (1.0: refused at 100%)
    in_flight: int = 0
    requests: Bucket | None = None
    tokens: Bucket | None = None


@dataclass
class Quotas:
    """The counters of every limited key. ``wall`` is unix time (periods), ``mono`` monotonic (buckets)."""

    states: dict[str, KeyState] = field(default_factory=dict)

    @classmethod
    def build(
        cls, entries: tuple[KeyEntry, ...], spent: Mapping[str, float], wall: float, mono: float
    ) -> Quotas:
        """Counters for the limited keys among ``entries``, ``spent`` being each key's spend this period."""
        quotas = cls()
        for entry in entries:
            if not entry.limited:
                continue
            state = KeyState(entry)
            if entry.budget_usd is not None:
                state.period_start, state.period_end = period_bounds(entry.budget_period, wall)
            if entry.requests_per_minute:
                state.requests = Bucket(entry.requests_per_minute, entry.requests_per_minute, mono)
            if entry.tokens_per_minute:
                state.tokens = Bucket(entry.tokens_per_minute, entry.tokens_per_minute, mono)
            quotas.states[entry.name] = state
        quotas.add_spent(spent)
        return quotas

    def add_spent(self, spent: Mapping[str, float]) -> None:
        """Add spend from the ledger (at start). A level already passed is reported again by the first
        request after the start (a process does not know whether its predecessor reported it)."""
        for name, usd in spent.items():
            state = self.states.get(name)
            if state is not None and state.entry.budget_usd is not None:
                state.spent_usd += float(usd)

    def periods(self, wall: float) -> dict[str, float]:
        """Each budgeted key's current period start (what the ledger is asked about)."""
        return {name: s.period_start for name, s in self.states.items() if s.entry.budget_usd is not None}

    def admit(self, name: str, wall: float, mono: float) -> Admission:
        """Admit one request for key ``name``, or raise :class:`QuotaExceeded`."""
        state = self.states.get(name)
        if state is None:
            return Admission()
        for bucket, need, word in ((state.requests, 1.0, "requests"), (state.tokens, 0.0, "tokens")):
            if bucket is None:
                continue
            bucket.refill(mono)
            if bucket.level < need or bucket.level <= 0:
                wait = bucket.wait_s(need)
                raise QuotaExceeded(
                    f"key {name!r} is over its limit of {int(bucket.capacity)} {word} per minute; "
                    f"it allows more in {wait} s",
                    f"rate_limit_{word}",
                    wait,
                )
        admission = self._budget(state, wall)  # after the rate checks: an alert is never lost to a refusal
        if state.requests is not None:
            state.requests.level -= 1
        state.in_flight += 1
        return admission

    def _budget(self, state: KeyState, wall: float) -> Admission:
        entry = state.entry
        if entry.budget_usd is None:
            return Admission()
        if wall >= state.period_end:
            state.period_start, state.period_end = period_bounds(entry.budget_period, wall)
            state.spent_usd, state.alerted = 0.0, 0.0
        budget, spent = entry.budget_usd, state.spent_usd
        word = PERIOD_WORDS[entry.budget_period]
        if spent >= budget:
            wait = max(1, math.ceil(state.period_end - wall))
            alert = None
            if state.alerted < 1.0:
                state.alerted, alert = 1.0, "100%"
                log.warning(
                    "key %r reached its %s budget: %.6f of %g USD; requests refused until %s",
                    entry.name,
                    word,
                    spent,
                    budget,
                    iso(state.period_end),
                )
            raise QuotaExceeded(
                f"key {entry.name!r} has used its {word} budget of {budget:g} USD ({spent:.6f} USD spent); "
                f"it resets at {iso(state.period_end)} (in {wait} s)",
                f"budget_exceeded_{entry.budget_period}",
                wait,
                alert,
            )
        admission = Admission()
        if spent >= ALERT_LEVELS[-1] * budget:
            admission.remaining_usd = budget - spent
        level = next((lvl for lvl in ALERT_LEVELS if spent >= lvl * budget), 0.0)
        if level > state.alerted:
            state.alerted = level
            admission.alert = f"{level:.0%}"
            log.warning(
                "key %r has used %s of its %s budget: %.6f of %g USD (resets at %s)",
                entry.name,
                admission.alert,
                word,
                spent,
                budget,
                iso(state.period_end),
            )
        return admission

    def settle(
        self,
        name: str | None,
        cost_usd: float | None,
        tokens: int,
        *,
        own: bool,
        mono: float,
        started_at: float | None = None,
    ) -> None:
        """Count one finished request of key ``name``: its cost and tokens. ``own``: admitted here (it was
        counted in flight); otherwise another gateway process served it, and it takes a request token too."""
        state = self.states.get(name) if name else None
        if state is None:
            return
        if own:
            state.in_flight = max(0, state.in_flight - 1)
        in_period = started_at is None or started_at >= state.period_start
        if cost_usd and state.entry.budget_usd is not None and in_period:
            state.spent_usd += cost_usd
        if state.tokens is not None and tokens:
            state.tokens.refill(mono)
            state.tokens.level -= tokens
        if not own and state.requests is not None:
            state.requests.refill(mono)
            state.requests.level -= 1
