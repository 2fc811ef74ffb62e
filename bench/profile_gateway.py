"""Gateway CPU per request, scenario by scenario: the figure to compare before and after a hot-path change.

Starts the fake provider, the recorder and the gateway (real processes, as ``gateway_scenarios.py`` does),
warms each scenario up, then fires N requests at concurrency C and reads the gateway's CPU time
(utime + stime from ``/proc/<pid>/stat``) before and after: milliseconds of gateway CPU per request.
With ``--py-spy SECONDS`` it also records a raw py-spy profile of the gateway during each scenario
(``bench/results/profile-<n>.txt``; py-spy must be installed in the venv and allowed to read the
process). Where py-spy cannot attach (some sandboxes), ``--cprofile PATH`` runs the gateway under
cProfile instead and writes its statistics to PATH when it stops (the CPU figures then include
cProfile's own overhead: compare profiles with profiles, not with plain runs).

Not part of ``make bench`` (its name does not start with ``bench_``): a developer's measuring tool.

With ``--fault chunk-delay:0.002`` the fake provider waits that long between a stream's frames (the
grammar of ``tests/fake/behaviour.py``), so that the gateway reads an event at a time and every read
waits, as on a real provider's stream (the fake otherwise writes a stream's frames at once and the gateway
reads them in one or two reads, as from nginx).

    python bench/profile_gateway.py [--requests 2000] [--concurrency 16] [--only plain] [--nginx] [--fault SPEC]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_scenarios import SCENARIOS, fire, pct  # noqa: E402
from bench.upstream import start_nginx  # noqa: E402
from tests.procs import ROOT as _ROOT  # noqa: E402
from tests.procs import Stack, free_port, http_ok, stack, start, wait_until  # noqa: E402

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (``/proc/<pid>/stat`` fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def profiled(st: Stack, path: str, cpu_clock: bool = False) -> None:
    """Replace the stack's gateway by one running under cProfile (stats written when it stops), timed by
    the wall clock or, with ``cpu_clock``, by the main thread's CPU clock (``bench/cpu_profile.py``)."""
    st.services["gateway"].stop()
    out = str(Path(path).resolve())
    if cpu_clock:
        svc = start("gateway", "bench.cpu_profile", st.env, st.tmp, out)
    else:
        svc = start("gateway", "cProfile", st.env, st.tmp, "-o", out, "-m", "services.gateway")
    st.services["gateway"] = svc
    wait_until(lambda: http_ok(st.gateway_url + "/health"), 30)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--only", default="", help="run the scenarios whose name contains this")
    parser.add_argument("--py-spy", type=float, default=0.0, help="seconds of py-spy recording per scenario")
    parser.add_argument("--cprofile", default="", help="run the gateway under cProfile, stats to this file")
    parser.add_argument(
        "--cpu-clock",
        action="store_true",
        help="with --cprofile: time by CPU, not wall (bench/cpu_profile.py)",
    )
    parser.add_argument(
        "--nginx",
        action="store_true",
        help="upstream: bench_table's nginx (a stream in one or two reads), not the fake provider (a read per event)",
    )
    parser.add_argument(
        "--fault",
        default="",
        help="the fake provider's behaviour (tests/fake/behaviour.py), e.g. chunk-delay:0.002",
    )
    args = parser.parse_args()
    nginx = start_nginx() if args.nginx else None
    port = free_port()
    fault = ["--fault", args.fault] if args.fault else []
    fake = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_provider", "--port", str(port), "--name", "openai", *fault],
        cwd=_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    fake_url = f"http://127.0.0.1:{port}"
    upstream_url = nginx.url if nginx is not None else fake_url
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{'scenario':42} {'gw CPU ms/req':>13} {'r/s':>6} {'p50':>7} {'p99':>7}")
    try:
        wait_until(lambda: http_ok(fake_url + "/v1/models"), 15)
        with (
            tempfile.TemporaryDirectory() as tmp,
            stack(Path(tmp), {"openai": upstream_url + "/v1", "anthropic": upstream_url}) as st,
        ):
            if args.cprofile:
                profiled(st, args.cprofile, args.cpu_clock)
            pid = st.services["gateway"].proc.pid
            for i, (name, (_, path, body)) in enumerate(SCENARIOS.items()):
                if args.only not in name:
                    continue
                url = st.gateway_url + path
                asyncio.run(fire(url, body, 200, args.concurrency))  # warm-up
                spy = None
                if args.py_spy:
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200", "-d"]
                        + [str(args.py_spy), "--format", "raw", "-o", str(out_dir / f"profile-{i}.txt")]
                        + ["-p", str(pid)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                before = cpu_s(pid)
                rps, lat = asyncio.run(fire(url, body, args.requests, args.concurrency))
                used = cpu_s(pid) - before
                if spy is not None:
                    spy.wait()
                print(
                    f"{name:42} {used * 1000 / args.requests:13.3f} {rps:6.0f} {pct(lat, 50):6.2f}ms "
                    f"{pct(lat, 99):6.2f}ms",
                    flush=True,
                )
    finally:
        fake.terminate()
        fake.wait(5)
        if nginx is not None:
            nginx.stop()


if __name__ == "__main__":
    main()
