"""The benchmark table from the rounds' figures: paired per-round ratios, their medians and spread, targets.

Pure functions over the dicts that bench/bench_table.py collects (one per round: ``"<target>@<connections>"``
-> a ``load.Run`` as a dict, ``"rss_<target>"`` -> MB, ``"ttft_ms"`` -> target -> that round's samples in ms).
Targets (issue 13): gateway CPU per request <= 1.5x the floor's on passthrough paths (1.25x stretch), <= 2.5x
on translated streams; at one connection the added p50 within 1.15x of the floor's and the added p99 <= 1 ms
(every round's c1 requests pooled, ``c1_added_p99``: session 28); added time to first token <= 1 ms.

The estimator (docs/benchmarks.md "Method"): every figure compared with another is compared within each
round, where the two were measured back to back (gateway / floor CPU per request; target minus ``direct``
latency; gateway-added over floor-added), and the figure reported, and judged against its target, is the
median of those per-round values, with their min and max beside it. Slow drift on a shared machine moves
both sides of a pair alike and cancels; a disturbed round moves one value, which the median ignores. The
medians of the raw per-target figures are kept too (columns and JSON).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

from bench.paths import PathCase

Round = dict[str, Any]


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None or x != x else format(x, spec)


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("PASS" if ok else "FAIL")


def spread(per_round: list[float | None]) -> dict[str, Any]:
    """``{"median", "min", "max", "rounds"}`` of per-round values (None: that round could not give one;
    left out of median, min and max, kept in ``rounds``). Median/min/max are None when no round gave one."""
    present = [v for v in per_round if v is not None]
    return {
        "median": statistics.median(present) if present else None,
        "min": min(present) if present else None,
        "max": max(present) if present else None,
        "rounds": per_round,
    }


def median_ci(per_round: list[float | None], level: float = 0.95) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of the per-round values (None left out):
    ``(x_(k), x_(n+1-k))`` of the sorted values, with ``k`` the largest rank such that
    ``P(Binomial(n, 1/2) < k) <= (1 - level) / 2``, so that it covers the true median with probability at
    least ``level`` whatever the values' distribution (order statistics; e.g. Conover, "Practical
    Nonparametric Statistics", the sign test's interval). None when there are too few values for any
    such interval (fewer than 6 at 95%). Rounds must be independent draws: no assumption of normality."""
    xs = sorted(v for v in per_round if v is not None)
    n = len(xs)
    tail = (1.0 - level) / 2
    k, below = 0, 0.0  # below: P(B <= k - 1), B ~ Binomial(n, 1/2)
    while k < n // 2:
        nxt = below + math.comb(n, k) / 2**n  # P(B <= k)
        if nxt > tail:
            break
        below, k = nxt, k + 1
    if k == 0:
        return None
    return xs[k - 1], xs[n - k]


def fmt_ci(per_round: list[float | None], spec: str = ".3f") -> str:
    """``CI95 lo–hi`` of ``median_ci``, or "" when there are too few rounds for one."""
    ci = median_ci(per_round)
    return "" if ci is None else f"CI95 {fmt(ci[0], spec)}–{fmt(ci[1], spec)}"


def fmt_spread(sp: dict[str, Any], spec: str = ".2f") -> str:
    """``[min–max]`` of a ``spread``, or "" with fewer than two rounds."""
    if sum(v is not None for v in sp["rounds"]) < 2:
        return ""
    return f"[{fmt(sp['min'], spec)}–{fmt(sp['max'], spec)}]"


def run_figure(target: str, key: str, conns: int) -> Callable[[Round], float | None]:
    """One wrk figure of one target in a round (None when the round did not run it)."""

    def get(r: Round) -> float | None:
        run = r.get(f"{target}@{conns}")
        return None if run is None else run[key]

    return get


def added(target: str, key: str, conns: int) -> Callable[[Round], float | None]:
    """The target's latency percentile minus ``direct``'s in the same round, ms."""
    mine, direct = run_figure(target, key, conns), run_figure("direct", key, conns)

    def get(r: Round) -> float | None:
        a, d = mine(r), direct(r)
        return None if a is None or d is None else a - d

    return get


def added_ttft(target: str) -> Callable[[Round], float | None]:
    """Median time to first token of the target minus ``direct``'s, over the round's samples, ms."""

    def get(r: Round) -> float | None:
        samples = r.get("ttft_ms") or {}
        if not samples.get(target) or not samples.get("direct"):
            return None
        return float(statistics.median(samples[target]) - statistics.median(samples["direct"]))

    return get


TAIL_FROM, TAIL_STEP = 90.0, 0.05  # ``load.Run.tail_us``: wrk's percentiles 90, 90.05, ..., 100


def pooled_percentile(runs: list[tuple[int, list[float]]], pct: float = 99.0) -> float | None:
    """The ``pct``-th percentile (same unit as the runs' values) of several runs' latencies pooled, each run
    weighted by its requests: ``runs`` is (requests, upper percentiles ``TAIL_FROM``, ``+TAIL_STEP``, ...,
    100 of that run). The smallest value at which the pooled share of requests at or below it reaches
    ``pct``% (a run's share at a value read from its percentiles as a step, rounded down: below its 90th
    percentile it counts as 90%, so ``pct`` must be at least ``TAIL_FROM`` + 100 - (100 - ``TAIL_FROM``) /
    len(runs) to be exact, 98.3 with six runs). None without runs. Why: a round's c1 run has 3,000-6,000
    requests, so its p99 rests on its 30-60 slowest; six rounds pooled rest on 200-300 (session 27)."""
    runs = [(n, q) for n, q in runs if n > 0 and q]
    if not runs:
        return None
    total = sum(n for n, _ in runs)
    for x in sorted({v for _, q in runs for v in q}):
        below = 0.0
        for n, q in runs:
            k = sum(1 for v in q if v <= x)  # percentiles at or below x: the share is at least the k-th's
            below += n * (TAIL_FROM + (k - 1) * TAIL_STEP if k else TAIL_FROM) / 100
        if below >= total * pct / 100 - 1e-9:
            return x
    return max(v for _, q in runs for v in q)


def pooled_added_p99_ms(rounds: list[Round], target: str, conns: int = 1) -> float | None:
    """The target's p99 over every round's run at ``conns`` pooled, minus ``direct``'s pooled alike, ms."""

    def pooled(name: str) -> float | None:
        runs = [
            (run["requests"], run["tail_us"])
            for r in rounds
            if (run := r.get(f"{name}@{conns}")) is not None and run.get("tail_us")
        ]
        return pooled_percentile(runs)

    mine, direct = pooled(target), pooled("direct")
    return None if mine is None or direct is None else (mine - direct) / 1000


def c1_added_p99(row: dict[str, Any]) -> tuple[float | None, str]:
    """The gateway's added p99 at one connection that the target judges, ms, and which reading it is.

    ``pooled`` (session 28): every round's c1 requests pooled (``pooled_added_p99_ms``), the p99 of all the
    requests measured, the issue's "p99 at one connection". The median of per-round values (the estimator of
    every other figure, module docstring) is kept beside it but no longer judged here: a round's p99 rests on
    its 30-60 slowest requests, and a median over rounds of a tail figure drops the rounds whose tail was
    worst (two disturbed rounds of six leave it unmoved), so it reads low exactly when the tail is the
    question; pooled, those rounds' slow requests count, each by its share of all requests. ``median of
    rounds`` when the runs carry no upper percentiles (results from before session 27)."""
    pooled = row["c1_pooled_added_p99_ms"]["gateway"]
    if pooled is not None:
        return pooled, "pooled"
    return row["added_ms"]["gateway@1"]["p99"]["median"], "median of rounds"


def paired(
    rounds: list[Round], num: Callable[[Round], float | None], den: Callable[[Round], float | None]
) -> dict[str, Any]:
    """``spread`` of num/den taken within each round (den <= 0 or missing: no value for that round)."""
    return spread([ratio(num(r), den(r)) for r in rounds])


def summarise(case: PathCase, rounds: list[Round]) -> dict[str, Any]:
    """One path's figures over its rounds: raw medians, and the paired per-round ratios that the targets
    judge (see the module docstring and docs/benchmarks.md)."""

    def m(target: str, key: str, conns: int = 32) -> float | None:
        return med([run_figure(target, key, conns)(r) for r in rounds])

    def over(f: Callable[[Round], float | None]) -> dict[str, Any]:
        return spread([f(r) for r in rounds])

    targets = ("direct", "floor", "gateway", "litellm")
    row: dict[str, Any] = {
        "path": case.name,
        "translated": case.translated,
        "stream": case.stream,
        "rps": {t: m(t, "rps") for t in targets},
        "cpu_ms_per_req": {t: m(t, "cpu_ms_per_req") for t in targets},
        "recorder_cpu_ms_per_req": m("gateway", "recorder_cpu_ms_per_req"),
        "rss_mb": {t: med([r.get(f"rss_{t}") for r in rounds]) for t in ("floor", "gateway", "litellm")},
        "added_ms": {
            f"{t}@{c}": {"p50": over(added(t, "p50_ms", c)), "p99": over(added(t, "p99_ms", c))}
            for t in ("floor", "gateway")
            for c in (1, 32)
        },
    }
    cpu = row["cpu_ms_per_req"]
    gw_cpu, floor_cpu = run_figure("gateway", "cpu_ms_per_req", 32), run_figure("floor", "cpu_ms_per_req", 32)
    row["cpu_ratio_rounds"] = paired(rounds, gw_cpu, floor_cpu)
    row["cpu_ratio"] = row["cpu_ratio_rounds"]["median"]
    row["cpu_ratio_of_medians"] = ratio(cpu["gateway"], cpu["floor"])  # the estimator before session 7
    row["litellm_over_gateway_cpu"] = paired(rounds, run_figure("litellm", "cpu_ms_per_req", 32), gw_cpu)[
        "median"
    ]
    gw1, fl1 = added("gateway", "p50_ms", 1), added("floor", "p50_ms", 1)
    row["c1_p50_ratio_rounds"] = paired(rounds, gw1, fl1)
    row["c1_p50_ratio"] = row["c1_p50_ratio_rounds"]["median"]

    def gw_minus_floor(r: Round) -> float | None:
        g, f = gw1(r), fl1(r)
        return None if g is None or f is None else g - f

    row["c1_p50_gw_minus_floor_ms"] = over(gw_minus_floor)
    # each target's c1 runs pooled over the rounds, then direct's pooled p99 subtracted (session 27): the
    # target's reading since session 28 (``c1_added_p99``), the median of per-round added p99s beside it
    row["c1_pooled_added_p99_ms"] = {t: pooled_added_p99_ms(rounds, t) for t in ("floor", "gateway")}
    if any(r.get("ttft_ms") for r in rounds):
        row["added_ttft_ms"] = {t: over(added_ttft(t)) for t in ("floor", "gateway")}
        row["ttft_ms"] = {  # every round's samples together, raw
            t: statistics.median([x for r in rounds for x in (r.get("ttft_ms") or {}).get(t, [])])
            for t in ("direct", "floor", "gateway")
        }
    limit = 2.5 if case.translated else 1.5
    c1_diff = row["c1_p50_gw_minus_floor_ms"]["median"]
    c1_p99, row["c1_p99_reading"] = c1_added_p99(row)
    row["targets"] = {
        f"cpu <= {limit}x floor": None if row["cpu_ratio"] is None else row["cpu_ratio"] <= limit,
        "c1 added p50 <= 1.15x floor's": None
        if row["c1_p50_ratio"] is None
        else row["c1_p50_ratio"] <= 1.15 or (c1_diff is not None and c1_diff <= 0),
        "c1 added p99 <= 1 ms": None if c1_p99 is None else c1_p99 <= 1.0,
    }
    if "added_ttft_ms" in row:
        ttft_gw = row["added_ttft_ms"]["gateway"]["median"]
        row["targets"]["added ttft <= 1 ms"] = None if ttft_gw is None else ttft_gw <= 1.0
    if not case.translated:
        row["stretch cpu <= 1.25x floor"] = None if row["cpu_ratio"] is None else row["cpu_ratio"] <= 1.25
    return row


COLUMNS = (
    "path",
    "r/s floor",
    "r/s gw",
    "CPU ms/req floor",
    "CPU gw",
    "gw/floor [min–max]",
    "CPU rec",
    "RSS MB floor/gw",
    "c1 +p50 floor/gw (ratio [min–max])",
    "c1 +p99 floor/gw [gw min–max] (pooled: judged)",
    "c32 +p50 floor/gw",
    "c32 +p99 floor/gw",
    "+TTFT floor/gw [gw min–max]",
    "LiteLLM CPU (÷gw)",
    "targets",
)


def _pair(added_ms: dict[str, Any], conns: int, pct: str, spread_of_gw: bool = False) -> str:
    """``floor/gw`` added latency medians in ms, with the gateway's ``[min–max]`` when asked."""
    fl, gw = added_ms[f"floor@{conns}"][pct], added_ms[f"gateway@{conns}"][pct]
    text = f"{fmt(fl['median'])}/{fmt(gw['median'])}"
    return f"{text} {fmt_spread(gw)}".rstrip() if spread_of_gw else text


def _pooled_pair(row: dict[str, Any]) -> str:
    """`` (pooled floor/gw)`` added p99 at one connection, ms, when the runs carry upper percentiles."""
    pooled = row.get("c1_pooled_added_p99_ms") or {}
    if pooled.get("gateway") is None:
        return ""
    return f" (pooled {fmt(pooled.get('floor'))}/{fmt(pooled['gateway'])})"


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The table's cells: medians of per-round values, ``[min–max]`` over the rounds beside the judged ones."""
    out = []
    for r in rows:
        a, cpu = r["added_ms"], r["cpu_ms_per_req"]
        tt = r.get("added_ttft_ms")

        c1 = r["c1_p50_ratio_rounds"]
        out.append(
            [
                r["path"],
                fmt(r["rps"]["floor"], ".0f"),
                fmt(r["rps"]["gateway"], ".0f"),
                fmt(cpu["floor"], ".3f"),
                fmt(cpu["gateway"], ".3f"),
                f"{fmt(r['cpu_ratio'])}x {fmt_spread(r['cpu_ratio_rounds'])}".rstrip(),
                fmt(r["recorder_cpu_ms_per_req"], ".3f"),
                f"{fmt(r['rss_mb']['floor'], '.0f')}/{fmt(r['rss_mb']['gateway'], '.0f')}",
                f"{_pair(a, 1, 'p50')} ({fmt(r['c1_p50_ratio'])}x {fmt_spread(c1)})".replace(" )", ")"),
                _pair(a, 1, "p99", spread_of_gw=True) + _pooled_pair(r),
                _pair(a, 32, "p50"),
                _pair(a, 32, "p99"),
                f"{fmt(tt['floor']['median'])}/{fmt(tt['gateway']['median'])} {fmt_spread(tt['gateway'])}".rstrip()
                if tt
                else "–",
                f"{fmt(cpu['litellm'], '.3f')} ({fmt(r['litellm_over_gateway_cpu'])}x)"
                if cpu["litellm"] is not None
                else "–",
                " ".join(
                    f"{name.split(' <=')[0].replace('added ', '+')}:{verdict(ok)}"
                    for name, ok in r["targets"].items()
                ),
            ]
        )
    return out


def round_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per path with every round's paired values, so that a reader sees the noise."""

    def seq(sp: dict[str, Any], spec: str = ".2f") -> str:
        return " ".join(fmt(v, spec) for v in sp["rounds"]) + f" -> {fmt(sp['median'], spec)}"

    lines = []
    for r in rows:
        parts = [
            f"CPU gw/floor {seq(r['cpu_ratio_rounds'])}",
            f"c1 +p50 gw/floor {seq(r['c1_p50_ratio_rounds'])}",
            f"c1 +p99 gw ms {seq(r['added_ms']['gateway@1']['p99'])}",
        ]
        if pooled := r.get("c1_pooled_added_p99_ms"):
            parts.append(f"c1 +p99 pooled floor/gw ms {fmt(pooled['floor'])}/{fmt(pooled['gateway'])}")
        if r.get("added_ttft_ms"):
            parts.append(f"+TTFT gw ms {seq(r['added_ttft_ms']['gateway'])}")
        shares = [g.get("gateway@1", {}).get("recorder_normal_share") for g in r.get("rounds", [])]
        if any(v is not None for v in shares):  # ``load.PolicySampler`` (session 31)
            parts.append(
                "rec not idle in c1 gw " + " ".join("-" if v is None else f"{v:.0%}" for v in shares)
            )
        settles = [c1_settled(g) for g in r.get("rounds", [])]
        if any(settles):  # ``load.until_settled`` (session 34): the floor's and the gateway's c1 waits
            parts.append(
                "c1 settle s floor/gw "
                + " ".join(f"{s.get('floor', '-')}/{s.get('gateway', '-')}" for s in settles)
            )
        lines.append(f"{r['path']}: " + "; ".join(parts))
    return lines


def print_table(header: tuple[str, ...], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def markdown(header: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def c1_settled(got: Round) -> dict[str, str]:
    """Each target's wait before its c1 run of this round (``load.until_settled``; the JSON's ``settle_s``), as
    ``Settled.text`` writes it: seconds to 0.1, ``!`` when it hit ``--c1-settle`` unsettled. Empty for a round
    without (before session 34, or ``--c1-settle 0``)."""
    out = {}
    for key, run in got.items():
        if key.endswith("@1") and isinstance(run, dict) and run.get("settle_s") is not None:
            out[key[:-2]] = f"{run['settle_s']:.1f}" + ("!" if run.get("unsettled") else "")
    return out


def round_summary(got: Round) -> str:
    """One round of one path as a line: r/s and CPU ms/req at 32 connections, and the round's paired values."""
    at32 = {k.split("@")[0]: v for k, v in got.items() if k.endswith("@32")}
    gw_cpu, fl_cpu = run_figure("gateway", "cpu_ms_per_req", 32), run_figure("floor", "cpu_ms_per_req", 32)
    parts = [
        "r/s " + " ".join(f"{t}={v['rps']:.0f}" for t, v in at32.items()),
        "cpu ms/req " + " ".join(f"{t}={fmt(v['cpu_ms_per_req'], '.3f')}" for t, v in at32.items()),
        f"gw/floor {fmt(ratio(gw_cpu(got), fl_cpu(got)))}x",
        f"c1 +p50 gw/floor {fmt(ratio(added('gateway', 'p50_ms', 1)(got), added('floor', 'p50_ms', 1)(got)))}x",
        f"c1 +p99 gw {fmt(added('gateway', 'p99_ms', 1)(got))} ms",
    ]
    if got.get("ttft_ms"):
        parts.append(f"+TTFT gw {fmt(added_ttft('gateway')(got))} ms")
    shares = [got.get(f"gateway@{c}", {}).get("recorder_normal_share") for c in (32, 1)]
    if any(v is not None for v in shares):
        # ``load.PolicySampler``: how long the recorder ran at a normal policy, not SCHED_IDLE (session 31)
        parts.append("rec not idle c32/c1 " + "/".join("-" if v is None else f"{v:.0%}" for v in shares))
    if settled := c1_settled(got):  # ``load.until_settled`` before each c1 run (session 34)
        parts.append("c1 settle s " + " ".join(f"{t}={v}" for t, v in settled.items()))
    if machine := got.get("gateway@1", {}).get("machine"):  # ``load.machine_counts`` over the c1 run
        parts.append("c1 gw run: " + " ".join(f"{k} {v:g}" for k, v in machine.items()))
    return "  ".join(parts)
