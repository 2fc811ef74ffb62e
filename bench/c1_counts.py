"""One connection (issue 13, target 2): what the gateway does per request besides the floor's work.

Starts nginx (canned answers), the floor and a recorder + gateway stack (``bench_table.c1_stack``), then,
in ``--rounds`` interleaved rounds, for every recorder state (``--states``: ``run``, ``stop`` = SIGSTOPped,
``nice``/``niceN``, ``idle`` = SCHED_IDLE, ``sbatch`` = SCHED_BATCH, the last three on its whole tree),
runs ``wrk -c1`` for ``--duration`` s against direct, the floor and the gateway, and reports per target:

- added p50 / p99 (ms): the target's wrk percentile minus direct's in the same round;
- per request: voluntary and involuntary context switches of the target's main thread and of its other
  threads (ZeroMQ's I/O thread, aiohttp's resolver pool), from /proc/PID/task/*/status (a voluntary switch
  of the main thread is one sleep of the event loop: a wake-up);
- per request: the main thread's run delay (``/proc/PID/schedstat``: time runnable but waiting for a CPU),
  and the recorder tree's switches and CPU;
- with ``--strace``, one extra run per target under ``strace -c -f``: syscalls per request.

Medians over rounds, with min-max. Deterministic-ish counts (switches, syscalls) matter more than the
latencies on a shared machine.

    python bench/c1_counts.py [--path "openai chat, plain"] [--rounds 4] [--duration 3] [--states run,stop]
                              [--strace]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_table import c1_stack  # noqa: E402
from bench.load import prime, settle  # noqa: E402
from bench.paths import PATHS  # noqa: E402
from bench.peers import cpu_seconds, tree  # noqa: E402


def switches(pid: int) -> tuple[int, int, int, int]:
    """(main voluntary, main involuntary, other threads voluntary, other involuntary) of ``pid``."""
    out = [0, 0, 0, 0]
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            text = Path(f"/proc/{pid}/task/{task}/status").read_text()
        except FileNotFoundError:
            continue
        base = 0 if int(task) == pid else 2
        for line in text.splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                out[base] += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                out[base + 1] += int(line.split()[1])
    return out[0], out[1], out[2], out[3]


def run_delay_ns(pid: int) -> int:
    """Nanoseconds the main thread of ``pid`` has spent runnable but waiting for a CPU
    (``/proc/PID/schedstat``, second field: the scheduler's run delay)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])


def strace_counts(pid: int, run: Callable[[], int]) -> tuple[int, dict[str, int]]:
    """Run ``run()`` (returning the request count) with ``strace -c -f`` attached: (requests, calls)."""
    out = Path(tempfile.mktemp(suffix=".strace"))
    tracer = subprocess.Popen(
        ["strace", "-c", "-f", "-o", str(out), "-p", str(pid)], stderr=subprocess.DEVNULL
    )
    time.sleep(0.5)
    n = run()
    tracer.send_signal(signal.SIGINT)
    tracer.wait(10)
    calls: dict[str, int] = {}
    for line in out.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    out.unlink()
    return n, calls


def recorder_threads(rec: int) -> list[int]:
    """Every thread of the recorder and of its child processes (the SQLite writer)."""
    return [int(t) for pid in tree([rec]) for t in os.listdir(f"/proc/{pid}/task")]


def recorder_switches(rec: int) -> int:
    """Context switches (voluntary + involuntary) of every thread of the recorder tree so far."""
    total = 0
    for pid in tree([rec]):
        total += sum(switches(pid))
    return total


def apply(state: str, rec: int, on: bool) -> None:
    """Put the recorder in ``state`` (``on``) or back to normal: ``stop`` SIGSTOPs it (its writer then gets
    nothing to commit), ``nice`` renices its whole tree to 19 (``niceN``: to N), ``idle`` gives its whole tree
    SCHED_IDLE, ``sbatch`` SCHED_BATCH (no wake-up preemption of others; the same nice)."""
    if state == "stop":
        os.kill(rec, signal.SIGSTOP if on else signal.SIGCONT)
    for tid in recorder_threads(rec) if state.startswith("nice") or state in ("idle", "sbatch") else []:
        if state.startswith("nice"):
            os.setpriority(os.PRIO_PROCESS, tid, int(state[4:] or 19) if on else 0)
        else:
            chosen = os.SCHED_IDLE if state == "idle" else os.SCHED_BATCH
            policy = chosen if on else os.SCHED_OTHER
            os.sched_setscheduler(tid, policy, os.sched_param(0))


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.3f} [{min(xs):.3f}-{max(xs):.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default="openai chat, plain")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--states", default="run,stop")
    ap.add_argument("--strace", action="store_true")
    args = ap.parse_args()
    case = next(c for c in PATHS if c.name == args.path)
    states = args.states.split(",")
    with c1_stack() as cs:
        wrk, key, rec = cs.wrk, cs.key, cs.rec
        targets = cs.targets()
        res: dict[tuple[str, str], list[tuple[float, ...]]] = {}
        for r in range(args.rounds):
            for state in states if r % 2 == 0 else states[::-1]:
                apply(state, rec, True)
                order = ("direct", "floor", "gateway") if r % 2 == 0 else ("gateway", "floor", "direct")
                for name in order:
                    t = targets[name]
                    path, body = (
                        (case.path, case.body)
                        if name == "gateway"
                        else (case.upstream_path, case.upstream_body)
                    )
                    prime(t.url + path, body, 1, key)
                    settle(t.pids() + [rec])
                    pid = t.pids()[0]
                    s0, r0, c0 = switches(pid), recorder_switches(rec), cpu_seconds(tree([rec]))
                    d0 = run_delay_ns(pid)
                    run = wrk.run(t, path, body, 1, args.duration)
                    d1 = run_delay_ns(pid)
                    s1, r1, c1 = switches(pid), recorder_switches(rec), cpu_seconds(tree([rec]))
                    n = run.requests + 1
                    per = tuple((b - a) / n for a, b in zip(s0, s1, strict=True))
                    rcpu = (c1 - c0) * 1000 / n if c0 is not None and c1 is not None else 0.0
                    wait = (d1 - d0) / 1000 / n
                    row = (run.p50_ms, run.p99_ms, run.rps, *per, (r1 - r0) / n, rcpu, wait)
                    res.setdefault((state, name), []).append(row)
                apply(state, rec, False)
        print(f"{case.name}: {args.rounds} rounds x {args.duration}s, medians [min-max]")
        print(
            "state target   +p50 ms                 +p99 ms                 r/s      "
            "main vcs/req          main ivcs/req         other vcs/req         other ivcs/req"
            "        rec switches/req      rec CPU ms/req        main run delay µs/req"
        )
        for state in states:
            d = res[(state, "direct")]
            for name in ("direct", "floor", "gateway"):
                x = res[(state, name)]
                a50 = [x[i][0] - d[i][0] for i in range(len(x))]
                a99 = [x[i][1] - d[i][1] for i in range(len(x))]
                cols = [spread(a50), spread(a99), f"{statistics.median(v[2] for v in x):7.0f}"]
                cols += [spread([v[k] for v in x]) for k in range(3, 10)]
                print(f"{state:5} {name:8} " + "  ".join(cols))
        if args.strace:
            for name in ("floor", "gateway"):
                t = targets[name]
                path, body = (
                    (case.path, case.body) if name == "gateway" else (case.upstream_path, case.upstream_body)
                )
                n, calls = strace_counts(
                    t.pids()[0],
                    lambda t=t, path=path, body=body: wrk.run(t, path, body, 1, args.duration).requests,
                )
                top = sorted(calls.items(), key=lambda kv: -kv[1])
                total = sum(calls.values()) / max(n, 1)
                print(
                    f"strace {name}: {n} requests, {total:.2f} syscalls/req: "
                    + ", ".join(f"{k} {v / max(n, 1):.2f}" for k, v in top[:14])
                )


if __name__ == "__main__":
    main()
