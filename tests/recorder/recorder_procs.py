"""Helpers for tests that run the recorder and tail as real processes and talk to them over ZeroMQ.

Child output goes to files, never pipes: a pipe nobody reads fills up and blocks the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import pytest
import zmq

from shared.events import UsageEvent, encode
from tests.ledger_db import Ledger, query
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_endpoint() -> str:
    """A tcp endpoint on 127.0.0.1 with a port that was free a moment ago."""
    return f"tcp://127.0.0.1:{free_port()}"


def wait_until(check: Callable[[], T], timeout: float = 30.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds (30 by default:
    a wait, not a measure; 10 s was within reach of a loaded machine's start-up and first flush)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


@dataclass
class Proc:
    """A child Python process whose stdout and stderr go to files."""

    name: str
    popen: subprocess.Popen[bytes]
    out: Path
    err: Path

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait for the exit code (killing the process if it does not exit in time)."""
        if self.alive():
            self.popen.send_signal(sig)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise AssertionError(f"{self.name} did not exit within {timeout}s of signal {sig}") from None


def spawn(name: str, args: list[str], env: dict[str, str], workdir: Path) -> Proc:
    out, err = workdir / f"{name}.out", workdir / f"{name}.err"
    popen = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, stdout=out.open("wb"), stderr=err.open("wb")
    )
    return Proc(name, popen, out, err)


def wait_for_output(proc: Proc, marker: str, timeout: float = 60.0) -> None:
    """Wait until ``marker`` appears in the process's stderr; fail early if it exits. 60 s by default, as for the
    gateway (``tests/procs.py``): on a loaded machine a recorder took more than 10 s to say ``recorder started``
    (session 34's repeated runs: test_shutdown_gives_up_on_a_database_that_stays_locked failed there)."""

    def seen() -> bool:
        if marker in proc.stderr():
            return True
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.stderr()}")
        return False

    wait_until(seen, timeout, f"{marker!r} from {proc.name}")


@dataclass
class RecorderConfig:
    """Where one test's recorder writes and listens."""

    workdir: Path
    db_path: Path = field(init=False)
    db_url: str | None = None  # set: the recorder writes PostgreSQL (DATABASE_URL) instead of db_path
    events: str = field(default_factory=free_endpoint)
    tail: str = field(default_factory=free_endpoint)
    metrics_port: int = field(default_factory=lambda: int(free_endpoint().rsplit(":", 1)[1]))

    def __post_init__(self) -> None:
        self.db_path = self.workdir / "data" / "usage.db"

    @property
    def ledger(self) -> Ledger:
        """What ``count_rows`` and ``event_ids`` read: the PostgreSQL URL or the SQLite file."""
        return self.db_url or self.db_path

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="INFO",
            DATABASE_PATH=str(self.db_path),
            EVENTS_ENDPOINT=self.events,
            TAIL_ENDPOINT=self.tail,
            RECORDER_FLUSH_INTERVAL="0.05",
            RECORDER_METRICS_PORT=str(self.metrics_port),
        )
        env.pop("DATABASE_URL", None)
        if self.db_url:
            env["DATABASE_URL"] = self.db_url
        return env | extra


# For tests that must behave the same on both engines: ``@BOTH_ENGINES`` (the ``cfg`` fixture reads it).
BOTH_ENGINES = pytest.mark.parametrize("cfg", ["sqlite", "postgresql"], indirect=True)


class Launcher:
    """Starts recorder and tail processes for one test; ``cleanup()`` kills any still running."""

    def __init__(self, cfg: RecorderConfig) -> None:
        self.cfg = cfg
        self.procs: list[Proc] = []

    def recorder(self, name: str = "recorder", **env: str) -> Proc:
        """Start a recorder and wait until it is listening."""
        proc = self.spawn_recorder(name, **env)
        wait_for_output(proc, "recorder started")
        return proc

    def spawn_recorder(self, name: str = "recorder", **env: str) -> Proc:
        """Start a recorder without waiting for it."""
        proc = spawn(name, ["-m", "services.recorder"], self.cfg.env(**env), self.cfg.workdir)
        self.procs.append(proc)
        return proc

    def tail(self, *args: str, name: str = "tail") -> Proc:
        """Start ``python -m services.recorder.tail`` on the recorder's PUB endpoint, wait until it runs."""
        proc = spawn(
            name,
            ["-m", "services.recorder.tail", "--endpoint", self.cfg.tail, *args],
            self.cfg.env(),
            self.cfg.workdir,
        )
        self.procs.append(proc)
        wait_for_output(proc, "ekai-tail: following")
        return proc

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.popen.kill()
            proc.popen.wait()


def make_event(**kw: object) -> UsageEvent:
    """A plausible event; any field can be overridden."""
    base: dict[str, object] = dict(
        request_id=f"auto-{uuid.uuid4().hex[:8]}",
        endpoint="/v1/chat/completions",
        client_format="openai_chat",
        model="gpt-4o-mini",
        provider="openai",
        provider_format="openai_chat",
        status=200,
        finished_at=time.time(),
        input_tokens=100,
        output_tokens=20,
        cost_usd=0.000123,
        latency_ms=321.0,
    )
    return UsageEvent(**(base | kw))  # type: ignore[arg-type]


class Gateway:
    """A DEALER socket speaking the gateway's side of the event protocol (services/gateway/publisher.py),
    without ZMQ_IMMEDIATE, so sends made before the recorder is up are queued inside ZeroMQ."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 5000)
        self.sock.setsockopt(zmq.SNDTIMEO, 5000)  # sends block at the high-water mark, but not forever
        self.sock.connect(endpoint)
        self.acked: list[str] = []  # event ids, in the order the acknowledgements came
        self.kinds: set[bytes] = set()  # the acknowledgements' first frames seen (ack, ack2)

    def send(self, e: UsageEvent) -> None:
        self.sock.send_multipart([b"ev", e.event_id.encode(), encode(e)])

    def send_frames(self, frames: list[bytes]) -> None:
        self.sock.send_multipart(frames)

    def read_acks(self) -> set[str]:
        """Collect what acknowledgements arrived; returns every id acknowledged so far."""
        while self.sock.poll(0):
            frames = self.sock.recv_multipart()
            if frames[0] == b"ack2":  # to a gateway that sent ev3: the ids joined by \n in one frame
                assert len(frames) == 2, frames
                self.acked.extend(f.decode() for f in frames[1].split(b"\n"))
            else:
                assert frames[0] == b"ack", frames
                self.acked.extend(f.decode() for f in frames[1:])
            self.kinds.add(frames[0])
        return set(self.acked)

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


@contextmanager
def gateway_socket(endpoint: str) -> Iterator[Gateway]:
    gw = Gateway(endpoint)
    try:
        yield gw
    finally:
        gw.close()


@contextmanager
def subscriber(endpoint: str) -> Iterator[zmq.Socket[bytes]]:
    """A SUB socket on the recorder's PUB endpoint: a witness that the recorder has taken an event."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, b"")
    sock.connect(endpoint)
    try:
        yield sock
    finally:
        sock.close()
        ctx.term()


def send_all(sock: Gateway, events: list[UsageEvent]) -> None:
    """Send events, waiting when ZeroMQ's queue is full (a test must not drop what it asserts on)."""
    for e in events:
        sock.send(e)


def handshake(
    sock: Gateway, seen: Callable[[], bool], probe: UsageEvent | None = None, timeout: float = 10.0
) -> list[UsageEvent]:
    """Send probe events until ``seen()`` says a subscriber printed one: PUB/SUB delivers only what is
    published after the subscription reached the publisher. Returns the probes sent (they are stored)."""
    sent: list[UsageEvent] = []
    template = probe or make_event(request_id="probe", model="probe-model")

    def one_more() -> bool:
        if seen():
            return True
        sent.append(replace(template, event_id=uuid.uuid4().hex))
        send_all(sock, sent[-1:])
        time.sleep(0.05)
        return seen()

    wait_until(one_more, timeout, "the subscriber to see a probe event")
    return sent


def count_rows(ledger: Ledger, where: str = "1=1", params: tuple[object, ...] = ()) -> int:
    """Rows in the ledger (SQLite file or PostgreSQL URL) matching ``where`` (0 while there is no table)."""
    found = query(ledger, f"SELECT count(*) AS n FROM requests WHERE {where}", params)
    return int(found[0]["n"]) if found else 0


def event_ids(ledger: Ledger) -> set[str]:
    return {r["event_id"] for r in query(ledger, "SELECT event_id FROM requests")}


def summary(proc: Proc) -> dict[str, int]:
    """The counters from the recorder's last ``recorder summary:`` log line."""
    line = [ln for ln in proc.stderr().splitlines() if "recorder summary:" in ln][-1]
    pairs = (kv.split("=") for kv in line.split("recorder summary:")[1].split())
    return {k: int(float(v)) for k, v in pairs}
