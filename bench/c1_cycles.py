"""One connection, the gateway's CPU cycles and instructions per request from the hardware counters (session 33).

Instruction counts (callgrind: ``bench/stream_pieces.py``, ``bench/request_counts.py``) cannot show what costs
at one connection beyond the instructions: code and data that are cold in the CPU's caches when the request's
work runs. This reads the counters themselves over a ``wrk -c1`` run: nginx's canned answers, the floor and the
recorder + gateway stack as the c1 tools start them (``bench_table.c1_stack``), then per round and target (the
floor, the gateway), ``perf stat -e cycles,instructions,task-clock,context-switches -p PID`` attached to the target's
process for the run, and per request: cycles, instructions, instructions per cycle, task-clock (µs of CPU) and
context switches, the request count being wrk's completed requests plus the one in flight. Medians over rounds,
min-max beside. The counters count the whole process (the loop's own turns, the publisher's build in the
wait, its thread): per request, not the critical path alone.

A machine whose CPU counters are not exposed (a VM without a virtual PMU, as the helpers' machine in session 33:
``perf stat -e cycles`` says ``<not supported>``) gets ``n/a`` for cycles and instructions and still the
task-clock and switches; the simulated cycles of the relay's pieces with the caches cold are
``bench/stream_pieces.py --callgrind --cache-sim --cold``'s.

    python bench/c1_cycles.py [--path "anthropic → openai, stream"] [--rounds 3] [--duration 3]

Not part of ``make bench``: a developer's measuring tool.
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_table import c1_stack  # noqa: E402
from bench.load import prime, settle  # noqa: E402
from bench.paths import PATHS  # noqa: E402

EVENTS = ("cycles", "instructions", "task-clock", "context-switches")


def perf_counts(pid: int, run: Callable[[], int]) -> tuple[int, dict[str, float | None]]:
    """``run()`` (it returns the requests it made) with ``perf stat`` attached to ``pid``: the requests and each
    event's count (task-clock in ms, as perf gives it; None: not supported or not counted)."""
    with tempfile.NamedTemporaryFile("r", suffix=".csv") as out:
        cmd = ["perf", "stat", "-x", ",", "-o", out.name, "-e", ",".join(EVENTS), "-p", str(pid)]
        perf = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            n = run()
        finally:
            perf.send_signal(signal.SIGINT)
            perf.wait(10)
        counts: dict[str, float | None] = dict.fromkeys(EVENTS)
        for line in Path(out.name).read_text().splitlines():
            cols = line.split(",")
            if len(cols) < 3 or line.startswith("#"):
                continue
            name = next((e for e in EVENTS if cols[2].startswith(e)), None)
            if name is None:
                continue
            try:
                counts[name] = float(cols[0])
            except ValueError:  # "<not supported>", "<not counted>"
                counts[name] = None
        return n, counts


def spread(xs: list[float], fmt: str) -> str:
    if not xs:
        return "n/a"
    return f"{statistics.median(xs):{fmt}} [{min(xs):{fmt}}-{max(xs):{fmt}}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default="anthropic → openai, stream")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=3)
    args = ap.parse_args()
    case = next(c for c in PATHS if c.name == args.path)
    per: dict[str, dict[str, list[float]]] = {"floor": {}, "gateway": {}}
    with c1_stack() as cs:
        targets = cs.targets()
        for r in range(args.rounds):
            for name in ("floor", "gateway") if r % 2 == 0 else ("gateway", "floor"):
                t = targets[name]
                path, body = (
                    (case.path, case.body) if name == "gateway" else (case.upstream_path, case.upstream_body)
                )
                prime(t.url + path, body, 1, cs.key)
                settle(t.pids() + [cs.rec])
                n, counts = perf_counts(
                    t.pids()[0],
                    lambda t=t, path=path, body=body: (
                        cs.wrk.run(t, path, body, 1, args.duration).requests + 1
                    ),
                )
                for event, value in counts.items():
                    if value is not None:
                        scale = 1000.0 if event == "task-clock" else 1.0  # (ms → µs)
                        per[name].setdefault(event, []).append(value * scale / max(n, 1))
                cyc, ins = counts["cycles"], counts["instructions"]
                if cyc and ins:
                    per[name].setdefault("ipc", []).append(ins / cyc)
    print(
        f"{case.name}: {args.rounds} rounds x {args.duration}s at one connection, per request, medians [min-max]"
    )
    print(f"{'target':8} {'cycles':>24} {'instructions':>24} {'IPC':>18} {'CPU µs':>18} {'switches':>16}")
    for name, got in per.items():
        cols = [
            spread(got.get("cycles", []), ".0f"),
            spread(got.get("instructions", []), ".0f"),
            spread(got.get("ipc", []), ".2f"),
            spread(got.get("task-clock", []), ".1f"),
            spread(got.get("context-switches", []), ".2f"),
        ]
        print(f"{name:8} {cols[0]:>24} {cols[1]:>24} {cols[2]:>18} {cols[3]:>18} {cols[4]:>16}")


if __name__ == "__main__":
    main()
