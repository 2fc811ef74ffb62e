"""One connection's tail, counted (issue 13: added p99 at ``wrk -c1`` ≤ 1 ms; session 27).

The work that runs on SOME requests but not on most puts those requests in the tail. This counts, per
10,000 gateway requests at one connection, each kind of such work and where it began: in a request's
critical halves (``crit``: from its bytes to its upstream write, A, or from the upstream's answer to its
last byte, B), while the upstream works (``W``) or after the answer (``P``), as ``bench/crit_clock.py``
marks them (its hooks on aiohttp's own classes, in the target process only: nothing in the gateway's code).
Counts, not times: deterministic in kind on a shared machine.

Counted in the gateway (``--target``, started in place of ``python -m services.gateway``):

- ``gc genN``: collections of the garbage collector, and ``gc genN objects``: the objects they scanned
  (every tracked object in the generations collected, read in the ``start`` callback);
- the event publisher's batch (``_send_batch``), its round (``pump``), acknowledgements read
  (``_read_acks``), its timers' firings (``_batch_due``, ``_timed_round``), the events it builds
  (``_hold_row``: where each was built) and its builds by size (events built in one go; session 28);
- timers armed on the loop (``call_later``/``call_at``: a handle each), and ``call_soon`` callbacks;
- log records handled (any logger, any level that passes);
- upstream connections opened (``UpstreamPool._connect``) and the pool's sweep (``_expire``);
- aiohttp's keep-alive check (``RequestHandler._process_keepalive``);
- the publisher's ``loop_waits`` by the work it had to do, and whether the upstream's answer was in by its
  end (``overran``: the relay waited for the rest of that work; session 29, ``_count_overruns``).

Besides, from ``/proc``: the recorder tree's wake-ups (voluntary context switches of all its threads) and
CPU per second and per 10,000 gateway requests during the run.

    python bench/tail_counts.py [--paths "chat, plain" ...] [--duration 5] [--rounds 1] [--root TREE]
                                [--garbage] [--live] [--json FILE]

``--garbage``: the collector keeps what it finds (``DEBUG_SAVEALL``), counted by type after each run (a type
here is a reference cycle made per request). ``--live``: the tracked objects alive after each run, by type;
with ``--rounds`` 2 or more, their growth per 10,000 requests (a type growing is held past its request).

``--root TREE``: the gateway from another tree (e.g. ``git -C /work/main archive HEAD | tar -x -C DIR``),
for an A/B; the hooks and the harness stay this tree's.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.crit_clock import Clock, collect, install  # noqa: E402

# (module, class, method, piece name): wrapped to count where each call began
PIECES = (
    ("services.gateway.publisher", "EventPublisher", "_send_batch", "publisher batch"),
    ("services.gateway.publisher", "EventPublisher", "pump", "publisher round"),
    ("services.gateway.publisher", "EventPublisher", "_read_acks", "publisher acks read"),
    ("services.gateway.publisher", "EventPublisher", "_batch_due", "publisher batch timer"),
    ("services.gateway.publisher", "EventPublisher", "_timed_round", "publisher round timer"),
    ("services.gateway.publisher", "EventPublisher", "_hold_row", "publisher event built"),
    ("services.gateway.upstream_pool", "UpstreamPool", "_connect", "upstream connect"),
    ("services.gateway.upstream_pool", "UpstreamPool", "_expire", "pool sweep"),
    ("aiohttp.web_protocol", "RequestHandler", "_process_keepalive", "aiohttp keepalive check"),
)


class _Rows:
    """``Clock.rows`` as a count: crit_clock keeps a tuple per request, tracked objects that would feed the
    collector this harness counts (a young collection every ~7,000 requests, nothing collected)."""

    def __init__(self) -> None:
        self.n = 0

    def append(self, row: tuple[int, ...]) -> None:
        self.n += 1

    def __len__(self) -> int:
        return self.n


class Counts:
    """piece → segment (``crit``, ``W``, ``P``) → count, and the requests seen (``Clock.rows``)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.by: dict[str, dict[str, int]] = {}

    def add(self, piece: str, n: int = 1) -> None:
        seg = self.clock.segment()
        seg = "crit" if seg in ("A", "B") else seg
        row = self.by.setdefault(piece, {})
        row[seg] = row.get(seg, 0) + n

    def dump(self, out: Path) -> None:
        data: dict[str, Any] = {"requests": len(self.clock.rows), "counts": self.by}
        if gc.get_debug() & gc.DEBUG_SAVEALL:  # --garbage: what the collections found, by type
            gc.collect()
            kinds: dict[str, int] = {}
            for obj in gc.garbage:
                name = type(obj).__qualname__
                kinds[name] = kinds.get(name, 0) + 1
            gc.garbage.clear()
            data["garbage"] = kinds
        if os.environ.get("TAIL_COUNTS_LIVE"):  # --live: the tracked objects alive now, by type
            live: dict[str, int] = {}
            for obj in gc.get_objects():
                name = type(obj).__qualname__
                live[name] = live.get(name, 0) + 1
            data["live"] = live
        self.by = {}
        self.clock.rows = _Rows()  # type: ignore[assignment]
        self.clock.pieces = {}
        out.write_text(json.dumps(data))


def _count_calls(counts: Counts, owner: Any, name: str, piece: str) -> None:
    f = getattr(owner, name)
    by_caller = piece == "publisher batch"  # which path sent it: the timer's, loop_waits, a round

    def counted(*a: Any, **k: Any) -> Any:
        counts.add(piece)
        if by_caller:  # past _count_overruns' own wrapper (``piece``)
            frame = sys._getframe(1)
            if frame.f_code.co_name == "piece" and frame.f_back is not None:
                frame = frame.f_back
            counts.add(f"{piece} <- {frame.f_code.co_name}")
        return f(*a, **k)

    setattr(owner, name, counted)


def _count_builds(counts: Counts) -> None:
    """The publisher's builds of waiting events by size (events built in one go: 1, 2-4, 5-16, 17+): the
    loop turn's work that a build is. ``_build_later`` (session 28: the batch's and ``loop_waits``'s build
    ahead), else ``build_waiting`` (an older tree)."""
    from services.gateway import publisher

    owner: Any = publisher.EventPublisher
    name = "_build_later" if hasattr(owner, "_build_later") else "build_waiting"
    f = getattr(owner, name)

    def counted(self: Any, *a: Any, **k: Any) -> Any:
        n = len(self._later)
        if n:
            size = "1" if n == 1 else "2-4" if n <= 4 else "5-16" if n <= 16 else "17+"
            counts.add(f"publisher build of {size}")
        return f(self, *a, **k)

    setattr(owner, name, counted)


def _count_overruns(counts: Counts) -> None:
    """Session 29: whether the publisher's work in a request's upstream wait (``loop_waits``) outlasted that
    wait. After each ``loop_waits`` returns, one zero-timeout ``select`` on the upstream connections opened
    (``UpstreamPool._connect``; one at ``wrk -c1``): readable means the answer came in while the work ran, so
    its relay waited for the rest of it. Counted as ``loop_waits did <work>`` and ``... overran``, ``<work>``
    what the call did: ``build N`` (events built), ``send`` (the due batch sent), ``round``, ``acks`` (read),
    joined by ``+``, ``nothing``; ``, left some`` when work stayed due. ``overran, 2+ pieces done``: an
    answer in by the end of a call that did more than one piece (session 29 stops after the first once the
    answer is in). ``loop_waits piece begun after the answer: <piece>``: a send, round or acknowledgement read
    that ``loop_waits`` began while the answer was already in (checked at the piece's start: the piece's
    whole duration then adds to the relay). Any tree (``--root``)."""
    import select

    from services.gateway import publisher, upstream_pool

    conns: list[Any] = []
    connect: Any = upstream_pool.UpstreamPool._connect

    async def connected(self: Any, *a: Any, **k: Any) -> Any:
        proto = await connect(self, *a, **k)
        conns.append(proto)
        return proto

    def fds() -> list[int]:
        live = []
        for proto in list(conns):
            transport = proto.transport
            sock = None if transport is None else transport.get_extra_info("socket")
            if sock is None:
                conns.remove(proto)
            else:
                live.append(sock.fileno())
        return live

    owner: Any = publisher.EventPublisher
    waits = owner.loop_waits

    def due(self: Any) -> tuple[int, bool, bool, bool]:
        return len(self._later), self._due, self._round_due, self._acks_waiting

    inside = [0]  # depth: in a loop_waits call, in one of its pieces

    def started(name: str, f: Any) -> Any:
        def piece(self: Any, *a: Any, **k: Any) -> Any:
            if inside[0] == 1:  # a piece loop_waits runs itself (not one inside another)
                live = fds()
                if live and select.select(live, (), (), 0)[0]:
                    counts.add(f"loop_waits piece begun after the answer: {name}")
            inside[0] += inside[0] > 0
            try:
                return f(self, *a, **k)
            finally:
                inside[0] -= inside[0] > 1

        return piece

    for meth, name in (("_send_batch", "send"), ("_timed_round", "round"), ("_look", "acks")):
        setattr(owner, meth, started(name, getattr(owner, meth)))

    def counted(self: Any, *a: Any, **k: Any) -> Any:
        before = due(self)
        inside[0] = 1
        try:
            out = waits(self, *a, **k)
        finally:
            inside[0] = 0
        after = due(self)
        done = [f"build {before[0] - after[0]}"] if before[0] > after[0] else []
        done += [
            w for w, b, f in zip(("send", "round", "acks"), before[1:], after[1:], strict=True) if b and not f
        ]
        left = after[0] > 0 or any(after[1:])
        label = "loop_waits did " + ("+".join(done) or "nothing") + (", left some" if left else "")
        counts.add(label)
        live = fds()
        if live and select.select(live, (), (), 0)[0]:
            counts.add(label + " overran")
            counts.add("loop_waits overran (any)")
            if len(done) > 1:
                counts.add("loop_waits overran, 2+ pieces done")
        return out

    upstream_pool.UpstreamPool._connect = connected
    owner.loop_waits = counted


def _watch_gc(counts: Counts) -> None:
    began = [0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        gen = info["generation"]
        if phase != "start":
            counts.add(f"gc gen{gen} collected", info["collected"])
            counts.add(f"gc gen{gen} thread CPU us", (time.thread_time_ns() - began[0]) // 1000)
            return
        counts.add(f"gc gen{gen}")
        counts.add(f"gc gen{gen} objects", sum(len(gc.get_objects(g)) for g in range(gen + 1)))
        began[0] = time.thread_time_ns()  # after the count above: the collection's own CPU

    gc.callbacks.append(on_gc)


def _watch_loop(counts: Counts) -> None:
    """uvloop's ``Loop`` (what the gateway's policy makes) replaced by a subclass counting Python callers'
    timers and ``call_soon`` callbacks."""
    import uvloop

    base: Any = uvloop.Loop

    def caller() -> str:
        f = sys._getframe(2)
        return f"{Path(f.f_code.co_filename).name}:{f.f_code.co_name}"

    class CountingLoop(base):  # type: ignore[misc]
        def call_later(self, *a: Any, **k: Any) -> Any:
            counts.add(f"timer armed {caller()}")
            return super().call_later(*a, **k)

        def call_at(self, *a: Any, **k: Any) -> Any:
            counts.add(f"timer armed {caller()}")
            return super().call_at(*a, **k)

        def call_soon(self, *a: Any, **k: Any) -> Any:
            counts.add("call_soon")
            return super().call_soon(*a, **k)

    uvloop.Loop = CountingLoop  # type: ignore[misc]


def _watch_logs(counts: Counts) -> None:
    import logging

    handle = logging.Logger.handle

    def counted(self: logging.Logger, record: logging.LogRecord) -> None:
        counts.add(f"log {record.levelname} {record.name}")
        handle(self, record)

    logging.Logger.handle = counted  # type: ignore[method-assign]


def target(module: str, out: str, args: list[str]) -> None:
    """Run ``module`` as ``__main__`` with the hooks; SIGUSR1 writes the counts so far to ``out`` and
    starts afresh."""
    import importlib

    if root := os.environ.get("TAIL_COUNTS_ROOT"):
        sys.path.insert(0, root)  # before any of the gateway's modules is imported
    clock = Clock(False)
    clock.rows = _Rows()  # type: ignore[assignment]
    install(clock)
    counts = Counts(clock)
    for mod, cls, meth, piece in PIECES:
        owner = getattr(importlib.import_module(mod), cls, None)
        if owner is not None and hasattr(owner, meth):
            _count_calls(counts, owner, meth, piece)
    _count_builds(counts)
    _count_overruns(counts)
    _watch_gc(counts)
    if os.environ.get("TAIL_COUNTS_GARBAGE"):
        gc.set_debug(gc.DEBUG_SAVEALL)
    _watch_loop(counts)
    _watch_logs(counts)
    signal.signal(signal.SIGUSR1, lambda *_: counts.dump(Path(out)))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _recorder_wakeups(rec: int) -> dict[str, int]:
    """Voluntary context switches (sleeps: each ends in a wake-up) of every thread of the recorder tree, by
    thread name (``comm``: ``ZMQbg/IO/0`` is libzmq's I/O thread, woken by every message that arrives
    whatever the receiving loop's cadence; the process's own name its main thread)."""
    from bench.c1_counts import recorder_threads
    from bench.peers import tree

    by: dict[str, int] = {}
    for tid in recorder_threads(rec):
        for pid in tree([rec]):
            task = Path(f"/proc/{pid}/task/{tid}")
            if not task.exists():
                continue
            try:
                name = (task / "comm").read_text().strip()
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches"):
                        by[name] = by.get(name, 0) + int(line.split()[1])
            except OSError:  # the thread ended meanwhile
                pass
            break
    return by


def _minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items()}


def report(name: str, runs: list[dict[str, Any]]) -> None:
    reqs = sum(r["requests"] for r in runs)
    secs = sum(r["seconds"] for r in runs)
    print(
        f"\n{name}: {reqs} gateway requests in {secs:.1f} s ({reqs / max(secs, 1e-9):.0f} r/s), per 10,000:"
    )
    total: dict[str, dict[str, int]] = {}
    for r in runs:
        for piece, segs in r["counts"].items():
            for seg, n in segs.items():
                total.setdefault(piece, {})[seg] = total.setdefault(piece, {}).get(seg, 0) + n
    print(f"  {'piece':44} {'all':>10} {'crit (A/B)':>11} {'W':>9} {'P':>9}")
    for piece in sorted(total):
        segs = total[piece]

        def per(n: int) -> str:
            return f"{n * 10_000 / max(reqs, 1):.1f}"

        cols = [
            per(sum(segs.values())),
            per(segs.get("crit", 0)),
            per(segs.get("W", 0)),
            per(segs.get("P", 0)),
        ]
        print(f"  {piece:44} {cols[0]:>10} {cols[1]:>11} {cols[2]:>9} {cols[3]:>9}")
    wake = sum(r["rec_wakeups"] for r in runs)
    threads: dict[str, int] = {}
    for r in runs:
        for name, n in r.get("rec_wakeups_by_thread", {}).items():
            threads[name] = threads.get(name, 0) + n
    cpu = sum(r["rec_cpu_s"] for r in runs)
    garbage: dict[str, int] = {}
    for r in runs:
        for kind, n in r.get("garbage", {}).items():
            garbage[kind] = garbage.get(kind, 0) + n
    for kind, n in sorted(garbage.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  cyclic garbage {kind:35} {n * 10_000 / max(reqs, 1):10.1f}")
    live = [r["live"] for r in runs if "live" in r]
    if len(live) > 1:  # growth between the first run's end and the last's: objects that outlive requests
        n = sum(r["requests"] for r in runs[1:])
        grown = {k: live[-1].get(k, 0) - live[0].get(k, 0) for k in set(live[0]) | set(live[-1])}
        for kind, d in sorted(grown.items(), key=lambda kv: -abs(kv[1]))[:12]:
            print(f"  live objects grown {kind:31} {d * 10_000 / max(n, 1):10.1f}")
    print(
        f"  recorder tree: {wake / max(secs, 1e-9):.0f} wake-ups/s, {wake * 10_000 / max(reqs, 1):.0f} per 10,000 "
        f"requests; CPU {cpu * 1000 / max(secs, 1e-9):.1f} ms/s"
    )
    for name, n in sorted(threads.items(), key=lambda kv: -kv[1]):
        if n:
            print(f"    {name:40} {n / max(secs, 1e-9):8.0f} wake-ups/s")


def main() -> None:
    from bench.bench_table import c1_stack
    from bench.load import Target, prime, settle
    from bench.paths import PATHS
    from bench.peers import cpu_seconds, tree
    from tests.procs import http_ok, start, wait_until

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", nargs="*", default=["chat, plain", "chat, stream", "anthropic, stream"])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--root", default="", help="another tree's gateway (A/B)")
    ap.add_argument("--json", default="", help="write every run's counts here")
    ap.add_argument(
        "--live",
        action="store_true",
        help="the tracked objects alive after each run, by type: their growth over the rounds per 10,000",
    )
    ap.add_argument(
        "--garbage",
        action="store_true",
        help="keep what the collector finds (DEBUG_SAVEALL): counted by type",
    )
    args = ap.parse_args()
    cases = [c for c in PATHS if any(s in c.name for s in args.paths)]
    results: dict[str, list[dict[str, Any]]] = {}
    with c1_stack(floor=False) as cs:
        st, wrk, key = cs.st, cs.wrk, cs.key
        out = cs.tmp / "counts.json"
        st.services["gateway"].stop()
        env = dict(st.env)
        if args.garbage:
            env["TAIL_COUNTS_GARBAGE"] = "1"
        if args.live:
            env["TAIL_COUNTS_LIVE"] = "1"
        if args.root:  # the other tree's gateway; the harness and its hooks stay this tree's
            env["TAIL_COUNTS_ROOT"] = args.root
        harness: list[str] = ["bench.tail_counts", "--target", "services.gateway", str(out)]
        gw = start("gateway", harness[0], env, st.tmp, *harness[1:])
        st.services["gateway"] = gw
        wait_until(lambda: http_ok(st.gateway_url + "/health"), 60)
        t = Target("gateway", st.gateway_url, lambda: [gw.proc.pid])
        rec = st.services["recorder"].proc.pid
        for case in cases:
            for _ in range(args.rounds):
                prime(t.url + case.path, case.body, 1, key)
                settle([gw.proc.pid, rec])
                collect(gw.proc.pid, out)  # starts afresh
                w0, c0, t0 = _recorder_wakeups(rec), cpu_seconds(tree([rec])) or 0.0, time.monotonic()
                wrk.run(t, case.path, case.body, 1, args.duration)
                w1, c1, t1 = _recorder_wakeups(rec), cpu_seconds(tree([rec])) or 0.0, time.monotonic()
                data = collect(gw.proc.pid, out)
                woke = _minus(w1, w0)
                data.update(
                    rec_wakeups=sum(woke.values()),
                    rec_wakeups_by_thread=woke,
                    rec_cpu_s=c1 - c0,
                    seconds=t1 - t0,
                )
                results.setdefault(case.name, []).append(data)
            report(case.name, results[case.name])
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--target":
        rest = sys.argv[4:]
        target(sys.argv[2], sys.argv[3], rest[1:] if rest[:1] == ["--"] else rest)
    else:
        main()
