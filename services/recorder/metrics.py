"""The recorder's Prometheus metrics, served on ``RECORDER_METRICS_HOST:RECORDER_METRICS_PORT/metrics``."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from wsgiref.simple_server import WSGIServer

import numpy as np
import numpy.typing as npt
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import HistogramMetricFamily, Metric

BATCH_BUCKETS = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class BatchHistogram:
    """A histogram observed a batch of values at a time (``observe_many``): the series of
    ``prometheus_client.Histogram`` (``_bucket`` with ``le``, ``_count``, ``_sum``; no ``_created``)
    for one lock per batch, instead of a lock per bucket and per sum for each value.

    A value goes into the first bucket whose upper bound is >= it (Prometheus's ``le``); the buckets of
    a batch are found by numpy (``searchsorted``, ``bincount``): 0.13-0.14 us a value against 0.42-0.44 for a
    ``bisect`` each (session 9: 100 batches of 500 lags, Python lists as the recorder passes them)."""

    def __init__(self, name: str, documentation: str, buckets: Sequence[float], registry: CollectorRegistry):
        self._name, self._documentation = name, documentation
        self._bounds = (*sorted(float(b) for b in buckets if b != math.inf), math.inf)
        self._edges = np.array(self._bounds)
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe_many(self, values: Sequence[float] | npt.NDArray[np.float64]) -> None:
        """Add each value (in the buckets' unit) once, as ``prometheus_client.Histogram.observe`` does
        (checked against prometheus_client 0.26.0): +inf goes to the last bucket, -inf to the first; NaN
        goes into no bucket and is not counted, but makes the sum NaN (from then on, as there). Raises
        ``ValueError`` (nothing added) for values that are not numbers."""
        array = np.asarray(values, dtype=np.float64)
        size = len(self._bounds)
        # NaN sorts past +inf: searchsorted puts it at index `size`, a bucket that is not kept.
        tally = np.bincount(np.searchsorted(self._edges, array, side="left"), minlength=size + 1)[:size]
        listed = array.tolist()
        try:
            total = math.fsum(listed)
        except (ValueError, OverflowError):  # inf - inf, or a float overflow: what plain adding gives
            total = sum(listed, 0.0)
        with self._lock:
            for i, n in enumerate(tally.tolist()):
                self._counts[i] += n
            self._sum += total

    def collect(self) -> Iterator[Metric]:
        """The series, as read by the registry (the ``/metrics`` endpoint's thread)."""
        with self._lock:
            counts, total = list(self._counts), self._sum
        buckets, cumulative = [], 0
        for bound, n in zip(self._bounds, counts, strict=True):
            cumulative += n
            buckets.append(("+Inf" if bound == math.inf else repr(bound), float(cumulative)))
        family = HistogramMetricFamily(self._name, self._documentation)
        family.add_metric([], buckets, total)
        yield family


class RecorderMetrics:
    def __init__(self) -> None:
        self.registry = reg = CollectorRegistry()
        self.received = Counter("ekai_recorder_events_received", "Event messages received", registry=reg)
        self.malformed = Counter(
            "ekai_recorder_events_malformed",
            "Messages that were not events (acknowledged and dropped, logged)",
            registry=reg,
        )
        self.rows = Counter("ekai_recorder_rows", "Rows written, by result", ["result"], registry=reg)
        self.batch_size = Histogram(
            "ekai_recorder_batch_size", "Rows per committed batch", buckets=BATCH_BUCKETS, registry=reg
        )
        self.commit_seconds = Histogram(
            "ekai_recorder_commit_seconds",
            "From handing one batch to the ledger writer to its commit: with SQLite this includes the time"
            " it waited behind up to 3 earlier batches and the transaction it may share with them",
            buckets=COMMIT_BUCKETS,
            registry=reg,
        )
        self.commits = Counter(
            "ekai_recorder_commits",
            "Ledger transactions committed (fewer than batches when the SQLite writer merged waiting ones)",
            registry=reg,
        )
        self.flush_failures = Counter(
            "ekai_recorder_flush_failures",
            "Batch commits that failed (retried; nothing acknowledged)",
            registry=reg,
        )
        self.lag = BatchHistogram(  # one value per row: observed a batch at a time
            "ekai_recorder_lag_seconds", "From a request's end to its row's commit", LAG_BUCKETS, reg
        )
        self.last_lag = Gauge(
            "ekai_recorder_last_lag_seconds",
            "Lag of the newest event in the last committed batch",
            registry=reg,
        )
        self.queued = Gauge("ekai_recorder_queued_rows", "Rows received and not yet committed", registry=reg)
        self.acked = Counter("ekai_recorder_events_acked", "Event acknowledgements sent", registry=reg)
        self.gateways = Gauge(
            "ekai_recorder_gateway_connections", "Connected gateway processes", registry=reg
        )
        self.priority_mode = Gauge(
            "ekai_recorder_priority",
            "1 for the priority the recorder chose at start (RECORDER_PRIORITY: idle, nice or normal)",
            ["mode"],
            registry=reg,
        )
        self.background = Gauge(
            "ekai_recorder_background",
            "1 while the recorder runs at its background priority (SCHED_IDLE or nice), 0 at normal",
            registry=reg,
        )
        self.priority_raises = Gauge(
            "ekai_recorder_priority_raises",
            "Times the recorder went from SCHED_IDLE back to normal (since start), by who saw it: recorder"
            " (it was behind), watchdog (the starvation guard saw a SCHED_IDLE thread wait for a CPU)",
            ["by"],
            registry=reg,
        )
        for result in ("inserted", "duplicate", "rejected"):
            self.rows.labels(result)
        for by in ("recorder", "watchdog"):
            self.priority_raises.labels(by)

    def serve(self, host: str, port: int) -> WSGIServer | None:
        """Start the HTTP endpoint in a thread (port 0: not at all). Returns the server, to shut down."""
        if not port:
            return None
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server
