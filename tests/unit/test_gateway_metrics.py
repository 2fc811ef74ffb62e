"""GatewayMetrics.observe: every per-request figure from the finished UsageEvent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from services.gateway.metrics import FLUSH_AT, MODELS_PER_PROVIDER, GatewayMetrics
from services.gateway.routing.health import BreakerConfig, ProviderHealth
from shared.events import FailedAttempt, UsageEvent

ROOT = Path(__file__).resolve().parents[2]


def samples(m: GatewayMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(m.exposition().decode())
        for s in f.samples
    }


def value(m: GatewayMetrics, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples(m).items() if n == name and set(labels.items()) <= set(ls))


def event(**kw: object) -> UsageEvent:
    base: dict[str, object] = dict(
        request_id="r",
        endpoint="/v1/chat/completions",
        client_format="openai_chat",
        model="gpt-4o-mini",
        provider="openai",
        status=200,
        latency_ms=1500.0,
        input_tokens=100,
        output_tokens=20,
        cache_read_tokens=7,
        reasoning_tokens=5,
        cost_usd=0.25,
        attempts=1,
    )
    return UsageEvent(**(base | kw))  # type: ignore[arg-type]


def test_observe_counts_requests_tokens_cost_latency_ttft_fallbacks_and_breakers() -> None:
    health = ProviderHealth(BreakerConfig(failures=1, cooldown_s=60))
    m = GatewayMetrics(health, ["openai", "anthropic"])
    m.observe(event())
    m.observe(event(streamed=True, ttft_ms=300.0, cost_usd=0.5))
    health.record_failure("anthropic", 503)
    m.observe(event(attempts=2, failed_attempts=[FailedAttempt("anthropic", 503, "overloaded")]))
    m.observe(
        event(
            status=502,
            error_type="upstream_error",
            input_tokens=0,
            output_tokens=0,
            cache_read_tokens=0,
            reasoning_tokens=0,
            cost_usd=None,
        )
    )
    m.observe(event(cost_usd=None))  # usage but no price
    m.observe(
        event(
            provider=None,
            model="sk-looks-like-a-key",
            status=404,
            error_type="model_not_found",
            input_tokens=0,
            output_tokens=0,
            cache_read_tokens=0,
            reasoning_tokens=0,
        )
    )

    assert value(m, "ekai_requests_total", provider="openai", model="gpt-4o-mini", status="200") == 4
    assert value(m, "ekai_requests_total", status="502") == 1
    assert value(m, "ekai_requests_total", status="404", provider="", model="") == 1
    assert value(m, "ekai_request_errors_total", error_type="upstream_error") == 1
    assert value(m, "ekai_request_errors_total", error_type="model_not_found") == 1
    assert value(m, "ekai_tokens_total", provider="openai", kind="input") == 400
    assert value(m, "ekai_tokens_total", kind="output") == 80
    assert value(m, "ekai_tokens_total", kind="cache_read") == 28
    assert value(m, "ekai_tokens_total", kind="reasoning") == 20
    assert value(m, "ekai_cost_usd_total", provider="openai") == 1.0
    assert value(m, "ekai_requests_unpriced_total") == 1
    assert value(m, "ekai_fallbacks_total", provider="openai") == 1
    assert (
        value(m, "ekai_upstream_attempt_failures_total", provider="anthropic", error_type="overloaded") == 1
    )
    assert value(m, "ekai_request_duration_seconds_count", provider="openai") == 5
    assert value(m, "ekai_request_duration_seconds_sum", provider="openai") == 7.5
    assert (
        value(m, "ekai_request_duration_seconds_bucket", provider="openai", streamed="false", le="1.0") == 0
    )
    assert (
        value(m, "ekai_request_duration_seconds_bucket", provider="openai", streamed="false", le="2.5") == 4
    )
    assert value(m, "ekai_time_to_first_token_seconds_count") == 1
    assert value(m, "ekai_time_to_first_token_seconds_sum") == 0.3
    assert value(m, "ekai_provider_breaker_state", provider="anthropic") == 2
    assert value(m, "ekai_provider_breaker_state", provider="openai") == 0
    assert b"sk-looks-like-a-key" not in m.exposition()


def test_event_gauges_and_a_broken_event_never_raises() -> None:
    m = GatewayMetrics(ProviderHealth(BreakerConfig()), ["openai"])
    m.set_event_gauges(7, 3)
    assert value(m, "ekai_events_queued") == 7 and value(m, "ekai_events_unacked") == 3
    broken = event()
    broken.latency_ms = "slow"  # type: ignore[assignment]
    m.observe_safely(broken)
    assert value(m, "ekai_metrics_observe_errors_total") == 1


def test_two_apps_in_one_process_have_their_own_figures() -> None:
    a = GatewayMetrics(ProviderHealth(BreakerConfig()))
    b = GatewayMetrics(ProviderHealth(BreakerConfig()))
    a.observe(event())
    assert value(a, "ekai_requests_total") == 1 and value(b, "ekai_requests_total") == 0


# Multiprocess mode is chosen when prometheus-client is imported, so it runs in a child process.
MULTIPROCESS = """
import asyncio, json
from prometheus_client import CollectorRegistry, multiprocess
from services.gateway.metrics import FLUSH_AT, MODELS_PER_PROVIDER, GatewayMetrics
from services.gateway.routing.health import BreakerConfig, ProviderHealth

now = [1000.0]
health = ProviderHealth(BreakerConfig(failures=1, cooldown_s=30), clock=lambda: now[0])
m = GatewayMetrics(health, ["openai"])
m.set_event_gauges(3, 1)
health.record_failure("openai", 503)
m.refresh_breakers()

def breaker():  # what another worker's scrape reads: the shared files, nothing refreshed
    reg = CollectorRegistry()
    multiprocess.MultiProcessCollector(reg)
    return [s.value for f in reg.collect() for s in f.samples if s.name == "ekai_provider_breaker_state"]

out = {"open": breaker(), "events": m.events_all_workers()}
now[0] += 31  # the cool-down is over: only time has changed

async def refreshed():
    task = asyncio.ensure_future(m.run_breaker_refresh(0.0))
    for _ in range(10_000):  # yields to the loop, bounded; no wall-clock wait
        if breaker() != out["open"]:
            break
        await asyncio.sleep(0)
    task.cancel()
    return breaker()

out["after"] = asyncio.run(refreshed())
m.close()
out["closed"] = m.events_all_workers()
print(json.dumps(out))
"""


def test_multiprocess_mode_sums_events_and_refreshes_breakers_for_other_workers(tmp_path: Path) -> None:
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["open"] == [2.0]  # cooling down
    assert out["events"] == {"queued": 3, "unacked": 1}
    assert out["after"] == [1.0]  # half-open, seen without a scrape of this worker
    assert out["closed"] == {"queued": 0, "unacked": 0}  # a stopped worker holds nothing


def test_held_figures_are_applied_at_a_scrape_or_once_flush_at_latencies_wait() -> None:
    m = GatewayMetrics(ProviderHealth(BreakerConfig()), ["openai"])

    def unscraped(name: str) -> float:  # the registry as it stands, without the scrape's flush
        return sum(s.value for f in m.registry.collect() for s in f.samples if s.name == name)

    for _ in range(FLUSH_AT - 1):
        m.observe(event())
    assert unscraped("ekai_requests_total") == 0  # held in plain numbers
    m.observe(event())
    assert unscraped("ekai_requests_total") == FLUSH_AT
    assert unscraped("ekai_tokens_total") == FLUSH_AT * 132
    assert unscraped("ekai_request_duration_seconds_count") == FLUSH_AT
    m.observe(event(status=500, error_type="upstream_error"))
    assert (
        value(m, "ekai_requests_total", status="500") == 1
        and unscraped("ekai_requests_total") == FLUSH_AT + 1
    )
    assert value(m, "ekai_request_duration_seconds_sum") == 1.5 * (FLUSH_AT + 1)


def test_a_client_naming_ever_new_models_of_a_routed_family_cannot_grow_the_labels() -> None:
    """The catalog routes any ``gpt-…`` to OpenAI: past ``MODELS_PER_PROVIDER`` names a provider's new ones
    count as ``model="other"``; the names seen before keep their own label."""
    m = GatewayMetrics(ProviderHealth(BreakerConfig()), ["openai"])
    m.observe(event(model="gpt-4o-mini"))
    for n in range(MODELS_PER_PROVIDER + 50):
        m.observe(event(model=f"gpt-random-{n}"))
    m.observe(event(model="gpt-4o-mini"))
    models = {
        dict(ls)["model"]
        for (name, ls) in samples(m)
        if name == "ekai_requests_total" and dict(ls).get("model")
    }
    assert len(models) == MODELS_PER_PROVIDER + 1 and "other" in models
    assert value(m, "ekai_requests_total", model="gpt-4o-mini") == 2
    assert value(m, "ekai_requests_total", model="other") == 51
