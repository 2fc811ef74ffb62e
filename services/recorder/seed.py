"""Fill the ledger with realistic synthetic traffic, for demos and benchmarks.

    python -m services.recorder.seed --rows 1000000 --days 30 [--seed 7] [--db PATH]

Events go through ``Store.insert_many`` (the one writer), so the schema and indexes are exactly the
recorder's. Randomness is vectorised with numpy per batch; only the UsageEvent objects are built in
Python. Prices come from genai_prices, resolved once per model; unknown models get ``cost_usd=None``.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import numpy as np
from genai_prices import Usage, calc_price

from services.recorder.rollups import ensure_rollups_sync, suspend_sync
from shared.events import FailedAttempt, UsageEvent
from shared.settings import load_settings


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """How one model behaves in the synthetic traffic."""

    provider: str
    model: str
    weight: float  # share of traffic
    latency_median_ms: float
    reasoning: bool = False


PROFILES: tuple[ModelProfile, ...] = (
    ModelProfile("openai", "gpt-4o-mini", 14, 900),
    ModelProfile("openai", "gpt-4o", 8, 1800),
    ModelProfile("openai", "gpt-4.1", 6, 2000),
    ModelProfile("openai", "gpt-4.1-mini", 6, 1100),
    ModelProfile("openai", "gpt-5", 5, 6000, reasoning=True),
    ModelProfile("openai", "gpt-5-mini", 6, 3500, reasoning=True),
    ModelProfile("anthropic", "claude-sonnet-4-5", 12, 4000),
    ModelProfile("anthropic", "claude-haiku-4-5", 8, 1300),
    ModelProfile("anthropic", "claude-opus-4-1", 2, 9000),
    ModelProfile("xai", "grok-4", 4, 7000, reasoning=True),
    ModelProfile("xai", "grok-3-mini", 4, 1500, reasoning=True),
    ModelProfile("xai", "grok-code-fast-1", 5, 1700),
    ModelProfile("openrouter", "meta-llama/llama-3.3-70b-instruct", 5, 2200),
    ModelProfile("openrouter", "deepseek/deepseek-chat", 6, 3000),
    ModelProfile("openrouter", "google/gemini-2.5-flash", 6, 1200),
    ModelProfile("openrouter", "qwen/qwen3-coder", 2, 2600),
    ModelProfile("openrouter", "x-ai/grok-4", 1, 7500, reasoning=True),  # not in genai_prices
)

PROVIDERS = tuple(dict.fromkeys(p.provider for p in PROFILES))

# (HTTP status, error_type, share of requests); whatever is left answers 200.
ERRORS: tuple[tuple[int, str, float], ...] = (
    (429, "rate_limit_error", 0.020),
    (500, "api_error", 0.008),
    (529, "overloaded_error", 0.004),
    (400, "invalid_request_error", 0.006),
)
ERROR_TYPES = {code: kind for code, kind, _ in ERRORS} | {503: "overloaded_error"}
FALLBACK_SHARE = 0.03
BULK_ROWS = 50_000  # from this many rows, suspend triggers and indexes while loading
FORMATS = (
    ("openai_chat", "/v1/chat/completions"),
    ("anthropic", "/v1/messages"),
    ("openai_responses", "/v1/responses"),
)
WIRE = {"anthropic": "anthropic"}  # provider -> wire format; the rest speak OpenAI chat


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per token for each disjoint token bucket."""

    input: float
    output: float
    cache_read: float
    cache_write: float


def _price(profile: ModelProfile, **tokens: int) -> float:
    usage = Usage(**tokens)
    return float(calc_price(usage, model_ref=profile.model, provider_id=profile.provider).total_price)


def resolve_rates(profile: ModelProfile) -> Rates | None:
    """Per-token rates from genai_prices (small counts, so tiered prices stay in the first tier)."""
    try:
        return Rates(
            input=_price(profile, input_tokens=1000) / 1000,
            output=_price(profile, output_tokens=1000) / 1000,
            # genai_prices wants input_tokens to include the cached part (see dependency notes).
            cache_read=_price(profile, input_tokens=1000, cache_read_tokens=1000) / 1000,
            cache_write=_price(profile, input_tokens=1000, cache_write_tokens=1000) / 1000,
        )
    except LookupError:
        return None


def _statuses(rng: np.random.Generator, n: int, providers: list[str]) -> np.ndarray:
    status = np.full(n, 200, dtype=np.int64)
    u = rng.random(n)
    edge = 0.0
    for code, _, share in ERRORS:
        status[(u >= edge) & (u < edge + share)] = code
        edge += share
    # 529 "overloaded" is Anthropic's; elsewhere it shows up as a 503.
    not_anthropic = np.array([p != "anthropic" for p in providers])
    status[(status == 529) & not_anthropic] = 503
    return status


def generate(n: int, start: float, end: float, rng: np.random.Generator) -> Iterator[UsageEvent]:
    """Yield ``n`` events with ``started_at`` in [start, end), in chronological order."""
    weights = np.array([p.weight for p in PROFILES], dtype=float)
    pick = rng.choice(len(PROFILES), size=n, p=weights / weights.sum())
    profiles = [PROFILES[i] for i in pick]
    rates = {p.model: resolve_rates(p) for p in PROFILES}
    # A mild daily rhythm: more traffic in working hours (UTC), never zero at night.
    span = end - start
    t = np.sort(start + rng.random(n * 2) * span)
    keep = rng.random(t.size) < 0.55 + 0.45 * np.sin((t % 86400) / 86400 * np.pi) ** 2
    t = np.sort(rng.choice(t[keep], size=n, replace=t[keep].size < n))
    status = _statuses(rng, n, [p.provider for p in profiles])
    medians = np.array([p.latency_median_ms for p in profiles])
    latency = medians * rng.lognormal(0.0, 0.6, n)
    latency[status >= 400] *= 0.15
    input_tokens = rng.lognormal(7.2, 1.0, n).astype(np.int64) + 20
    output_tokens = rng.lognormal(5.6, 0.9, n).astype(np.int64) + 1
    cached = rng.random(n) < 0.4
    cache_read = np.where(cached, (input_tokens * rng.uniform(0.5, 3.0, n)).astype(np.int64), 0)
    cache_write = np.where(
        rng.random(n) < 0.08, (input_tokens * rng.uniform(0.2, 1.0, n)).astype(np.int64), 0
    )
    reasoning = (output_tokens * rng.uniform(0.3, 0.8, n)).astype(np.int64)
    fallback = rng.random(n) < FALLBACK_SHARE
    streamed = rng.random(n) < 0.7
    fmt = rng.integers(0, len(FORMATS), n)
    ttft = latency * rng.uniform(0.05, 0.35, n)
    for i in range(n):
        yield _event(
            i,
            profiles[i],
            rates[profiles[i].model],
            float(t[i]),
            int(status[i]),
            float(latency[i]),
            (
                int(input_tokens[i]),
                int(output_tokens[i]),
                int(cache_read[i]),
                int(cache_write[i]),
                int(reasoning[i]),
            ),
            bool(fallback[i]),
            bool(streamed[i]),
            int(fmt[i]),
            float(ttft[i]),
        )


def _event(
    i: int,
    p: ModelProfile,
    rates: Rates | None,
    started: float,
    status: int,
    latency: float,
    tokens: tuple[int, int, int, int, int],
    fallback: bool,
    streamed: bool,
    fmt: int,
    ttft: float,
) -> UsageEvent:
    client_format, endpoint = FORMATS[fmt]
    ok = status < 400
    inp, out, cr, cw, rea = tokens if ok else (0, 0, 0, 0, 0)
    if not p.reasoning:
        rea = 0
    cost = savings = None
    if rates is not None:
        cost = inp * rates.input + out * rates.output + cr * rates.cache_read + cw * rates.cache_write
        # reads save input minus cache-read price; writes cost their premium over input
        savings = cr * (rates.input - rates.cache_read) - cw * (rates.cache_write - rates.input)
    failed: list[FailedAttempt] = []
    if fallback:
        others = [name for name in PROVIDERS if name != p.provider]
        other = others[i % len(others)]
        code = (429, 529, 500)[i % 3]
        failed = [
            FailedAttempt(provider=other, status=code, error_type="upstream_error", message=f"HTTP {code}")
        ]
    wire = WIRE.get(p.provider, "openai_chat")
    return UsageEvent(
        request_id=uuid.uuid4().hex,
        endpoint=endpoint,
        client_format=client_format,
        model=p.model,
        started_at=started,
        finished_at=started + latency / 1000,
        provider=p.provider,
        provider_format=wire,
        translated=wire != client_format,
        served_model=p.model,
        status=status,
        error_type=None if ok else ERROR_TYPES[status],
        streamed=streamed and ok,
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=cr,
        cache_write_tokens=cw,
        reasoning_tokens=rea,
        cost_usd=cost,
        latency_ms=round(latency, 1),
        ttft_ms=round(ttft, 1) if streamed and ok else None,
        attempts=1 + len(failed),
        failed_attempts=failed,
        cache_savings_usd=savings,
    )


async def seed(path: str, rows: int, days: float, seed_value: int = 7, batch: int = 5000) -> int:
    """Write ``rows`` synthetic events spread over the last ``days`` days into ``path``.

    Large loads suspend the delete/update triggers and read indexes and recreate them at the end (also on
    failure), so readers may see slower queries while seeding runs.
    """
    from services.recorder.store import Store  # the recorder's writer: schema, migrations

    rng = np.random.default_rng(seed_value)
    end = time.time()
    store = await Store.open(path)
    written = 0
    try:
        if rows >= BULK_ROWS:
            with closing(sqlite3.connect(path, timeout=30)) as conn:
                suspend_sync(conn)
        buf: list[UsageEvent] = []
        for event in generate(rows, end - days * 86400, end, rng):
            buf.append(event)
            if len(buf) >= batch:
                written += await store.insert_many(buf)
                buf = []
        if buf:
            written += await store.insert_many(buf)
    finally:
        await store.close()
        with closing(sqlite3.connect(path, timeout=30)) as conn:
            ensure_rollups_sync(conn)
    return written


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: ``python -m services.recorder.seed``."""
    parser = argparse.ArgumentParser(description="Seed the usage ledger with synthetic requests.")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", default=None, help="database path (default: DATABASE_PATH)")
    args = parser.parse_args(argv)
    path = args.db or load_settings().database_path
    t0 = time.perf_counter()
    written = asyncio.run(seed(path, args.rows, args.days, args.seed))
    print(f"seeded {written} rows over {args.days:g} days into {path} in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()
