"""The ledger under load, against the real gateway and recorder processes and the fake provider.

The claim: exactly one row per answered request, none missing, none doubled, whatever happens to the
recorder (SIGKILL, restarted once or twice) and when the whole stack gets SIGTERM mid-load.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.load import Load, assert_exactly_once, fake_provider_process, ledger_counts
from tests.load import metric_samples as _samples
from tests.load import metric_total as _total
from tests.procs import ROOT, Stack, base_env, free_port, http_ok, stack, start, wait_until

N = 2000
CONCURRENCY = 16
KEY = "sk-test-openai-secret-key"  # what tests.procs.stack configures


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with fake_provider_process("openai") as url:
        yield url


def restart_recorder(st: Stack) -> None:
    before = st.services["recorder"].log().count("recorder started")
    svc = st.start_recorder()
    wait_until(lambda: svc.log().count("recorder started") > before or svc.proc.poll() is not None, 60)
    assert svc.proc.poll() is None, svc.log()


def health_events(st: Stack) -> dict[str, int]:
    return dict(httpx.get(st.gateway_url + "/health").json()["events"])


def test_recorder_sigkill_mid_load_loses_nothing_and_doubles_nothing(tmp_path: Path, fake_url: str) -> None:
    # Production's flush interval: the killed recorder holds a fair number of uncommitted events.
    with stack(tmp_path, {"openai": fake_url + "/v1"}, RECORDER_FLUSH_INTERVAL="0.2") as st:
        load = Load(st.gateway_url + "/v1/chat/completions", N, CONCURRENCY, "kill1").start()
        load.wait_for(N // 3)
        assert st.services["recorder"].stop(signal.SIGKILL) == -signal.SIGKILL
        killed_at = load.done
        load.wait_for(killed_at + N // 10)  # the gateway answers and queues while the recorder is down
        restart_recorder(st)
        load.join()
        assert not load.failed and len(load.answered) == N  # no request waited on the recorder
        counts = assert_exactly_once(st, load)
        assert sum(counts.values()) == N
        wait_until(lambda: health_events(st)["queued"] == 0, 15)
        events = health_events(st)
        assert events["dropped"] == 0
        assert events["resent"] > 0  # what the killed recorder held was sent again
        print(
            f"\nrecorder SIGKILL after {killed_at} of {N} requests, down for {N // 10}: {len(load.answered)} answered, "
            f"{sum(counts.values())} rows, {events['resent']} events resent, "
            f"{len(load.answered) / load.elapsed_s:.0f} req/s"
        )


def test_recorder_restarted_twice_mid_load(tmp_path: Path, fake_url: str) -> None:
    with stack(tmp_path, {"openai": fake_url + "/v1"}, RECORDER_FLUSH_INTERVAL="0.2") as st:
        load = Load(st.gateway_url + "/v1/chat/completions", N, CONCURRENCY, "kill2").start()
        load.wait_for(N // 4)
        st.services["recorder"].stop(signal.SIGKILL)
        load.wait_for(N // 4 + N // 20)  # answered while the recorder is down
        restart_recorder(st)
        load.wait_for(N // 2)
        st.services["recorder"].stop(signal.SIGKILL)
        load.wait_for(N // 2 + N // 20)
        restart_recorder(st)
        load.join()
        assert not load.failed
        counts = assert_exactly_once(st, load)
        assert sum(counts.values()) == N
        print(
            f"\nrecorder SIGKILLed twice: {len(load.answered)} answered, {sum(counts.values())} rows, "
            f"{health_events(st)['resent']} events resent"
        )


def test_sigterm_to_the_whole_stack_mid_load(tmp_path: Path, fake_url: str) -> None:
    # Each request takes 0.2 s upstream, so a dozen are in flight when the signal lands.
    with stack(tmp_path, {"openai": fake_url + "/v1"}) as st:
        load = Load(
            st.gateway_url + "/v1/chat/completions",
            N,
            CONCURRENCY,
            "term",
            body={
                "model": "gpt-4o-mini@fault=latency:0.2",
                "messages": [{"role": "user", "content": "hello ledger"}],
            },
        ).start()
        load.wait_for(200)
        gateway, recorder = st.services["gateway"], st.services["recorder"]
        signal_at = time.perf_counter()
        gateway.proc.send_signal(signal.SIGTERM)
        recorder.proc.send_signal(signal.SIGTERM)  # as honcho does: both at once
        at_signal = len(load.answered)
        assert gateway.proc.wait(10) == 0
        assert recorder.proc.wait(10) == 0
        load.join()
        # in-flight requests were let finish: some were sent before the signal and answered 200 after it (by the
        # load's own clock: counting answers after the signal raced a busy machine, where every in-flight one
        # could end before this thread ran again)
        in_flight = [rid for rid, (sent, done) in load.spans.items() if sent < signal_at < done]
        assert in_flight, (at_signal, len(load.answered), load.failed)
        counts = assert_exactly_once(st, load, timeout=2, live=False)  # both are gone: it is all there
        assert sum(counts.values()) == len(load.answered)
        assert "all events acknowledged" in gateway.log(), gateway.log()[-2000:]
        assert "waiting for 1 draining gateway" in recorder.log()
        print(
            f"\nSIGTERM to the stack after {at_signal} answers: {len(load.answered)} answered, "
            f"{len(load.failed)} refused, {sum(counts.values())} rows"
        )


def test_sigterm_lets_a_slow_stream_finish_and_records_it(tmp_path: Path, fake_url: str) -> None:
    body = json.dumps(
        {
            "model": "gpt-4o-mini@fault=hold-mid-stream",  # two content frames, then held until released
            "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six seven"}],
        }
    ).encode()
    with stack(tmp_path, {"openai": fake_url + "/v1"}) as st:
        port = int(st.env["GATEWAY_PORT"])
        received = bytearray()
        first_bytes = threading.Event()

        def stream() -> None:
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Connection: close\r\nx-request-id: slow-stream-1\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                while chunk := s.recv(65536):
                    received.extend(chunk)
                    first_bytes.set()

        reader = threading.Thread(target=stream, daemon=True)
        reader.start()
        assert first_bytes.wait(10)
        at_signal = bytes(received)
        st.services["gateway"].proc.send_signal(signal.SIGTERM)
        st.services["recorder"].proc.send_signal(signal.SIGTERM)

        def refused() -> bool:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return True
            return False

        wait_until(refused, 30, 0.05)  # no longer accepting, while the stream is held: no race with its end
        assert reader.is_alive() and b"data: [DONE]" not in received
        httpx.post(fake_url + "/_fake/release")  # now the rest of the answer
        reader.join(30)
        assert not reader.is_alive()
        # Order, not duration: the stream was unfinished at the signal, went on after it, to its end.
        assert b"data: [DONE]" not in at_signal and len(received) > len(at_signal)
        assert b"data: [DONE]" in received
        assert st.services["gateway"].proc.wait(10) == 0
        assert st.services["recorder"].proc.wait(10) == 0
        rows = st.rows("request_id = ?", ("slow-stream-1",))
        assert len(rows) == 1, st.logs()
        assert rows[0]["status"] == 200 and rows[0]["streamed"] == 1 and rows[0]["client_disconnected"] == 0
        assert rows[0]["output_tokens"] > 0


def test_gateway_sigkill_loses_only_the_last_moments(tmp_path: Path, fake_url: str) -> None:
    """Measures the window a gateway SIGKILL loses: events published but not yet handed to the kernel."""
    with stack(tmp_path, {"openai": fake_url + "/v1"}, RECORDER_FLUSH_INTERVAL="0.2") as st:
        load = Load(st.gateway_url + "/v1/chat/completions", N, CONCURRENCY, "gwkill").start()
        load.wait_for(N // 2)
        st.services["gateway"].stop(signal.SIGKILL)
        killed_after_s = time.perf_counter() - load.started_at
        load.join()
        assert st.services["recorder"].stop() == 0  # on SIGTERM it commits all that reached it, then exits
        counts = ledger_counts(st, "gwkill")
        assert all(n == 1 for n in counts.values())
        assert set(counts) <= set(load.answered) | set(load.failed)
        lost = set(load.answered) - set(counts)
        rate = len(load.answered) / killed_after_s
        window_ms = len(lost) / rate * 1000
        print(
            f"\ngateway SIGKILL: {len(load.answered)} answered, {len(lost)} without a row "
            f"(at {rate:.0f} req/s: a window of {window_ms:.0f} ms)"
        )
        # How many are lost depends on the machine's speed: a measurement printed above, not asserted.
        assert counts and len(lost) < len(load.answered)


def test_metrics_on_both_processes(tmp_path: Path, fake_url: str) -> None:
    with stack(tmp_path, {"openai": fake_url + "/v1"}) as st:
        load = Load(st.gateway_url + "/v1/chat/completions", 300, 8, "metrics").start().join()
        assert len(load.answered) == 300
        streamed = (
            Load(
                st.gateway_url + "/v1/chat/completions",
                20,
                4,
                "mstream",
                body={
                    "model": "gpt-4o-mini",
                    "stream": True,
                    "messages": [{"role": "user", "content": "hi"}],
                },
            )
            .start()
            .join()
        )
        assert len(streamed.answered) == 20
        assert (
            httpx.post(
                st.gateway_url + "/v1/chat/completions",
                json={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]},
            ).status_code
            == 404
        )
        assert_exactly_once(st, load)
        wait_until(lambda: health_events(st)["queued"] == 0, 10)
        resp = httpx.get(st.gateway_url + "/metrics")
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        assert KEY not in resp.text and "sk-" not in resp.text
        g = _samples(resp.text)
        assert _total(g, "ekai_requests_total", provider="openai", model="gpt-4o-mini", status="200") == 320
        # Two unknown models: the one above and the marker of assert_exactly_once's settle.
        assert _total(g, "ekai_requests_total", status="404", model="") == 2  # client input is no label
        assert _total(g, "ekai_request_errors_total", error_type="model_not_found") == 2
        assert _total(g, "ekai_request_duration_seconds_count", provider="openai") == 320
        assert _total(g, "ekai_time_to_first_token_seconds_count", provider="openai") == 20
        assert _total(g, "ekai_tokens_total", provider="openai", kind="input") > 0
        assert _total(g, "ekai_tokens_total", provider="openai", kind="output") > 0
        assert _total(g, "ekai_cost_usd_total", provider="openai") > 0
        assert _total(g, "ekai_provider_breaker_state", provider="openai") == 0
        assert _total(g, "ekai_events_acked_total") == 322
        assert _total(g, "ekai_events_queued") == 0 and _total(g, "ekai_events_unacked") == 0
        assert ("ekai_events_dropped_total", ()) in g and ("ekai_events_resent_total", ()) in g

        r = httpx.get(f"http://127.0.0.1:{st.env['RECORDER_METRICS_PORT']}/metrics")
        assert r.status_code == 200
        rec = _samples(r.text)
        assert _total(rec, "ekai_recorder_rows_total", result="inserted") == 322
        assert _total(rec, "ekai_recorder_events_acked_total") == 322
        assert _total(rec, "ekai_recorder_batch_size_count") >= 1
        assert _total(rec, "ekai_recorder_batch_size_sum") == 322
        assert _total(rec, "ekai_recorder_commit_seconds_count") == _total(
            rec, "ekai_recorder_batch_size_count"
        )
        assert _total(rec, "ekai_recorder_lag_seconds_count") == 322
        # Each batch committed in a transaction; merged batches share one.
        assert (
            1 <= _total(rec, "ekai_recorder_commits_total") <= _total(rec, "ekai_recorder_batch_size_count")
        )
        assert _total(rec, "ekai_recorder_gateway_connections") == 1
        assert KEY not in r.text


def test_two_gateway_workers_one_recorder_and_shared_metrics(tmp_path: Path, fake_url: str) -> None:
    prom = tmp_path / "prom"
    prom.mkdir()
    with stack(tmp_path, {"openai": fake_url + "/v1"}, PROMETHEUS_MULTIPROC_DIR=str(prom)) as st:
        env2 = dict(st.env, GATEWAY_PORT=str(free_port()))
        second = start("gateway2", "services.gateway", env2, tmp_path)
        st.services["gateway2"] = second
        url2 = f"http://127.0.0.1:{env2['GATEWAY_PORT']}"
        wait_until(lambda: http_ok(url2 + "/health"), 60)  # a loaded machine: as procs.start_gateway
        a = Load(st.gateway_url + "/v1/chat/completions", 400, 8, "worker-a").start()
        b = Load(url2 + "/v1/chat/completions", 300, 8, "worker-b").start()
        st.services["recorder"].stop(signal.SIGKILL)  # and a recorder restart in the middle, for good measure
        a.wait_for(a.done + 40)  # answered while the recorder is down
        restart_recorder(st)
        a.join()
        b.join()
        assert len(a.answered) == 400 and len(b.answered) == 300
        assert_exactly_once(st, a)
        assert_exactly_once(st, b)
        for url in (st.gateway_url, url2):  # either worker answers for both
            g = _samples(httpx.get(url + "/metrics").text)
            assert _total(g, "ekai_requests_total", status="200") == 700
            assert _total(g, "ekai_request_duration_seconds_count", provider="openai") == 700


@pytest.mark.parametrize("workers", [1, 2])
def test_stopping_honcho_mid_load_loses_nothing(tmp_path: Path, fake_url: str, workers: int) -> None:
    """`make run` is honcho: on SIGTERM it signals every process at once and kills them after 5 s.
    With GATEWAY_WORKERS=2 each worker gets SIGTERM twice (honcho's to the process group, the parent's)."""
    env = base_env(tmp_path)
    env.update(OPENAI_API_KEY=KEY, OPENAI_BASE_URL=fake_url + "/v1", GATEWAY_WORKERS=str(workers))
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        f"recorder: exec {sys.executable} -m services.recorder\n"
        f"gateway: exec {sys.executable} -m services.gateway\n"
    )
    log = (tmp_path / "honcho.log").open("wb")
    honcho = subprocess.Popen(
        [str(Path(sys.executable).with_name("honcho")), "-f", str(procfile), "-d", str(ROOT), "start"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    try:
        wait_until(lambda: http_ok(url + "/health"), 60)
        st = Stack(env, tmp_path)
        load = Load(
            url + "/v1/chat/completions",
            N,
            CONCURRENCY,
            "honcho",
            body={
                "model": "gpt-4o-mini@fault=latency:0.1",
                "messages": [{"role": "user", "content": "hello ledger"}],
            },
        ).start()
        load.wait_for(300)
        honcho.send_signal(signal.SIGTERM)
        assert honcho.wait(15) is not None
        load.join()
    finally:
        if honcho.poll() is None:
            honcho.kill()
        log.close()
    output = (tmp_path / "honcho.log").read_text(errors="replace")
    assert output.count("all events acknowledged") == workers, output[-3000:]
    assert workers == 1 or "2 workers stopped" in output and "exit 0" in output, output[-3000:]
    assert "SIGKILL" not in output and "Killing" not in output, output[-3000:]  # all within honcho's 5 s
    counts = assert_exactly_once(st, load, timeout=2, live=False)  # the stack is gone
    assert sum(counts.values()) == len(load.answered) >= 300
