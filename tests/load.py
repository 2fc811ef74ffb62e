"""Load for the ledger tests and the gateway benchmark: N small requests at concurrency C, in a thread.

Each request carries its own ``x-request-id`` (``<prefix>-<i>``; the gateway keeps a caller's plain id),
so that a test can match every answered request with its ledger row.
"""

from __future__ import annotations

import asyncio
import collections
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.procs import ROOT, Stack, free_port, http_ok, wait_until

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello ledger"}]}


@dataclass
class Load:
    url: str  # the full endpoint, e.g. http://127.0.0.1:3001/v1/chat/completions
    n: int
    concurrency: int = 16
    prefix: str = "load"
    body: dict[str, Any] = field(default_factory=lambda: dict(CHAT))
    answered: list[str] = field(default_factory=list)  # request ids answered 200 and read to the end
    failed: dict[str, str] = field(default_factory=dict)  # request id -> what went wrong
    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    started_at: float = 0.0  # time.perf_counter() when the first request went out
    # request id -> (sent, answered), time.perf_counter(), for every request answered 200
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    _thread: threading.Thread | None = None

    @property
    def done(self) -> int:
        return len(self.answered) + len(self.failed)

    def start(self) -> Load:
        self._thread = threading.Thread(target=lambda: asyncio.run(self.run()), daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 120.0) -> Load:
        assert self._thread is not None
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"load did not finish in {timeout}s ({self.done}/{self.n})"
        return self

    def wait_for(self, done: int, timeout: float = 60.0) -> None:
        wait_until(lambda: self.done >= done, timeout, 0.005)

    async def run(self) -> None:
        payload = orjson.dumps(self.body)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.n):
            queue.put_nowait(i)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.concurrency), timeout=timeout
        ) as session:

            async def worker() -> None:
                while not queue.empty():
                    rid = f"{self.prefix}-{queue.get_nowait()}"
                    t0 = time.perf_counter()
                    try:
                        async with session.post(
                            self.url,
                            data=payload,
                            headers={"content-type": "application/json", "x-request-id": rid},
                        ) as resp:
                            await resp.read()
                            ok = resp.status == 200
                            if not ok:
                                self.failed[rid] = f"HTTP {resp.status}"
                    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                        self.failed[rid] = type(exc).__name__
                        await asyncio.sleep(0.01)  # a stopped gateway refuses at once: do not spin
                        continue
                    if ok:
                        t1 = time.perf_counter()
                        self.latencies_ms.append((t1 - t0) * 1000)
                        self.spans[rid] = (t0, t1)
                        self.answered.append(rid)

            self.started_at = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(self.concurrency)))
            self.elapsed_s = time.perf_counter() - self.started_at


@contextmanager
def fake_provider_process(name: str = "openai", *faults: str) -> Iterator[str]:
    """The fake provider as its own process (the load's client and the fake do not share a GIL).
    Yields its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "tests.fake_provider", "--port", str(port), "--name", name]
    for fault in faults:
        args += ["--fault", fault]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: proc.poll() is not None or http_ok(url + "/v1/models"), 60)
        yield url
    finally:
        proc.terminate()
        proc.wait(5)


def ledger_counts(st: Stack, prefix: str) -> collections.Counter[str]:
    return collections.Counter(r["request_id"] for r in st.rows("request_id LIKE ?", (f"{prefix}-%",)))


def assert_exactly_once(
    st: Stack, load: Load, timeout: float = 30.0, live: bool = True
) -> collections.Counter[str]:
    """Every answered request has its row (waiting for the ledger to catch up), and no row is doubled.
    ``live``: the stack still runs, so a resend may still be on its way: settle the ledger first."""
    answered = set(load.answered)
    assert len(answered) == len(load.answered)
    try:
        wait_until(lambda: answered <= set(ledger_counts(st, load.prefix)), timeout, 0.2)
    except TimeoutError:
        missing = answered - set(ledger_counts(st, load.prefix))
        raise AssertionError(
            f"{len(missing)} answered requests have no row, e.g. {sorted(missing)[:5]}:\n{st.logs()[-3000:]}"
        ) from None
    if live:
        st.settle()  # every event sent so far, resends included, is in: doubles would show now
    counts = ledger_counts(st, load.prefix)
    doubled = {rid: n for rid, n in counts.items() if n > 1}
    assert not doubled, f"{len(doubled)} requests recorded more than once: {list(doubled.items())[:5]}"
    unexpected = set(counts) - answered - set(load.failed)
    assert not unexpected, f"rows for requests never sent: {sorted(unexpected)[:5]}"
    return counts


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """A Prometheus text page as {(sample name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def metric_total(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(
        v
        for (n, ls), v in samples.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    )
