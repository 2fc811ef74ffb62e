"""Start the real services as subprocesses, the way the Procfile does, on free ports."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ledger_db import query
from tests.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_VARS = ("OPENAI", "ANTHROPIC", "XAI", "OPENROUTER")


def base_env(tmp: Path) -> dict[str, str]:
    """A clean environment: no provider is configured unless a test says so."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PROVIDER_VARS)}
    env.pop("DATABASE_URL", None)  # SQLite unless a test says otherwise
    env.update(
        PYTHONUNBUFFERED="1",
        PYTHONPATH=str(ROOT),
        GATEWAY_HOST="127.0.0.1",
        GATEWAY_PORT=str(free_port()),
        DASHBOARD_HOST="127.0.0.1",
        DASHBOARD_PORT=str(free_port()),
        DATABASE_PATH=str(tmp / "usage.db"),
        EVENTS_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
        TAIL_ENDPOINT=f"tcp://127.0.0.1:{free_port()}",
        RECORDER_METRICS_PORT=str(free_port()),
        RECORDER_FLUSH_INTERVAL="0.05",
        LOG_LEVEL="INFO",
    )
    return env


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as exc:  # the thing is not up yet
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"condition not met within {timeout}s (last error: {last_exc!r})")


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500


def catches_sigterm(pid: int) -> bool:
    """Whether the process has a handler for SIGTERM (/proc/PID/status ``SigCgt``, a hex mask: bit 15 - 1)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def cpu_seconds(pid: int) -> float:
    """The CPU time the process has used, user and system (/proc/PID/stat ``utime`` + ``stime``, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sigterm_while_starting(svc: Service, ready_line: str, cpu_s: float = 0.15) -> bool:
    """Send SIGTERM to ``svc`` while it starts: once it catches SIGTERM, or once it has used ``cpu_s`` of CPU
    without (the interpreter is up and into its imports: the early handler is set within ~0.05 s of CPU;
    importing the gateway or the dashboard takes a second, the recorder reaches ``recorder started`` at ~0.2 s).
    CPU time, not wall time: on a loaded machine a process may take seconds of wall time just to start Python,
    and a wall-clock fallback (0.6 s, sessions 25-33) then signalled it before any handler could exist (rc=-15
    on correct code). Returns whether ``ready_line`` was still absent from its log when the signal went (False:
    this poller was descheduled past the start; the caller tries again)."""
    pid = svc.proc.pid
    wait_until(
        lambda: svc.proc.poll() is not None or catches_sigterm(pid) or cpu_seconds(pid) >= cpu_s, 60, 0.002
    )
    starting = ready_line not in svc.log()
    svc.proc.send_signal(signal.SIGTERM)
    return starting


@dataclass
class Service:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def start(name: str, module: str, env: dict[str, str], tmp: Path, *args: str) -> Service:
    log_path = tmp / f"{name}.log"
    fh = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args], env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT
    )
    fh.close()
    return Service(name, proc, log_path)


@dataclass
class Stack:
    env: dict[str, str]
    tmp: Path
    services: dict[str, Service] = field(default_factory=dict)
    markers: int = 0  # marker requests ``settle`` sent: each is one more event and ledger row

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['GATEWAY_PORT']}"

    @property
    def db_path(self) -> str:
        return self.env["DATABASE_PATH"]

    @property
    def ledger(self) -> str:
        """The PostgreSQL URL when DATABASE_URL is set, else the SQLite file (tests/ledger_db.py reads both)."""
        return self.env.get("DATABASE_URL") or self.db_path

    def start_recorder(self, name: str = "recorder", env: dict[str, str] | None = None) -> Service:
        svc = start(name, "services.recorder", env or self.env, self.tmp)
        self.services[name] = svc
        if "DATABASE_URL" in (env or self.env):
            wait_until(lambda: "recorder started" in svc.log() or svc.proc.poll() is not None, 60)
        else:
            wait_until(lambda: Path(self.db_path).exists() or svc.proc.poll() is not None, 60)
        assert svc.proc.poll() is None, svc.log()
        return svc

    def start_gateway(self) -> Service:
        for _ in range(3):
            svc = start("gateway", "services.gateway", self.env, self.tmp)
            self.services["gateway"] = svc
            try:
                # 60 s: a busy machine, and GATEWAY_WORKERS importing several processes at once
                wait_until(
                    lambda s=svc: s.proc.poll() is not None or http_ok(self.gateway_url + "/health"), 60
                )
            except TimeoutError:
                raise AssertionError("gateway did not start:\n" + svc.log()) from None
            if svc.proc.poll() is not None and "is already in use" in svc.log():
                # ``free_port`` gave a port that another process took before the gateway bound it (the
                # machine's other tests run alongside): the gateway refused to start, so another port
                self.env["GATEWAY_PORT"] = str(free_port())
                continue
            break
        assert svc.proc.poll() is None, svc.log()
        return svc

    def stop_all(self) -> None:
        for svc in reversed(list(self.services.values())):
            svc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {n} ---\n{s.log()}" for n, s in self.services.items())

    def rows(self, where: str = "1=1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return query(self.ledger, f"SELECT * FROM requests WHERE {where}", params)

    def wait_rows(
        self, where: str, params: tuple[Any, ...] = (), n: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        try:
            return list(wait_until(lambda: (r := self.rows(where, params)) and len(r) >= n and r, timeout))
        except TimeoutError:
            raise AssertionError(f"no {n} row(s) for {where} {params}:\n{self.logs()}") from None

    def row_for(self, request_id: str, timeout: float = 10.0) -> dict[str, Any]:
        rows = self.wait_rows("request_id = ?", (request_id,), 1, timeout)
        assert len(rows) == 1, rows
        return rows[0]

    def settle(self, headers: dict[str, str] | None = None, timeout: float = 30.0) -> None:
        """Handshake, not a sleep: return once the events of the requests answered so far are in the
        ledger. A marker request (an unknown model: no provider involved) is published after them; once
        its row is in and the gateway holds no unacknowledged event (``/health``), the recorder has
        committed them all. ``headers``: the gateway key, where one is needed."""
        marker = f"ledger-marker-{time.monotonic_ns()}"
        self.markers += 1
        body = json.dumps({"model": "no-such-model-marker", "messages": [{"role": "user", "content": "x"}]})
        request = urllib.request.Request(
            self.gateway_url + "/v1/chat/completions",
            data=body.encode(),
            headers={"content-type": "application/json", "x-request-id": marker, **(headers or {})},
        )
        try:
            urllib.request.urlopen(request, timeout=timeout).close()
        except urllib.error.HTTPError as exc:
            assert exc.code == 404, exc.read()
        self.row_for(marker, timeout)
        wait_until(lambda: self.queued() == 0, timeout)

    def queued(self) -> int:
        """Events the gateway holds unacknowledged: with GATEWAY_WORKERS > 1, summed over its workers."""
        health = self.health()
        return int((health.get("events_all_workers") or health["events"])["queued"])

    def health(self) -> dict[str, Any]:
        """``/health``'s body, also when it says 503 (``unavailable``: every provider cooling down)."""
        try:
            with urllib.request.urlopen(self.gateway_url + "/health", timeout=10) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            return dict(json.loads(exc.read()))


@contextmanager
def stack(tmp: Path, providers: dict[str, str] | None = None, **extra_env: str) -> Iterator[Stack]:
    """Recorder + gateway. ``providers`` maps a provider name (openai, anthropic, …) to its base URL."""
    env = base_env(tmp)
    for name, url in (providers or {}).items():
        env[f"{name.upper()}_API_KEY"] = f"sk-test-{name}-secret-key"
        env[f"{name.upper()}_BASE_URL"] = url
    env.update(extra_env)
    st = Stack(env, tmp)
    try:
        st.start_recorder()
        st.start_gateway()
        yield st
    finally:
        st.stop_all()


@dataclass
class Tail:
    """``python -m services.recorder.tail --json``, its lines read onto a queue by a thread."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str]

    def event(self, request_id: str, timeout: float = 30.0) -> dict[str, Any]:
        """The tail's event for ``request_id``, skipping the others; AssertionError if none comes."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = json.loads(self.lines.get(timeout=left))
            except queue.Empty:
                break
            if event["request_id"] == request_id:
                return dict(event)
        raise AssertionError(f"tail never showed {request_id}")

    def stop(self) -> None:
        """Terminate the tail and reap it (killed if it has not exited after 5 s)."""
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def start_tail(env: dict[str, str], warm_up: Callable[[], object], timeout: float = 30.0) -> Tail:
    """Start the tail and return once it prints events. PUB/SUB: a subscriber sees only what is
    published after it joined, so the handshake repeats ``warm_up`` (a request that leaves an event)
    until the tail prints one; an event the test causes afterwards cannot be published too early."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.recorder.tail", "--json"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    out = proc.stdout
    assert out is not None
    tail = Tail(proc, queue.Queue())
    threading.Thread(target=lambda: [tail.lines.put(line) for line in out], daemon=True).start()
    try:
        wait_until(lambda: warm_up() and not tail.lines.empty(), timeout=timeout, interval=0.2)
    except TimeoutError:
        tail.stop()
        raise AssertionError("the tail printed no event") from None
    except BaseException:  # warm_up failed: the caller never gets the tail to stop
        tail.stop()
        raise
    return tail
