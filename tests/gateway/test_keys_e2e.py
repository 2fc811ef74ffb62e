"""Gateway keys, attribution, budgets and rate limits through the real gateway and recorder processes.

The module's gateway listens on 0.0.0.0 (beyond loopback: keys required, ``/usage`` needs an admin
credential), with keys from ``GATEWAY_API_KEYS`` and from a keys file, and a ledger seeded before start
with spend for some keys this day and month (the budget counters must start from it). Clients are the
official SDKs: openai, anthropic 2.x (Bearer) and anthropic 0.7x (x-api-key, in a subprocess).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from services.gateway.keys.keyfile import KeyEntry, entry_toml, hash_key
from tests.fake_provider import FakeProvider, provider_urls, running
from tests.procs import (
    ROOT,
    Service,
    Stack,
    Tail,
    base_env,
    free_port,
    http_ok,
    stack,
    start,
    start_tail,
    wait_until,
)
from tests.unit.dashboard.ledger_fixtures import event, write_ledger

OLD_SDK = ROOT / ".venv" / "old-sdk"
ALICE = "sk-gw-alice-0123456789"  # from GATEWAY_API_KEYS
FILE_KEYS = {  # name -> (key, entry fields); the file holds only their hashes
    "gpt-only": ("ekai-gpt-only-key-0001", {"models": ("gpt-4o*",)}),
    "warn80": ("ekai-warn80-key-0001", {"budget_usd": 1.0, "budget_period": "day"}),
    "warn95": ("ekai-warn95-key-0001", {"budget_usd": 1.0, "budget_period": "day"}),
    "spent": ("ekai-spent-key-0001", {"budget_usd": 0.5, "budget_period": "month"}),
    "burst": ("ekai-burst-key-0001", {"budget_usd": 0.001, "budget_period": "day"}),
    "shared": ("ekai-shared-key-0001", {"budget_usd": 0.001, "budget_period": "day"}),
    "watch": ("ekai-watch-key-0001", {"budget_usd": 1.0, "budget_period": "day"}),  # handshakes
    "rpm": ("ekai-rpm-key-0001", {"requests_per_minute": 2}),
    "tpm": ("ekai-tpm-key-0001", {"tokens_per_minute": 30}),
    "admin": ("ekai-admin-key-0001", {"admin": True}),
}
SEEDED_USD = {
    "warn80": 0.81,
    "warn95": 0.951,
    "spent": 0.5,
    "burst": 0.001 - 1e-7,
    "shared": 0.001 - 1e-7,
    "watch": 0.96,
}
ALL_KEYS = [ALICE, *(key for key, _ in FILE_KEYS.values())]
CLAUDE_HEADERS = {
    "x-claude-code-session-id": "cc-session-1",
    "x-claude-code-agent-id": "agent-sub-1",
    "x-claude-code-request-class": "subagent",
    "User-Agent": "claude-cli/2.1.332 (external, cli)",
}
CODEX_HEADERS = {
    "session-id": "codex-session-1",
    "thread-id": "codex-thread-1",
    "x-codex-turn-metadata": '{"session_id": "codex-session-1", "turn_id": "1"}',
    "User-Agent": "codex_exec/0.171.0 (Ubuntu 24.4.0; x86_64) xterm-256color",
}
MESSAGES: Any = [{"role": "user", "content": "hello keys"}]


def key_of(name: str) -> str:
    return ALICE if name == "alice" else FILE_KEYS[name][0]


def write_keys_file(path: Path) -> Path:
    path.write_text(
        "\n".join(
            entry_toml(KeyEntry(name, hash_key(key), **fields))  # type: ignore[arg-type]
            for name, (key, fields) in FILE_KEYS.items()
        )
    )
    return path


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeProvider]]:
    with running("anthropic", "openai") as fps:
        yield fps


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeProvider], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("keys")
    now = time.time()
    write_ledger(
        str(tmp / "usage.db"),
        [
            event(
                now - 1, "openai", "gpt-4o-mini", cost_usd=usd, api_key_name=name, request_id=f"seed-{name}"
            )
            for name, usd in SEEDED_USD.items()
        ],
    )
    urls = provider_urls(fakes)
    with stack(
        tmp,
        urls,
        GATEWAY_HOST="0.0.0.0",
        GATEWAY_API_KEYS=f"alice={ALICE}",
        GATEWAY_KEYS_PATH=str(write_keys_file(tmp / "keys.toml")),
        ADMIN_USER="boss",
        ADMIN_PASSWORD="boss-password-1",
    ) as st:
        yield st


def oai(gw: Stack, key: str, headers: dict[str, str] | None = None, url: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=(url or gw.gateway_url) + "/v1", api_key=key, max_retries=0, default_headers=headers
    )


def ant(gw: Stack, key: str, headers: dict[str, str] | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.gateway_url, api_key=key, max_retries=0, default_headers=headers)


# ---- 1. keys: 401 in the client's format ---------------------------------------------------------------


def test_wrong_keys_get_401_in_each_clients_format(gw: Stack) -> None:
    with pytest.raises(openai.AuthenticationError) as oe:
        oai(gw, "sk-wrong-key-1234").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert oe.value.status_code == 401 and oe.value.code == "invalid_api_key"
    body = oe.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    with pytest.raises(anthropic.AuthenticationError) as ae:
        ant(gw, "sk-wrong-key-5678").messages.create(
            model="claude-haiku-4-5", max_tokens=20, messages=MESSAGES
        )
    assert ae.value.status_code == 401
    assert ae.value.response.json()["type"] == "error"
    assert ae.value.response.json()["error"]["type"] == "authentication_error"
    for exc, wrong in ((oe, "sk-wrong-key-1234"), (ae, "sk-wrong-key-5678")):
        assert wrong not in exc.value.response.text and exc.value.response.headers["x-request-id"]


def test_anthropic_sdk_listing_models_with_a_wrong_key_gets_anthropics_401(gw: Stack) -> None:
    """`GET /v1/models` answers in Anthropic's shape when `anthropic-version` is sent: so does its 401."""
    for call in (lambda c: c.models.list(), lambda c: c.models.retrieve("claude-haiku-4-5")):
        with pytest.raises(anthropic.AuthenticationError) as ae:
            call(ant(gw, "sk-wrong-key-9012"))
        body = ae.value.response.json()
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error", body
        assert "sk-wrong-key-9012" not in ae.value.response.text
    assert oai(gw, ALICE).models.list().data  # and the OpenAI SDK's, with a right key, still lists


@pytest.mark.parametrize(
    ("method", "path", "shape"),
    [
        ("POST", "/v1/chat/completions", "openai"),
        ("POST", "/v1/messages?beta=true", "anthropic"),
        ("POST", "/v1/messages/count_tokens", "anthropic"),
        ("GET", "/v1/models", "openai"),
        ("POST", "/v1/responses", "openai"),
        ("POST", "/v1/some-future-endpoint", "openai"),
    ],
)
def test_every_path_under_v1_needs_a_key(gw: Stack, method: str, path: str, shape: str) -> None:
    resp = httpx.request(method, gw.gateway_url + path, json={"model": "gpt-4o-mini", "messages": MESSAGES})
    assert resp.status_code == 401
    body = resp.json()
    if shape == "anthropic":
        assert (
            body["error"]["type"] == "authentication_error"
            and "missing gateway key" in body["error"]["message"]
        )
    else:
        assert (
            body["error"]["code"] == "invalid_api_key" and "missing gateway key" in body["error"]["message"]
        )
    ok = httpx.request(
        method,
        gw.gateway_url + path,
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
        headers={"x-api-key": ALICE},
    )
    assert ok.status_code != 401


def test_health_and_preflight_stay_open(gw: Stack) -> None:
    assert httpx.get(gw.gateway_url + "/health").status_code == 200
    assert httpx.head(gw.gateway_url + "/").status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer"},
        {"authorization": "Bearer " + "k" * 6000},
        {"x-api-key": "x" * 7000},
        {"authorization": "Basic YWxpY2U6"},
        {"authorization": ALICE},
        {"x-api-key": ""},
        {"authorization": "Bearer sk-gw-alice-012345678"},  # one character short
    ],
)
def test_odd_credentials_get_401(gw: Stack, headers: dict[str, str]) -> None:
    resp = httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        headers=headers,
        json={"model": "gpt-4o-mini", "messages": MESSAGES},
    )
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(
    "raw_header",
    [
        b"x-api-key: \xc3\xa9t\xc3\xa9-key",
        b"Authorization: Bearer  ",
        b"x-api-key:   ",
        b"Authorization: Bearer \xff\xfe\x80",
        b"x-api-key: " + ALICE.encode() + b"\xe2\x80\x8b",
    ],
)
def test_non_ascii_credentials_get_401_not_500(gw: Stack, raw_header: bytes) -> None:
    payload = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES}).encode()
    with socket.create_connection(("127.0.0.1", int(gw.env["GATEWAY_PORT"])), timeout=10) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + raw_header
            + b"\r\nConnection: close\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"invalid_api_key" in answer


# ---- 3. attribution: key, session, agent, client, request class ----------------------------------------


def test_openai_sdk_with_codex_headers_is_attributed(gw: Stack) -> None:
    raw = oai(gw, ALICE, CODEX_HEADERS).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    row = gw.row_for(raw.headers["x-request-id"])
    assert (row["api_key_name"], row["session_id"], row["client"], row["agent_id"], row["request_class"]) == (
        "alice",
        "codex-session-1",
        "codex_exec/0.171.0",
        None,
        None,
    )
    plain = oai(gw, ALICE).chat.completions.with_raw_response.create(
        model="claude-haiku-4-5", messages=MESSAGES
    )
    row = gw.row_for(plain.headers["x-request-id"])
    assert row["client"] == f"openai-python/{openai.__version__}" and row["session_id"] is None
    assert row["api_key_name"] == "alice" and row["translated"] == 1


@pytest.mark.parametrize("model", ["claude-haiku-4-5", "gpt-4o-mini"])
def test_anthropic_sdk_with_claude_code_headers_is_attributed(gw: Stack, model: str) -> None:
    client = ant(gw, ALICE, CLAUDE_HEADERS)
    raw = client.messages.with_raw_response.create(model=model, max_tokens=30, messages=MESSAGES)
    with client.messages.stream(model=model, max_tokens=30, messages=MESSAGES) as stream:
        stream.get_final_message()
        streamed_id = stream.response.headers["request-id"]
    for request_id in (raw.headers["request-id"], streamed_id):
        row = gw.row_for(request_id)
        assert (
            row["api_key_name"],
            row["session_id"],
            row["agent_id"],
            row["request_class"],
            row["client"],
        ) == ("alice", "cc-session-1", "agent-sub-1", "subagent", "claude-cli/2.1.332")
        assert row["status"] == 200 and row["cost_usd"] > 0


OLD_CLIENT = r"""
import json, sys, anthropic
c = anthropic.Anthropic(base_url=sys.argv[1], api_key=sys.argv[2], max_retries=0)
out = {"version": anthropic.__version__}
try:
    anthropic.Anthropic(base_url=sys.argv[1], api_key="sk-wrong-old", max_retries=0).messages.create(
        model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "x"}])
except anthropic.AuthenticationError as exc:
    out["wrong"] = [exc.status_code, exc.body["error"]["type"]]
r = c.messages.with_raw_response.create(model="gpt-4o-mini", max_tokens=20,
                                        messages=[{"role": "user", "content": "old sdk"}])
out["id"] = r.headers["request-id"]
print(json.dumps(out))
"""


def run_old_sdk(script: str, gw: Stack) -> dict[str, Any]:
    """What ``script`` prints (JSON), run with the previous SDK generation first on the path (``.venv/old-sdk``),
    given the gateway's URL and alice's key."""
    proc = subprocess.run(
        [sys.executable, "-c", script, gw.gateway_url, ALICE],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(OLD_SDK)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr + gw.logs()
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_old_anthropic_sdk_sends_x_api_key(gw: Stack) -> None:
    assert OLD_SDK.exists(), "run `make old-sdk` (make test does) to install anthropic 0.7x"
    out = run_old_sdk(OLD_CLIENT, gw)
    assert out["version"].startswith("0.7") and out["wrong"] == [401, "authentication_error"]
    row = gw.row_for(out["id"])
    assert row["api_key_name"] == "alice" and row["client"] == f"anthropic-python/{out['version']}"


OLD_OPENAI = r"""
import json, sys, openai
c = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key=sys.argv[2], max_retries=0)
out = {"version": openai.__version__}
try:
    openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="sk-wrong-old", max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
except openai.AuthenticationError as exc:
    out["wrong"] = [exc.status_code, exc.code]
r = c.chat.completions.with_raw_response.create(model="claude-haiku-4-5", messages=[{"role": "user", "content": "o"}])
out["id"] = r.headers["x-request-id"]
print(json.dumps(out))
"""


def test_old_openai_sdk(gw: Stack) -> None:
    assert OLD_SDK.exists(), "run `make old-sdk` (make test does) to install openai 1.109.1"
    out = run_old_sdk(OLD_OPENAI, gw)
    assert out["version"] == "1.109.1" and out["wrong"] == [401, "invalid_api_key"]
    row = gw.row_for(out["id"])
    assert (row["api_key_name"], row["client"]) == ("alice", "openai-python/1.109.1")


# ---- models outside the key's globs: 403 --------------------------------------------------------------


def test_model_outside_the_keys_globs_is_403(gw: Stack) -> None:
    key = key_of("gpt-only")
    with pytest.raises(openai.PermissionDeniedError) as oe:
        oai(gw, key).chat.completions.create(model="claude-haiku-4-5", messages=MESSAGES)
    assert oe.value.code == "model_not_allowed" and "gpt-4o*" in oe.value.message
    with pytest.raises(anthropic.PermissionDeniedError) as ae:
        ant(gw, key).messages.create(model="claude-haiku-4-5", max_tokens=20, messages=MESSAGES)
    assert ae.value.response.json()["error"]["type"] == "permission_error"
    row = gw.row_for(oe.value.response.headers["x-request-id"])
    assert (row["status"], row["error_type"], row["api_key_name"]) == (403, "model_not_allowed", "gpt-only")
    assert oai(gw, key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices


# ---- 4. budgets and rate limits -------------------------------------------------------------------------


@pytest.fixture()
def tail(gw: Stack) -> Iterator[Tail]:
    proc = start_tail(
        gw.env, lambda: oai(gw, ALICE).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    )
    try:
        yield proc
    finally:
        proc.stop()


@pytest.mark.parametrize(("name", "alert", "remaining"), [("warn80", "80%", 0.19), ("warn95", "95%", 0.049)])
def test_budget_alerts_at_80_and_95_percent(
    gw: Stack, tail: Tail, name: str, alert: str, remaining: float
) -> None:
    client = oai(gw, key_of(name))
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert float(first.headers["x-ekai-budget-remaining-usd"]) == pytest.approx(remaining, abs=1e-6)
    assert tail.event(first.headers["x-request-id"])["budget_alert"] == alert
    assert gw.row_for(first.headers["x-request-id"])["budget_alert"] == alert
    with ant(gw, key_of(name)).messages.stream(
        model="gpt-4o-mini", max_tokens=20, messages=MESSAGES
    ) as stream:
        stream.get_final_message()
        headers = stream.response.headers
    assert float(headers["x-ekai-budget-remaining-usd"]) < remaining  # the first request's cost is counted
    assert gw.row_for(headers["request-id"])["budget_alert"] is None  # once per level
    assert f"key '{name}' has used {alert} of its daily budget" in gw.services["gateway"].log()
    plain = oai(gw, ALICE).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "x-ekai-budget-remaining-usd" not in plain.headers


def test_a_spent_budget_is_refused_with_429_in_both_formats(gw: Stack) -> None:
    key = key_of("spent")
    with pytest.raises(openai.RateLimitError) as oe:
        oai(gw, key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    err = oe.value
    assert err.code == "budget_exceeded_month"
    assert "monthly budget of 0.5 USD" in err.message and "resets at" in err.message
    retry_after = int(err.response.headers["retry-after"])
    assert 0 < retry_after <= 31 * 86400
    assert float(err.response.headers["x-ekai-budget-remaining-usd"]) == 0.0
    with pytest.raises(anthropic.RateLimitError) as ae:
        ant(gw, key, CLAUDE_HEADERS).messages.create(
            model="claude-haiku-4-5", max_tokens=20, messages=MESSAGES
        )
    body = ae.value.response.json()
    assert body["error"]["type"] == "rate_limit_error" and "monthly budget" in body["error"]["message"]
    assert int(ae.value.response.headers["retry-after"]) > 0
    for request_id in (err.response.headers["x-request-id"], ae.value.response.headers["request-id"]):
        row = gw.row_for(request_id)
        assert (row["status"], row["error_type"], row["api_key_name"]) == (
            429,
            "budget_exceeded_month",
            "spent",
        )
        assert row["attempts"] == 0 and row["cost_usd"] == 0.0  # nothing went upstream: a known $0
    assert gw.row_for(ae.value.response.headers["request-id"])["session_id"] == "cc-session-1"
    assert gw.row_for(err.response.headers["x-request-id"])["streamed"] == 1


def test_a_spent_budget_tells_the_sdks_not_to_retry(gw: Stack) -> None:
    """s15 variant 11-d: the refusal lasts until the period ends. Without x-should-retry: false both SDKs retry the
    429 (by default twice), and the anthropic SDK first sleeps the whole retry-after (here up to a month): the
    client hangs. Each SDK's own retry decision is asked of the response it got."""
    key = key_of("spent")
    with pytest.raises(openai.RateLimitError) as oe:
        oai(gw, key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(anthropic.RateLimitError) as ae:
        ant(gw, key).messages.create(model="claude-haiku-4-5", max_tokens=20, messages=MESSAGES)
    for response in (oe.value.response, ae.value.response):
        assert response.headers["x-should-retry"] == "false"
        assert int(response.headers["retry-after"]) > 0  # when the budget resets, still said
    assert openai.OpenAI(api_key="x")._should_retry(oe.value.response) is False
    assert anthropic.Anthropic(api_key="x")._should_retry(ae.value.response) is False


IN_FLIGHT = 8


def test_overspend_is_bounded_by_the_requests_in_flight(gw: Stack, fakes: dict[str, FakeProvider]) -> None:
    """The key has 1e-7 USD left. IN_FLIGHT requests sent at once are all admitted (none has a cost yet),
    then the next is refused: the overspend is those requests' cost, no more."""
    client = oai(gw, key_of("burst"))

    def one(i: int) -> str:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": f"burst {i}"}]
        )
        return str(raw.headers["x-request-id"])

    fakes["openai"].set_fault("latency:1", times=IN_FLIGHT)  # all of them are in flight together
    try:
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            ids = list(pool.map(one, range(IN_FLIGHT)))
    finally:
        fakes["openai"].clear_fault()
    costs = [gw.row_for(i)["cost_usd"] for i in ids]
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.code == "budget_exceeded_day"
    spent = sum(r["cost_usd"] or 0 for r in gw.rows("api_key_name = ?", ("burst",)))
    overspend = spent - 0.001
    assert 0 < overspend <= sum(costs)
    print(
        f"\noverspend with {IN_FLIGHT} requests in flight: {overspend:.8f} USD "
        f"(budget 0.001, per request {max(costs):.8f})"
    )


def test_requests_per_minute(gw: Stack) -> None:
    client = oai(gw, key_of("rpm"))
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert info.value.code == "rate_limit_requests" and "2 requests per minute" in info.value.message
    assert 1 <= int(info.value.response.headers["retry-after"]) <= 30
    row = gw.row_for(info.value.response.headers["x-request-id"])
    assert (row["status"], row["error_type"]) == (429, "rate_limit_requests")


def test_tokens_per_minute(gw: Stack) -> None:
    client = ant(gw, key_of("tpm"))
    client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "many words " * 30}]
    )
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=MESSAGES)
    assert "30 tokens per minute" in info.value.response.json()["error"]["message"]
    assert int(info.value.response.headers["retry-after"]) >= 1


def watch_remaining(gw: Stack, url: str) -> float:
    """What the gateway at ``url`` counts left of the "watch" key's budget (shown past 95 %), asked by a
    request the fake refuses with a 400: it costs nothing, so the gateway's own requests do not move it."""
    with pytest.raises(openai.BadRequestError) as info:
        oai(gw, key_of("watch"), url=url).chat.completions.create(
            model="gpt-4o-mini@fault=status:400", messages=MESSAGES
        )
    return float(info.value.response.headers["x-ekai-budget-remaining-usd"])


def followed_by_second(gw: Stack, url: str) -> None:
    """Handshake: spend on the "watch" key through the first gateway until the gateway at ``url`` counts
    it, i.e. until it receives the other process's events."""
    before = watch_remaining(gw, url)
    spend = [{"role": "user", "content": "watch " * 300}]  # big enough to show in 6 decimals
    first = oai(gw, key_of("watch"))
    wait_until(
        lambda: (
            first.chat.completions.create(model="gpt-4o-mini", messages=spend)
            and watch_remaining(gw, url) < before
        ),
        timeout=30,
        interval=0.2,
    )


def test_several_gateway_processes_share_a_budget(gw: Stack) -> None:
    """A second gateway process started with the key 1e-7 USD under budget refuses once the first one has
    spent it: it follows the other process's requests through the recorder."""
    env = {**gw.env, "GATEWAY_PORT": str(free_port())}
    second = start("gateway2", "services.gateway", env, gw.tmp)
    gw.services["gateway2"] = second
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
    # 60 s, as tests/procs.start_gateway waits: a loaded machine takes well over 20 s to start a gateway
    wait_until(lambda: second.proc.poll() is not None or http_ok(url + "/health"), 60)
    assert second.proc.poll() is None, second.log()
    wait_until(lambda: "budget counters" in second.log(), 30)
    followed_by_second(gw, url)  # its subscription to the recorder is in place
    raw = oai(gw, key_of("shared")).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    gw.row_for(raw.headers["x-request-id"])
    followed_by_second(gw, url)  # a later event reached it, so the one above did (PUB/SUB keeps order)

    def refused() -> bool:
        try:
            oai(gw, key_of("shared"), url=url).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        except openai.RateLimitError as exc:
            return exc.code == "budget_exceeded_day"
        return False

    assert refused()
    second.stop()


# ---- /usage beyond loopback: admin credentials --------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_usage_beyond_loopback_needs_an_admin_credential(gw: Stack) -> None:
    oai(gw, ALICE, CODEX_HEADERS).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    url = gw.gateway_url + "/usage?group_by=key"
    refused = httpx.get(url)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(url, headers={"authorization": f"Bearer {ALICE}"}).status_code == 401  # not an admin key
    assert httpx.get(url, headers=basic("boss", "wrong")).status_code == 401
    for headers in (
        {"authorization": f"Bearer {key_of('admin')}"},
        {"x-api-key": key_of("admin")},
        basic("boss", "boss-password-1"),
        basic("anyone", key_of("admin")),
    ):
        assert httpx.get(url, headers=headers).status_code == 200, headers
    admin = {"x-api-key": key_of("admin")}
    groups = {g["key"]: g for g in httpx.get(url, headers=admin).json()["groups"]}
    assert groups["alice"]["requests"] >= 1 and groups["alice"]["cost_usd"] > 0
    sessions = httpx.get(gw.gateway_url + "/usage?group_by=session&key=alice", headers=admin).json()["groups"]
    assert "codex-session-1" in [g["session"] for g in sessions]
    clients = httpx.get(
        gw.gateway_url + "/usage?group_by=client&client=codex_exec/0.171.0", headers=admin
    ).json()["groups"]
    assert [g["client"] for g in clients] == ["codex_exec/0.171.0"]


def test_gateway_keys_never_in_logs_ledger_or_tail(gw: Stack) -> None:
    dump = json.dumps(gw.rows()) + gw.logs()
    for key in ALL_KEYS:
        assert key not in dump
    keys_file = Path(gw.env["GATEWAY_KEYS_PATH"]).read_text()
    assert all(key not in keys_file for key, _ in FILE_KEYS.values())


# ---- 2 and 5. start-up: no open door, bad keys files, the key command -----------------------------------


def start_and_wait_exit(tmp: Path, **env_extra: str) -> tuple[int | None, Service]:
    env = {**base_env(tmp), **env_extra}
    svc = start("gateway", "services.gateway", env, tmp)
    try:  # a refusal is an exit; the bound only stops a gateway that wrongly started (a loaded machine took 19.6 s)
        svc.proc.wait(120)
    except subprocess.TimeoutExpired:
        pass
    code = svc.proc.poll()
    svc.stop()
    return code, svc


def test_gateway_beyond_loopback_without_keys_refuses_to_start(tmp_path: Path) -> None:
    code, svc = start_and_wait_exit(tmp_path, GATEWAY_HOST="0.0.0.0")
    assert code not in (None, 0)
    log = svc.log()
    assert "0.0.0.0" in log and "services.gateway.keys add" in log and "GATEWAY_TRUSTED_NETWORK=1" in log


def test_trusted_network_lets_an_open_gateway_start(tmp_path: Path) -> None:
    with stack(tmp_path, GATEWAY_HOST="0.0.0.0", GATEWAY_TRUSTED_NETWORK="1") as st:
        assert httpx.get(st.gateway_url + "/v1/models").status_code == 200


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            '[[keys]]\nname = "ok"\nkey_sha256 = "' + "a" * 64 + '"\n\n[[keys]]\nbudget_usd = 3\n',
            "line 5: this key has no name",
        ),
        ('[[keys]]\nname = "ok"\nkey_sha256 = "' + "a" * 64 + '"\nbudget_usd = [\n', "line 4"),
        ('[[keys]]\nname = "ok"\nkey_sha256 = "' + "a" * 64 + '"\nbudget_usd = 3 3\n[[keys]]\n', "line 4"),
        ('[[keys]]\nname = "ok"\nkey_sha256 = "' + "a" * 64 + '"\nbudget_period = "week"\n', "line 4"),
    ],
)
def test_bad_keys_file_stops_start_up_naming_the_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    code, svc = start_and_wait_exit(tmp_path, GATEWAY_KEYS_PATH=str(path))
    assert code not in (None, 0) and needle in svc.log() and "Traceback" not in svc.log()


def test_nameless_env_key_stops_start_up(tmp_path: Path) -> None:
    code, svc = start_and_wait_exit(tmp_path, GATEWAY_API_KEYS="=sk-nameless-key-1")
    assert code not in (None, 0) and "needs a name" in svc.log()


def test_key_command_and_console_script(tmp_path: Path, fakes: dict[str, FakeProvider]) -> None:
    path = tmp_path / "keys.toml"
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.gateway.keys",
            "add",
            "cli-key",
            "--budget-usd",
            "2",
            "--file",
            str(path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    script = Path(sys.executable).with_name("ekai-keys")
    other = subprocess.run(
        [str(script), "add", "script-key", "--file", str(path)], capture_output=True, text=True, timeout=30
    )
    assert other.returncode == 0, other.stderr
    assert key not in path.read_text() and hash_key(key) in path.read_text()
    with stack(tmp_path, {"openai": fakes["openai"].openai_base_url}, GATEWAY_KEYS_PATH=str(path)) as st:
        raw = oai(st, key).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
        assert st.row_for(raw.headers["x-request-id"])["api_key_name"] == "cli-key"
        assert (
            oai(st, other.stdout.strip())
            .chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            .choices
        )
        assert key not in st.logs()


# ---- the dashboard beyond loopback --------------------------------------------------------------------


def test_dashboard_beyond_loopback_without_credentials_refuses_to_start(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "DASHBOARD_HOST": "0.0.0.0"}
    svc = start("dashboard", "services.dashboard", env, tmp_path)
    try:
        code = svc.proc.wait(60)
    finally:
        svc.stop()
    assert code not in (None, 0)
    assert "the dashboard would listen on 0.0.0.0" in svc.log() and "ADMIN_USER" in svc.log()


def test_dashboard_beyond_loopback_needs_an_admin_credential(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "DASHBOARD_HOST": "0.0.0.0",
        "ADMIN_USER": "boss",
        "ADMIN_PASSWORD": "boss-password-1",
        "GATEWAY_API_KEYS": f"alice={ALICE}",
        "GATEWAY_KEYS_PATH": str(write_keys_file(tmp_path / "keys.toml")),
    }
    svc = start("dashboard", "services.dashboard", env, tmp_path)
    url = f"http://127.0.0.1:{env['DASHBOARD_PORT']}/"
    try:
        wait_until(lambda: svc.proc.poll() is not None or http_ok(url), 60)
        assert svc.proc.poll() is None, svc.log()
        refused = httpx.get(url)
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert httpx.get(url + "_dash-layout").status_code == 401
        for headers in (basic("boss", "nope"), {"authorization": f"Bearer {ALICE}"}, basic("x", ALICE)):
            assert httpx.get(url, headers=headers).status_code == 401, headers
        for headers in (
            basic("boss", "boss-password-1"),
            {"authorization": f"Bearer {key_of('admin')}"},
            basic("me", key_of("admin")),
        ):
            assert httpx.get(url, headers=headers).status_code == 200, headers
    finally:
        svc.stop()
