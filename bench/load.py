"""Load for the benchmark table: wrk runs with /proc CPU readings, fixed-count runs, time to first token, many
slow streams, and the check of an answer.

``Wrk.run`` gives requests/s, p50/p99 (wrk's, in ms), non-2xx and socket errors, and the target's CPU ms per
request: the process tree's utime + stime (``/proc/PID/stat``) read before the run and after it once the tree
is quiet, divided by the requests served (wrk's completed count plus the one in flight on each connection).
With ``Target.extra_pids`` (the recorder) and ``Target.side_pids`` (nginx) their trees' CPU per request too,
and always wrk's own (``getrusage(RUSAGE_CHILDREN)`` around it): together the CPU a request costs every
benchmark process, which the recorder case compares across the recorder's states.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import answers
from bench.paths import CHAT_STREAM, PathCase
from bench.peers import cpu_seconds, rss_mb

WRK_LUA = """
local f = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")
wrk.headers["x-api-key"] = os.getenv("BENCH_KEY")
wrk.headers["anthropic-version"] = "2023-06-01"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d %.0f %.0f\\n", summary.requests, summary.duration,
    e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
  local tail = {}
  for i = 0, 200 do tail[#tail + 1] = string.format("%.0f", latency:percentile(90 + i * 0.05)) end
  io.write("TAIL " .. table.concat(tail, " ") .. "\\n")
end
"""


# --- one load run ---------------------------------------------------------------------------------------


@dataclass
class Run:
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    status_errors: int
    socket_errors: int
    cpu_ms_per_req: float | None
    recorder_cpu_ms_per_req: float | None = None
    side_cpu_ms_per_req: float | None = None  # Target.side_pids (nginx)
    wrk_cpu_ms_per_req: float | None = None  # the load generator itself
    # the upper percentiles 90, 90.05, ..., 100 in µs (WRK_LUA's TAIL line; ``tabulate.pooled_percentile``
    # pools several runs' with them: wrk gives no raw samples)
    tail_us: list[float] | None = None
    # Target.extra_pids (the recorder): the share of the run (0-1, read as it starts and as it ends) during
    # which one of its threads ran at a normal policy, not SCHED_IDLE (``PolicySampler``; session 31)
    recorder_normal_share: float | None = None
    # the machine during the run (``machine_counts``' growth): CPU ms of every CPU stolen by the hypervisor,
    # in softirq and in iowait, and KB the kernel wrote to disk (the ledger's pages: its writeback)
    machine: dict[str, float] | None = None


@dataclass
class Target:
    name: str
    url: str
    pids: Callable[[], list[int]]
    serves: Callable[[PathCase], bool] = lambda case: True
    extra_pids: Callable[[], list[int]] | None = None  # reported separately (the recorder)
    side_pids: Callable[[], list[int]] | None = None  # reported separately too (the upstream, nginx)


_TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
# /proc/stat's "cpu" line, fields after the name (proc(5)): user nice system idle iowait irq softirq steal
_CPU_FIELDS = {"iowait_ms": 4, "softirq_ms": 6, "steal_ms": 7}


def machine_counts() -> dict[str, float]:
    """What other than the benchmark's processes took the CPUs or the disk so far: every CPU's time (ms) in
    iowait, softirq and stolen by the hypervisor (``/proc/stat``'s ``cpu`` line, proc(5)), and the KB paged
    out to disk (``/proc/vmstat`` ``pgpgout``: the kernel's writeback, e.g. the ledger's pages). A run's figures
    are the growth over it (``Run.machine``), to set beside its tail (session 31). Empty where there is no
    ``/proc``."""
    try:
        cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        vm = Path("/proc/vmstat").read_text().split()
    except OSError:
        return {}
    out = {name: int(cpu[i]) * _TICK_MS for name, i in _CPU_FIELDS.items() if i < len(cpu)}
    if "pgpgout" in vm:
        out["written_kb"] = float(vm[vm.index("pgpgout") + 1])
    return out


SCHED_IDLE = 5  # sched(7): the policy number in /proc/PID/task/TID/stat (field 41)
POLICY_EVERY_S = 0.05  # PolicySampler's interval (the recorder's policy changes after a calm of 1 s or more)


def normal_threads(pids: list[int]) -> tuple[int, int]:
    """(threads at a policy other than ``SCHED_IDLE``, threads) of these processes, from
    ``/proc/PID/task/TID/stat`` (proc(5): field 41, ``policy``). The recorder's starvation guard
    (``services.recorder.guard``, a child that always runs at normal priority by design) is left out. A process or
    thread gone meanwhile is skipped."""
    normal = total = 0
    for pid in pids:
        try:
            if b"services.recorder.guard" in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on: the name may hold spaces
            total += 1
            normal += int(fields[41 - 3]) != SCHED_IDLE
    return normal, total


class PolicySampler:
    """While a run lasts, how much of it the recorder ran at a normal policy instead of ``SCHED_IDLE``.

    The recorder (``RECORDER_PRIORITY=idle``, the default) leaves ``SCHED_IDLE`` while it is behind or starved
    and comes back after a calm that doubles, up to 60 s, when it is starved again soon after
    (``services/recorder/priority.py``): a 32-connection run that saturates the CPUs can leave it at normal
    priority into the one-connection runs that follow, where session 19 measured the one-connection p99 at
    1.9-2.1 ms with the recorder at normal priority against 0.9 ms at ``SCHED_IDLE`` (docs/benchmarks.md,
    "Session 19: the recorder's priority"). A thread samples ``normal_threads`` every ``POLICY_EVERY_S``;
    ``share()`` is the fraction of samples in which any thread was at a normal policy (None: no sample).

    ``every_s`` None (what ``Wrk.run`` uses): one reading as the run starts and one as it ends, no thread. A thread
    reading /proc every 50 ms beside the run is itself a ~1 ms stall 20 times a second on a 2-CPU machine: in
    session 31's table after the merges it put every gateway path's one-connection p99 at 1.3-1.5 ms (the floor,
    run without it, kept 0.3-0.65 ms)."""

    def __init__(self, pids: Callable[[], list[int]], every_s: float | None = None) -> None:
        self._pids, self._every = pids, every_s
        self._samples = self._normal = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="policy-sampler", daemon=True)

    def __enter__(self) -> PolicySampler:
        if self._every is None:
            self.sample()
        else:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._every is None:
            self.sample()
            return
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while True:  # a sample at once, so every run has one
            self.sample()
            if self._stop.wait(self._every or POLICY_EVERY_S):
                return

    def sample(self) -> None:
        """One reading (the thread's, every ``every_s``): counted when the processes have threads."""
        normal, total = normal_threads(self._pids())
        if total:
            self._samples += 1
            self._normal += normal > 0

    def share(self) -> float | None:
        return self._normal / self._samples if self._samples else None


def settle(pids: list[int], quiet_ms: float = 2.0, limit_s: float = 5.0) -> None:
    """Wait until these processes use less than ``quiet_ms`` of CPU per 100 ms (at most ``limit_s``)."""
    deadline = time.monotonic() + limit_s
    last = cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_seconds(pids)
        if now is None or last is None or (now - last) * 1000 < quiet_ms:
            return
        last = now


def machine_busy_ms() -> float | None:
    """Every CPU's busy time so far, in ms: ``user + nice + system + irq + softirq + steal`` of ``/proc/stat``'s
    ``cpu`` line (proc(5); idle and iowait are not busy), counted in clock ticks (10 ms at USER_HZ 100). None
    where there is no ``/proc``."""
    try:
        cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(cpu) - cpu[3] - cpu[4]) * _TICK_MS


# ``until_settled``'s defaults: a window of 100 ms is settled when the benchmark's processes used under 2 ms of
# CPU in it (``settle``'s rule) and every CPU together under 15 ms (0.15 of one CPU: one 10 ms clock tick
# passes, two do not); the c1 runs wait for it at most ``C1_SETTLE_S``.
SETTLE_WINDOW_S = 0.1
MACHINE_QUIET_SHARE = 0.15
C1_SETTLE_S = 10.0


@dataclass(frozen=True)
class Settled:
    """How long ``until_settled`` waited (``seconds``), and what was still unsettled when it gave up at its
    bound (``unsettled``: empty when everything settled; the names are ``until_settled``'s)."""

    seconds: float
    unsettled: tuple[str, ...] = ()


def until_settled(
    pids: Callable[[], list[int]],
    limit_s: float,
    *,
    backlog: Callable[[], int] | None = None,
    idle_pids: Callable[[], list[int]] | None = None,
    quiet_ms: float = 2.0,
    machine_share: float | None = MACHINE_QUIET_SHARE,
    window_s: float = SETTLE_WINDOW_S,
) -> Settled:
    """Wait, at most ``limit_s`` seconds, until what the previous run left behind is done (issue 13, session 34:
    the bench's c1 runs start on a settled machine). Settled, all in one window of ``window_s``:

    * ``backlog``: ``backlog()`` (the events the gateway holds that the recorder has not acknowledged, i.e.
      committed) is 0; read until it is, then no more (each read is a request to the gateway);
    * ``processes``: ``pids()`` (every benchmark process, the recorder's included) used under ``quiet_ms`` of
      CPU per 100 ms (``settle``'s rule);
    * ``recorder not idle``: no thread of ``idle_pids()`` (the recorder's tree) runs outside ``SCHED_IDLE``
      (``normal_threads``; pass it only for a recorder at ``SCHED_IDLE`` while it keeps up:
      ``RECORDER_PRIORITY=idle``). A recorder starved by a saturating run stays at normal priority for a calm
      of 1-60 s after it (``services/recorder/priority.py``); session 19 measured the c1 p99 ~1 ms worse so;
    * ``machine``: every CPU together used under ``machine_share`` of one CPU (``machine_busy_ms``: the kernel's
      writeback of the ledger and other processes too; None: not checked).

    Returns the seconds waited and, when the bound was hit, the conditions the last window still failed
    (``Settled.unsettled``). CPU times are read in clock ticks (``cpu_seconds``, ``/proc/stat``), so "under 2 ms
    in 100 ms" means no tick."""
    start = time.monotonic()
    deadline = start + limit_s
    pending = backlog
    while pending is not None:
        if pending() == 0:
            pending = None
        elif time.monotonic() >= deadline:
            return Settled(round(time.monotonic() - start, 2), ("backlog",))
        else:
            time.sleep(window_s / 2)
    cpu0, busy0 = cpu_seconds(pids()), machine_busy_ms()
    while True:
        time.sleep(window_s)
        cpu1, busy1 = cpu_seconds(pids()), machine_busy_ms()
        per_100ms = 0.1 / window_s
        failed = []
        if cpu0 is not None and cpu1 is not None and (cpu1 - cpu0) * 1000 * per_100ms >= quiet_ms:
            failed.append("processes")
        if idle_pids is not None and normal_threads(idle_pids())[0]:
            failed.append("recorder not idle")
        if machine_share is not None and busy0 is not None and busy1 is not None:
            if busy1 - busy0 >= machine_share * window_s * 1000:
                failed.append("machine")
        if not failed or time.monotonic() >= deadline:
            return Settled(round(time.monotonic() - start, 2), tuple(failed))
        cpu0, busy0 = cpu1, busy1


class Wrk:
    def __init__(self, tmp: Path, key: str) -> None:
        binary = shutil.which("wrk")
        if binary is None:
            raise FileNotFoundError(
                "wrk is not installed: run `make bench` (it installs wrk and nginx-light)"
            )
        self.binary = binary
        self.script = tmp / "post.lua"
        self.script.write_text(WRK_LUA)
        self.tmp = tmp
        self.key = key

    def body_file(self, body: dict[str, Any]) -> Path:
        data = orjson.dumps(body)
        path = self.tmp / f"body-{abs(hash(data))}.json"
        if not path.exists():
            path.write_bytes(data)
        return path

    def run(self, target: Target, path: str, body: dict[str, Any], conns: int, duration: int) -> Run:
        pids = target.pids()
        extra = target.extra_pids() if target.extra_pids else []
        side = target.side_pids() if target.side_pids else []
        cpu0, xcpu0, scpu0 = cpu_seconds(pids), cpu_seconds(extra), cpu_seconds(side)
        wrk0 = _children_cpu_s()
        env = {**os.environ, "BENCH_BODY": str(self.body_file(body)), "BENCH_KEY": self.key}
        sampler = PolicySampler(target.extra_pids) if target.extra_pids else None
        before = machine_counts()
        with sampler or contextlib.nullcontext():
            out = subprocess.run(
                [
                    self.binary,
                    "-t1",
                    f"-c{conns}",
                    f"-d{duration}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(self.script),
                    target.url + path,
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=duration + 60,
            )
        wrk1 = _children_cpu_s()
        after = machine_counts()
        settle(pids + extra + side)
        cpu1, xcpu1, scpu1 = cpu_seconds(pids), cpu_seconds(extra), cpu_seconds(side)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no summary for {target.name} {path}: {out.stdout}\n{out.stderr}")
        n, micros, status, conn_e, read_e, write_e, timeout_e, p50, p99 = (int(x) for x in line.split()[1:])
        tail_line = next((ln for ln in out.stdout.splitlines() if ln.startswith("TAIL ")), None)
        tail_us = None if tail_line is None else [float(x) for x in tail_line.split()[1:]]

        # wrk stops with one request in flight on every connection; the target still serves them (the
        # upstream answers at once), and settle() waited for that CPU, so they count as served requests
        served = n + conns

        def per(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None or n == 0 else (b - a) * 1000 / served

        return Run(
            requests=n,
            rps=n / (micros / 1e6),
            p50_ms=p50 / 1000,
            p99_ms=p99 / 1000,
            status_errors=status,
            socket_errors=conn_e + read_e + write_e + timeout_e,
            cpu_ms_per_req=per(cpu0, cpu1),
            recorder_cpu_ms_per_req=per(xcpu0, xcpu1) if extra else None,
            side_cpu_ms_per_req=per(scpu0, scpu1) if side else None,
            wrk_cpu_ms_per_req=per(wrk0, wrk1),
            tail_us=tail_us,
            recorder_normal_share=None if sampler is None else sampler.share(),
            machine={k: round(after[k] - before[k], 1) for k in after if k in before} or None,
        )


def _children_cpu_s() -> float:
    """User + system CPU seconds of this process's waited-for children so far (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _fire(
    url: str, body: bytes, n: int, conns: int, key: str
) -> tuple[float, list[float], list[tuple[int, bytes]]]:
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {key}",
        "x-api-key": key,
        "anthropic-version": "2023-06-01",
    }
    todo = iter(range(n))
    latencies: list[float] = []
    got: list[tuple[int, bytes]] = []
    connector = aiohttp.TCPConnector(limit=conns)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=300)
    ) as session:

        async def worker() -> None:
            for _ in todo:
                t0 = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
                        got.append((resp.status, await resp.read()))
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    got.append((-1, repr(exc).encode()))
                latencies.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = time.perf_counter() - t0
    return elapsed, latencies, got


def prime(url: str, body: dict[str, Any], conns: int, key: str) -> int:
    """Send ``2 * conns`` requests, ``conns`` at a time, unmeasured, so that a timed run finds the target's
    upstream connections open (a pool idle past its keep-alive would open them inside the timed window).
    Returns how many were not answered with HTTP 200."""
    _, _, got = asyncio.run(_fire(url, orjson.dumps(body), 2 * conns, conns, key))
    return sum(1 for status, _ in got if status != 200)


def fixed_run(target: Target, case: PathCase, n: int, conns: int, key: str, expected: str) -> Run:
    """``n`` requests at ``conns`` in flight, all waited for: CPU per request without any in-flight guess.

    For targets too slow for a timed wrk run (LiteLLM); every answer is checked (wrong ones are counted as
    ``status_errors``)."""
    pids = target.pids()
    cpu0 = cpu_seconds(pids)
    elapsed, latencies, got = asyncio.run(
        _fire(target.url + case.path, orjson.dumps(case.body), n, conns, key)
    )
    cpu1 = cpu_seconds(pids)
    ordered = sorted(latencies)
    return Run(
        requests=n,
        rps=n / elapsed,
        p50_ms=ordered[len(ordered) // 2],
        p99_ms=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        status_errors=sum(1 for status, answer in got if wrong(status, answer, case.fmt, expected)),
        socket_errors=0,
        cpu_ms_per_req=None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1000 / n,
    )


# --- correctness ----------------------------------------------------------------------------------------


def post(url: str, body: dict[str, Any], key: str, timeout: float = 30) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url,
        data=orjson.dumps(body),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {key}",
            "x-api-key": key,
            "anthropic-version": "2023-06-01",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def wrong(status: int, body: bytes, fmt: str, expected: str) -> str | None:
    """Why this answer is wrong, or None when it is HTTP 200 with exactly the expected text."""
    if status != 200:
        return f"HTTP {status}: {body[:300]!r}"
    try:
        got = answers.text(fmt, body)
    except ValueError as exc:
        return f"{exc}: {body[:300]!r}"
    return None if got == expected else f"text {got[:200]!r}, expected {expected!r}"


# --- time to first token --------------------------------------------------------------------------------


async def first_token_ms(session: aiohttp.ClientSession, url: str, body: bytes, fmt: str) -> float:
    t0 = time.perf_counter()
    async with session.post(url, data=body) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}")
        buf = b""
        first: float | None = None
        async for chunk in resp.content.iter_any():
            buf += chunk
            if first is None and answers.partial_text(fmt, buf):
                first = (time.perf_counter() - t0) * 1000
        if first is None:
            raise RuntimeError(f"{url}: no text in the stream")
        return first


async def ttft(case: PathCase, targets: list[Target], n: int, key: str) -> dict[str, list[float]]:
    headers = {
        "content-type": "application/json",
        "authorization": f"Bearer {key}",
        "x-api-key": key,
        "anthropic-version": "2023-06-01",
    }
    out: dict[str, list[float]] = {t.name: [] for t in targets}
    async with aiohttp.ClientSession(headers=headers) as session:
        for i in range(n):
            for k in range(len(targets)):
                t = targets[(i + k) % len(targets)]
                direct = t.name in ("direct", "floor")
                body = orjson.dumps(case.upstream_body if direct else case.body)
                path = case.upstream_path if direct else case.path
                fmt = case.upstream_fmt if direct else case.fmt
                out[t.name].append(await first_token_ms(session, t.url + path, body, fmt))
    return out


# --- many slow streams ----------------------------------------------------------------------------------


async def hold_streams(url: str, n: int, key: str, pids: list[int], expected: str) -> dict[str, Any]:
    """Open ``n`` streams at once through ``url``; peak RSS of ``pids`` while they run; wrong answers."""
    body = orjson.dumps(CHAT_STREAM)
    headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
    peak, done = 0.0, False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, rss_mb(pids) or 0.0)
            await asyncio.sleep(0.05)

    async def one(session: aiohttp.ClientSession) -> str | None:
        try:
            async with session.post(url + "/v1/chat/completions", data=body, headers=headers) as resp:
                return wrong(resp.status, await resp.read(), "openai-sse", expected)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            return repr(exc)

    sampler = asyncio.create_task(sample())
    connector = aiohttp.TCPConnector(limit=0)
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=300)
    ) as session:
        results = await asyncio.gather(*(one(session) for _ in range(n)))
    elapsed = time.perf_counter() - t0
    done = True
    await sampler
    errors = [r for r in results if r]
    return {
        "streams": n,
        "peak_rss_mb": peak,
        "seconds": elapsed,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }
