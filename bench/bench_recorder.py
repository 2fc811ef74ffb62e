"""End-to-end recorder throughput: ZeroMQ DEALER -> real recorder process -> committed SQLite rows.

    .venv/bin/python bench/bench_recorder.py [--events 50000] [--batch-sizes 100,500,2000]

For each batch size: start ``python -m services.recorder`` on a fresh database, push N pre-encoded
events as fast as ZeroMQ takes them, and poll the database until the last row is committed. Reports
events/s from the first send to the last commit, and the batch sizes the recorder actually used
(from its per-flush DEBUG log lines).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import zmq

from shared.events import UsageEvent, encode

REPO = Path(__file__).resolve().parents[1]
FLUSH_LINE = re.compile(r"flushed (\d+) rows \((\d+) new\) in ([\d.]+) ms")


@dataclass
class Result:
    batch_size: int
    events: int
    send_s: float
    total_s: float
    batches: list[int]
    flush_ms: list[float]

    def row(self) -> list[str]:
        b = self.batches or [0]
        return [
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
        ]


HEADER = [
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
]


def free_endpoint() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{s.getsockname()[1]}"


def make_events(n: int) -> list[list[bytes]]:
    """Messages as the gateway sends them: [b"ev", event_id, payload]."""
    now = time.time()
    return [
        [b"ev", e.event_id.encode(), encode(e)]
        for e in (
            UsageEvent(
                request_id=f"bench-{i}",
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
                input_tokens=1200 + i % 500,
                output_tokens=300,
                cache_read_tokens=512,
                cost_usd=0.00042,
                latency_ms=800.0,
                ttft_ms=120.0,
                attempts=1,
            )
            for i in range(n)
        )
    ]


def start_recorder(
    workdir: Path, events_ep: str, batch_size: int, interval: float
) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
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
    proc = subprocess.Popen([sys.executable, "-m", "services.recorder"], cwd=REPO, env=env, stderr=log)
    deadline = time.monotonic() + 15
    while b"recorder started" not in (workdir / "recorder.log").read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"recorder did not start:\n{(workdir / 'recorder.log').read_text()}")
        time.sleep(0.02)
    return proc


def committed(db: sqlite3.Connection) -> int:
    # A fresh table with no deletes: max(rowid) is the row count, and an index lookup instead of a scan.
    return int(db.execute("SELECT coalesce(max(rowid), 0) FROM requests").fetchone()[0])


def run_once(payloads: list[list[bytes]], batch_size: int, interval: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench-recorder-") as tmp:
        workdir, events_ep = Path(tmp), free_endpoint()
        proc = start_recorder(workdir, events_ep, batch_size, interval)
        ctx = zmq.Context()
        push = ctx.socket(zmq.DEALER)  # acknowledgements are left unread: only the commits are timed
        push.setsockopt(zmq.LINGER, 5000)
        push.connect(events_ep)
        db = sqlite3.connect(f"file:{workdir / 'bench.db'}?mode=ro", uri=True)
        try:
            time.sleep(0.2)  # let the connection come up, so the clock measures the pipeline, not a handshake
            t0 = time.perf_counter()
            for raw in payloads:
                push.send_multipart(
                    raw
                )  # blocking: waits at the high-water mark while the recorder catches up
            t_sent = time.perf_counter()
            while committed(db) < len(payloads):
                time.sleep(0.002)
            t_done = time.perf_counter()
        finally:
            db.close()
            push.close()
            ctx.term()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        log = (workdir / "recorder.log").read_text()
    flushes = FLUSH_LINE.findall(log)
    return Result(
        batch_size,
        len(payloads),
        t_sent - t0,
        t_done - t0,
        [int(n) for n, _, _ in flushes],
        [float(ms) for _, _, ms in flushes],
    )


def print_table(results: list[Result]) -> None:
    rows = [HEADER, *(r.row() for r in results)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for n, r in enumerate(rows):
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--batch-sizes", default="100,500,2000", help="comma-separated RECORDER_BATCH_SIZE values"
    )
    parser.add_argument("--interval", type=float, default=0.2, help="RECORDER_FLUSH_INTERVAL in seconds")
    args = parser.parse_args(argv)
    payloads = make_events(args.events)
    print(
        f"recorder end to end: {args.events:,} events ({len(payloads[0][2])} bytes each), "
        f"flush interval {args.interval:g}s; seconds = first send -> last row committed\n"
    )
    results = [run_once(payloads, int(b), args.interval) for b in args.batch_sizes.split(",")]
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
