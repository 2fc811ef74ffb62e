"""GATEWAY_WORKERS=N against the real processes: one parent, N workers on one port, one recorder.

Which worker answered is read from ``/health`` (each names its pid, and counts its own events); every
``/health`` and ``/metrics`` here goes over a fresh connection, so the kernel picks a worker each time.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.load import (
    Load,
    assert_exactly_once,
    fake_provider_process,
    ledger_counts,
    metric_samples,
    metric_total,
)
from tests.procs import Service, Stack, base_env, free_port, http_ok, stack, start, wait_until

WORKERS = "2"
SLOW = {"model": "gpt-4o-mini@fault=latency:0.1", "messages": [{"role": "user", "content": "hello workers"}]}


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with fake_provider_process("openai") as url:
        yield url


def fresh_get(url: str) -> httpx.Response:
    """One request on its own connection (``Connection: close``): the kernel chooses the worker anew."""
    return httpx.get(url, headers={"connection": "close"}, timeout=5)


def worker_health(base: str, n: int, until: Any = lambda h: True) -> dict[int, dict[str, Any]]:
    """``/health`` of all ``n`` workers by pid, polled until each satisfies ``until``."""
    seen: dict[int, dict[str, Any]] = {}

    def all_seen() -> bool:
        h = fresh_get(base + "/health").json()
        seen[h["worker"]["pid"]] = h
        return len(seen) == n and all(until(x) for x in seen.values())

    wait_until(all_seen, 60, 0.01)
    return seen


def alive(pid: int) -> bool:
    """Running, not a zombie (a container's PID 1 may never reap an orphan)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before, or while, the file was read
        return False


def start_workers(st: Stack, name: str, env: dict[str, str]) -> Service:
    svc = start(name, "services.gateway", env, st.tmp)
    st.services[name] = svc
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    wait_until(lambda: svc.proc.poll() is not None or http_ok(url + "/health"), 60)
    assert svc.proc.poll() is None, svc.log()
    return svc


def test_two_workers_share_the_port_the_recorder_and_the_metrics_and_drain_on_sigterm(
    tmp_path: Path, fake_url: str
) -> None:
    with stack(tmp_path, {"openai": fake_url + "/v1"}, GATEWAY_WORKERS=WORKERS) as st:
        url = st.gateway_url
        before = worker_health(url, 2)
        assert all(
            h["worker"]["of"] == 2 and "this worker's own" in h["worker"]["scope"] for h in before.values()
        )
        assert sorted(h["worker"]["index"] for h in before.values()) == [1, 2]

        load = Load(url + "/v1/chat/completions", 600, 32, "workers").start().join()
        assert len(load.answered) == 600, list(load.failed.items())[:5]
        assert_exactly_once(st, load)
        done = worker_health(url, 2, lambda h: h["events"]["queued"] == 0 and h["events"]["acked"] > 0)
        # both workers answered; their own counts add up to every request, each acknowledged once
        assert sum(h["events"]["acked"] for h in done.values()) == 600 + st.markers  # settle's markers
        assert all(h["events_all_workers"] == {"queued": 0, "unacked": 0} for h in done.values())

        for _ in range(4):  # whichever worker answers, /metrics is the whole gateway
            g = metric_samples(fresh_get(url + "/metrics").text)
            assert metric_total(g, "ekai_requests_total", provider="openai", status="200") == 600
            assert metric_total(g, "ekai_request_duration_seconds_count", provider="openai") == 600
            assert metric_total(g, "ekai_events_acked_total") == 600 + st.markers
            assert metric_total(g, "ekai_events_queued") == 0
            assert metric_total(g, "ekai_provider_breaker_state", provider="openai") == 0

        slow = Load(url + "/v1/chat/completions", 2000, 16, "drain", body=SLOW).start()
        slow.wait_for(200)
        gateway = st.services["gateway"]
        gateway.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: gateway.log().count("SIGTERM; shutting down") == 2, 30)
        for pid in done:  # a second SIGTERM mid-drain (honcho, a terminal: the whole group) is ignored
            os.kill(pid, signal.SIGTERM)
        assert gateway.proc.wait(15) == 0, gateway.log()[-3000:]
        slow.join()
        log = gateway.log()
        assert log.count("all events acknowledged") == 2, log[-3000:]
        assert "worker 1 exited with status 0, worker 2 exited with status 0); exit 0" in log
        # the gateway is gone, so nothing is left to resend: the ledger is final
        counts = ledger_counts(st, "drain")
        assert set(slow.answered) <= set(counts) <= set(slow.answered) | set(slow.failed)
        assert set(counts.values()) == {1}
        assert 200 <= len(slow.answered) < 2000
        assert not any(alive(h["worker"]["pid"]) for h in done.values())


def test_repeated_sigterms_through_the_whole_shutdown_never_kill_a_drained_worker(
    tmp_path: Path, fake_url: str
) -> None:
    """honcho signals the process group and the parent forwards the signal: a worker with nothing to drain stops
    in a millisecond, and a copy arriving after its loop closed (the default action back) killed it, so the
    parent said "killed by SIGTERM" and exited 1 (CI, session 20). Here every worker gets SIGTERM again and again
    until it is gone."""
    with stack(tmp_path, {"openai": fake_url + "/v1"}, GATEWAY_WORKERS=WORKERS) as st:
        pids = list(worker_health(st.gateway_url, 2))
        gateway = st.services["gateway"]
        gateway.proc.send_signal(signal.SIGTERM)
        while any(alive(pid) for pid in pids):
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        assert gateway.proc.wait(15) == 0, gateway.log()[-3000:]
        assert "worker 1 exited with status 0, worker 2 exited with status 0); exit 0" in gateway.log()


def test_a_worker_that_dies_stops_the_gateway_with_status_1(tmp_path: Path, fake_url: str) -> None:
    with stack(tmp_path, {"openai": fake_url + "/v1"}, GATEWAY_WORKERS=WORKERS) as st:
        workers = worker_health(st.gateway_url, 2)
        load = Load(st.gateway_url + "/v1/chat/completions", 300, 8, "crash").start().join()
        assert len(load.answered) == 300
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        gateway = st.services["gateway"]
        assert gateway.proc.wait(15) == 1
        log = gateway.log()
        assert f"(pid {victim}) was killed by SIGKILL unasked; nothing restarts it" in log, log[-3000:]
        assert log.count("all events acknowledged") == 1  # the survivor drained
        assert not any(alive(pid) for pid in workers)


def test_a_second_gateway_on_a_taken_port_refuses_to_start(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"GATEWAY_WORKERS": WORKERS}
    st = Stack(env, tmp_path)
    try:
        first = start_workers(st, "first", env)
        second = start("second", "services.gateway", env, tmp_path)  # SO_REUSEPORT would let it in
        st.services["second"] = second
        assert second.proc.wait(30) == 1
        assert f"127.0.0.1:{env['GATEWAY_PORT']} is already in use" in second.log(), second.log()
        assert "workers on" not in second.log()
        assert first.proc.poll() is None
    finally:
        st.stop_all()


def test_a_single_gateway_on_a_taken_port_says_so_in_one_line(tmp_path: Path) -> None:
    """One process (GATEWAY_WORKERS=1) on a port something else holds: exit 1 with the reason, no start-up
    line saying it listens, no traceback."""
    env = base_env(tmp_path)
    st = Stack(env, tmp_path)
    try:
        first = start("first", "services.gateway", env, tmp_path)
        st.services["first"] = first
        wait_until(lambda: http_ok(f"http://127.0.0.1:{env['GATEWAY_PORT']}/health"), 30)
        second = start("second", "services.gateway", env, tmp_path)
        st.services["second"] = second
        assert second.proc.wait(30) == 1
        log = second.log()
        assert f"gateway: 127.0.0.1:{env['GATEWAY_PORT']} is already in use" in log, log
        assert "Traceback" not in log and "gateway on" not in log, log
        assert first.proc.poll() is None
    finally:
        st.stop_all()


def test_workers_of_a_killed_parent_drain_and_free_the_port(tmp_path: Path) -> None:
    env = base_env(tmp_path) | {"GATEWAY_WORKERS": WORKERS}
    st = Stack(env, tmp_path)
    try:
        parent = start_workers(st, "gateway", env)
        workers = worker_health(st.gateway_url, 2)
        parent.stop(signal.SIGKILL)
        wait_until(lambda: not any(alive(pid) for pid in workers), 20)
        assert parent.log().count("the parent process is gone; shutting down") == 2, parent.log()
        with pytest.raises(httpx.ConnectError):  # nothing keeps the port
            fresh_get(st.gateway_url + "/health")
    finally:
        st.stop_all()


def test_two_hosts_each_with_two_workers_feed_one_recorder_over_tcp(tmp_path: Path, fake_url: str) -> None:
    """Two "hosts" (two parents on two ports, each with its own metrics) and one recorder on a tcp://
    endpoint: four DEALERs on one ROUTER, each acknowledged its own events."""
    with stack(tmp_path, {"openai": fake_url + "/v1"}, GATEWAY_WORKERS=WORKERS) as st:
        assert st.env["EVENTS_ENDPOINT"].startswith("tcp://127.0.0.1:")
        host_b = dict(st.env, GATEWAY_PORT=str(free_port()))
        start_workers(st, "host-b", host_b)
        url_b = f"http://127.0.0.1:{host_b['GATEWAY_PORT']}"
        a = Load(st.gateway_url + "/v1/chat/completions", 300, 16, "host-a").start()
        b = Load(url_b + "/v1/chat/completions", 200, 16, "host-b").start()
        a.join()
        b.join()
        assert len(a.answered) == 300 and len(b.answered) == 200
        assert_exactly_once(st, a)
        assert_exactly_once(st, b)
        for url, n in ((st.gateway_url, 300), (url_b, 200)):  # each host's metrics are its own
            worker_health(url, 2, lambda h: h["events"]["queued"] == 0)
            g = metric_samples(fresh_get(url + "/metrics").text)
            assert metric_total(g, "ekai_requests_total", status="200") == n
        rec = metric_samples(httpx.get(f"http://127.0.0.1:{st.env['RECORDER_METRICS_PORT']}/metrics").text)
        assert metric_total(rec, "ekai_recorder_gateway_connections") == 4
        assert metric_total(rec, "ekai_recorder_rows_total", result="inserted") == 500 + st.markers


def test_the_parent_says_the_gateway_listens_only_once_every_worker_does(tmp_path: Path) -> None:
    """Each worker logs that it listens once its socket does (aiohttp's start-up hook, after the site
    started), then tells the parent; the parent's line comes after all of theirs (newcomer review, s11: it
    said "2 workers on …" right after starting them, before either had even imported)."""
    env = base_env(tmp_path) | {"GATEWAY_WORKERS": WORKERS}
    st = Stack(env, tmp_path)
    try:
        svc = start_workers(st, "gateway", env)
        where = f"127.0.0.1:{env['GATEWAY_PORT']}"
        said = f"gateway: all 2 workers listening on {where}"
        wait_until(lambda: said in svc.log() or svc.proc.poll() is not None, 60)
        log = svc.log()
        assert log.count(said) == 1, log
        before = log[: log.index(said)]
        for index in (1, 2):
            assert f"worker {index} of 2 listening on http://{where}" in before, log
        assert "workers on" not in log, log  # the old line, said before any worker listened
    finally:
        st.stop_all()


def test_a_single_gateway_says_it_listens_once_it_does(tmp_path: Path) -> None:
    with stack(tmp_path) as st:
        wait_until(lambda: "gateway listening on" in st.services["gateway"].log(), 30)
        log = st.services["gateway"].log()
        assert log.count(f"gateway listening on {st.gateway_url}") == 1, log
        starting = log.index("gateway starting; providers configured")
        assert starting < log.index("gateway listening on"), log  # configured first, then listening
        assert "gateway on " not in log, log
