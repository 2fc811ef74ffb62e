"""One connection's tail, path against path in the same minutes (issue 13, session 31).

In ``bench_table.py`` a path's round (its 32-connection, one-connection, TTFT and LiteLLM runs) takes about half
a minute, so two paths' c1 runs are that far apart, each after 32-connection runs that can leave the recorder
raised from ``SCHED_IDLE`` (``load.PolicySampler``): a table where one path fails the 1 ms target and the others
pass does not say whether that path's requests are slower or its minutes were (session 31's start table: the
gateway's share of requests more than 0.5 ms over its p50 was 0.4-5% per round on every path, its worst rounds
spread over all paths). This tool runs c1 only: each round runs, for every path in turn (the order rotating),
``wrk -c1`` against ``direct`` (nginx) and the gateway (and, with ``--gateway-root``, a second gateway from
another checkout, ``other``, with its own recorder), back to back, so a disturbance hits neighbouring runs alike.

Per path and target: the pooled added p99 over the rounds (``tabulate.pooled_percentile``: every round's
requests pooled, direct's pooled p99 subtracted; the reading the target judges), the per-round added p99,
and the per-round share of requests more than 0.5 ms above the run's own p50 (read from wrk's upper
percentiles, 90 to 100 by 0.05). Timings on a shared machine: read the spread, repeat, compare within rounds.

    python bench/c1_paths.py [--paths "responses, stream" "openai chat, stream"] [--rounds 6] [--duration 2]
                             [--gateway-root DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_table import STACK_ENV, c1_stack  # noqa: E402
from bench.load import Run, Target, Wrk, prime, settle  # noqa: E402
from bench.paths import PATHS  # noqa: E402
from bench.tabulate import TAIL_FROM, TAIL_STEP, pooled_percentile  # noqa: E402
from tests.procs import stack  # noqa: E402

SLOW_US = 500.0  # a request this much above its run's p50 counts as slow


def slow_share(run: Run) -> float | None:
    """Percent of the run's requests more than ``SLOW_US`` above its p50 (from wrk's upper percentiles;
    below the 90th: 10% or more, reported as 10)."""
    if not run.tail_us:
        return None
    limit = run.p50_ms * 1000 + SLOW_US
    for i, v in enumerate(run.tail_us):
        if v > limit:
            return max(0.0, 100 - (TAIL_FROM + i * TAIL_STEP))
    return 0.0


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}%"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", nargs="*", default=["responses, stream", "openai chat, stream"])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=int, default=2)
    ap.add_argument("--gateway-root", type=Path, default=None, help="a second gateway from this checkout")
    args = ap.parse_args()
    cases = [c for c in PATHS if any(s == c.name for s in args.paths)]
    if not cases:
        raise SystemExit(f"no path named {args.paths}")
    with c1_stack(floor=False) as cs:
        targets: dict[str, tuple[Target, list[int]]] = {
            "direct": (cs.targets()["direct"], []),
            "gateway": (cs.targets()["gateway"], [cs.rec]),
        }
        if args.gateway_root is None:
            run_all(args, cases, cs.wrk, cs.key, targets)
            return
        from bench.bench_table import gateway_from

        gateway_from(args.gateway_root.resolve())
        (cs.tmp / "o").mkdir()
        with stack(cs.tmp / "o", cs.providers, **STACK_ENV) as ot:
            ogw, orec = ot.services["gateway"].proc.pid, ot.services["recorder"].proc.pid
            targets["other"] = (Target("other", ot.gateway_url, lambda: [ogw]), [orec])
            run_all(args, cases, cs.wrk, cs.key, targets)


def run_all(
    args: argparse.Namespace, cases: list, wrk: Wrk, key: str, targets: dict[str, tuple[Target, list[int]]]
) -> None:
    names = list(targets)
    runs: dict[tuple[str, str], list[Run]] = {}
    for r in range(args.rounds):
        order = cases[r % len(cases) :] + cases[: r % len(cases)]
        for case in order:
            seq = names if r % 2 == 0 else names[::-1]
            for name in seq:
                t, quiet = targets[name]
                path, body = (
                    (case.upstream_path, case.upstream_body) if name == "direct" else (case.path, case.body)
                )
                prime(t.url + path, body, 1, key)
                settle(t.pids() + quiet)
                runs.setdefault((case.name, name), []).append(wrk.run(t, path, body, 1, args.duration))
        line = []
        for case in cases:
            d = runs[(case.name, "direct")][-1]
            line.append(
                f"{case.name}: "
                + " ".join(
                    f"{n} +p99 {runs[(case.name, n)][-1].p99_ms - d.p99_ms:.2f} slow {_pct(slow_share(runs[(case.name, n)][-1]))}"
                    for n in names
                    if n != "direct"
                )
            )
        print(f"round {r}: " + "; ".join(line), flush=True)
    print(
        f"\n{args.rounds} rounds x {args.duration} s, paths interleaved; ms, slow = % of requests > p50 + 0.5 ms"
    )
    for case in cases:
        d = runs[(case.name, "direct")]
        dp = pooled_percentile([(x.requests, x.tail_us or []) for x in d])
        for name in names:
            xs = runs[(case.name, name)]
            pooled = pooled_percentile([(x.requests, x.tail_us or []) for x in xs])
            added = None if pooled is None or dp is None else (pooled - dp) / 1000
            shares = [s for x in xs if (s := slow_share(x)) is not None]
            per_round = [x.p99_ms - y.p99_ms for x, y in zip(xs, d, strict=True)]
            print(
                f"{case.name:28} {name:8} pooled p99 {pooled and pooled / 1000:.2f} added {added if added is None else round(added, 2)}"
                f"  per-round added p99 {' '.join(f'{v:.2f}' for v in per_round)}"
                f"  slow median {_pct(statistics.median(shares) if shares else None)} [{' '.join(f'{s:.2f}' for s in shares)}]"
                f"  p50 median {statistics.median(x.p50_ms for x in xs):.3f}"
            )


if __name__ == "__main__":
    main()
