"""The recorder's CPU instructions per event, in its two halves, counted by callgrind (deterministic: the
machine's load does not move them).

* ``loop``: what the recorder's event loop does per event of a gateway's ``[ev3, ids, payloads]`` message
  (``service._handle_joined``'s decode, check and row) and per batch handed to the writer
  (``writer._request``: the rollup groups and the pickled frame), over the bench's mix of events
  (``bench_recorder.make_events``), ``--per-message`` events a message, ``--batch`` rows a batch.
* ``writer``: what the SQLite writer process does per row: unpickle each batch's frame and commit it
  (``store.Store.insert_counted`` on an inline connection, rollups and latency lists included) into a
  fresh ledger, ``--batch`` rows a transaction. Its run decodes the events first, as ``loop`` does: the
  figure is that run's minus ``loop``'s.

Each figure is the difference of two callgrind runs (``--events`` + ``--extra`` and ``--events``) divided
by ``--extra``: start-up, imports and the first batches cancel out.

    .venv/bin/python bench/recorder_instructions.py [--part loop|writer|both] [--root TREE]
        [--events 4000] [--extra 4000] [--batch 500] [--per-message 20]

``--root`` measures another tree's recorder (e.g. ``/work/main``) with the same events. Not part of
``make bench``: a developer's measuring tool (docs/benchmarks.md "Session 18: recorder cost").
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent


def _messages(n: int, per_message: int) -> list[list[bytes]]:
    sys.path.insert(0, str(HERE))
    import random
    import time
    from unittest import mock

    from bench import bench_recorder
    from shared import events

    # the same events in every run (ids included): the bench's mix over ten minutes well inside one hour,
    # ids made 0.1 ms apart
    at = 1_767_225_600.0 + 1_800.0
    clock = iter(range(int(at * 1e9), 2**63, 100_000))
    with (
        mock.patch.object(time, "time", lambda: at),
        mock.patch.object(time, "time_ns", lambda: next(clock)),
        mock.patch.object(events, "_random_bits", random.Random(18).getrandbits),
    ):
        return bench_recorder.per_message(bench_recorder.make_events(n), per_message, joined=True)


def _decoded(messages: list[list[bytes]], batch: int) -> Iterator[list[Any]]:
    """The rows of ``messages`` as the recorder's loop decodes them (``service._handle_joined``), ``batch``
    at a time; each batch's rows are dropped once the next is asked for, as the live recorder's are once
    committed (what the garbage collector sees alive matters)."""
    from services.recorder import service

    class Acker:
        joined: set[bytes] = set()

    pipes: Any = type("Pipes", (), {"acker": Acker()})()
    per_batch = max(1, batch // len(messages[0][1].split(b"\n")))
    for i in range(0, len(messages), per_batch):
        burst = service._Burst()
        for frames in messages[i : i + per_batch]:
            service._handle_joined([b"gw", *frames], pipes, burst)
        assert len(burst.items) == burst.received, "every event must be valid"
        yield [row for _, _, row in burst.items]


def _after_startup() -> None:
    """What the recorder's processes do once started, where the measured tree has it."""
    try:
        from services.recorder.gc_tuning import after_startup
    except ImportError:
        return
    after_startup()


def run_loop(messages: list[list[bytes]], batch: int) -> None:
    """The loop's share: decode every message as ``_handle_joined`` does, then a ``ROWS`` frame a batch."""
    from services.recorder import writer

    _after_startup()
    sent = 0
    for rows in _decoded(messages, batch):
        sent += len(writer._request(rows))
    assert sent


def run_writer(messages: list[list[bytes]], batch: int) -> None:
    """The writer's share: unpickle each batch's frame and commit it into a fresh ledger (the frames are
    made as ``loop`` makes them, in this process)."""
    from services.recorder import writer
    from services.recorder.batch_rollup import BatchGroups
    from services.recorder.store import Store

    try:  # what the writer process does first, where the measured tree has it
        from services.recorder.sqlite_mode import one_thread_per_connection
    except ImportError:
        pass
    else:
        one_thread_per_connection()

    async def commit() -> None:
        with tempfile.TemporaryDirectory() as tmp:
            store = await Store.open(str(Path(tmp) / "usage.db"), inline=True)
            _after_startup()
            try:
                for rows in _decoded(messages, batch):
                    request = pickle.loads(writer._request(rows)[4:])
                    del rows
                    await store.insert_counted(request[1], BatchGroups(*request[2]))
            finally:
                await store.close()

    asyncio.run(commit())


def _instructions(part: str, root: str, events: int, batch: int, per_message: int, source: str) -> int:
    out = tempfile.mktemp(prefix="recorder_instructions.", suffix=".out")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__]
    cmd += ["--run", part, "--root", root, "--events", str(events), "--batch", str(batch)]
    cmd += ["--per-message", str(per_message), "--messages", source]
    # One OpenBLAS thread (numpy is imported by the recorder): callgrind counts every thread, and OpenBLAS's
    # idle workers spin for as long as the scheduler lets them (``blas_thread_server``: up to ~4.5k
    # instructions an event in a run, varying run to run; docs/benchmarks.md "Session 18: recorder cost,
    # part 2").
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1"}
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    try:
        text = Path(out).read_text()
        return int(next(line for line in text.splitlines() if line.startswith("summary:")).split()[1])
    finally:
        Path(out).unlink()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=("loop", "writer", "both"), default="both")
    p.add_argument("--root", default=str(HERE), help="the tree whose recorder is measured")
    p.add_argument("--events", type=int, default=4000)
    p.add_argument("--extra", type=int, default=4000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--per-message", type=int, default=20)
    p.add_argument("--run", choices=("loop", "writer"), help=argparse.SUPPRESS)  # one measured run
    p.add_argument("--messages", help=argparse.SUPPRESS)  # the pickled messages of a measured run
    a = p.parse_args()
    if a.run:
        # the events made by this tree (the same for every root), the recorder from --root
        messages = pickle.loads(Path(a.messages).read_bytes())[: a.events // a.per_message]
        for name in [m for m in sys.modules if m.startswith(("services", "shared"))]:
            del sys.modules[name]
        sys.path.insert(0, a.root)
        (run_loop if a.run == "loop" else run_writer)(messages, a.batch)
        return
    if a.events % a.per_message or a.extra % a.per_message:
        raise SystemExit("--events and --extra must be multiples of --per-message")
    per_event = {}
    with tempfile.NamedTemporaryFile(suffix=".pickle") as source:
        source.write(pickle.dumps(_messages(a.events + a.extra, a.per_message)))
        source.flush()
        for part in ("loop", "writer") if a.part != "loop" else ("loop",):
            big = _instructions(part, a.root, a.events + a.extra, a.batch, a.per_message, source.name)
            small = _instructions(part, a.root, a.events, a.batch, a.per_message, source.name)
            per_event[part] = (big - small) / a.extra
            if os.environ.get("RECORDER_INSTRUCTIONS_RAW"):
                print(part, big, small)
    loop = per_event["loop"]
    if a.part != "writer":
        print(f"{a.root} loop: {loop:,.0f} instructions per event")
    if "writer" in per_event:
        print(f"{a.root} writer: {per_event['writer'] - loop:,.0f} instructions per event")


if __name__ == "__main__":
    main()
