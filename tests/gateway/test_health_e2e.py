"""``GET /health`` tells a load balancer (its HTTP status) and a human (``status``, ``reasons``) whether the
gateway can serve (newcomer review, session 11: it said "ok" with no recorder and no provider).
Real processes: recorder and gateway (one process, then GATEWAY_WORKERS=2); the fake provider in a thread.
Verdicts are waited for (``wait_until``), never timed: a connection to the recorder is made in the background.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.fake_provider import FakeProvider
from tests.procs import Stack, stack, wait_until

UNKNOWN = {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}  # an event, no provider


def health(st: Stack) -> httpx.Response:
    return httpx.get(st.gateway_url + "/health", headers={"connection": "close"}, timeout=10)


def codes(resp: httpx.Response) -> set[str]:
    return {r["code"] for r in resp.json()["reasons"]}


def until(st: Stack, check: Any) -> httpx.Response:
    """The first ``/health`` answer that satisfies ``check``."""
    found: list[httpx.Response] = []

    def seen() -> bool:
        found[:] = [health(st)]
        return bool(check(found[0]))

    try:
        wait_until(seen, 30, 0.02)
    except TimeoutError:
        raise AssertionError(
            f"/health never satisfied the check; last: {found[0].text}\n{st.logs()}"
        ) from None
    return found[0]


def test_no_provider_configured_is_degraded_but_serving(tmp_path: Path) -> None:
    with stack(tmp_path) as st:
        resp = until(st, lambda r: "recorder_not_connected" not in codes(r))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["status"] == "degraded" and codes(resp) == {"no_provider_configured"}
        assert "OPENAI_API_KEY" in body["reasons"][0]["message"]
        assert body["recorder"] == {"connected": True}


def test_ok_then_every_provider_cooling_down_is_503_then_recorder_gone(
    tmp_path: Path, fake: FakeProvider
) -> None:
    with stack(
        tmp_path, {"openai": fake.openai_base_url}, BREAKER_FAILURES="1", BREAKER_COOLDOWN="600"
    ) as st:
        ok = until(st, lambda r: r.json()["status"] == "ok")
        assert ok.status_code == 200 and ok.json()["reasons"] == [] and ok.json()["recorder"]["connected"]
        failed = httpx.post(
            st.gateway_url + "/v1/chat/completions",
            json={"model": "gpt-4o-mini@fault=status:500", "messages": [{"role": "user", "content": "x"}]},
        )
        assert failed.status_code == 500, failed.text
        down = health(st)
        assert down.status_code == 503, down.text
        assert down.json()["status"] == "unavailable" and codes(down) == {"all_providers_cooling_down"}
        assert "openai (circuit_open)" in down.json()["reasons"][0]["message"]
        assert 1 <= int(down.headers["retry-after"]) <= 600
        assert down.json()["providers"]["openai"]["state"] == "cooling_down"  # the fields stay as they were
        st.settle()  # the tests' handshake reads /health's events through a 503 too (procs.Stack.health)

        st.services["recorder"].stop()
        gone = until(st, lambda r: "recorder_not_connected" in codes(r))
        assert gone.status_code == 503 and gone.json()["recorder"] == {"connected": False}


def test_recorder_gone_then_events_piling_up_and_dropped_are_degraded(
    tmp_path: Path, fake: FakeProvider
) -> None:
    with stack(tmp_path, {"openai": fake.openai_base_url}, EVENT_QUEUE_MAX="4") as st:
        until(st, lambda r: r.json()["status"] == "ok")
        st.services["recorder"].stop()
        gone = until(st, lambda r: r.json()["status"] != "ok")
        assert gone.status_code == 200 and codes(gone) == {"recorder_not_connected"}
        assert "held in memory" in gone.json()["reasons"][0]["message"]
        for _ in range(2):  # half of EVENT_QUEUE_MAX held: piling up
            httpx.post(st.gateway_url + "/v1/chat/completions", json=UNKNOWN)
        piling = until(st, lambda r: "events_piling_up" in codes(r))
        assert piling.status_code == 200 and piling.json()["status"] == "degraded"
        for _ in range(3):  # past EVENT_QUEUE_MAX: dropped
            httpx.post(st.gateway_url + "/v1/chat/completions", json=UNKNOWN)
        dropped = until(st, lambda r: "events_dropped" in codes(r))
        assert dropped.status_code == 200 and dropped.json()["events"]["dropped"] == 1
        assert codes(dropped) == {"recorder_not_connected", "events_piling_up", "events_dropped"}


def test_every_worker_judges_itself_and_all_say_when_the_recorder_is_gone(
    tmp_path: Path, fake: FakeProvider
) -> None:
    with stack(tmp_path, {"openai": fake.openai_base_url}, GATEWAY_WORKERS="2") as st:
        pids: dict[int, str] = {}

        def both(status: str) -> bool:
            body = health(st).json()
            pids[body["worker"]["pid"]] = body["status"]
            return len(pids) == 2 and all(s == status for s in pids.values())

        wait_until(lambda: both("ok"), 60, 0.01)
        st.services["recorder"].stop()
        pids.clear()
        wait_until(lambda: both("degraded"), 60, 0.01)
        resp = health(st)
        assert codes(resp) == {"recorder_not_connected"} and "status" in resp.json()["worker"]["scope"]
