"""One connection's critical path, in thread CPU: the gateway against the floor, half by half.

At one connection the latency a proxy adds is the CPU on its critical path: from the client's request bytes
arriving to the upstream request written, and from the upstream answer arriving to the client's last byte
written. Wall-clock latency on a shared machine is noise; this measures that path in the event-loop
thread's CPU time (``time.thread_time_ns``), which counts only the time the thread ran.

The target (the floor, ``bench/floor.py``, or the gateway) runs with hooks on aiohttp's own classes,
installed before it starts:

- ``T0``: ``web_protocol.RequestHandler.data_received`` entered, the first time since the last answer
  (the client's request bytes);
- ``T1``: after the last write on an upstream connection (``http_writer.StreamWriter`` writes whose
  protocol is the client's ``ResponseHandler``) before the upstream's answer, or the upstream connection's
  ``set_response_params`` (the gateway's ``UpstreamPool`` writes its request on the transport right after);
- ``T2``: ``client_proto.ResponseHandler.data_received`` entered, the first time (the upstream's answer);
- ``T3``: after the last write on the client's connection (a ``StreamWriter`` write or ``write_eof``).

Per request: ``A`` = T1 - T0 (before the upstream), ``W`` = T2 - T1 (CPU while waiting on the upstream),
``B`` = T3 - T2 (the answer), ``P`` = T0' - T3 (after the answer, until the next request's bytes: the
event, the publisher, the loop's own turn). The critical path is A + B. With ``--cprofile`` the target
also runs a ``cProfile.Profile`` per segment, enabled only inside it (four profiles, A, W, B and P; session 19
added W and P, which count ``handlers.record`` too; with a stream's several client writes, the work between
them counts in P): Python calls per request on each segment (the CPU figures of that run include cProfile's overhead; they are not reported).

``CRIT_CLOCK_PSTATS=DIR``: with ``--cprofile``, each segment's profile is also written to
``DIR/<target>-<segment>.prof`` at every collection (the last round's; for ``pstats``' callers).

``CRIT_CLOCK_BATCH_DELAY=S`` (seconds) holds the gateway's event batches back that long, however many
events wait (e.g. 30, longer than a round): with ``--cprofile``, call counts of the request's own work,
without the batch's build landing in a half now and then (the publisher's background round, which builds
the events waiting every 50 ms, and its socket's signal are left out of every profile too, session 19). The events still reach the recorder, later.

    python bench/crit_clock.py [--paths "chat, plain" ...] [--rounds 3] [--duration 3] [--cprofile]
                               [--gateway-module services.gateway] [--ab TREE] [--upstream-delay-ms MS]
                               [--tail 0.02] [--states run,stop,pin]

``--upstream-delay-ms``: the upstream answers that much later (``bench/slow_upstream.py`` in front of
nginx), as a provider does; collections of the garbage collector are timed as pieces ``gc gen N``.

``--tail FRACTION`` (session 17): per request also the thread CPU of the timed pieces (``CRIT_CLOCK_PIECES``,
``handlers.record``, collections) begun in its A, W or B, which ones, and the main thread's involuntary
switches from T0 to T3; then, for the slowest FRACTION by in-process wall T0-T3, where the time went (own
CPU, those pieces, off-CPU in A and B, the upstream's turn) against every request's median, with wrk's
p50/p99 of the same run. ``--states run,stop,pin,gwpin,recpin,idle``: the same gateway once per state and
round, the recorder SIGSTOPped, the gateway and the recorder pinned on CPUs 0 and 1 (or one of them), the
recorder SCHED_IDLE (``pin``/``gwpin`` add ``fl-gwpin``: the floor pinned on CPU 0 likewise).

Driven by ``wrk -c1`` (nginx upstream, as ``bench_table.py``); rounds alternate floor and gateway; medians
over rounds of each round's per-request median (and mean), with min-max. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import runpy
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SEGMENTS = ("A", "W", "B", "P")


class Clock:
    """The hooks' state in the target: the current request's marks and every finished request's segments."""

    def __init__(self, profile: bool) -> None:
        self.t0: int | None = None
        self.t1: int | None = None
        self.t2: int | None = None
        self.t3: int | None = None
        self.rows: list[tuple[int, ...]] = []
        self.wall = [0, 0, 0, 0]  # perf_counter_ns at T0, T1, T2, T3
        self.prof = tuple(cProfile.Profile() for _ in SEGMENTS) if profile else None
        self.on: int = -1  # the profile enabled (0: A, 1: W, 2: B, 3: P; ``SEGMENTS``), -1 none
        self.pieces: dict[str, dict[str, list[int]]] = {}  # piece -> segment -> [ns, calls]
        # the current request's extra work: thread CPU of the timed pieces (and collections) that began in
        # its A or B (critical) and in its W, which pieces they were (a bit each, ``bits``), and the main
        # thread's involuntary context switches from T0 to T3 (``getrusage(RUSAGE_THREAD)``, one syscall)
        self.extra = [0, 0]
        self.mask = 0
        self.bits: dict[str, int] = {}
        self.depth = 0  # timed pieces running (a piece inside another adds its bit, not its CPU again)
        self.nivcsw = 0  # at T0
        self.niv3 = 0  # at T3 (the last client write so far)

    def segment(self) -> str:
        """The segment the thread is in now (A, W, B or P)."""
        if self.t0 is None or self.t3 is not None:
            return "P"
        if self.t1 is None:
            return "A"
        return "W" if self.t2 is None else "B"

    def bit(self, key: str) -> int:
        """The bit that marks a request on whose A, W or B the piece ``key`` began."""
        return self.bits.setdefault(key, 1 << len(self.bits))

    def charge(self, key: str, seg: str, ns: int) -> None:
        """One run of piece ``key`` that began in segment ``seg`` took ``ns`` of thread CPU."""
        acc = self.pieces.setdefault(key, {}).setdefault(seg, [0, 0])
        acc[0] += ns
        acc[1] += 1
        if seg != "P":
            self.mask |= self.bit(key)
            if self.depth == 0:
                self.extra[seg == "W"] += ns

    def wrap(self, owner: Any, name: str, key: str, outside: bool = False, hidden: bool = False) -> None:
        """Replace ``owner.name`` (a plain function) by one adding its thread CPU to ``pieces[key]``,
        per segment it started in. ``outside``: left out of A's and B's profiles; ``hidden``: out of all four."""
        f = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            seg, profiled = self.segment(), self.on
            outside_now = (outside and profiled in (0, 2)) or (hidden and profiled >= 0)
            if outside_now:  # not counted in A's and B's profiles (work that may run in the upstream's gap)
                self._disable()
            t = time.thread_time_ns()
            self.depth += 1
            try:
                return f(*a, **k)
            finally:
                self.depth -= 1
                self.charge(key, seg, time.thread_time_ns() - t)
                if outside_now:
                    self._enable(profiled)

        setattr(owner, name, timed)

    def _enable(self, which: int) -> None:
        if self.prof is None or self.on == which:
            return
        self._disable()
        self.prof[which].enable()
        self.on = which

    def _disable(self) -> None:
        if self.prof is not None and self.on >= 0:
            self.prof[self.on].disable()
            self.on = -1

    def request_bytes(self) -> None:
        now = time.thread_time_ns()
        if self.t0 is not None and self.t3 is None:
            return  # more bytes of the request in flight
        if self.t0 is not None and self.t1 is not None and self.t2 is not None and self.t3 is not None:
            w = self.wall
            self.rows.append(
                (self.t1 - self.t0, self.t2 - self.t1, self.t3 - self.t2, now - self.t3)
                + (w[3] - w[0], w[1] - w[0], w[2] - w[1], w[3] - w[2])
                + (self.extra[0], self.extra[1], self.mask, self.niv3 - self.nivcsw)
            )
        self.t0, self.t1, self.t2, self.t3 = now, None, None, None
        self.extra, self.mask = [0, 0], 0
        self.nivcsw = _nivcsw()
        self.wall = [time.perf_counter_ns(), 0, 0, 0]
        self._enable(0)

    def upstream_write(self) -> None:
        if self.t0 is not None and self.t2 is None:
            self.t1 = time.thread_time_ns()
            self.wall[1] = time.perf_counter_ns()
            self._enable(1)

    def upstream_bytes(self) -> None:
        if self.t1 is not None and self.t2 is None:
            self.t2 = time.thread_time_ns()
            self.wall[2] = time.perf_counter_ns()
            self._enable(2)

    def client_write(self) -> None:
        if self.t2 is not None:
            self.t3 = time.thread_time_ns()
            self.wall[3] = time.perf_counter_ns()
            self.niv3 = _nivcsw()
            self._enable(3)

    def dump(self, out: Path) -> None:
        data: dict[str, Any] = {"rows": self.rows, "calls": None, "pieces": self.pieces, "bits": self.bits}
        self.pieces = {}
        if self.prof is not None:
            self._disable()
            data["calls"] = [_calls(p) for p in self.prof]
            if where := os.environ.get("CRIT_CLOCK_PSTATS"):  # each segment's raw profile (pstats' callers)
                for seg, p in zip(SEGMENTS, self.prof, strict=True):
                    p.dump_stats(f"{where}/{out.stem}-{seg}.prof")
            data["own"] = [_own_ns(p) for p in self.prof]
            self.prof = tuple(cProfile.Profile() for _ in SEGMENTS)
        out.write_text(json.dumps(data))
        self.rows = []


def _nivcsw() -> int:
    """The calling thread's involuntary context switches so far (it was preempted)."""
    return resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw


def _calls(prof: cProfile.Profile) -> dict[str, int]:
    """Function → primitive+recursive call count of one profile."""
    stats = pstats.Stats(prof)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return {f"{Path(k[0]).name}:{k[1]}({k[2]})": v[1] for k, v in table.items()}


def _own_ns(prof: cProfile.Profile) -> dict[str, int]:
    """Function → own time (ns, cProfile's clock) of one profile."""
    stats = pstats.Stats(prof)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    return {f"{Path(k[0]).name}:{k[1]}({k[2]})": int(v[2] * 1e9) for k, v in table.items()}


def install(clock: Clock) -> None:
    """Wrap aiohttp's protocol and writer methods with ``clock``'s marks (before any connection exists)."""
    from aiohttp import client_proto, http_writer, web_protocol

    server_rx = web_protocol.RequestHandler.data_received
    client_rx = client_proto.ResponseHandler.data_received
    write, writelines = http_writer.StreamWriter._write, http_writer.StreamWriter._writelines
    write_eof = http_writer.StreamWriter.write_eof
    client_proto_type = client_proto.ResponseHandler

    def on_server_rx(self: Any, data: bytes) -> None:
        clock.request_bytes()
        server_rx(self, data)

    def on_client_rx(self: Any, data: bytes) -> None:
        clock.upstream_bytes()
        client_rx(self, data)

    def mark(writer: Any) -> None:
        if isinstance(writer._protocol, client_proto_type):
            clock.upstream_write()
        else:
            clock.client_write()

    def on_write(self: Any, chunk: Any) -> None:
        write(self, chunk)
        mark(self)

    def on_writelines(self: Any, chunks: Any) -> None:
        writelines(self, chunks)
        mark(self)

    async def on_write_eof(self: Any, chunk: bytes = b"") -> None:
        await write_eof(self, chunk)
        if not isinstance(self._protocol, client_proto_type):
            clock.client_write()

    params = client_proto.ResponseHandler.set_response_params

    def on_params(self: Any, *a: Any, **k: Any) -> None:
        # the gateway's UpstreamPool (session 16) writes the request on the transport itself, right after
        # this call: T1 here (its one write counts in W); aiohttp's client writes later, which moves T1 on
        params(self, *a, **k)
        clock.upstream_write()

    client_proto.ResponseHandler.set_response_params = on_params  # type: ignore[method-assign]
    web_protocol.RequestHandler.data_received = on_server_rx  # type: ignore[method-assign]
    client_proto.ResponseHandler.data_received = on_client_rx  # type: ignore[method-assign]
    http_writer.StreamWriter._write = on_write  # type: ignore[method-assign]
    http_writer.StreamWriter._writelines = on_writelines  # type: ignore[method-assign]
    http_writer.StreamWriter.write_eof = on_write_eof  # type: ignore[method-assign]


def watch_gc(clock: Clock) -> None:
    """Count the collector's collections as pieces ``gc gen N``: thread CPU and the segment each began in
    (``gc.callbacks``; a collection in A or B is on a request's critical path)."""
    import gc

    began: list[tuple[int, str]] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began.append((time.thread_time_ns(), clock.segment()))
        elif began:
            t, seg = began.pop()
            clock.charge(f"gc gen {info['generation']}", seg, time.thread_time_ns() - t)

    gc.callbacks.append(on_gc)


def target(module: str, out: str, profile: bool, args: list[str]) -> None:
    """Run ``module`` as ``__main__`` with the hooks; SIGUSR1 writes the segments so far to ``out`` and
    starts afresh. The gateway's ledger event (``handlers.record``) is timed too, by the segment it runs in
    (in A: the next request waited for it)."""
    clock = Clock(profile)
    install(clock)
    if module.startswith("services.gateway"):
        import services.gateway.handlers as handlers

        clock.wrap(handlers, "record", "handlers.record", outside=True)
        if delay := os.environ.get("CRIT_CLOCK_BATCH_DELAY"):
            # the event batch's build held back (a full batch goes out from ``record``, outside the
            # profiles): the halves' call counts then hold the request's own work only
            import services.gateway.publisher as publisher

            init = publisher.EventPublisher.__init__

            def held(self: Any, *a: Any, **kw: Any) -> None:
                init(self, *a, **{**kw, "batch_delay_s": float(delay), "batch_max": 1 << 30})

            publisher.EventPublisher.__init__ = held  # type: ignore[method-assign]
            # the background round (every 50 ms) builds the events waiting too: out of every profile
            for bg in ("_timed_round", "_send_batch", "_signalled"):
                clock.wrap(publisher.EventPublisher, bg, f"publisher.{bg}", hidden=True)
        for spec in filter(None, os.environ.get("CRIT_CLOCK_PIECES", "").split(",")):
            import importlib

            mod, _, attr = spec.partition(":")
            owner: Any = importlib.import_module(mod)
            *path, last = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            if hasattr(owner, last):  # a tree without it (--ab main): nothing to time
                clock.wrap(owner, last, spec)
    watch_gc(clock)
    signal.signal(signal.SIGUSR1, lambda *_: clock.dump(Path(out)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def collect(pid: int, out: Path) -> dict[str, Any]:
    """Ask the target at ``pid`` for what it dumps on SIGUSR1 (its segments; ``bench/tail_counts.py``'s counts)
    and read it from ``out``."""
    if out.exists():
        out.unlink()
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            data: dict[str, Any] = json.loads(out.read_text())
            return data
        except (FileNotFoundError, json.JSONDecodeError):
            time.sleep(0.05)
    raise RuntimeError(f"nothing dumped by {pid} into {out}")


def summary(rows: list[list[int]]) -> dict[str, float]:
    """Per-request medians (µs) of each segment and of A + B, and the means of A + B and P."""
    if not rows:
        return {}
    res = {s: statistics.median(r[i] for r in rows) / 1000 for i, s in enumerate(SEGMENTS)}
    res["A+B"] = statistics.median(r[0] + r[2] for r in rows) / 1000
    res["mean A+B"] = statistics.fmean(r[0] + r[2] for r in rows) / 1000
    res["mean P"] = statistics.fmean(r[3] for r in rows) / 1000
    # every segment: the loop thread's whole CPU per request (the event batch, rounds and timers wherever
    # they ran; session 19: moving the batch between segments must not grow it)
    res["mean all"] = statistics.fmean(r[0] + r[1] + r[2] + r[3] for r in rows) / 1000
    for i, s in enumerate(("wall T0-T3", "wall A", "wall up", "wall B"), start=4):
        res[s] = statistics.median(r[i] for r in rows) / 1000
    res["n"] = len(rows)
    return res


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f} [{min(xs):.1f}-{max(xs):.1f}]"


def main() -> None:
    from bench.bench_table import STACK_ENV
    from bench.load import Target, Wrk, prime, settle
    from bench.paths import PATHS
    from bench.upstream import start_nginx
    from tests.procs import free_port, http_ok, stack, start, wait_until

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", nargs="*", default=["chat, plain", "anthropic, plain", "chat, stream"])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--cprofile", action="store_true")
    ap.add_argument("--gateway-module", default="services.gateway")
    ap.add_argument("--top", type=int, default=25, help="with --cprofile: functions listed per half")
    ap.add_argument(
        "--ab",
        default="",
        help="another tree (e.g. a `git archive` of main): its gateway runs too, as target 'other'",
    )
    ap.add_argument(
        "--upstream-delay-ms",
        type=float,
        default=0.0,
        help="answer after this long (bench/slow_upstream.py in front of nginx): a provider's wait",
    )
    ap.add_argument(
        "--tail",
        type=float,
        default=0.0,
        help="the slowest FRACTION of requests (by in-process wall T0-T3, e.g. 0.02): where their time went",
    )
    ap.add_argument(
        "--states",
        default="run",
        help="recorder states, each a gateway target of its own per round: run, stop (SIGSTOPped), "
        "pin (recorder's tree on CPU 1, the gateway on CPU 0), idle (SCHED_IDLE recorder)",
    )
    args = ap.parse_args()
    key = "sk-bench-" + secrets.token_hex(8)
    cases = [c for c in PATHS if any(s in c.name for s in args.paths)]
    prof = ["--cprofile"] if args.cprofile else []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        wrk = Wrk(tmp, key)
        ng = start_nginx()
        up_url, slow = ng.url, None
        if args.upstream_delay_ms > 0:
            sport = free_port()
            slow = subprocess.Popen(
                [sys.executable, "-m", "bench.slow_upstream", "--port", str(sport), "--upstream", ng.url]
                + ["--delay-ms", str(args.upstream_delay_ms)],
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            up_url = f"http://127.0.0.1:{sport}"
            wait_until(lambda: http_ok(up_url + "/v1/models"), 30)
        fport = free_port()
        fout, gout = tmp / "floor.json", tmp / "gateway.json"
        floor = subprocess.Popen(
            [sys.executable, "-m", "bench.crit_clock", "--target", "bench.floor", str(fout), *prof, "--"]
            + ["--port", str(fport), "--upstream", up_url],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        furl = f"http://127.0.0.1:{fport}"
        (tmp / "s").mkdir()
        try:
            wait_until(lambda: http_ok(furl + "/v1/models"), 30)
            with stack(tmp / "s", {"openai": up_url + "/v1", "anthropic": up_url}, **STACK_ENV) as st:
                st.services["gateway"].stop()
                gw = start(
                    "gateway",
                    "bench.crit_clock",
                    st.env,
                    st.tmp,
                    "--target",
                    args.gateway_module,
                    str(gout),
                    *prof,
                )
                st.services["gateway"] = gw
                wait_until(lambda: http_ok(st.gateway_url + "/health"), 60)
                targets = {
                    "floor": (Target("floor", furl, lambda: [floor.pid]), fout),
                    "gateway": (Target("gateway", st.gateway_url, lambda: [gw.proc.pid]), gout),
                }
                if args.ab:
                    oout, oport = tmp / "other.json", str(free_port())
                    env = {**st.env, "GATEWAY_PORT": oport, "CRIT_CLOCK_TREE": args.ab}
                    other = start(
                        "other",
                        "bench.crit_clock",
                        env,
                        st.tmp,
                        "--target",
                        "services.gateway",
                        str(oout),
                        *prof,
                    )
                    st.services["other"] = other
                    ourl = f"http://127.0.0.1:{oport}"
                    wait_until(lambda: http_ok(ourl + "/health"), 60)
                    targets["other"] = (Target("other", ourl, lambda: [other.proc.pid]), oout)
                rec = st.services["recorder"].proc.pid
                states = [x for x in args.states.split(",") if x and x != "run"]
                for state in states:  # the same gateway, the recorder in another state for the run
                    targets[f"gw-{state}"] = targets["gateway"]
                if any(x in states for x in ("pin", "gwpin")):  # the floor pinned alike, for comparison
                    targets["fl-gwpin"] = targets["floor"]
                for case in cases:
                    res: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
                    tails: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
                    calls: dict[str, list[dict[str, int]]] = {}
                    own: dict[str, list[dict[str, int]]] = {name: [{} for _ in SEGMENTS] for name in targets}
                    reqs: dict[str, int] = {}
                    for r in range(args.rounds):
                        names = list(targets)
                        # every target in every position as often (a rotation, reversed every other
                        # cycle): a fixed order put --ab's branch gateway right after the other one (and its
                        # recorder's last commits) in every other round
                        k = r % len(names)
                        order = names[k:] + names[:k]
                        for name in order if (r // len(names)) % 2 == 0 else order[::-1]:
                            t, out = targets[name]
                            path, body = (
                                (case.path, case.body)
                                if not name.startswith(("floor", "fl-"))
                                else (case.upstream_path, case.upstream_body)
                            )
                            state = name[3:] if name.startswith(("gw-", "fl-")) else ""
                            prime(t.url + path, body, 1, key)
                            settle(t.pids() + [rec])
                            recorder_state(state, rec, t.pids()[0], True)
                            try:
                                collect(t.pids()[0], out)  # starts afresh
                                run = wrk.run(t, path, body, 1, args.duration)
                                data = collect(t.pids()[0], out)
                            finally:
                                recorder_state(state, rec, t.pids()[0], False)
                            if state and state != "gwpin":
                                settle(t.pids() + [rec])  # the recorder's catch-up billed to no run
                            rows = data["rows"][1:]  # the first may have begun before the reset
                            if keep := os.environ.get(
                                "CRIT_CLOCK_ROWS"
                            ):  # every request's row, as JSON lines
                                with open(keep, "a") as f:
                                    f.write(
                                        json.dumps(
                                            {"path": case.name, "target": name, "round": r, "rows": rows}
                                        )
                                    )
                                    f.write("\n")
                            res[name].append(summary(rows))
                            if args.tail:
                                tails[name].append(
                                    tail(rows, data["bits"], run.p50_ms, run.p99_ms, args.tail)
                                )
                            for piece, segs in data["pieces"].items():
                                n = max(len(data["rows"]), 1)
                                print(
                                    f"  round {r} {name} {piece}: "
                                    + ", ".join(
                                        f"in {seg} {c / n:.2f}/req {ns / max(c, 1) / 1000:.1f} µs each"
                                        for seg, (ns, c) in sorted(segs.items())
                                    ),
                                    flush=True,
                                )
                            if data["calls"] is not None:
                                got = calls.setdefault(name, [{} for _ in SEGMENTS])
                                for half in range(len(data["calls"])):
                                    for fn, c in data["calls"][half].items():
                                        got[half][fn] = got[half].get(fn, 0) + c
                                    for fn, ns in data["own"][half].items():
                                        own[name][half][fn] = own[name][half].get(fn, 0) + ns
                                reqs[name] = reqs.get(name, 0) + len(data["rows"])
                    report(case.name, res, calls, reqs, args.top)
                    if args.tail:
                        report_tail(case.name, tails, args.tail)
                    for name, halves in own.items():
                        n = max(reqs.get(name, 1), 1)
                        for half in range(len(SEGMENTS)) if any(halves) else ():
                            print(f"  {name} {SEGMENTS[half]}: own time µs/request (under cProfile)")
                            for fn, ns in sorted(halves[half].items(), key=lambda kv: -kv[1])[: args.top]:
                                print(f"      {ns / n / 1000:7.2f}  {fn}")
        finally:
            ng.stop()
            floor.terminate()
            floor.wait(10)
            if slow is not None:
                slow.terminate()
                slow.wait(10)


def recorder_state(state: str, rec: int, gw: int, on: bool) -> None:
    """Put the recorder (pid ``rec``, its whole tree) in ``state`` for a run (``on``), or back: ``stop``
    SIGSTOP/SIGCONT; ``pin`` the recorder's threads on CPU 1 and the gateway's on CPU 0 (back: every CPU);
    ``gwpin`` the gateway's alone, ``recpin`` the recorder's alone; ``idle`` SCHED_IDLE on the recorder's
    threads; "" nothing. ``floorpin`` (the floor target's state) pins ``gw`` (the floor) as ``gwpin``."""
    from bench.c1_counts import recorder_threads

    if state == "stop":
        os.kill(rec, signal.SIGSTOP if on else signal.SIGCONT)
    elif state in ("pin", "gwpin", "recpin"):
        every = set(range(os.cpu_count() or 1))
        for tid in recorder_threads(rec) if state != "gwpin" else ():
            os.sched_setaffinity(tid, {1} if on else every)
        for tid in map(int, os.listdir(f"/proc/{gw}/task")) if state != "recpin" else ():
            os.sched_setaffinity(tid, {0} if on else every)
    elif state == "idle":
        for tid in recorder_threads(rec):
            policy = os.SCHED_IDLE if on else os.SCHED_OTHER
            os.sched_setscheduler(tid, policy, os.sched_param(0))
    elif state:
        raise SystemExit(f"unknown recorder state {state!r}")


def tail(
    rows: list[list[int]], bits: dict[str, int], p50_ms: float, p99_ms: float, frac: float
) -> dict[str, Any]:
    """Where the slowest ``frac`` of one run's requests (by in-process wall T0-T3) spent their time.

    Per request (µs): ``wall`` T0-T3; ``own`` the critical halves' thread CPU less the timed pieces begun
    in them; ``extra`` those pieces' CPU (the publisher's, the ledger event's, collections); ``off`` the
    critical halves' wall less their thread CPU (the thread was not running: preempted, or, in B, waiting
    for more upstream bytes); ``up`` the wall from the upstream write to its answer (nginx's turn, and any
    work or preemption meanwhile); ``preempted`` whether the thread was switched out involuntarily in
    T0-T3. Returns the all-requests medians, the slow set's means, the share of each piece among all and
    among the slow, what each slow request's largest excess over the medians was, the count of requests
    more than 0.5 and 1 ms above the median wall (per 1,000), and wrk's p50/p99 (ms, the client's view)."""
    if not rows:
        return {}

    def parts(r: list[int]) -> dict[str, float]:
        return {
            "wall": r[4] / 1000,
            "own": (r[0] + r[2] - r[8]) / 1000,
            "extra": r[8] / 1000,
            "off": max(r[5] + r[7] - r[0] - r[2], 0) / 1000,
            "up": r[6] / 1000,
        }

    every = [parts(r) for r in rows]
    keys = ("wall", "own", "extra", "off", "up")
    med = {k: statistics.median(p[k] for p in every) for k in keys}
    order = sorted(range(len(rows)), key=lambda i: -every[i]["wall"])
    slow = order[: max(1, round(len(rows) * frac))]
    causes: dict[str, int] = {}
    for i in slow:
        excess = {k: every[i][k] - med[k] for k in keys[1:]}
        top = max(excess, key=lambda k: excess[k])
        causes[top] = causes.get(top, 0) + 1
    share = {
        piece: (
            sum(1 for r in rows if r[10] & bit) / len(rows),
            sum(1 for i in slow if rows[i][10] & bit) / len(slow),
        )
        for piece, bit in bits.items()
    }
    share["preempted"] = (
        sum(1 for r in rows if r[11] > 0) / len(rows),
        sum(1 for i in slow if rows[i][11] > 0) / len(slow),
    )
    walls = sorted(p["wall"] for p in every)
    # the same code path slower (caches, the allocator) rather than an extra piece: the slow requests that
    # carry no timed piece and were not preempted, their own CPU against every such request's median
    bare = [i for i in range(len(rows)) if not rows[i][10] and rows[i][11] == 0]
    bare_slow = [i for i in slow if not rows[i][10] and rows[i][11] == 0]
    bare_med = statistics.median(every[i]["own"] for i in bare) if bare else 0.0
    return {
        "n": len(rows),
        "slow": len(slow),
        "median": med,
        "slow mean": {k: statistics.fmean(every[i][k] for i in slow) for k in keys},
        "p99 wall": walls[min(len(walls) - 1, int(len(walls) * 0.99))],
        "over 0.5 ms": 1000 * sum(1 for w in walls if w > med["wall"] + 500) / len(walls),
        "over 1 ms": 1000 * sum(1 for w in walls if w > med["wall"] + 1000) / len(walls),
        "share": share,
        "causes": {k: v / len(slow) for k, v in causes.items()},
        "wrk p50": p50_ms,
        "wrk p99": p99_ms,
        "bare": (
            100 * len(bare_slow) / len(slow),
            bare_med,
            statistics.fmean(every[i]["own"] for i in bare_slow) if bare_slow else bare_med,
        ),
    }


def report_tail(name: str, tails: dict[str, list[dict[str, Any]]], frac: float) -> None:
    """Print :func:`tail`'s figures per target: medians over rounds [min-max]."""
    print(
        f"\n{name}: the slowest {frac:.0%} of requests by in-process wall (µs; medians over rounds [min-max])"
    )
    for target_name, rounds in tails.items():
        rounds = [r for r in rounds if r]
        if not rounds:
            continue
        print(f"{target_name}: {statistics.median(r['n'] for r in rounds):.0f} requests/round")
        for label in ("wrk p50", "wrk p99", "p99 wall", "over 0.5 ms", "over 1 ms"):
            print(f"    {label:12} {spread([r[label] for r in rounds])}")
        for k in ("wall", "own", "extra", "off", "up"):
            print(
                f"    {k:6} all median {spread([r['median'][k] for r in rounds])}"
                f"   slow mean {spread([r['slow mean'][k] for r in rounds])}"
            )
        pieces = sorted({p for r in rounds for p in r["share"]})
        for p in pieces:
            a = [100 * r["share"].get(p, (0.0, 0.0))[0] for r in rounds]
            b = [100 * r["share"].get(p, (0.0, 0.0))[1] for r in rounds]
            print(f"    % with {p[-40:]:40} all {spread(a)}   slow {spread(b)}")
        for c in ("own", "extra", "off", "up"):
            print(
                f"    % slow whose largest excess is {c:6} {spread([100 * r['causes'].get(c, 0.0) for r in rounds])}"
            )
        if all("bare" in r for r in rounds):  # the no-piece, not-preempted requests: the path itself slower
            print(
                f"    % slow with no piece, not preempted {spread([r['bare'][0] for r in rounds])}"
                f"   their own: all median {spread([r['bare'][1] for r in rounds])}"
                f"   slow mean {spread([r['bare'][2] for r in rounds])}"
            )


def report(
    name: str,
    res: dict[str, list[dict[str, float]]],
    calls: dict[str, list[dict[str, int]]],
    reqs: dict[str, int],
    top: int,
) -> None:
    print(f"\n{name}: thread CPU µs per request, median over rounds of the round's median [min-max]")
    cols = ("A", "B", "A+B", "mean A+B", "W", "P", "mean P", "mean all", "wall T0-T3", "wall A", "wall up")
    cols += ("wall B",)
    print("target   " + "".join(f"{c:>24}" for c in cols) + "  requests/round")
    for target_name, rounds in res.items():
        rounds = [r for r in rounds if r]
        if not rounds:
            continue
        line = "".join(f"{spread([r[c] for r in rounds]):>24}" for c in cols)
        print(f"{target_name:8} {line}  {statistics.median(r['n'] for r in rounds):.0f}")
    for target_name, halves in calls.items():
        n = max(reqs.get(target_name, 1), 1)
        labels = ("A (before the upstream)", "W (waiting on it)", "B (the answer)", "P (after the answer)")
        for half, label in enumerate(labels):
            total = sum(halves[half].values()) / n
            print(f"  {target_name} {label}: {total:.1f} Python calls/request")
            for fn, c in sorted(halves[half].items(), key=lambda kv: -kv[1])[:top]:
                print(f"      {c / n:6.2f}  {fn}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--target"]:
        if tree := os.environ.get("CRIT_CLOCK_TREE"):  # the other tree's gateway, this tree's hooks
            sys.path.insert(0, tree)
        rest = sys.argv[4:]
        profile = bool(rest) and rest[0] == "--cprofile"
        if profile:
            rest = rest[1:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        target(sys.argv[2], sys.argv[3], profile, rest)
    else:
        main()
