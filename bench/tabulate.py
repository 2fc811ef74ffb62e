"""The benchmark table from the rounds' figures: medians, ratios to the floor, the issue's targets, text.

Pure functions over the dicts that bench/bench_table.py collects (one per round: ``"<target>@<connections>"``
-> a ``load.Run`` as a dict, ``"rss_<target>"`` -> MB). Targets (issue 13): gateway CPU per request <= 1.5x
the floor's on passthrough paths (1.25x stretch), <= 2.5x on translated streams; at one connection the added
p50 within 1.15x of the floor's and the added p99 <= 1 ms; added time to first token <= 1 ms.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.paths import PathCase


def med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "–" if x is None or x != x else format(x, spec)


def verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("PASS" if ok else "FAIL")


def summarise(
    case: PathCase, rounds: list[dict[str, Any]], ttft_ms: dict[str, list[float]] | None
) -> dict[str, Any]:
    """Medians over rounds for one path; targets as in the issue (see docs/benchmarks.md)."""

    def m(target: str, key: str, conns: int = 32) -> float | None:
        return med([r[f"{target}@{conns}"][key] for r in rounds if f"{target}@{conns}" in r])

    def added(target: str, key: str, conns: int) -> float | None:
        vals: list[float | None] = []
        for r in rounds:
            if f"{target}@{conns}" in r and f"direct@{conns}" in r:
                vals.append(r[f"{target}@{conns}"][key] - r[f"direct@{conns}"][key])
        return med(vals)

    row: dict[str, Any] = {
        "path": case.name,
        "translated": case.translated,
        "stream": case.stream,
        "rps": {t: m(t, "rps") for t in ("direct", "floor", "gateway", "litellm")},
        "cpu_ms_per_req": {
            t: med([r[f"{t}@{c}"]["cpu_ms_per_req"] for r in rounds for c in (32,) if f"{t}@{c}" in r])
            for t in ("direct", "floor", "gateway", "litellm")
        },
        "recorder_cpu_ms_per_req": m("gateway", "recorder_cpu_ms_per_req"),
        "rss_mb": {t: med([r.get(f"rss_{t}") for r in rounds]) for t in ("floor", "gateway", "litellm")},
        "added_ms": {
            f"{t}@{c}": {"p50": added(t, "p50_ms", c), "p99": added(t, "p99_ms", c)}
            for t in ("floor", "gateway")
            for c in (1, 32)
        },
    }
    cpu = row["cpu_ms_per_req"]
    row["cpu_ratio"] = ratio(cpu["gateway"], cpu["floor"])
    row["litellm_over_gateway_cpu"] = ratio(cpu["litellm"], cpu["gateway"])
    a = row["added_ms"]
    row["c1_p50_ratio"] = ratio(a["gateway@1"]["p50"], a["floor@1"]["p50"])
    if ttft_ms:
        d = statistics.median(ttft_ms["direct"])
        row["ttft_ms"] = {t: statistics.median(v) for t, v in ttft_ms.items()}
        row["added_ttft_ms"] = {t: statistics.median(v) - d for t, v in ttft_ms.items() if t != "direct"}
    limit = 2.5 if case.translated else 1.5
    row["targets"] = {
        f"cpu <= {limit}x floor": None if row["cpu_ratio"] is None else row["cpu_ratio"] <= limit,
        "c1 added p50 <= 1.15x floor's": None
        if row["c1_p50_ratio"] is None
        else row["c1_p50_ratio"] <= 1.15 or (a["gateway@1"]["p50"] or 0) <= (a["floor@1"]["p50"] or 0),
        "c1 added p99 <= 1 ms": None if a["gateway@1"]["p99"] is None else a["gateway@1"]["p99"] <= 1.0,
    }
    if ttft_ms:
        row["targets"]["added ttft <= 1 ms"] = row["added_ttft_ms"]["gateway"] <= 1.0
    if not case.translated:
        row["stretch cpu <= 1.25x floor"] = None if row["cpu_ratio"] is None else row["cpu_ratio"] <= 1.25
    return row


COLUMNS = (
    "path",
    "r/s floor",
    "r/s gw",
    "CPU ms/req floor",
    "CPU gw",
    "gw/floor",
    "CPU rec",
    "RSS MB floor/gw",
    "c1 +p50 floor/gw (ratio)",
    "c1 +p99 floor/gw",
    "c32 +p50 floor/gw",
    "c32 +p99 floor/gw",
    "+TTFT floor/gw",
    "LiteLLM CPU (÷gw)",
    "targets",
)


def table_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    out = []
    for r in rows:
        a, cpu = r["added_ms"], r["cpu_ms_per_req"]
        tt = r.get("added_ttft_ms")
        out.append(
            [
                r["path"],
                fmt(r["rps"]["floor"], ".0f"),
                fmt(r["rps"]["gateway"], ".0f"),
                fmt(cpu["floor"], ".3f"),
                fmt(cpu["gateway"], ".3f"),
                f"{fmt(r['cpu_ratio'])}x",
                fmt(r["recorder_cpu_ms_per_req"], ".3f"),
                f"{fmt(r['rss_mb']['floor'], '.0f')}/{fmt(r['rss_mb']['gateway'], '.0f')}",
                f"{fmt(a['floor@1']['p50'])}/{fmt(a['gateway@1']['p50'])} ({fmt(r['c1_p50_ratio'])}x)",
                f"{fmt(a['floor@1']['p99'])}/{fmt(a['gateway@1']['p99'])}",
                f"{fmt(a['floor@32']['p50'])}/{fmt(a['gateway@32']['p50'])}",
                f"{fmt(a['floor@32']['p99'])}/{fmt(a['gateway@32']['p99'])}",
                f"{fmt(tt['floor'])}/{fmt(tt['gateway'])}" if tt else "–",
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


def print_table(header: tuple[str, ...], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def markdown(header: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"
