"""Thread CPU of the pieces of a request's path inside the running gateway: where a path's CPU goes.

``profile_gateway.py`` gives a scenario's gateway CPU per request; this splits it. The gateway runs with
thread-CPU accumulators (``time.thread_time_ns``) wrapped around these pieces: the relay's ``make_relay``,
``feed``, ``_decoded`` (a frame the decoder reads, within ``feed``) and ``finish``; ``until_committed``,
``_pump``, ``SSEResponse.prepare`` (two calls a stream: ours, then aiohttp's, which returns at once); the
plain path's ``_relay_json``; the ledger event's ``handlers.record``. One connection: an ``async`` piece's
figure is the thread's CPU between its start and its end, which at one connection is its own (plus the
loop's, e.g. the upstream's read callbacks, while it waits). Each wrapper costs about 1 µs: read the
figures as upper bounds. Unlike ``profile_translation.py``'s warm loops, this times the relay as it runs in
the gateway: between the HTTP parsing, the upstream client and the ledger event (session 12: the Responses
relay took 119-159 µs there against ~50 µs warm, the same calls; docs/benchmarks.md).

    python bench/piece_clock.py [--only "responses, stream"] [--requests 2000] [--nginx] [--root ../main]

The publisher's batch timer (``_send_batch``), its 50 ms round (``pump``) and, where the tree has it, the
events built with their batch (``build_waiting``, issue 13) are timed too.

Figures are per request: each piece's total over every request of the scenario (its 200 warm-up ones too)
divided by requests + 200.
Not part of ``make bench``: a developer's measuring tool.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import inspect
import json
import os
import runpy
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# --root: the tree whose gateway is measured (another checkout: an A/B in the same minutes); this one's
# stack, load generator and recorder drive it
GATEWAY_ROOT = Path(sys.argv[sys.argv.index("--root") + 1]) if "--root" in sys.argv else ROOT
sys.path.insert(0, str(ROOT if sys.argv[1:2] != ["--gateway"] else GATEWAY_ROOT))

WARMUP = 200  # profile_gateway's warm-up requests per scenario


def _wrap(owner: Any, name: str, key: str, acc: dict[str, list[int]]) -> None:
    """Replace ``owner.name`` by a wrapper adding its thread CPU (ns) and calls to ``acc[key]``."""
    f: Callable[..., Any] = getattr(owner, name)
    if inspect.iscoroutinefunction(f):

        @functools.wraps(f)
        async def timed_async(*a: Any, **k: Any) -> Any:
            t = time.thread_time_ns()
            try:
                return await f(*a, **k)
            finally:
                c = acc.setdefault(key, [0, 0])
                c[0] += time.thread_time_ns() - t
                c[1] += 1

        setattr(owner, name, timed_async)
        return

    @functools.wraps(f)
    def timed(*a: Any, **k: Any) -> Any:
        t = time.thread_time_ns()
        try:
            return f(*a, **k)
        finally:
            c = acc.setdefault(key, [0, 0])
            c[0] += time.thread_time_ns() - t
            c[1] += 1

    setattr(owner, name, timed)


def gateway(out: str) -> None:
    """Run the gateway with the accumulators; they go to ``out`` (JSON: piece → [ns, calls]) at exit."""
    import services.gateway.handlers as handlers
    import services.gateway.proxy as proxy
    import services.gateway.publisher as publisher
    import services.gateway.relay as relay

    acc: dict[str, list[int]] = {}
    _wrap(proxy, "make_relay", "make_relay", acc)
    _wrap(relay.Passthrough, "feed", "relay.feed", acc)
    _wrap(relay.Passthrough, "finish", "relay.finish", acc)
    _wrap(relay.Passthrough, "_decoded", "relay._decoded (in feed: a frame decoded)", acc)
    _wrap(proxy.SSEResponse, "prepare", "SSEResponse.prepare (ours, aiohttp's)", acc)
    _wrap(proxy.Proxy, "until_committed", "until_committed (incl. relay.feed)", acc)
    _wrap(proxy.Proxy, "_pump", "_pump (incl. its writes)", acc)
    _wrap(proxy.Proxy, "_relay_stream", "_relay_stream (all of the above)", acc)
    _wrap(proxy.Proxy, "_relay_json", "_relay_json", acc)
    _wrap(handlers, "record", "handlers.record", acc)
    pub = publisher.EventPublisher
    _wrap(pub, "_send_batch", "publisher._send_batch (the batch timer)", acc)
    _wrap(pub, "pump", "publisher.pump (the 50 ms round)", acc)
    if hasattr(pub, "build_waiting"):  # issue 13: the events built with their batch
        _wrap(pub, "build_waiting", "publisher.build_waiting (in the two above)", acc)

    def dump() -> None:
        Path(out).write_text(json.dumps(acc))

    atexit.register(dump)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.argv = ["services.gateway"]
    runpy.run_module("services.gateway", run_name="__main__", alter_sys=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="responses, stream")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--nginx", action="store_true", help="bench_table's nginx upstream (as profile_gateway)"
    )
    parser.add_argument("--root", default=str(ROOT), help="the tree whose gateway is measured")
    args = parser.parse_args()
    import bench.profile_gateway as pg
    from tests.procs import Stack, http_ok, start, wait_until

    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "pieces.json")

        def profiled(st: Stack, path: str, cpu_clock: bool = False) -> None:
            st.services["gateway"].stop()
            env = {**st.env, "PYTHONPATH": str(GATEWAY_ROOT)}
            args = ("--gateway", out, "--root", str(GATEWAY_ROOT))
            st.services["gateway"] = start("gateway", "bench.piece_clock", env, st.tmp, *args)
            wait_until(lambda: http_ok(st.gateway_url + "/health"), 30)

        pg.profiled = profiled  # type: ignore[assignment]
        sys.argv = ["profile_gateway.py", "--requests", str(args.requests), "--concurrency", "1"]
        sys.argv += ["--only", args.only, "--cprofile", "unused"] + (["--nginx"] if args.nginx else [])
        pg.main()
        n = args.requests + WARMUP
        for key, (ns, calls) in json.loads(Path(out).read_text()).items():
            print(f"  {key:40} {calls / n:5.2f} calls/req {ns / n / 1000:8.2f} µs/req")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--gateway"]:
        gateway(sys.argv[2])
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
