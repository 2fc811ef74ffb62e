"""The ledger in PostgreSQL, end to end: real gateways, real recorders, the fake provider, a real server.

The claims of tests/recorder/test_ledger_stack.py hold with ``DATABASE_URL`` too: one row per answered
request, none missing, none doubled, whatever happens to a recorder. And beyond one machine: two "hosts",
each a gateway and its own recorder on its own endpoint, writing one database, one recorder killed and
restarted under load; the database connection cut under load.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_ledger_stack import CONCURRENCY, assert_exactly_once, health_events

from services.recorder.pg_store import APPLICATION_NAME
from tests.ledger_db import query
from tests.load import Load, fake_provider_process
from tests.procs import Stack, base_env, free_port, http_ok, stack, start, wait_until

N = 1500


@pytest.fixture(scope="module")
def fake_url() -> Iterator[str]:
    with fake_provider_process("openai") as url:
        yield url


def _rollup_is_exact(url: str) -> None:
    [check] = query(
        url,
        "SELECT (SELECT count(*) FROM requests) AS ledger, "
        "(SELECT coalesce(sum(requests), 0) FROM usage_hourly) AS rolled, "
        "(SELECT coalesce(sum(input_tokens), 0) FROM requests) AS ledger_in, "
        "(SELECT coalesce(sum(input_tokens), 0) FROM usage_hourly) AS rolled_in",
    )
    assert check["ledger"] == check["rolled"] and check["ledger_in"] == check["rolled_in"], check


def test_gateway_and_recorder_into_postgres_recorder_sigkill(
    tmp_path: Path, fake_url: str, pg_url: str
) -> None:
    with stack(
        tmp_path, {"openai": fake_url + "/v1"}, DATABASE_URL=pg_url, RECORDER_FLUSH_INTERVAL="0.2"
    ) as st:
        assert not Path(st.db_path).exists()  # nothing goes to SQLite
        load = Load(st.gateway_url + "/v1/chat/completions", N, CONCURRENCY, "pgkill").start()
        load.wait_for(N // 3)
        assert st.services["recorder"].stop(signal.SIGKILL) == -signal.SIGKILL
        load.wait_for(N // 3 + N // 20)  # answered while the recorder is down
        st.start_recorder("recorder2")
        load.join()
        assert not load.failed and len(load.answered) == N
        counts = assert_exactly_once(st, load)
        assert sum(counts.values()) == N
        wait_until(lambda: health_events(st)["queued"] == 0, 15)
        assert health_events(st)["resent"] > 0
        [row] = st.rows("request_id = ?", (load.answered[0],))
        assert row["status"] == 200 and row["provider"] == "openai" and row["input_tokens"] > 0
    assert not Path(st.db_path).exists()
    _rollup_is_exact(pg_url)


def test_two_hosts_two_recorders_one_database(tmp_path: Path, fake_url: str, pg_url: str) -> None:
    """Host A and host B each run a gateway and a recorder (own endpoints), both recorders writing the
    same PostgreSQL. Host A's recorder is SIGKILLed under load and restarted: every request once."""
    hosts: list[Stack] = []
    try:
        for name in ("a", "b"):
            env = base_env(tmp_path / name)
            (tmp_path / name).mkdir()
            env.update(
                OPENAI_API_KEY="sk-test-openai-secret-key",
                OPENAI_BASE_URL=fake_url + "/v1",
                DATABASE_URL=pg_url,
                RECORDER_FLUSH_INTERVAL="0.2",
            )
            st = Stack(env, tmp_path / name)
            hosts.append(st)
            st.start_recorder()
            st.services["gateway"] = gw = start("gateway", "services.gateway", env, st.tmp)
            wait_until(
                lambda gw=gw, st=st: gw.proc.poll() is not None or http_ok(st.gateway_url + "/health"),
                60,  # a deadline only a hang reaches: a loaded machine starts slowly
            )
            assert gw.proc.poll() is None, gw.log()
        a, b = hosts
        assert a.env["EVENTS_ENDPOINT"] != b.env["EVENTS_ENDPOINT"]
        load_a = Load(a.gateway_url + "/v1/chat/completions", N, 8, "host-a").start()
        load_b = Load(b.gateway_url + "/v1/chat/completions", N, 8, "host-b").start()
        load_a.wait_for(N // 3)
        assert a.services["recorder"].stop(signal.SIGKILL) == -signal.SIGKILL
        load_a.wait_for(N // 3 + N // 20)  # answered while the recorder is down
        a.start_recorder("recorder2")
        load_a.join()
        load_b.join()
        assert not load_a.failed and not load_b.failed
        assert sum(assert_exactly_once(a, load_a).values()) == N
        assert sum(assert_exactly_once(b, load_b).values()) == N
        wait_until(lambda: health_events(a)["queued"] == 0 and health_events(b)["queued"] == 0, 15)
    finally:
        for st in hosts:
            st.stop_all()
    assert query(pg_url, "SELECT count(*) AS n FROM requests WHERE request_id LIKE 'host-%'") == [
        {"n": 2 * N}
    ]
    _rollup_is_exact(pg_url)


def test_database_connection_cut_under_load_loses_nothing(tmp_path: Path, fake_url: str, pg_url: str) -> None:
    """The server drops the recorder's connection (a restart, a failover) several times under load: a
    batch caught mid-transaction is retried on a new connection (the log says "retrying"), an idle
    connection is replaced by the pool at its next use; either way nothing is acknowledged before its
    commit, and every answered request is in the ledger exactly once."""
    with stack(tmp_path, {"openai": fake_url + "/v1"}, DATABASE_URL=pg_url) as st:
        load = Load(st.gateway_url + "/v1/chat/completions", N, CONCURRENCY, "pgcut").start()
        killed = 0
        for _ in range(3):
            load.wait_for(load.done + N // 5)
            killed += query(
                pg_url,
                "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                f"AND application_name = '{APPLICATION_NAME}'",
            )[0]["n"]
        load.join()
        assert killed >= 3  # the recorder's own connection was cut each time
        assert not load.failed
        assert sum(assert_exactly_once(st, load).values()) == N
        assert st.services["recorder"].proc.poll() is None  # it kept running
    _rollup_is_exact(pg_url)


def test_recorder_refuses_to_start_without_its_database(tmp_path: Path, pg_url: str) -> None:
    env = base_env(tmp_path)
    env["DATABASE_URL"] = pg_url.rsplit("/", 1)[0] + f"/missing_{free_port()}"
    svc = start("recorder", "services.recorder", env, tmp_path)
    try:
        assert svc.proc.wait(120) == 1
    finally:
        svc.stop()  # reaped even when it did not exit
    assert "recorder failed" in svc.log() and "Traceback" not in svc.log()


def test_usage_json_and_csv_read_postgres(tmp_path: Path, fake_url: str, pg_url: str) -> None:
    """Gateway and recorder -> PostgreSQL -> the gateway's own ``GET /usage``: JSON totals and the CSV
    export hold exactly the answered requests, as PostgreSQL has them (no SQLite file anywhere)."""
    import csv
    import io
    import urllib.request

    n = 120
    with stack(tmp_path, {"openai": fake_url + "/v1"}, DATABASE_URL=pg_url) as st:
        load = Load(st.gateway_url + "/v1/chat/completions", n, 8, "pgusage").start().join()
        assert not load.failed and len(load.answered) == n
        wait_until(lambda: len(query(pg_url, "SELECT event_id FROM requests")) == n, 15)
        with urllib.request.urlopen(st.gateway_url + "/usage?from=1h&group_by=provider", timeout=10) as r:
            body = json.loads(r.read())
        with urllib.request.urlopen(st.gateway_url + "/usage?from=1h&format=csv", timeout=10) as r:
            assert r.headers["content-type"].startswith("text/csv")
            rows = list(csv.DictReader(io.StringIO(r.read().decode())))
    [db] = query(
        pg_url,
        "SELECT count(*) AS n, sum(input_tokens) AS input, sum(output_tokens) AS output FROM requests",
    )
    totals = body["totals"]
    assert (totals["requests"], totals["input_tokens"], totals["output_tokens"]) == (
        n,
        db["input"],
        db["output"],
    )
    assert [g["provider"] for g in body["groups"]] == ["openai"] and body["groups"][0]["requests"] == n
    assert sorted(r["request_id"] for r in rows) == sorted(load.answered)
    assert {r["event_id"] for r in rows} == {
        r["event_id"] for r in query(pg_url, "SELECT event_id FROM requests")
    }
    assert not Path(st.db_path).exists()
