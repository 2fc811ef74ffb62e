"""The benchmark table (issue 13): every path through the gateway against the floor, the upstream and LiteLLM.

Processes, all on 127.0.0.1 and free ports: nginx serving canned provider answers (bench/upstream.py), the
floor (bench/floor.py, a bare aiohttp pass-through to nginx), our recorder + gateway (``python -m
services.recorder`` / ``python -m services.gateway`` via tests/procs.py, OPENAI_BASE_URL and
ANTHROPIC_BASE_URL at nginx) and LiteLLM (bench/peers.py) on the same nginx.

For every path, in ``--rounds`` rounds, wrk (one thread, a Lua script posting the path's body) runs for
``--duration`` seconds at 32 connections and at 1 against ``direct`` (the upstream call the gateway makes,
sent straight to nginx), the floor and the gateway, back to back, the floor and the gateway always adjacent
and each first in half the rounds (``PAIRED_ORDERS``); every timed run is primed (64 unmeasured requests, so
that its upstream connections are open) and starts once every process is idle; every one-connection run,
whichever its target, also once the recorder has acknowledged every event, is back at SCHED_IDLE and the
machine is quiet (``Bench.settle_c1``, at most ``--c1-settle`` s, each wait in the round line). LiteLLM gets
``--litellm-requests`` requests at 32 connections from a Python client, all waited for (it is too slow for a
short timed run), in the first ``--litellm-rounds`` rounds and only on the paths it answers correctly.
Around each run the target's process tree CPU time is read from /proc (bench/load.py says how in-flight
requests are counted). RSS is the tree's VmRSS after the round. Every comparison is made within a round,
where both sides were measured back to back: gateway / floor CPU per request, "added" latency = the
target's p50 (p99) minus direct's, the one-connection ratio gateway-added / floor-added, added TTFT (a Python
client sends the round's share of ``--ttft`` streamed requests one at a time, direct / floor / gateway
interleaved, and times the first text-carrying event; added = median(target) - median(direct) over the
round's samples). The table reports the median of the per-round values, and their min-max, and judges the
targets on that median (bench/tabulate.py); raw per-target medians are kept. Then: 1,000 (``--streams``)
concurrent slow streams through the gateway (and the floor), peak RSS; the gateway's throughput with its
recorder running, SIGSTOPped and absent (``--recorder-rounds``, one gateway process, the recorder stopped
and started again; after every state the next waits until the recorder has acknowledged everything and the
processes are idle; ratios within each round, medians and min-max; the recorder's own CPU per request
while it runs); the gateway's throughput with one worker
and with two (``GATEWAY_WORKERS``, each its own stack with a recorder, runs interleaved). Every path's answers
are checked after the timed windows (HTTP 200 and the upstream's text, stream terminator present), wrk's
non-2xx count must be zero, and every request the gateway completed must have a ledger row. Exit status 1
when anything was wrong, 2 when a tool is missing.

Every round's numbers go to bench/results/table.json, the table as Markdown to bench/results/table.md.

    python bench/bench_table.py [--quick] [--rounds 4] [--duration 2] [--ttft 200] [--streams 1000]
                                [--litellm-requests 64] [--litellm-rounds 2] [--no-litellm]
                                [--paths SUBSTRING ...] [--workers N] [--c1-settle 10]
    python bench/bench_table.py --only-recorder [--recorder-rounds 6] [--duration 2] [--recorder-duration 1]
                                (the recorder case alone, every round printed: r/s, gw CPU ms/req and
                                the recorder's CPU ms/req while it runs, its writer process included)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import answers  # noqa: E402
from bench.load import (  # noqa: E402
    C1_SETTLE_S,
    Settled,
    Target,
    Wrk,
    fixed_run,
    hold_streams,
    post,
    prime,
    settle,
    ttft,
    until_settled,
    wrong,
)
from bench.paths import PATHS, PathCase  # noqa: E402
from bench.peers import (  # noqa: E402
    DEFAULT_PEER_VENV,
    PEER_SPEC,
    Peer,
    PeerUnavailable,
    ensure_peer,
    rss_mb,
    start_peer,
    tree,
)
from bench.tabulate import (  # noqa: E402
    COLUMNS,
    fmt,
    fmt_ci,
    fmt_spread,
    markdown,
    median_ci,
    print_table,
    round_lines,
    round_summary,
    spread,
    summarise,
    table_rows,
    verdict,
)
from bench.upstream import Nginx, start_nginx  # noqa: E402
from tests.procs import Stack, free_port, http_ok, stack, wait_until  # noqa: E402

RESULTS = ROOT / "bench" / "results"
# production values from honcho.env where tests/procs.py uses test ones
STACK_ENV = {"RECORDER_FLUSH_INTERVAL": "0.2", "LOG_LEVEL": "INFO"}
# the order of direct, floor and gateway in round i: PAIRED_ORDERS[i % 4]. The floor and the gateway are
# always back to back (their CPU ratio is taken within the round), each goes first in half the rounds, and
# direct is next to one of them (the added latencies are taken against it within the round)
PAIRED_ORDERS = (
    ("direct", "floor", "gateway"),
    ("gateway", "floor", "direct"),
    ("floor", "gateway", "direct"),
    ("direct", "gateway", "floor"),
)


# --- processes ------------------------------------------------------------------------------------------


@dataclass
class Floor:
    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def start_floor(tmp: Path, upstream: str, name: str = "floor") -> Floor:
    port = free_port()
    log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.floor", "--port", str(port), "--upstream", upstream],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    floor = Floor(proc, f"http://127.0.0.1:{port}")
    wait_until(lambda: proc.poll() is not None or http_ok(floor.url + "/v1/models"), 15)
    if proc.poll() is not None:
        raise RuntimeError("the floor did not start:\n" + (tmp / f"{name}.log").read_text(errors="replace"))
    return floor


def providers_at(upstream: str) -> dict[str, str]:
    """The gateway's provider base URLs for an upstream that serves every provider path (nginx)."""
    return {"openai": upstream + "/v1", "anthropic": upstream}


@dataclass
class C1Stack:
    """What ``c1_stack`` started: ``wrk`` and ``key`` for the load, nginx, the floor (None when not asked for)
    and a recorder + gateway stack ``st`` in ``tmp / "s"``, the gateway's providers at nginx."""

    tmp: Path
    key: str
    wrk: Wrk
    nginx: Nginx
    floor: Floor | None
    st: Stack

    @property
    def providers(self) -> dict[str, str]:
        return providers_at(self.nginx.url)

    @property
    def gw(self) -> int:
        """The gateway's pid (read each time: a tool may start another gateway in its place)."""
        return self.st.services["gateway"].proc.pid

    @property
    def rec(self) -> int:
        return self.st.services["recorder"].proc.pid

    def targets(self) -> dict[str, Target]:
        """``direct`` (nginx), ``floor`` (when started) and ``gateway``, each by its main process alone (not its
        tree: the one-connection tools count the process that serves)."""
        out = {"direct": Target("direct", self.nginx.url, self.nginx.pids)}
        if (floor := self.floor) is not None:
            out["floor"] = Target("floor", floor.url, lambda: [floor.proc.pid])
        out["gateway"] = Target("gateway", self.st.gateway_url, lambda: [self.gw])
        return out


@contextlib.contextmanager
def c1_stack(floor: bool = True, key: str | None = None) -> Iterator[C1Stack]:
    """nginx's canned answers, the floor (``floor``) and a recorder + gateway stack on them (``STACK_ENV``), in a
    temporary directory, all stopped on exit: the stack the developer tools start (``c1_counts``, ``c1_cycles``,
    ``c1_paths``, ``tail_counts``). ``key``: the bearer the load sends (a fresh ``sk-bench-`` one by default).
    FileNotFoundError (wrk missing) or RuntimeError (nginx or the floor did not start) as their starters
    raise them."""
    key = key or "sk-bench-" + secrets.token_hex(8)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        wrk = Wrk(tmp, key)
        nginx = start_nginx()
        fl: Floor | None = None
        try:
            fl = start_floor(tmp, nginx.url) if floor else None
            (tmp / "s").mkdir()
            with stack(tmp / "s", providers_at(nginx.url), **STACK_ENV) as st:
                yield C1Stack(tmp, key, wrk, nginx, fl, st)
        finally:
            if fl is not None:
                fl.stop()
            nginx.stop()


def queued(st: Stack) -> int:
    """Events the gateway holds that the recorder has not acknowledged (0 when /health does not say)."""
    try:
        with urllib.request.urlopen(st.gateway_url + "/health", timeout=5) as resp:
            health = json.loads(resp.read())
    except urllib.error.HTTPError as exc:  # 503: every provider cooling down; the body still says it all
        health = json.loads(exc.read())
    # with GATEWAY_WORKERS > 1 the answering worker also reports the sum over all workers
    events = health.get("events_all_workers") or health.get("events") or {}
    return int(events.get("queued", 0))


# --- aggregation and the table --------------------------------------------------------------------------


def slow_streams(
    tmp: Path, stream: bytes, n: int, interval: float, key: str, expected: str
) -> dict[str, Any]:
    """The slow upstream, then the gateway and the floor in turn holding ``n`` concurrent streams from it."""
    port = free_port()
    stream_file = tmp / "slow.sse"
    stream_file.write_bytes(stream)
    slow = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", "slow", str(port), str(interval), str(stream_file)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    slow_url = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        wait_until(lambda: http_ok(slow_url + "/peak"), 15)
        sub = tmp / "slow-stack"
        sub.mkdir()
        with stack(sub, {"openai": slow_url + "/v1"}, **STACK_ENV) as st:
            gw = st.services["gateway"].proc.pid
            out["gateway"] = asyncio.run(hold_streams(st.gateway_url, n, key, tree([gw]), expected))
            out["gateway"]["upstream_peak_open"] = _peak(slow_url)
        floor = start_floor(tmp, slow_url, "floor-slow")
        try:
            out["floor"] = asyncio.run(hold_streams(floor.url, n, key, [floor.proc.pid], expected))
            out["floor"]["upstream_peak_open"] = _peak(slow_url)
        finally:
            floor.stop()
    finally:
        slow.terminate()
        slow.wait(5)
    return out


def _peak(slow_url: str) -> int:
    """The slow upstream's most streams open at once since the last call (it resets on reading)."""
    with urllib.request.urlopen(slow_url + "/peak", timeout=5) as resp:
        return int(json.loads(resp.read())["peak"])


# --- the run --------------------------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    tmp: Path
    key: str
    wrk: Wrk
    nginx: Nginx
    problems: list[str] = field(default_factory=list)
    # the c1 runs' settle (``settle_c1``): the events the gateway under test holds unacknowledged (``queued``),
    # and whether its recorder runs at SCHED_IDLE while it keeps up (its start-up line says ``idle``)
    backlog: Callable[[], int] | None = None
    recorder_idles: bool = False

    def expected(self, case: PathCase) -> str:
        name = case.upstream_path.removeprefix("/v1/") + (".sse" if case.stream else ".json")
        return answers.text(case.upstream_fmt, self.nginx.canned[name])

    @staticmethod
    def request(target: Target, case: PathCase) -> tuple[str, dict[str, Any]]:
        """(path, body) this target gets for this case: direct and the floor get the gateway's upstream call."""
        if target.name in ("direct", "floor"):
            return case.upstream_path, case.upstream_body
        return case.path, case.body

    def check(self, target: Target, case: PathCase, n: int = 5) -> str | None:
        path, body = self.request(target, case)
        fmt_ = case.upstream_fmt if target.name in ("direct", "floor") else case.fmt
        for _ in range(n):
            status, answer = post(target.url + path, body, self.key)
            problem = wrong(status, answer, fmt_, self.expected(case))
            if problem:
                return problem
        return None

    def quiet(self, targets: list[Target]) -> None:
        """Wait until every benchmark process is idle (the previous run's tail, a recorder's commit)."""
        pids = [pid for t in targets for pid in t.pids() + (t.extra_pids() if t.extra_pids else [])]
        settle(pids)

    def settle_c1(self, targets: list[Target], run: str) -> Settled:
        """Before a one-connection run, whichever its target (the same wait for direct, the floor and the
        gateway): wait, at most ``--c1-settle`` s, until the recorder has acknowledged every event the gateway
        holds (``backlog``), every benchmark process and the machine are quiet and, when the recorder runs at
        ``SCHED_IDLE`` while it keeps up, it is back there (``load.until_settled``); a warning naming ``run``
        and what did not settle when the bound is hit (issue 13, session 34: a c1 figure taken while the
        recorder drains the 32-connection run before it is not the gateway's)."""

        def pids() -> list[int]:  # every benchmark process, the recorder's tree (its writer) too
            return [pid for t in targets for pid in t.pids() + (t.extra_pids() if t.extra_pids else [])]

        def recorders() -> list[int]:
            return [pid for t in targets if t.extra_pids for pid in t.extra_pids()]

        settled = until_settled(
            pids,
            self.args.c1_settle,
            backlog=self.backlog,
            idle_pids=recorders if self.recorder_idles else None,
        )
        if settled.unsettled:
            print(
                f"warning: c1 {run}: not settled after {settled.seconds:.1f} s ({', '.join(settled.unsettled)}): "
                "started anyway",
                flush=True,
            )
        return settled

    def run_path(self, case: PathCase, targets: list[Target], rnd: int) -> dict[str, Any]:
        """One round of one path: at 32 connections then at 1, ``direct``, the floor and the gateway back to
        back in this round's order (``PAIRED_ORDERS``: the floor and the gateway always adjacent, each first
        in half the rounds), each run primed and started on quiet processes; LiteLLM after them in the first
        ``--litellm-rounds`` rounds; then, for a stream, this round's share of the TTFT samples."""
        out: dict[str, Any] = {}
        by_name = {t.name: t for t in targets}
        order = [by_name[n] for n in PAIRED_ORDERS[rnd % len(PAIRED_ORDERS)] if n in by_name]
        if "litellm" in by_name and rnd < self.args.litellm_rounds:
            order.append(by_name["litellm"])
        for conns in (32, 1):
            for t in order:
                if not t.serves(case) or (conns == 1 and t.name == "litellm"):
                    continue
                path, body = self.request(t, case)
                settled: Settled | None = None
                if t.name == "litellm":
                    self.quiet(targets)
                    run = fixed_run(t, case, self.args.litellm_requests, conns, self.key, self.expected(case))
                else:
                    refused = prime(t.url + path, body, conns, self.key)
                    if refused:
                        self.problems.append(f"{case.name}: {t.name} refused {refused} priming requests")
                    if conns == 1 and self.args.c1_settle > 0:
                        settled = self.settle_c1(targets, f"{case.name}: {t.name}")
                    else:
                        self.quiet(targets)
                    run = self.wrk.run(t, path, body, conns, self.args.duration)
                out[f"{t.name}@{conns}"] = run.__dict__
                if settled is not None:  # how long this c1 run waited for the machine to settle (s)
                    out[f"{t.name}@{conns}"]["settle_s"] = settled.seconds
                    out[f"{t.name}@{conns}"]["unsettled"] = list(settled.unsettled)
                if run.status_errors:
                    self.problems.append(
                        f"{case.name}: {t.name} answered {run.status_errors} non-2xx under load"
                    )
        for t in targets:
            if t.name != "direct" and t.serves(case):
                out[f"rss_{t.name}"] = rss_mb(t.pids())
        if case.stream and self.args.ttft:
            n = -(-self.args.ttft // self.args.rounds)  # this round's share, rounded up
            trio = [by_name[name] for name in ("direct", "floor", "gateway") if name in by_name]
            out["ttft_ms"] = asyncio.run(ttft(case, trio, n, self.key))
        return out


def recorder_priority(log: str) -> str:
    """The priority the recorder says it chose at start (its ``recorder priority:`` line; it sets it
    itself, from ``RECORDER_PRIORITY``, so this table measures what users run), or "not said" (older)."""
    lines = [line for line in log.splitlines() if "recorder priority:" in line]
    return (
        lines[-1].split("recorder priority:", 1)[1].strip()
        if lines
        else "not said (a recorder before session 19)"
    )


def recorder_case(bench: Bench, st: Stack) -> dict[str, Any]:
    """The gateway's req/s on openai chat plain with its recorder running, SIGSTOPped, and absent (stopped
    with SIGTERM, started again after the run): one gateway process for all three, so that only the
    recorder's state differs; the order rotates each round. After every state, running included, the
    recorder is resumed (or started again) and the next state waits until the gateway holds no
    unacknowledged event and every process is idle: the events held while the recorder was stopped or
    absent, and their catch-up, are billed to no other state. Each round's ratios are taken within the
    round (``stopped / running``, ``absent / running``); the medians are reported, with min and max."""
    case = PATHS[0]
    gw = st.services["gateway"].proc.pid
    # The recorder's CPU (its process tree: the SQLite writer too) is read while it runs (the "running"
    # state): the pid is looked up at each read, since the "absent" state starts a new recorder.
    target = Target(
        "gateway",
        st.gateway_url,
        functools.partial(tree, [gw]),
        extra_pids=lambda: tree([st.services["recorder"].proc.pid]),
        side_pids=bench.nginx.pids,
    )
    states = ["running", "stopped", "absent"]
    rounds: list[dict[str, Any]] = []

    def drained(state: str) -> float | None:
        t0 = time.perf_counter()
        try:
            wait_until(lambda: queued(st) == 0, 60, 0.02)
        except TimeoutError:
            bench.problems.append(f"recorder case: the gateway's queue did not drain within 60 s ({state})")
            return None
        settle([gw, st.services["recorder"].proc.pid])
        return time.perf_counter() - t0

    drained("before the rounds")
    for rnd in range(bench.args.recorder_rounds):
        got: dict[str, Any] = {}
        for state in states[rnd % 3 :] + states[: rnd % 3]:
            recorder = st.services["recorder"]
            prime(st.gateway_url + case.path, case.body, 32, bench.key)
            drained(f"before {state}")
            if state == "stopped":
                os.kill(recorder.proc.pid, signal.SIGSTOP)
            elif state == "absent":
                recorder.stop()
            try:
                run = bench.wrk.run(target, case.path, case.body, 32, bench.args.recorder_duration)
            finally:
                held = queued(st)
                if state == "stopped":
                    os.kill(recorder.proc.pid, signal.SIGCONT)
                elif state == "absent":
                    st.start_recorder()
            got[state] = run.__dict__
            got[f"held_{state}"] = held
            got[f"drained_{state}_s"] = drained(state)  # its catch-up, before the next state
            if run.status_errors:
                bench.problems.append(f"recorder {state}: {run.status_errors} non-2xx under load")
        rounds.append(got)
        print(
            f"recorder round {rnd + 1}: r/s "
            + " / ".join(f"{s} {got[s]['rps']:.0f}" for s in states)
            + f" (stopped {got['stopped']['rps'] / got['running']['rps']:.2f}x, "
            f"absent {got['absent']['rps'] / got['running']['rps']:.2f}x); gw CPU ms/req "
            + " / ".join(fmt(got[s]["cpu_ms_per_req"], ".3f") for s in states)
            + f"; rec CPU ms/req {fmt(got['running']['recorder_cpu_ms_per_req'], '.4f')}"
            + "; stack CPU ms/req "
            + " / ".join(fmt(stack_cpu(got[s]), ".3f") for s in states)
            + f"; held running/stopped/absent {got['held_running']}/{got['held_stopped']}/{got['held_absent']}"
            + "; caught up in "
            + "/".join(fmt(got[f"drained_{s}_s"], ".1f") for s in states)
            + " s",
            flush=True,
        )
    rps = {s: statistics.median(r[s]["rps"] for r in rounds) for s in states}
    ratios = {s: spread([r[s]["rps"] / r["running"]["rps"] for r in rounds]) for s in ("stopped", "absent")}
    medians = [ratios[s]["median"] for s in ("stopped", "absent")]
    worst = min(1.0, *medians) / max(1.0, *medians)
    # gateway CPU per request, stopped (absent) over running within each round: less disturbed by other
    # load on the machine than r/s (None for a round where /proc could not be read)
    cpu = {
        s: spread(
            [
                r[s]["cpu_ms_per_req"] / r["running"]["cpu_ms_per_req"]
                if r[s]["cpu_ms_per_req"] and r["running"]["cpu_ms_per_req"]
                else None
                for r in rounds
            ]
        )
        for s in ("stopped", "absent")
    }
    # The CPU a request costs every benchmark process (gateway, recorder, nginx, wrk) in each state, within
    # the round: on a machine our processes saturate, r/s goes as its inverse, so running / state is the
    # ratio r/s would show without other load's swings (issue 13, session 13: r/s rounds spread +-20%).
    implied = {
        s: spread([_over(stack_cpu(r["running"]), stack_cpu(r[s])) for r in rounds])
        for s in ("stopped", "absent")
    }
    share = spread([_over(r["running"]["recorder_cpu_ms_per_req"], stack_cpu(r["running"])) for r in rounds])
    # How well the rounds pin each median (distribution-free 95% interval; None below 6 rounds): the 5%
    # target is resolved only when the interval is narrower than 5% (issue 13, session 14).
    for sp in (*ratios.values(), *implied.values()):
        sp["ci95"] = median_ci(sp["rounds"])
    return {
        "rounds": rounds,
        "rps": rps,
        "priority": recorder_priority(st.services["recorder"].log()),
        "cpu_implied_stopped_over_running_rounds": implied["stopped"],
        "cpu_implied_absent_over_running_rounds": implied["absent"],
        "recorder_cpu_share_rounds": share,
        "recorder_cpu_ms_per_req_rounds": spread([r["running"]["recorder_cpu_ms_per_req"] for r in rounds]),
        "stopped_over_running_rounds": ratios["stopped"],
        "absent_over_running_rounds": ratios["absent"],
        "cpu_stopped_over_running_rounds": cpu["stopped"],
        "cpu_absent_over_running_rounds": cpu["absent"],
        "cpu_stopped_over_running": cpu["stopped"]["median"],
        "cpu_absent_over_running": cpu["absent"]["median"],
        "stopped_over_running": ratios["stopped"]["median"],
        "absent_over_running": ratios["absent"]["median"],
        "min_over_max": worst,
        "pass": worst >= 0.95,
    }


def stack_cpu(run: dict[str, Any]) -> float | None:
    """CPU ms per request of every benchmark process in one run: the gateway's tree, the recorder's (0 when
    stopped or absent), nginx's and wrk's; None when the gateway's or nginx's could not be read."""
    parts = [run["cpu_ms_per_req"], run.get("side_cpu_ms_per_req"), run.get("wrk_cpu_ms_per_req")]
    if any(p is None for p in parts):
        return None
    return float(sum(parts)) + (run.get("recorder_cpu_ms_per_req") or 0.0)


def _over(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def cpu_line(rec: dict[str, Any]) -> str:
    """The recorder case's CPU-based figures: the ratio r/s would show on a machine our processes saturate
    (the stack's CPU per request, running over each state, within each round) and the recorder's share of
    the running stack's CPU; medians [min–max]. Empty for results without them (before session 13)."""
    if "cpu_implied_absent_over_running_rounds" not in rec:
        return ""
    stopped, absent = (
        rec["cpu_implied_stopped_over_running_rounds"],
        rec["cpu_implied_absent_over_running_rounds"],
    )
    share = rec["recorder_cpu_share_rounds"]
    return (
        f"CPU-implied stopped {fmt(stopped['median'], '.3f')}x {fmt_spread(stopped, '.3f')}{_ci(stopped)}, absent "
        f"{fmt(absent['median'], '.3f')}x {fmt_spread(absent, '.3f')}{_ci(absent)}; recorder "
        f"{fmt(share['median'] * 100 if share['median'] is not None else None, '.1f')}% of the stack's CPU"
    )


def _ci(sp: dict[str, Any]) -> str:
    """`` CI95 lo–hi`` of a spread's median (``tabulate.median_ci``), or "" with too few rounds."""
    text = fmt_ci(sp["rounds"])
    return f" {text}" if text else ""


def recorder_line(rec: dict[str, Any]) -> str:
    """The recorder case's medians with their spread over the rounds."""
    return (
        (
            " / ".join(f"{v:.0f}" for v in rec["rps"].values())
            + f" (stopped {rec['stopped_over_running']:.2f}x {fmt_spread(rec['stopped_over_running_rounds'])}"
            f"{_ci(rec['stopped_over_running_rounds'])}, "
            f"absent {rec['absent_over_running']:.2f}x {fmt_spread(rec['absent_over_running_rounds'])}"
            f"{_ci(rec['absent_over_running_rounds'])})"
        )
        .replace(" ,", ",")
        .replace(" )", ")")
    )


WORKERS_CONNS = 64  # enough to keep two workers busy
# The paths the workers case runs: chat plain, where one worker already takes the floor's share of this
# machine's 2 CPUs (wrk and nginx hold the rest: a second worker has no idle CPU to use), and a translated
# stream, where the gateway is the stack's bottleneck (its CPU per request is ~2x the floor's): the one that
# shows whether throughput grows with a second core. The verdict is the translated stream's.
WORKERS_PATHS = ("openai chat, plain", "anthropic → openai, stream")


def workers_case(bench: Bench, tmp: Path, providers: dict[str, str]) -> dict[str, Any]:
    """Each of ``WORKERS_PATHS`` at ``WORKERS_CONNS`` connections through a gateway of one worker and one of
    two (each with its own recorder and ledger), alternating which goes first each round: req/s and the
    gateway tree's CPU ms per request, per path. Shape: {"paths": {name: {"rounds", "rps": {1, 2},
    "cpu_ms_per_req": {1, 2}, "two_over_one"}}, "verdict_path": name, "two_over_one", "pass"}; pass when the
    verdict path's two-worker r/s is > 1.1x the one-worker's (issue 13: throughput grows with cores)."""
    counts = (1, 2)
    cases = [c for c in PATHS if c.name in WORKERS_PATHS]
    dirs = {n: tmp / f"workers{n}" for n in counts}
    for d in dirs.values():
        d.mkdir()
    per_path: dict[str, dict[str, Any]] = {}
    with (
        stack(dirs[1], providers, **STACK_ENV, GATEWAY_WORKERS="1") as one,
        stack(dirs[2], providers, **STACK_ENV, GATEWAY_WORKERS="2") as two,
    ):
        stacks = {1: one, 2: two}
        for case in cases:
            for n, st in stacks.items():  # warm up
                bench.wrk.run(Target(f"workers={n}", st.gateway_url, list), case.path, case.body, 32, 1)
            rounds: list[dict[int, dict[str, Any]]] = []
            for rnd in range(bench.args.rounds):
                got: dict[int, dict[str, Any]] = {}
                for n in counts if rnd % 2 == 0 else counts[::-1]:
                    pid = stacks[n].services["gateway"].proc.pid
                    target = Target(f"workers={n}", stacks[n].gateway_url, functools.partial(tree, [pid]))
                    run = bench.wrk.run(target, case.path, case.body, WORKERS_CONNS, bench.args.duration)
                    if run.status_errors or run.socket_errors:
                        bench.problems.append(
                            f"workers={n} ({case.name}): {run.status_errors} non-2xx, "
                            f"{run.socket_errors} socket errors"
                        )
                    got[n] = run.__dict__
                rounds.append(got)
            rps = {n: statistics.median(r[n]["rps"] for r in rounds) for n in counts}
            cpu = {n: statistics.median(r[n]["cpu_ms_per_req"] or 0.0 for r in rounds) for n in counts}
            per_path[case.name] = {
                "rounds": rounds,
                "rps": rps,
                "cpu_ms_per_req": cpu,
                "two_over_one": rps[2] / rps[1],
                "two_over_one_rounds": spread([r[2]["rps"] / r[1]["rps"] for r in rounds]),
            }
    verdict_path = WORKERS_PATHS[-1]
    ratio = per_path[verdict_path]["two_over_one"]
    return {"paths": per_path, "verdict_path": verdict_path, "two_over_one": ratio, "pass": ratio > 1.1}


def workers_lines(wk: dict[str, Any]) -> list[list[str]]:
    """One row of the extra table per path of the workers case: r/s 1 / 2, ratio [per-round min-max], CPU."""
    rows = []
    for name, p in wk["paths"].items():
        target = f"grows (> 1.1x): {verdict(p['two_over_one'] > 1.1)}"
        if name != wk["verdict_path"]:
            target = "(informational: bound by the machine, see Method)"
        rows.append(
            [
                f"{name} r/s at {WORKERS_CONNS} connections, GATEWAY_WORKERS 1 / 2 (gw CPU ms/req)",
                f"{p['rps'][1]:.0f} / {p['rps'][2]:.0f} ({p['two_over_one']:.2f}x"
                f"{(' ' + fmt_spread(p['two_over_one_rounds'])).rstrip()}; "
                f"{p['cpu_ms_per_req'][1]:.2f} / {p['cpu_ms_per_req'][2]:.2f})",
                target,
            ]
        )
    return rows


def start_bench(args: argparse.Namespace, tmp: Path, key: str) -> Bench | None:
    """wrk and nginx ready for a run in ``tmp``; None, said on stderr, when either is missing."""
    try:
        wrk = Wrk(tmp, key)
        nginx = start_nginx()
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"bench_table: {exc}", file=sys.stderr)
        return None
    return Bench(args, tmp, key, wrk, nginx)


def only_recorder(args: argparse.Namespace, key: str) -> int:
    """``--only-recorder``: nginx, one stack, a warm-up, then the recorder case alone."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        bench = start_bench(args, tmp, key)
        if bench is None:
            return 2
        wrk, nginx = bench.wrk, bench.nginx
        try:
            (tmp / "stack").mkdir()
            providers = providers_at(nginx.url)
            with stack(tmp / "stack", providers, **STACK_ENV) as st:
                case = PATHS[0]
                wrk.run(Target("gateway", st.gateway_url, list), case.path, case.body, 32, 1)
                rec = recorder_case(bench, st)
        finally:
            nginx.stop()
    print(
        f"recorder case, medians of {args.recorder_rounds} rounds of {args.recorder_duration} s [min–max]: r/s running / stopped / absent "
        + recorder_line(rec)
        + f": within 5%: {verdict(rec['pass'])}; gw CPU per request stopped "
        + f"{fmt(rec['cpu_stopped_over_running'], '.2f')}x {fmt_spread(rec['cpu_stopped_over_running_rounds'])}, "
        + f"absent {fmt(rec['cpu_absent_over_running'], '.2f')}x {fmt_spread(rec['cpu_absent_over_running_rounds'])}"
        + "; recorder CPU ms per request (running) "
        + f"{fmt(rec['recorder_cpu_ms_per_req_rounds']['median'], '.4f')} "
        + fmt_spread(rec["recorder_cpu_ms_per_req_rounds"], ".4f")
        + "; "
        + cpu_line(rec)
    )
    print(f"recorder priority (RECORDER_PRIORITY, as it logged it): {rec['priority']}")
    for problem in bench.problems:
        print(f"WRONG: {problem}")
    return 1 if bench.problems else 0


def gateway_from(root: Path) -> None:
    """Start every gateway (``python -m services.gateway``) from the checkout ``root`` instead of this one."""
    import tests.procs as procs

    original = procs.start

    def start(name: str, module: str, env: dict[str, str], tmp: Path, *args: str) -> procs.Service:
        if module != "services.gateway":
            return original(name, module, env, tmp, *args)
        log_path = tmp / f"{name}.log"
        fh = open(log_path, "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env={**env, "PYTHONPATH": str(root)},
            cwd=root,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
        fh.close()
        return procs.Service(name, proc, log_path)

    procs.start = start  # type: ignore[assignment]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="for development: 1 round of 1 s, 30 TTFT, 200 streams"
    )
    parser.add_argument("--rounds", type=int, help="rounds per path (4; --quick: 1)")
    parser.add_argument(
        "--recorder-rounds",
        type=int,
        help="rounds of the recorder running/stopped/absent case (6; --quick: 1)",
    )
    parser.add_argument("--duration", type=int, help="seconds per wrk run (2; --quick: 1)")
    parser.add_argument(
        "--recorder-duration",
        type=int,
        help="seconds per wrk run of the recorder case (--duration's): shorter runs, more rounds in the "
        "same minutes, a narrower interval for the medians (docs/benchmarks.md, Method)",
    )
    parser.add_argument(
        "--ttft",
        type=int,
        help="time-to-first-token samples per target per stream path, shared out over the rounds (200; 30)",
    )
    parser.add_argument("--streams", type=int, help="concurrent slow streams (1000; --quick: 200)")
    parser.add_argument(
        "--stream-interval", type=float, default=0.5, help="seconds between slow-stream events"
    )
    parser.add_argument(
        "--litellm-requests",
        type=int,
        help="requests per LiteLLM run (64; --quick: 32), all waited for (it takes tens of ms of CPU per request: a timed run "
        "would complete too few to count)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="GATEWAY_WORKERS for the gateway under test (1: one process)"
    )
    parser.add_argument(
        "--litellm-rounds", type=int, default=2, help="LiteLLM is measured in the first N rounds (2)"
    )
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--litellm-server", choices=("uvicorn", "granian"), default="uvicorn")
    parser.add_argument("--peer-venv", type=Path, default=DEFAULT_PEER_VENV)
    parser.add_argument("--paths", nargs="*", help="only the paths whose name contains one of these")
    parser.add_argument(
        "--c1-settle",
        type=float,
        default=C1_SETTLE_S,
        metavar="SECONDS",
        help="before each one-connection run (direct, floor, gateway alike) wait at most this long until the "
        "recorder has acknowledged every event, is back at SCHED_IDLE, and our processes and the machine are "
        f"quiet (load.until_settled; {C1_SETTLE_S:g}; 0: only the processes' quiet, the method before "
        "session 34)",
    )
    parser.add_argument(
        "--gateway-root",
        type=Path,
        help="run the gateway under test from this checkout (an A/B against another tree in the same "
        "minutes: e.g. ../main); the floor, upstreams, recorder and load come from this one",
    )
    parser.add_argument("--results-name", default="table", help="bench/results/<name>.json and .md")
    parser.add_argument(
        "--only-recorder",
        action="store_true",
        help="only the recorder running/stopped/absent case (no table, no file written)",
    )
    args = parser.parse_args()
    for name, full, quick in (
        ("rounds", 4, 1),
        ("recorder_rounds", 6, 1),
        ("duration", 2, 1),
        ("ttft", 200, 30),
        ("streams", 1000, 200),
        ("litellm_requests", 64, 32),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    if args.recorder_duration is None:
        args.recorder_duration = args.duration
    cases = [c for c in PATHS if not args.paths or any(s in c.name for s in args.paths)]
    if args.gateway_root is not None:
        gateway_from(args.gateway_root.resolve())
    started = time.perf_counter()

    if args.only_recorder:
        return only_recorder(args, "sk-bench-" + secrets.token_hex(16))
    litellm: Path | None = None
    notes: list[str] = []
    if not args.no_litellm:
        try:
            litellm = ensure_peer(args.peer_venv)
        except PeerUnavailable as exc:
            notes.append(f"LiteLLM unavailable, not measured: {exc}")
    key = "sk-bench-" + secrets.token_hex(16)
    results: dict[str, Any] = {"paths": []}
    peer: Peer | None = None
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        bench = start_bench(args, tmp, key)
        if bench is None:
            return 2
        nginx = bench.nginx
        floor: Floor | None = None
        try:
            floor = start_floor(tmp, nginx.url)
            if litellm is not None:
                try:
                    peer = start_peer(litellm, tmp, nginx.url, key, args.litellm_server)
                except PeerUnavailable as exc:
                    notes.append(f"LiteLLM could not be started, not measured: {exc}")
            main_dir = tmp / "stack"
            main_dir.mkdir()
            providers = providers_at(nginx.url)
            with stack(main_dir, providers, **STACK_ENV, GATEWAY_WORKERS=str(args.workers)) as st:
                gw_pid, rec_pid = st.services["gateway"].proc.pid, st.services["recorder"].proc.pid
                bench.backlog = functools.partial(queued, st)
                bench.recorder_idles = recorder_priority(st.services["recorder"].log()).startswith("idle")
                fl = floor
                targets = [
                    Target("direct", nginx.url, nginx.pids),
                    Target("floor", fl.url, lambda: [fl.proc.pid]),
                    Target(
                        "gateway", st.gateway_url, lambda: tree([gw_pid]), extra_pids=lambda: tree([rec_pid])
                    ),
                ]
                peer_serves: dict[str, bool] = {}
                if peer is not None:
                    pp = peer.proc.pid
                    targets.append(
                        Target("litellm", peer.url, lambda: tree([pp]), lambda c: peer_serves[c.name])
                    )
                # does every target answer every path correctly at all?
                for case in cases:
                    for t in targets:
                        problem = bench.check(t, case, 1)
                        if t.name == "litellm":
                            peer_serves[case.name] = problem is None
                            if problem:
                                notes.append(f"LiteLLM does not serve {case.name!r}: {problem[:200]}")
                        elif problem:
                            bench.problems.append(f"{case.name}: {t.name}: {problem}")
                if bench.problems:
                    raise RuntimeError("wrong answers before the timed runs:\n" + "\n".join(bench.problems))
                # warm-up (every timed run is primed too), then the rounds
                for case in cases:
                    for t in targets:
                        if t.serves(case):
                            path, body = bench.request(t, case)
                            if t.name == "litellm":
                                fixed_run(t, case, 32, 32, key, bench.expected(case))
                            elif prime(t.url + path, body, 32, key):
                                bench.problems.append(f"{case.name}: {t.name} refused warm-up requests")
                    print(f"warmed up {case.name}", flush=True)
                per_path: dict[str, list[dict[str, Any]]] = {c.name: [] for c in cases}
                for rnd in range(args.rounds):
                    for case in cases:
                        got = bench.run_path(case, targets, rnd)
                        per_path[case.name].append(got)
                        print(f"round {rnd + 1} {case.name:32} {round_summary(got)}", flush=True)
                # correctness after the timed windows
                for case in cases:
                    for t in targets:
                        if t.serves(case):
                            problem = bench.check(t, case)
                            if problem:
                                bench.problems.append(f"{case.name}: {t.name} after the runs: {problem}")
                completed = sum(
                    r[k]["requests"]
                    for rs in per_path.values()
                    for r in rs
                    for k in r
                    if k.startswith("gateway@")
                )
                try:
                    rows = wait_until(lambda: (n := len(st.rows())) >= completed and n, 60)
                except TimeoutError:
                    rows = len(st.rows())
                    bench.problems.append(
                        f"ledger: {rows} rows for {completed} requests the gateway completed"
                    )
                results["ledger"] = {"gateway_completed": completed, "rows": rows}
                for case in cases:
                    results["paths"].append(
                        {
                            **summarise(case, per_path[case.name]),
                            "expected_text": bench.expected(case),
                            "rounds": per_path[case.name],
                        }
                    )
                # the recorder: running, stopped, absent (one gateway, its recorder's state changed)
                results["recorder"] = recorder_case(bench, st)
            if peer is not None:
                peer.stop()
                peer = None
            floor.stop()
            results["workers"] = workers_case(bench, tmp, providers)
            for name, p in results["workers"]["paths"].items():
                print(
                    f"workers r/s 1 / 2, {name}: "
                    + " / ".join(f"{v:.0f}" for v in p["rps"].values())
                    + f" ({p['two_over_one']:.2f}x)",
                    flush=True,
                )
            results["slow_streams"] = slow_streams(
                tmp,
                nginx.canned["chat/completions.sse"],
                args.streams,
                args.stream_interval,
                key,
                bench.expected(PATHS[1]),
            )
        except RuntimeError as exc:
            print(f"bench_table: {exc}", file=sys.stderr)
            return 1
        finally:
            if peer is not None:
                peer.stop()
            if floor is not None:
                floor.stop()
            nginx.stop()
    for who, got in results["slow_streams"].items():
        if got["errors"]:
            bench.problems.append(
                f"slow streams via {who}: {got['errors']} wrong, first: {got['first_error']}"
            )

    report(args, results, bench.problems, notes, time.perf_counter() - started)
    return 1 if bench.problems else 0


def report(
    args: argparse.Namespace, results: dict[str, Any], problems: list[str], notes: list[str], seconds: float
) -> None:
    rows = table_rows(results["paths"])
    print(
        f"\nThe benchmark table: {args.rounds} round(s), wrk {args.duration} s per run; ratios and added "
        f"figures are taken within each round (paired) and their median shown, [min–max] over the rounds; "
        f"CPU = the process tree's user+system time per completed request at 32 connections (gw = the gateway "
        f"process tree; rec = the recorder, separately; raw medians); +p50/+p99 = added latency in ms over "
        f"calling nginx directly in the same round, at 1 and 32 connections; +TTFT = added time to first "
        f"token in ms (per round: median over its samples, {args.ttft} per target in all)"
    )
    print_table(COLUMNS, rows)
    print(f"\nEvery round's paired values (rounds 1..{args.rounds} -> median):")
    for line in round_lines(results["paths"]):
        print(line)
    rec = results["recorder"]
    wk = results["workers"]
    ss = results["slow_streams"]
    extra_header = ("extra", "figure", "target")
    extra = [
        [
            f"{ss['gateway']['streams']} concurrent slow streams: peak RSS MB floor/gw",
            f"{ss['floor']['peak_rss_mb']:.0f}/{ss['gateway']['peak_rss_mb']:.0f} (held at once: "
            f"{ss['floor']['upstream_peak_open']}/{ss['gateway']['upstream_peak_open']})",
            f"gw < 200 MB: {verdict(ss['gateway']['peak_rss_mb'] < 200)}",
        ],
        [
            "openai chat plain r/s, recorder running / SIGSTOPped / absent",
            recorder_line(rec),
            f"within 5%: {verdict(rec['pass'])}",
        ],
        [
            "… the stack's CPU per request (gw + recorder + nginx + wrk): running / state, recorder's share",
            cpu_line(rec),
            "(informational)",
        ],
        *workers_lines(wk),
    ]
    print()
    print_table(extra_header, extra)
    for note in notes:
        print(f"note: {note}")
    print(f"note: the recorder's priority (RECORDER_PRIORITY, as it logged it): {rec.get('priority')}")
    waits = [
        run["settle_s"]
        for p in results["paths"]
        for r in p["rounds"]
        for run in r.values()
        if isinstance(run, dict) and run.get("settle_s") is not None
    ]
    bound_hit = sum(
        1
        for p in results["paths"]
        for r in p["rounds"]
        for run in r.values()
        if isinstance(run, dict) and run.get("unsettled")
    )
    if waits:  # ``Bench.settle_c1`` (session 34)
        results["c1_settle"] = {"seconds": round(sum(waits), 1), "runs": len(waits), "bound_hit": bound_hit}
        print(
            f"c1 settle: {sum(waits):.0f} s over {len(waits)} one-connection runs ({sum(waits) / seconds:.0%} of the "
            f"run; median {statistics.median(waits):.2f} s, max {max(waits):.1f} s; {bound_hit} hit --c1-settle)"
        )
    print(
        f"ledger: {results['ledger']['rows']} rows for {results['ledger']['gateway_completed']} requests "
        f"the gateway completed; {seconds:.0f} s in all; load average at the end "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs"
    )
    for problem in problems:
        print(f"WRONG: {problem}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    results.update(
        when=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        machine={
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_end": os.getloadavg(),
        },
        args={k: str(v) for k, v in vars(args).items()},
        litellm=PEER_SPEC,
        notes=notes,
        problems=problems,
        seconds=seconds,
    )
    (RESULTS / f"{args.results_name}.json").write_text(json.dumps(results, indent=1, default=str))
    (RESULTS / f"{args.results_name}.md").write_text(
        markdown(COLUMNS, rows)
        + "\n"
        + markdown(extra_header, extra)
        + "\n"
        + "\n".join(f"* {line}" for line in round_lines(results["paths"]))
        + "\n"
    )
    print(f"wrote bench/results/{args.results_name}.json and bench/results/{args.results_name}.md")


if __name__ == "__main__":
    sys.exit(main())
