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
  protocol is the client's ``ResponseHandler``, or the gateway's ``UpstreamPool`` waiting on
  ``ResponseHandler.read`` after its own ``transport.write``) before the upstream's answer;
- ``T2``: ``client_proto.ResponseHandler.data_received`` entered, the first time (the upstream's answer);
- ``T3``: after the last write on the client's connection (a ``StreamWriter`` write or ``write_eof``).

Per request: ``A`` = T1 - T0 (before the upstream), ``W`` = T2 - T1 (CPU while waiting on the upstream),
``B`` = T3 - T2 (the answer), ``P`` = T0' - T3 (after the answer, until the next request's bytes: the
event, the publisher, the loop's own turn). The critical path is A + B. With ``--cprofile`` the target
also runs a ``cProfile.Profile`` enabled only inside A and inside B (two profiles): Python calls per
request on each half (the CPU figures of that run include cProfile's overhead; they are not reported).

``CRIT_CLOCK_BATCH_DELAY=S`` (seconds) holds the gateway's event batches back that long, however many
events wait (e.g. 30, longer than a round): with ``--cprofile``, call counts of the request's own work,
without the batch's build landing in a half now and then. The events still reach the recorder, later.

    python bench/crit_clock.py [--paths "chat, plain" ...] [--rounds 3] [--duration 3] [--cprofile]
                               [--gateway-module services.gateway] [--ab TREE] [--upstream-delay-ms MS]

``--upstream-delay-ms``: the upstream answers that much later (``bench/slow_upstream.py`` in front of
nginx), as a provider does; collections of the garbage collector are timed as pieces ``gc gen N``.

Driven by ``wrk -c1`` (nginx upstream, as ``bench_table.py``); rounds alternate floor and gateway; medians
over rounds of each round's per-request median (and mean), with min-max. Not part of ``make bench``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
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
        self.prof = (cProfile.Profile(), cProfile.Profile()) if profile else None
        self.on: int = -1  # the profile enabled (0: A, 1: B), -1 none
        self.pieces: dict[str, dict[str, list[int]]] = {}  # piece -> segment -> [ns, calls]

    def segment(self) -> str:
        """The segment the thread is in now (A, W, B or P)."""
        if self.t0 is None or self.t3 is not None:
            return "P"
        if self.t1 is None:
            return "A"
        return "W" if self.t2 is None else "B"

    def wrap(self, owner: Any, name: str, key: str, outside: bool = False) -> None:
        """Replace ``owner.name`` (a plain function) by one adding its thread CPU to ``pieces[key]``,
        per segment it started in. ``outside``: left out of the halves' profiles."""
        f = getattr(owner, name)

        def timed(*a: Any, **k: Any) -> Any:
            seg, profiled = self.segment(), self.on
            if outside:  # not counted in the halves' profiles (work that may run in the upstream's gap)
                self._disable()
            t = time.thread_time_ns()
            try:
                return f(*a, **k)
            finally:
                acc = self.pieces.setdefault(key, {}).setdefault(seg, [0, 0])
                acc[0] += time.thread_time_ns() - t
                acc[1] += 1
                if outside and profiled >= 0:
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
            )
        self.t0, self.t1, self.t2, self.t3 = now, None, None, None
        self.wall = [time.perf_counter_ns(), 0, 0, 0]
        self._enable(0)

    def upstream_write(self) -> None:
        if self.t0 is not None and self.t2 is None:
            self.t1 = time.thread_time_ns()
            self.wall[1] = time.perf_counter_ns()
            self._disable()

    def upstream_bytes(self) -> None:
        if self.t1 is not None and self.t2 is None:
            self.t2 = time.thread_time_ns()
            self.wall[2] = time.perf_counter_ns()
            self._enable(1)

    def client_write(self) -> None:
        if self.t2 is not None:
            self.t3 = time.thread_time_ns()
            self.wall[3] = time.perf_counter_ns()
            self._disable()

    def dump(self, out: Path) -> None:
        data: dict[str, Any] = {"rows": self.rows, "calls": None, "pieces": self.pieces}
        self.pieces = {}
        if self.prof is not None:
            self._disable()
            data["calls"] = [_calls(p) for p in self.prof]
            data["own"] = [_own_ns(p) for p in self.prof]
            self.prof = (cProfile.Profile(), cProfile.Profile())
        out.write_text(json.dumps(data))
        self.rows = []


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
    client_read = client_proto.ResponseHandler.read

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

    def on_client_read(self: Any) -> Any:
        # the gateway's ``UpstreamPool`` writes the request on the transport itself (no ``StreamWriter``)
        # and then waits for the answer's head here: the request is written by then (session 17)
        clock.upstream_write()
        return client_read(self)

    async def on_write_eof(self: Any, chunk: bytes = b"") -> None:
        await write_eof(self, chunk)
        if not isinstance(self._protocol, client_proto_type):
            clock.client_write()

    web_protocol.RequestHandler.data_received = on_server_rx  # type: ignore[method-assign]
    client_proto.ResponseHandler.data_received = on_client_rx  # type: ignore[method-assign]
    http_writer.StreamWriter._write = on_write  # type: ignore[method-assign]
    http_writer.StreamWriter._writelines = on_writelines  # type: ignore[method-assign]
    http_writer.StreamWriter.write_eof = on_write_eof  # type: ignore[method-assign]
    client_proto.ResponseHandler.read = on_client_read  # type: ignore[method-assign]


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
            acc = clock.pieces.setdefault(f"gc gen {info['generation']}", {}).setdefault(seg, [0, 0])
            acc[0] += time.thread_time_ns() - t
            acc[1] += 1

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
    """Ask the target at ``pid`` for its segments (SIGUSR1) and read them."""
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
    raise RuntimeError(f"no segments from {pid}")


def summary(rows: list[list[int]]) -> dict[str, float]:
    """Per-request medians (µs) of each segment and of A + B, and the means of A + B and P."""
    if not rows:
        return {}
    res = {s: statistics.median(r[i] for r in rows) / 1000 for i, s in enumerate(SEGMENTS)}
    res["A+B"] = statistics.median(r[0] + r[2] for r in rows) / 1000
    res["mean A+B"] = statistics.fmean(r[0] + r[2] for r in rows) / 1000
    res["mean P"] = statistics.fmean(r[3] for r in rows) / 1000
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
                for case in cases:
                    res: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
                    calls: dict[str, list[dict[str, int]]] = {}
                    own: dict[str, list[dict[str, int]]] = {name: [{}, {}] for name in targets}
                    reqs: dict[str, int] = {}
                    for r in range(args.rounds):
                        names = list(targets)
                        for name in names if r % 2 == 0 else names[::-1]:
                            t, out = targets[name]
                            path, body = (
                                (case.path, case.body)
                                if name != "floor"
                                else (case.upstream_path, case.upstream_body)
                            )
                            prime(t.url + path, body, 1, key)
                            settle(t.pids())
                            collect(t.pids()[0], out)  # starts afresh
                            wrk.run(t, path, body, 1, args.duration)
                            data = collect(t.pids()[0], out)
                            rows = data["rows"][1:]  # the first may have begun before the reset
                            res[name].append(summary(rows))
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
                                got = calls.setdefault(name, [{}, {}])
                                for half in (0, 1):
                                    for fn, c in data["calls"][half].items():
                                        got[half][fn] = got[half].get(fn, 0) + c
                                    for fn, ns in data["own"][half].items():
                                        own[name][half][fn] = own[name][half].get(fn, 0) + ns
                                reqs[name] = reqs.get(name, 0) + len(data["rows"])
                    report(case.name, res, calls, reqs, args.top)
                    for name, halves in own.items():
                        n = max(reqs.get(name, 1), 1)
                        for half in (0, 1) if any(halves) else ():
                            print(f"  {name} {'AB'[half]}: own time µs/request (under cProfile)")
                            for fn, ns in sorted(halves[half].items(), key=lambda kv: -kv[1])[: args.top]:
                                print(f"      {ns / n / 1000:7.2f}  {fn}")
        finally:
            ng.stop()
            floor.terminate()
            floor.wait(10)
            if slow is not None:
                slow.terminate()
                slow.wait(10)


def report(
    name: str,
    res: dict[str, list[dict[str, float]]],
    calls: dict[str, list[dict[str, int]]],
    reqs: dict[str, int],
    top: int,
) -> None:
    print(f"\n{name}: thread CPU µs per request, median over rounds of the round's median [min-max]")
    cols = ("A", "B", "A+B", "mean A+B", "W", "P", "mean P", "wall T0-T3", "wall A", "wall up", "wall B")
    print("target   " + "".join(f"{c:>24}" for c in cols) + "  requests/round")
    for target_name, rounds in res.items():
        rounds = [r for r in rounds if r]
        if not rounds:
            continue
        line = "".join(f"{spread([r[c] for r in rounds]):>24}" for c in cols)
        print(f"{target_name:8} {line}  {statistics.median(r['n'] for r in rounds):.0f}")
    for target_name, halves in calls.items():
        n = max(reqs.get(target_name, 1), 1)
        for half, label in ((0, "A (before the upstream)"), (1, "B (the answer)")):
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
