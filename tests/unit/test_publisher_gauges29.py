"""s29 fix29 lead 5: events built ahead in a request's wait (``EventPublisher.loop_waits``, session 28) are in the
``/metrics`` queued gauge at the next scrape, not only after the next batch."""

from __future__ import annotations

import zmq
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.metrics import GatewayMetrics
from services.gateway.publisher import EventPublisher
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from tests.procs import free_port
from tests.unit.test_publisher import built_by


def _gauge(m: GatewayMetrics, name: str) -> float:
    samples = (s for f in text_string_to_metric_families(m.exposition().decode()) for s in f.samples)
    return next(s.value for s in samples if s.name == name)


async def test_an_event_built_ahead_is_in_the_queued_gauge_at_the_next_scrape(
    zmq_ctx: zmq.Context[zmq.Socket[bytes]],
) -> None:
    metrics = GatewayMetrics(ProviderHealth(BreakerConfig()), ["openai"])
    built: list[int] = []
    pub = EventPublisher(
        f"tcp://127.0.0.1:{free_port()}",
        100,
        batch_delay_s=60,
        ctx=zmq_ctx,
        metrics=metrics,
        build=built_by(built),
    )
    metrics.before_scrape = pub.build_waiting  # as services/gateway/app.py wires them
    pub.publish_later((1,))
    pub.loop_waits()  # one request open: its wait builds the event ahead of the batch
    assert built == [1] and pub.queued == 1
    assert _gauge(metrics, "ekai_events_queued") == 1  # before: 0 until the batch (60 s here) set it
    await pub.close(ack_wait_s=0)
