"""End-to-end recorder throughput: ZeroMQ DEALER -> real recorder process -> committed SQLite rows.

    .venv/bin/python bench/bench_recorder.py [--events 30000] [--batch-sizes 500,2000] [--compare REF] [--uniform]
                                             [--per-message 1] [--wire joined|rows|objects] [--rate 0]

For each batch size: start ``python -m services.recorder`` on a fresh database, push N pre-encoded
events (the seeding command's mix of providers, models, statuses and latencies, over the last ten
minutes) as fast as ZeroMQ takes them, and poll the database until the last row is committed. Reports
events/s from the first send to the last commit (``--per-message N``: N events per ZeroMQ message, as a
gateway batches them: at most 256, about 5 ms of its requests; 1, the default, is the costliest case), and the batch sizes the recorder actually used (from
its per-flush DEBUG log lines), and CPU per event: the whole recorder (its process and its SQLite
writer process), its event loop's thread, and the writer process alone. The recorder always keeps its hourly rollups ("rollups on"); after each
run the bench checks that they count every row.

``--rate R``: send R events a second on a fixed schedule (a message every ``per-message / R`` seconds), as
gateways under steady load do (their messages every 5 ms), instead of as fast as ZeroMQ takes them: the
CPU per event then includes the recorder's wake-ups and timers, which dominate at live rates (issue 13,
session 11: ``--per-message 20 --rate 4000`` and ``--per-message 5 --rate 1000``).

``--compare REF`` also runs the recorder of git revision REF (``git archive`` into a temporary folder,
same interpreter), alternating with this tree's for each batch size so both see the same machine load,
and prints the ratio: on a busy machine the absolute figures move from run to run, the ratio much less.

``--wire``: the messages as gateways send them now (``joined``: ``[ev3, ids, payloads]``, each joined by a
newline, payloads ``encode_row(event)``), as before session 13 (``rows``: ``[ev2, id, encode_row(event),
...]``) or as before issue 13's recorder work (``objects``: ``[ev, id, encode(event), ...]``). A REF
recorder gets the newest of those it reads (what the gateways of its time sent), said in its label.

Besides CPU per event, the table gives each side's wake-ups a second (voluntary context switches: the
event loop's thread, all of the recorder's threads, the writer process), and CPU is read from
``/proc/.../schedstat`` (nanoseconds) rather than ``stat``'s 10 ms clock ticks.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import zmq

from services.recorder.seed import generate
from shared.events import UsageEvent, encode, encode_row

REPO = Path(__file__).resolve().parents[1]
FLUSH_LINE = re.compile(r"flushed (\d+) rows \((\d+) new\) in ([\d.]+) ms")


@dataclass
class Result:
    recorder: str
    batch_size: int
    events: int
    send_s: float
    total_s: float
    batches: list[int]
    flush_ms: list[float]
    rollups_exact: bool
    cpu_s: float  # the recorder's process and its children (the SQLite writer process)
    loop_cpu_s: float  # of that, the event loop's thread (the recorder's main thread)
    writer_cpu_s: float  # of that, the writer process (0: the recorder writes in its own process)
    loop_wakeups: int = 0  # voluntary context switches of the event loop's thread
    wakeups: int = 0  # ... of every thread of the recorder's process (the loop, ZeroMQ's I/O thread, ...)
    writer_wakeups: int = 0  # ... of the writer process's threads

    def per_s(self, n: int) -> str:
        return f"{n / self.total_s:,.0f}"

    @property
    def rate(self) -> float:
        return self.events / self.total_s

    def row(self) -> list[str]:
        b = self.batches or [0]
        return [
            self.recorder,
            "on" if self.rollups_exact else "WRONG",
            str(self.batch_size),
            f"{self.events / self.total_s:,.0f}",
            f"{self.events / self.send_s:,.0f}",
            f"{self.total_s:.2f}",
            str(len(self.batches)),
            str(min(b)),
            f"{statistics.median(b):.0f}",
            f"{statistics.mean(b):.0f}",
            str(max(b)),
            f"{statistics.mean(self.flush_ms or [0]):.1f}",
            f"{self.cpu_s * 1e6 / self.events:.1f}",
            f"{self.loop_cpu_s * 1e6 / self.events:.1f}",
            f"{self.writer_cpu_s * 1e6 / self.events:.1f}",
            f"{self.events / self.cpu_s:,.0f}",
            self.per_s(self.loop_wakeups),
            self.per_s(self.wakeups),
            self.per_s(self.writer_wakeups),
        ]


HEADER = [
    "recorder",
    "rollups",
    "batch_size",
    "events/s e2e",
    "send/s",
    "seconds",
    "batches",
    "min",
    "median",
    "mean",
    "max",
    "flush ms",
    "CPU us/event",
    "loop us/event",
    "writer us/event",
    "events/CPU-s",
    "loop wake/s",
    "rec wake/s",
    "writer wake/s",
]


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def make_events(n: int, *, uniform: bool = False, rows: bool = True) -> list[list[bytes]]:
    """Messages as the gateway sends them: [b"ev2", event_id, encode_row(event)] (``rows``, else [b"ev",
    event_id, encode(event)]), in time order. ``uniform``: the bench's earlier events instead, one model
    and one latency, so every index insert lands at its end."""
    now = time.time()
    if uniform:
        one = UsageEvent(
            request_id="bench",
            endpoint="/v1/chat/completions",
            client_format="openai_chat",
            model="gpt-4o-mini",
            provider="openai",
            provider_format="openai_chat",
            served_model="gpt-4o-mini-2024-07-18",
            status=200,
            started_at=now,
            finished_at=now + 0.8,
            streamed=True,
            output_tokens=300,
            cache_read_tokens=512,
            cost_usd=0.00042,
            latency_ms=800.0,
            ttft_ms=120.0,
            attempts=1,
        )
        events = [
            replace(one, request_id=f"bench-{i}", event_id=uuid.uuid4().hex, input_tokens=1200 + i % 500)
            for i in range(n)
        ]
    else:
        events = sorted(generate(n, now - 600, now, np.random.default_rng(13)), key=lambda e: e.started_at)
    if rows:
        return [[b"ev2", e.event_id.encode(), encode_row(e)] for e in events]
    return [[b"ev", e.event_id.encode(), encode(e)] for e in events]


def wire_of(ref: str) -> str:
    """The newest wire the recorder of git revision ``ref`` reads: ``joined``, ``rows`` or ``objects``."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{ref}:services/recorder/service.py"],
        capture_output=True,
        text=True,
    ).stdout
    return "joined" if "EVENT_JOINED" in source else "rows" if "EVENT_ROWS" in source else "objects"


WIRES = ("joined", "rows", "objects")


def per_message(messages: list[list[bytes]], n: int, *, joined: bool = False) -> list[list[bytes]]:
    """One-event messages regrouped ``n`` events a message: ``[b"ev", id, payload, id, payload, ...]``, or
    (``joined``) ``[b"ev3", ids joined by newlines, payloads joined by newlines]``."""
    groups = [messages[i : i + n] for i in range(0, len(messages), n)]
    if joined:
        return [[b"ev3", b"\n".join(m[1] for m in g), b"\n".join(m[2] for m in g)] for g in groups]
    return [[b"ev", *(frame for m in g for frame in m[1:])] for g in groups]


def events_in(message: list[bytes]) -> int:
    """How many events a message of ``per_message`` carries."""
    if message[0] == b"ev3":
        return message[1].count(b"\n") + 1
    return (len(message) - 1) // 2


def checkout(ref: str, into: Path) -> Path:
    """The tree of git revision ``ref`` extracted under ``into``."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def start_recorder(
    tree: Path, workdir: Path, events_ep: str, batch_size: int, interval: float
) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        PYTHONPATH=str(tree),  # ahead of the editable install: the tree under test
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="DEBUG",
        DATABASE_PATH=str(workdir / "bench.db"),
        EVENTS_ENDPOINT=events_ep,
        TAIL_ENDPOINT=free_endpoint(),
        RECORDER_BATCH_SIZE=str(batch_size),
        RECORDER_METRICS_PORT="0",
        RECORDER_FLUSH_INTERVAL=str(interval),
    )
    log = (workdir / "recorder.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "services.recorder"], cwd=tree, env=env, stderr=log)
    deadline = time.monotonic() + 15
    while b"recorder started" not in (workdir / "recorder.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"recorder did not start:\n{(workdir / 'recorder.log').read_text()}")
        time.sleep(0.02)
    return proc


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time so far of a process (all its threads: the event loop, SQLite's, ZeroMQ's I/O), or of one
    of its threads (``thread``: its id; the main thread's is the process id). From ``schedstat``'s
    nanoseconds on the CPU: ``/proc/PID/stat``'s clock ticks (10 ms) were 5% of a paced run's figure."""
    tasks = [thread] if thread is not None else [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    return sum(_task_figures(pid, t)[0] for t in tasks)


def wakeups(pid: int, thread: int | None = None) -> int:
    """Voluntary context switches so far (the times a thread went to sleep waiting, so woke up again) of a
    process's threads, or of one of them (``thread``)."""
    tasks = [thread] if thread is not None else [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()]
    return sum(_task_figures(pid, t)[1] for t in tasks)


def _task_figures(pid: int, tid: int) -> tuple[float, int]:
    """(seconds on the CPU, voluntary context switches) of one thread; (0, 0) for one that has exited."""
    try:
        ns = int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        status = Path(f"/proc/{pid}/task/{tid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0
    switches = int(status.split("voluntary_ctxt_switches:", 1)[1].split()[0])
    return ns / 1e9, switches


def children(pid: int) -> list[int]:
    """The process ids of a process's children (the recorder's SQLite writer process, if any)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def committed(db: sqlite3.Connection) -> int:
    # A fresh table with no deletes: max(rowid) is the row count, and an index lookup instead of a scan.
    return int(db.execute("SELECT coalesce(max(rowid), 0) FROM requests").fetchone()[0])


def rollups_count_every_row(db: sqlite3.Connection, n: int) -> bool:
    rolled = db.execute(
        "SELECT (SELECT sum(requests) FROM usage_hourly), (SELECT sum(requests) FROM usage_attribution_hourly)"
    ).fetchone()
    return bool(rolled == (n, n))


def run_once(
    label: str, tree: Path, payloads: list[list[bytes]], batch_size: int, interval: float, rate: float = 0.0
) -> Result:
    """One run; ``rate`` > 0: send at that many events a second (a message every ``events a message /
    rate`` seconds, on a fixed schedule, as a gateway under steady load), else as fast as ZeroMQ takes them."""
    events = sum(events_in(m) for m in payloads)
    gap = (events / len(payloads)) / rate if rate > 0 else 0.0
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        workdir, events_ep = Path(tmp), free_endpoint()
        proc = start_recorder(tree, workdir, events_ep, batch_size, interval)
        ctx = zmq.Context()
        push = ctx.socket(zmq.DEALER)  # acknowledgements are left unread: only the commits are timed
        push.setsockopt(zmq.LINGER, 5000)
        push.connect(events_ep)
        db = sqlite3.connect(f"file:{workdir / 'bench.db'}?mode=ro", uri=True)
        try:
            time.sleep(0.2)  # let the connection come up, so the clock measures the pipeline, not a handshake
            kids = children(proc.pid)
            kids0 = sum(cpu_seconds(kid) for kid in kids)
            wakes0 = (wakeups(proc.pid, proc.pid), wakeups(proc.pid), sum(wakeups(kid) for kid in kids))
            cpu0, loop0, t0 = cpu_seconds(proc.pid), cpu_seconds(proc.pid, proc.pid), time.perf_counter()
            for n, raw in enumerate(payloads):
                if gap:
                    ahead = t0 + n * gap - time.perf_counter()
                    if ahead > 0:
                        time.sleep(ahead)
                # blocking: waits at the high-water mark while the recorder catches up
                push.send_multipart(raw)
            t_sent = time.perf_counter()
            while committed(db) < events:
                time.sleep(0.002)
            t_done = time.perf_counter()
            cpu, loop_cpu = cpu_seconds(proc.pid) - cpu0, cpu_seconds(proc.pid, proc.pid) - loop0
            writer_cpu = sum(cpu_seconds(kid) for kid in kids) - kids0
            wakes = (wakeups(proc.pid, proc.pid), wakeups(proc.pid), sum(wakeups(kid) for kid in kids))
            cpu += writer_cpu
            exact = rollups_count_every_row(db, events)
        finally:
            db.close()
            push.close()
            ctx.term()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        log = (workdir / "recorder.log").read_text()
    flushes = FLUSH_LINE.findall(log)
    return Result(
        label,
        batch_size,
        events,
        t_sent - t0,
        t_done - t0,
        [int(n) for n, _, _ in flushes],
        [float(ms) for _, _, ms in flushes],
        exact,
        cpu,
        loop_cpu,
        writer_cpu,
        *(after - before for after, before in zip(wakes, wakes0, strict=True)),
    )


def print_table(results: list[Result]) -> None:
    rows = [HEADER, *(r.row() for r in results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for n, r in enumerate(rows):
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table (and with --compare, the ratio of this tree to REF)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument(
        "--batch-sizes", default="500,2000", help="comma-separated RECORDER_BATCH_SIZE values"
    )
    parser.add_argument("--interval", type=float, default=0.2, help="RECORDER_FLUSH_INTERVAL in seconds")
    parser.add_argument("--compare", metavar="REF", help="also run the recorder of this git revision")
    parser.add_argument(
        "--uniform", action="store_true", help="the earlier identical events (cheaper to index)"
    )
    parser.add_argument(
        "--per-message", type=int, default=1, help="events per ZeroMQ message (gateway: 1-256)"
    )
    parser.add_argument("--wire", choices=WIRES, default="joined", help="message form (gateway: joined)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="events per second, paced as a gateway under steady load (0: as fast as possible)",
    )
    args = parser.parse_args(argv)

    def messages(wire: str) -> list[list[bytes]]:
        events = make_events(args.events, uniform=args.uniform, rows=wire != "objects")
        return per_message(events, args.per_message, joined=wire == "joined")

    payloads = {args.wire: messages(args.wire)}
    size = len(make_events(1, uniform=args.uniform, rows=args.wire != "objects")[0][2])
    print(
        f"recorder end to end, rollups on: {args.events:,} {'uniform' if args.uniform else 'mixed'} events "
        f"({size} bytes each as {args.wire}, {args.per_message} a message), flush "
        f"interval {args.interval:g}s, {f'{args.rate:,.0f} events/s paced' if args.rate else 'unpaced'}; seconds = first send -> last row committed\n"
    )
    with tempfile.TemporaryDirectory(prefix="bench-recorder-ref-") as tmp:
        trees = [("this tree", REPO, args.wire)]
        if args.compare:
            ref_wire = WIRES[max(WIRES.index(args.wire), WIRES.index(wire_of(args.compare)))]
            label = args.compare if ref_wire == args.wire else f"{args.compare} ({ref_wire})"
            trees.append((label, checkout(args.compare, Path(tmp)), ref_wire))
            if ref_wire not in payloads:  # the same events, in the form that recorder reads
                payloads[ref_wire] = messages(ref_wire)
        results = [
            run_once(label, tree, payloads[form], int(b), args.interval, args.rate)
            for b in args.batch_sizes.split(",")
            for label, tree, form in trees
        ]
    print_table(results)
    for i in range(0, len(results), len(trees)):
        if args.compare:
            new, old = results[i], results[i + 1]
            print(
                f"batch {new.batch_size}: this tree {new.rate:,.0f} events/s, {old.recorder} {old.rate:,.0f} "
                f"events/s: x{new.rate / old.rate:.2f}; recorder CPU per event x{old.cpu_s / new.cpu_s:.2f} "
                f"less (event loop's thread x{old.loop_cpu_s / new.loop_cpu_s:.2f} less); this tree's writer "
                f"process {new.writer_cpu_s * 1e6 / new.events:.1f} us/event"
            )
    return 0 if all(r.rollups_exact for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
