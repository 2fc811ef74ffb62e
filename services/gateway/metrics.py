"""The gateway's Prometheus metrics (``GET /metrics``), derived from the finished ``UsageEvent``.

Every per-request figure comes from one place, ``GatewayMetrics.observe_row(row)`` (an event's values in
``FIELD_NAMES`` order; ``observe(event)`` for a ``UsageEvent``), which the publisher calls for each event
it is handed: what the ledger records and what Prometheus counts cannot disagree.

Several gateway processes: with ``PROMETHEUS_MULTIPROC_DIR`` set (prometheus-client's own multiprocess
mode; an empty directory shared by the workers of one host, wiped before they start), every worker
writes its values there and any worker's ``/metrics`` answers for all of them: counters and histograms
summed, the event gauges summed over live workers, the breaker state the worst over live workers.
Without it each process serves its own figures; scrape each one (Prometheus adds an ``instance``
label) and aggregate with ``sum without (instance)``. ``GATEWAY_WORKERS=N`` sets it up for its workers
(services/gateway/workers.py). A worker's breaker state changes with time alone (a cool-down ends), and
only the worker that answers a scrape can refresh its own figure then, so in multiprocess mode each
worker refreshes its breaker gauges every ``BREAKER_REFRESH_S`` (``run_breaker_refresh``).

Labels are provider names, model names the catalog routed, statuses and error types: never a key, never
a client credential, never a model name the gateway did not recognise (those count as ``model=""``).
"""

from __future__ import annotations

import asyncio
import glob
import logging
import operator
import os
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Callable, Iterable
from functools import reduce
from itertools import repeat
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    generate_latest,
    multiprocess,
)

from services.gateway.routing.health import ProviderHealth
from shared.events import (
    ATTEMPTS,
    CLIENT_FORMAT,
    COST_USD,
    ERROR_TYPE,
    EVENT_ID,
    FAILED_ATTEMPTS,
    INPUT_TOKENS,
    LATENCY_MS,
    MODEL,
    PROVIDER,
    REASONING_TOKENS,
    STATUS,
    STREAMED,
    TTFT_MS,
    FailedAttempt,
    Row,
    UsageEvent,
    row_of,
)

log = logging.getLogger("gateway.metrics")

LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 120.0)
BREAKER_STATES = {"healthy": 0, "half_open": 1, "cooling_down": 2}
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write", "reasoning")
MAX_LABEL = 120
BREAKER_REFRESH_S = 1.0
FLUSH_AT = 512  # latencies held per (provider, model) before they are applied without a scrape
# Distinct model labels per provider: the catalog routes a whole family by its prefix (any ``gpt-…`` to
# OpenAI), so "routed" alone does not bound what a client can name; past this many, ``model="other"``.
MODELS_PER_PROVIDER = 100
_Labelled = Counter | Histogram | Gauge
EVENT_GAUGES = {"ekai_events_queued": "queued", "ekai_events_unacked": "unacked"}


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class GatewayMetrics:
    """One set of metric objects per application (tests build several apps in one process)."""

    def __init__(self, health: ProviderHealth, providers: Iterable[str] = ()) -> None:
        self.health = health
        self.providers = tuple(providers)
        self._provider_set = frozenset(self.providers)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._rows: dict[tuple[str, str], _Row] = {}
        self._models: dict[str, set[str]] = {}  # the model labels given so far, per provider
        self.multiprocess = multiprocess_dir() is not None
        # Called before a scrape: the publisher builds the events waiting for their batch (and observes
        # them here), so a scrape counts every request finished before it (services/gateway/app.py).
        self.before_scrape: Callable[[], None] | None = None
        self.registry = CollectorRegistry()
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        else:
            # python_gc_collections_total / python_gc_objects_collected_total{generation}: the collector's
            # own counters (``gc.get_stats()``, read at the scrape, nothing on a request's path). A young
            # collection pauses every request in flight (1-3 ms at one connection): objects collected show
            # a reference cycle made per request (session 27, docs/benchmarks.md). One process's figures,
            # so not in multiprocess mode, where a scrape answers for every worker.
            GCCollector(registry=self.registry)
        # In multiprocess mode the values live in the shared directory and the collector above reads
        # them all: the metric objects must not also be registered.
        reg = None if self.multiprocess else self.registry
        self.requests = Counter(
            "ekai_requests",
            "Requests answered, by outcome",
            ["client_format", "provider", "model", "status"],
            registry=reg,
        )
        self.errors = Counter(
            "ekai_request_errors",
            "Requests answered with a status of 400 or more",
            ["provider", "model", "error_type"],
            registry=reg,
        )
        self.latency = Histogram(
            "ekai_request_duration_seconds",
            "Request latency, first byte in to last out",
            ["provider", "model", "streamed"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.ttft = Histogram(
            "ekai_time_to_first_token_seconds",
            "Time to the first token of a stream",
            ["provider", "model"],
            buckets=TTFT_BUCKETS,
            registry=reg,
        )
        self.tokens = Counter(
            "ekai_tokens",
            "Tokens by kind (input excludes cache reads and writes)",
            ["provider", "model", "kind"],
            registry=reg,
        )
        self.cost = Counter(
            "ekai_cost_usd",
            "Cost in US dollars (requests with a known price)",
            ["provider", "model"],
            registry=reg,
        )
        self.unpriced = Counter(
            "ekai_requests_unpriced",
            "Requests with usage but no known price",
            ["provider", "model"],
            registry=reg,
        )
        self.fallbacks = Counter(
            "ekai_fallbacks",
            "Requests that needed more than one upstream attempt",
            ["provider", "model"],
            registry=reg,
        )
        self.attempt_failures = Counter(
            "ekai_upstream_attempt_failures",
            "Upstream attempts that failed",
            ["provider", "error_type"],
            registry=reg,
        )
        self.sent_again = Counter(
            "ekai_upstream_sent_again",
            "Requests sent once more on a new connection after a kept one ended unanswered (keep-alive race)",
            ["provider"],
            registry=reg,
        )
        self.breaker = Gauge(
            "ekai_provider_breaker_state",
            "0 healthy, 1 half-open, 2 cooling down",
            ["provider"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.events_queued = Gauge(
            "ekai_events_queued",
            "Events held until the recorder acknowledges them",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.events_unacked = Gauge(
            "ekai_events_unacked",
            "Events sent and awaiting acknowledgement",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.events_acked = Counter("ekai_events_acked", "Events the recorder acknowledged", registry=reg)
        self.events_resent = Counter(
            "ekai_events_resent", "Events sent again (timeout or reconnect)", registry=reg
        )
        self.events_dropped = Counter(
            "ekai_events_dropped", "Events dropped: EVENT_QUEUE_MAX reached", registry=reg
        )
        self.events_observe_errors = Counter(
            "ekai_metrics_observe_errors", "Events the metrics could not read", registry=reg
        )
        self.refresh_breakers()

    # ---- per request --------------------------------------------------------------------------

    def count_sent_again(self, provider: str) -> None:
        """One request sent again by the upstream pool (``UpstreamClient.on_sent_again``)."""
        self._child(self.sent_again, _label(provider)).inc()

    def _child(self, metric: _Labelled, *values: str) -> Any:
        """``metric.labels(*values)``, kept: prometheus-client validates and locks on every ``labels``
        call (about 4 µs); the label sets are bounded (routed providers and models, statuses)."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe(self, e: UsageEvent) -> None:
        """Count one finished request (``observe_row`` of its values)."""
        self.observe_row(row_of(e))

    def observe_row(self, row: Row) -> None:
        """Count one finished request, given as its values in ``FIELD_NAMES`` order (``shared.events.Row``:
        ``calls.row_for``'s, or ``row_of(event)``). In a single process the figures wait in plain numbers
        (``_Row``) until the next scrape (``exposition``) or until ``FLUSH_AT`` latencies are held; in
        multiprocess mode the other workers read the shared files, so they are applied at once."""
        provider = row[PROVIDER] or ""
        key = (provider, row[MODEL] if provider else "")  # unrouted names are client input: unbounded
        counts = self._rows.get(key)
        if counts is None:
            named = self._models.setdefault(provider, set())
            if len(named) >= MODELS_PER_PROVIDER and key[1] not in named:
                key = (provider, "other")  # a client naming ever new models of a routed family
                counts = self._rows.get(key)
            else:
                named.add(key[1])
        if counts is None:
            counts = self._rows[key] = _Row(self, _label(key[0]), _label(key[1]))
        counts.count(row)
        if self.multiprocess or counts.held >= FLUSH_AT:
            counts.flush()
        failed: list[FailedAttempt] = row[FAILED_ATTEMPTS]
        if failed:
            touched = {provider} if provider else set()
            for attempt in failed:
                self._child(
                    self.attempt_failures, _label(attempt.provider), attempt.error_type or "error"
                ).inc()
                touched.add(attempt.provider)
            self._set_breakers(touched)
        elif provider and (self.multiprocess or provider not in self._provider_set):
            self._set_breakers((provider,))

    def flush(self) -> None:
        """Apply every held figure to its prometheus-client child."""
        for row in self._rows.values():
            row.flush()

    def observe_safely(self, e: UsageEvent) -> None:
        """``observe`` for the request path: a metrics bug must never fail a request."""
        self.observe_row_safely(row_of(e))

    def observe_row_safely(self, row: Row) -> None:
        """``observe_row`` for the request path: a metrics bug must never fail a request."""
        try:
            self.observe_row(row)
        except Exception:
            self.events_observe_errors.inc()
            log.exception("metrics could not observe event %s", row[EVENT_ID])

    # ---- state --------------------------------------------------------------------------------

    def set_event_gauges(self, queued: int, unacked: int) -> None:
        self.events_queued.set(queued)
        self.events_unacked.set(unacked)

    def refresh_breakers(self) -> None:
        self._set_breakers(self.providers)

    def _set_breakers(self, providers: Iterable[str | None]) -> None:
        for name in providers:
            if name:
                self._child(self.breaker, _label(name)).set(BREAKER_STATES.get(self.health.state(name), 2))

    async def run_breaker_refresh(self, interval_s: float = BREAKER_REFRESH_S) -> None:
        """Multiprocess mode: keep this worker's breaker gauges current for the other workers' scrapes
        (run as a task; cancel it to stop). Elsewhere ``exposition`` refreshes them."""
        while True:
            await asyncio.sleep(interval_s)
            self.refresh_breakers()

    def events_all_workers(self) -> dict[str, int] | None:
        """Multiprocess mode: events ``queued`` and ``unacked`` summed over the live workers (read from
        their gauge files in ``PROMETHEUS_MULTIPROC_DIR``); ``None`` in a single process."""
        path = multiprocess_dir()
        if not self.multiprocess or path is None:
            return None
        totals = dict.fromkeys(EVENT_GAUGES.values(), 0)
        files = glob.glob(os.path.join(path, "gauge_livesum_*.db"))
        for metric in multiprocess.MultiProcessCollector.merge(files):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name in EVENT_GAUGES:
                    totals[EVENT_GAUGES[sample.name]] += int(sample.value)
        return totals

    def exposition(self) -> bytes:
        if self.before_scrape is not None:
            self.before_scrape()
        self.flush()
        self.refresh_breakers()
        return generate_latest(self.registry)

    def close(self) -> None:
        """In multiprocess mode, retire this process's live gauges."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _Row:
    """One (provider, model)'s children and the figures not yet applied to them.

    A child is created (``GatewayMetrics._child``) the first time its label set is seen, as the direct
    calls did, so the exposition lists label sets in the same order with the same ``_created`` times;
    only the increments wait. Counters hold a sum, histograms the values in arrival order (applied one by
    one with ``observe``: the same sums to the last bit). Held figures: ``held`` latencies at most
    ``FLUSH_AT``; the counters are bounded by the label sets."""

    __slots__ = ("m", "provider", "model", "requests", "errors", "latency", "ttft", "tokens", "money", "held")

    def __init__(self, m: GatewayMetrics, provider: str, model: str) -> None:
        self.m = m
        self.provider = provider
        self.model = model
        self.requests: dict[tuple[str, int], list[Any]] = {}  # (client_format, status) -> [child, n]
        self.errors: dict[str | None, list[Any]] = {}  # error_type -> [child, n]
        self.latency: dict[bool, list[Any]] = {}  # streamed -> [child, seconds...]
        self.ttft: list[Any] = []  # [child, seconds...] once a TTFT is seen
        self.tokens: list[list[Any] | None] = [None] * len(TOKEN_KINDS)  # [child, n] per kind
        self.money: dict[str, list[Any]] = {}  # "cost" | "unpriced" | "fallbacks" -> [child, amount]
        self.held = 0

    def count(self, row: Row) -> None:
        """Hold one request's figures (``row``: ``shared.events.Row``)."""
        m = self.m
        fmt, status, error_type, streamed = row[CLIENT_FORMAT], row[STATUS], row[ERROR_TYPE], row[STREAMED]
        req = self.requests.get((fmt, status))
        if req is None:
            child = m._child(m.requests, fmt, self.provider, self.model, str(status))
            req = self.requests[(fmt, status)] = [child, 0]
        req[1] += 1
        if status >= 400:
            err = self.errors.get(error_type)
            if err is None:
                child = m._child(m.errors, self.provider, self.model, error_type or "error")
                err = self.errors[error_type] = [child, 0]
            err[1] += 1
        lat = self.latency.get(streamed)
        if lat is None:
            child = m._child(m.latency, self.provider, self.model, "true" if streamed else "false")
            lat = self.latency[streamed] = [child]
        lat.append(row[LATENCY_MS] / 1000)
        self.held += 1
        ttft = row[TTFT_MS]
        if ttft is not None:
            if not self.ttft:
                self.ttft.append(m._child(m.ttft, self.provider, self.model))
            self.ttft.append(ttft / 1000)
        counts = row[INPUT_TOKENS : REASONING_TOKENS + 1]  # input, output, cache read, cache write, reasoning
        for i, n in enumerate(counts):
            if n:
                tok = self.tokens[i]
                if tok is None:
                    tok = self.tokens[i] = [m._child(m.tokens, self.provider, self.model, TOKEN_KINDS[i]), 0]
                tok[1] += n
        cost = row[COST_USD]
        if cost is not None:
            if cost > 0:
                self._add("cost", m.cost, cost)
        elif counts[0] + counts[1] + counts[2] + counts[3]:  # UsageEvent.total_tokens
            self._add("unpriced", m.unpriced, 1)
        if row[ATTEMPTS] > 1:
            self._add("fallbacks", m.fallbacks, 1)

    def _add(self, name: str, metric: Counter, amount: float) -> None:
        held = self.money.get(name)
        if held is None:
            held = self.money[name] = [self.m._child(metric, self.provider, self.model), 0]
        held[1] += amount

    def flush(self) -> None:
        for held in (*self.requests.values(), *self.errors.values(), *self.money.values()):
            if held[1]:
                held[0].inc(held[1])
                held[1] = 0
        for tok in self.tokens:
            if tok is not None and tok[1]:
                tok[0].inc(tok[1])
                tok[1] = 0
        for values in (*self.latency.values(), self.ttft):
            if len(values) > 1:
                observe_all(values[0], values[1:])
                del values[1:]
        self.held = 0


def observe_all(histogram: Any, amounts: list[float]) -> None:
    """``histogram.observe(a)`` for each of ``amounts`` (a labelled child of a prometheus-client ``Histogram``),
    with the same figures after: each bucket counts the amounts of which it is the first upper bound at or
    above (``bisect_left`` over the bounds, the last one +Inf), and the sum is the running sum the observes
    would make, in the same order (``reduce`` of ``+`` from the sum held: the same float, bit for bit). In C
    loops: one ``observe`` per request was 5 Python calls and two locks of the event's cost (issue 13,
    session 20; ``bench/event_pieces.py``). An amount that is NaN (which no bucket counts, ``observe``'s
    ``amount <= bound`` being false for every bound) or a ``Histogram`` without the prometheus-client
    internals read here (``_upper_bounds``, ``_buckets``, ``_sum``: 0.20 to 0.23) goes through ``observe``
    one by one. Single-threaded callers only (the sum is read, then set: the gateway's loop thread)."""
    try:
        bounds, buckets, total = histogram._upper_bounds, histogram._buckets, histogram._sum
    except AttributeError:
        bounds = None
    if bounds is not None and len(amounts) > 1:
        summed = reduce(operator.add, amounts, total.get())
        if summed == summed:  # no NaN among them (it would have made the sum NaN)
            for i, n in Tally(map(bisect_left, repeat(bounds), amounts)).items():
                buckets[i].inc(n)
            total.set(summed)
            return
    for amount in amounts:
        histogram.observe(amount)


def _label(value: str) -> str:
    return value[:MAX_LABEL]


METRICS: web.AppKey[GatewayMetrics] = web.AppKey("metrics", GatewayMetrics)


async def handle(request: web.Request) -> web.Response:
    """GET /metrics: the Prometheus text format."""
    body = request.app[METRICS].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
