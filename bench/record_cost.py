"""The ledger event's cost per request outside the gateway: ``handlers.record`` and the publisher's batch.

Builds ``Call``s as the gateway does for the bench's chat requests (plain and streamed: one answered
attempt on the catalog's route for ``gpt-4o-mini``, the fake provider's usage, attribution from a
Codex-like ``User-Agent``), then runs ``handlers.record`` on each against a real ``EventPublisher``
(``GatewayMetrics`` attached) connected to a real ZeroMQ ROUTER, and sends a batch every ``--batch``
requests (``_send_batch``, as the 5 ms timer would; the timer itself is pushed out of the way). Every
request's ``Call`` is built before the clock starts, so only record and the batches are measured.

Three measures:

- ``--clock``: thread CPU (``time.thread_time_ns``) of ``record`` per request and of the batch sends per
  request, medians of ``--rounds`` rounds of ``--requests``; ``--cold`` walks 8,000 dicts and 1 MB of
  bytes between requests, so record runs with its code and data evicted as in the gateway (session 12:
  2-3x a warm loop's cost there).
- default: the whole run once, for callgrind: ``valgrind --tool=callgrind python bench/record_cost.py
  --requests N`` for two values of N, the instruction difference divided by the difference of N is
  record's (and the batches') instructions per request (``--callgrind`` does that: two valgrind runs).
- ``--calls``: function calls (Python and C, a profile hook) per request in record and the batch sends.

Runs against whatever tree it is started from (``--root``, default this one), so the same file measures
main and a branch: ``python bench/record_cost.py --root /work/main --clock``.
Not part of ``make bench``: a developer's measuring tool.

    python bench/record_cost.py [--stream] [--clock [--cold] [--rounds 9]] [--callgrind] [--calls] [--requests 300]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def _setup(root: Path) -> None:
    sys.path.insert(0, str(root))


def build(n: int, stream: bool) -> tuple[Any, list[Any], Any]:
    """(state, calls, request): ``n`` calls as the gateway's for a chat request, and what record needs."""
    import zmq

    from services.gateway.calls import Attempt, Call
    from services.gateway.dialects import registry
    from services.gateway.dialects.ir import Usage
    from services.gateway.metrics import GatewayMetrics
    from services.gateway.providers.registry import build_providers
    from services.gateway.publisher import EventPublisher
    from services.gateway.routing.catalog import Catalog
    from services.gateway.routing.health import ProviderHealth
    from shared.pricing import Pricer
    from shared.settings import load_settings

    settings = load_settings({"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k"})
    providers = build_providers(settings)
    pricer = Pricer()
    catalog = Catalog(providers, pricer, settings)
    health = ProviderHealth.from_settings(settings)
    metrics = GatewayMetrics(health, [name for name, p in providers.items() if p.configured])
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    extra: dict[str, Any] = {}
    if "build" in inspect.signature(EventPublisher).parameters:  # as services/gateway/app.py does
        from services.gateway.calls import event_for

        extra["build"] = event_for
    pub = EventPublisher(
        f"tcp://127.0.0.1:{port}", 1_000_000, batch_delay_s=3600.0, ctx=ctx, metrics=metrics, **extra
    )
    # the handshake (ZMQ_IMMEDIATE: no send before it), waited for in the kernel: a polling loop's
    # instructions would vary with how long it takes, and callgrind counts them
    pub._sock.poll(60_000, zmq.POLLOUT)
    pub._look()
    route = catalog.routes("gpt-4o-mini")[0]
    endpoint = registry.ENDPOINTS["/v1/chat/completions"]
    headers = {"user-agent": "codex_cli_rs/0.50.0", "content-type": "application/json"}
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    calls = []
    for i in range(n):
        call = Call(
            endpoint, f"req_{i:012x}", headers, time.monotonic(), time.time(), client="codex_cli_rs/0.50.0"
        )
        call.body, call.raw, call.model, call.stream, call.include_usage = (
            body,
            b"{}",
            "gpt-4o-mini",
            stream,
            stream,
        )
        att = Attempt(route, "openai_chat", False, answered=True, status=200)
        att.usage = Usage(input_tokens=19, output_tokens=10, reported_total_tokens=29)
        att.served_model = "gpt-4o-mini-2024-07-18"
        att.ttft_ms = 1.7 if stream else None
        call.attempts.append(att)
        call.answer(200)
        calls.append(call)
    state = SimpleNamespace(pricer=pricer, publisher=pub, metrics=metrics)
    request = SimpleNamespace(app={}, get=lambda key, default=None: default)
    pub._keep = (ctx, router)  # type: ignore[attr-defined]
    return state, calls, request


_JUNK: list[Any] = []


def _thrash() -> None:
    """Evict caches and branch history: walk many small dicts and a large buffer."""
    if not _JUNK:
        _JUNK.extend({"k": i, "v": str(i)} for i in range(8_000))
        _JUNK.append(bytearray(1 << 20))
    total = 0
    for d in _JUNK[:-1]:
        total += d["k"]
    buf = _JUNK[-1]
    for i in range(0, len(buf), 64):
        buf[i] = (buf[i] + 1) & 0xFF


async def run(
    calls: list[Any], state: Any, request: Any, batch: int, clock: bool, cold: bool
) -> tuple[int, int]:
    """Record every call, a batch send every ``batch``; returns (record ns, batch ns) when ``clock``."""
    from services.gateway import handlers

    record, pub = handlers.record, state.publisher
    rec_ns = batch_ns = 0
    tick = time.thread_time_ns
    for i, call in enumerate(calls, 1):
        if cold:
            _thrash()
        t = tick() if clock else 0
        record(request, call, call.started_at + 0.001, 1.0, state)
        if clock:
            rec_ns += tick() - t
        if i % batch == 0:
            t = tick() if clock else 0
            pub._send_batch()
            if clock:
                batch_ns += tick() - t
    pub._send_batch()
    if pub.dropped or pub.sent != len(calls) + pub.resent:
        raise SystemExit(f"not every event was sent: {pub.stats()}")
    return rec_ns, batch_ns


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--root", default=str(HERE), help="the tree whose gateway code is measured")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--batch", type=int, default=8, help="requests per batch send (c1: 7-10 per 5 ms)")
    p.add_argument("--stream", action="store_true")
    p.add_argument("--clock", action="store_true")
    p.add_argument("--cold", action="store_true")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--callgrind", action="store_true", help="two valgrind runs, the difference per request")
    p.add_argument(
        "--calls", action="store_true", help="Python and C function calls per request (profile hook)"
    )
    a = p.parse_args()
    if a.callgrind:
        print(f"{a.root}: {callgrind(a)} instructions per request")
        return
    _setup(Path(a.root))
    gc.disable()  # a collection inside one window would be charged to it
    if a.calls:
        print(f"{a.root} {'stream' if a.stream else 'plain'}: {python_calls(a):.1f} calls per request")
        return
    if not a.clock:
        state, calls, request = build(a.requests, a.stream)
        asyncio.run(run(calls, state, request, a.batch, False, False))
        return
    recs, batches = [], []
    for _ in range(a.rounds):
        state, calls, request = build(a.requests, a.stream)
        asyncio.run(run(calls[:50], state, request, a.batch, False, False))  # warm-up, not timed
        state, calls, request = build(a.requests, a.stream)
        r, b = asyncio.run(run(calls, state, request, a.batch, True, a.cold))
        recs.append(r / a.requests / 1000)
        batches.append(b / a.requests / 1000)
    print(
        f"{a.root} {'stream' if a.stream else 'plain'}{' cold' if a.cold else ''}: record "
        f"{statistics.median(recs):.2f} us/req [{min(recs):.2f}-{max(recs):.2f}], batch sends "
        f"{statistics.median(batches):.2f} us/req [{min(batches):.2f}-{max(batches):.2f}]"
    )


def python_calls(a: argparse.Namespace) -> float:
    """Function calls (Python and C: ``sys.setprofile``'s ``call`` and ``c_call`` events) per request in
    record and the batch sends, over ``--requests`` after a warm-up of 50 on another publisher (deterministic:
    no clock; the first request's metrics children are created in the count, 1/``--requests`` of them)."""
    counted = [0]

    def count(frame: Any, event: str, arg: Any) -> None:
        if event == "call" or event == "c_call":
            counted[0] += 1

    async def measured() -> None:
        state, calls, request = build(50, a.stream)
        await run(calls, state, request, a.batch, False, False)  # warm-up, not counted
        state, calls, request = build(a.requests, a.stream)
        sys.setprofile(count)
        try:
            await run(calls, state, request, a.batch, False, False)
        finally:
            sys.setprofile(None)

    asyncio.run(measured())
    return counted[0] / a.requests


def callgrind(a: argparse.Namespace) -> float:
    """Instructions per request of the main thread: two callgrind runs (``--requests`` + 100 and
    ``--requests``); the difference includes building the 100 ``Call``s (the same code in both trees)."""
    counts = []
    for n in (a.requests + 100, a.requests):
        out = f"/tmp/record_cost.{os.getpid()}.{n}.out"
        # the main thread only (``-01``): libzmq's I/O thread polls as valgrind schedules it, not per request
        cmd = ["valgrind", "--tool=callgrind", "--separate-threads=yes", f"--callgrind-out-file={out}"]
        cmd += [sys.executable, __file__]
        cmd += ["--root", a.root, "--requests", str(n), "--batch", str(a.batch)] + (
            ["--stream"] if a.stream else []
        )
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        main_thread = Path(out + "-01")
        summary = next(line for line in main_thread.read_text().splitlines() if line.startswith("summary:"))
        counts.append(int(summary.split()[1]))
        for f in Path(out).parent.glob(Path(out).name + "-*"):
            f.unlink()
    return (counts[0] - counts[1]) / 100


if __name__ == "__main__":
    main()
