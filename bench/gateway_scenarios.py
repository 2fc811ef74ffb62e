"""Gateway overhead against the Python fake provider (the scenarios ``bench/profile_gateway.py`` profiles;
the benchmark table ``bench/bench_table.py`` supersedes it for ``make bench``): the same requests sent straight to a fake provider and through the gateway.

Starts the fake provider (a subprocess), the recorder and the gateway (real processes, as in
production), then for each scenario fires N requests at concurrency C with one aiohttp client and
reports requests/s and latency percentiles for both paths, and the ratio. All figures come from one
run on one machine; compare ratios, not absolute numbers, across machines.

Then, in the same run, the recorder case: the gateway's req/s and p50/p99 with the recorder running and
with the recorder stopped (SIGSTOP: connected but answering nothing, like a stuck disk), and after
SIGCONT how long the events held by the gateway take to be committed and acknowledged.

With ``--workers N`` the gateway runs as N workers on one port (``GATEWAY_WORKERS``); the events held
are then summed over the workers (``/health`` → ``events_all_workers``).

    python bench/gateway_scenarios.py [--requests 2000] [--concurrency 32] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.load import metric_samples, metric_total  # noqa: E402
from tests.procs import ROOT as _ROOT  # noqa: E402
from tests.procs import Stack, free_port, http_ok, stack, wait_until  # noqa: E402

SCENARIOS = {
    "openai chat, plain": (
        "openai",
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello bench"}]},
    ),
    "openai chat, stream": (
        "openai",
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hello bench"}]},
    ),
    "anthropic, plain (passthrough)": (
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "hello bench"}],
        },
    ),
    "anthropic, stream (passthrough)": (
        "anthropic",
        "/v1/messages",
        {
            "model": "claude-haiku-4-5",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "hello bench"}],
        },
    ),
    "anthropic → openai, stream (translated)": (
        "gateway-only",
        "/v1/messages",
        {
            "model": "gpt-4o-mini",
            "max_tokens": 64,
            "stream": True,
            "messages": [{"role": "user", "content": "hello bench"}],
        },
    ),
    "openai → anthropic, stream (translated)": (
        "gateway-only",
        "/v1/chat/completions",
        {
            "model": "claude-haiku-4-5",
            "stream": True,
            "messages": [{"role": "user", "content": "hello bench"}],
        },
    ),
    "responses, plain (passthrough)": (
        "openai",
        "/v1/responses",
        {"model": "gpt-4o-mini", "input": "hello bench"},
    ),
    "responses, stream (passthrough)": (
        "openai",
        "/v1/responses",
        {"model": "gpt-4o-mini", "stream": True, "input": "hello bench"},
    ),
    "responses → anthropic, stream (translated)": (
        "gateway-only",
        "/v1/responses",
        {"model": "claude-haiku-4-5", "stream": True, "input": "hello bench"},
    ),
    "responses → anthropic, plain (translated)": (
        "gateway-only",
        "/v1/responses",
        {"model": "claude-haiku-4-5", "input": "hello bench"},
    ),
}


async def fire(url: str, body: dict[str, object], n: int, concurrency: int) -> tuple[float, list[float]]:
    payload = json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "x-api-key": "k",
        "authorization": "Bearer k",
        "anthropic-version": "2023-06-01",
    }
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                t0 = time.perf_counter()
                async with session.post(url, data=payload, headers=headers) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"{url}: HTTP {resp.status}")
                latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return n / elapsed, latencies


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def held_events(st: Stack) -> dict[str, int]:
    """The gateway's events (``queued``, ``unacked``, ``resent``, ``dropped``): every worker's when there
    are several (``/health`` answers for one worker, ``events_all_workers`` and ``/metrics`` for all)."""
    health = httpx.get(st.gateway_url + "/health").json()
    samples = metric_samples(httpx.get(st.gateway_url + "/metrics").text)
    return (
        dict(health["events"])
        | dict(health.get("events_all_workers") or {})
        | {
            "resent": int(metric_total(samples, "ekai_events_resent_total")),
            "dropped": int(metric_total(samples, "ekai_events_dropped_total")),
        }
    )


def recorder_case(st: Stack, requests: int, concurrency: int) -> dict[str, object]:
    """Gateway figures with the recorder running, then SIGSTOPped; then the catch-up after SIGCONT."""
    _, path, body = SCENARIOS["openai chat, plain"]
    url = st.gateway_url + path
    recorder = st.services["recorder"]
    out: dict[str, object] = {}
    before = len(st.rows())
    running_rps, running = asyncio.run(fire(url, body, requests, concurrency))
    wait_until(lambda: len(st.rows()) >= before + requests, 60)
    os.kill(recorder.proc.pid, signal.SIGSTOP)
    try:
        stopped_rps, stopped = asyncio.run(fire(url, body, requests, concurrency))
        held = held_events(st)
    finally:
        os.kill(recorder.proc.pid, signal.SIGCONT)
    t0 = time.perf_counter()
    wait_until(lambda: len(st.rows()) >= before + 2 * requests, 120, 0.02)
    committed_s = time.perf_counter() - t0
    wait_until(lambda: held_events(st)["queued"] == 0, 60, 0.02)
    acked_s = time.perf_counter() - t0
    after = held_events(st)
    out.update(
        running=(running_rps, statistics.median(running), pct(running, 99)),
        stopped=(stopped_rps, statistics.median(stopped), pct(stopped, 99)),
        held_at_sigcont=held["queued"],
        committed_after_sigcont_s=committed_s,
        acked_after_sigcont_s=acked_s,
        resent=after["resent"],
        dropped=after["dropped"],
        rows=len(st.rows()) - before,
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="GATEWAY_WORKERS for the gateway")
    args = parser.parse_args()
    port = free_port()
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_provider", "--port", str(port), "--name", "openai"],
        cwd=_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fake_url = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_until(lambda: http_ok(fake_url + "/v1/models"), 15)
        with (
            tempfile.TemporaryDirectory() as tmp,
            stack(
                Path(tmp),
                {"openai": fake_url + "/v1", "anthropic": fake_url},
                GATEWAY_WORKERS=str(args.workers),
            ) as st,
        ):
            for name, (_, path, body) in SCENARIOS.items():
                asyncio.run(fire(st.gateway_url + path, body, 100, 8))  # warm-up
                direct_rps, direct = (
                    asyncio.run(fire(fake_url + path, body, args.requests, args.concurrency))
                    if "translated" not in name
                    else (float("nan"), [float("nan")])
                )
                gw_rps, via = asyncio.run(fire(st.gateway_url + path, body, args.requests, args.concurrency))
                rows.append(
                    (
                        name,
                        direct_rps,
                        gw_rps,
                        statistics.median(direct),
                        statistics.median(via),
                        pct(direct, 99),
                        pct(via, 99),
                    )
                )
            wait_until(lambda: len(st.rows()) >= len(SCENARIOS) * (args.requests + 100), 60)
            recorded = len(st.rows())
            stop_case = recorder_case(st, args.requests, args.concurrency)
    finally:
        fake.terminate()
        fake.wait(5)
    print(
        f"\n{args.requests} requests per path, concurrency {args.concurrency}, gateway workers {args.workers}; "
        f"ledger rows recorded: {recorded}"
    )
    print(
        f"{'scenario':42} {'direct r/s':>10} {'gateway r/s':>11} {'ratio':>6} "
        f"{'p50 direct':>10} {'p50 gw':>8} {'p99 direct':>10} {'p99 gw':>8}"
    )
    for name, drps, grps, d50, g50, d99, g99 in rows:
        print(
            f"{name:42} {drps:10.0f} {grps:11.0f} {grps / drps:6.2f} {d50:9.1f}ms {g50:7.1f}ms "
            f"{d99:9.1f}ms {g99:7.1f}ms"
        )
    print(
        f"\nrecorder running vs stopped (SIGSTOP), openai chat plain through the gateway, {args.requests} "
        f"requests each, concurrency {args.concurrency}"
    )
    print(f"{'recorder':12} {'gateway r/s':>11} {'p50':>8} {'p99':>8}")
    for state in ("running", "stopped"):
        rps, p50, p99 = stop_case[state]  # type: ignore[misc]
        print(f"{state:12} {rps:11.0f} {p50:6.1f}ms {p99:6.1f}ms")
    print(
        f"after SIGCONT: {stop_case['held_at_sigcont']} events held by the gateway; all {stop_case['rows']} rows "
        f"committed {stop_case['committed_after_sigcont_s']:.2f} s and acknowledged "
        f"{stop_case['acked_after_sigcont_s']:.2f} s after SIGCONT (resent {stop_case['resent']}, "
        f"dropped {stop_case['dropped']})"
    )
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "gateway.json").write_text(
        json.dumps(
            {
                "requests": args.requests,
                "concurrency": args.concurrency,
                "workers": args.workers,
                "rows": rows,
                "recorded": recorded,
                "recorder_stopped": stop_case,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
