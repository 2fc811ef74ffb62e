"""OpenAI chat through the real gateway and recorder processes, against the fake provider."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack, Tail, stack, start_tail, wait_until

CLIENT_KEY = "sk-client-key-must-not-be-forwarded"  # also this module's gateway key (GATEWAY_API_KEYS)
WRONG_KEY = "sk-wrong-gateway-key-never-logged"


@pytest.fixture(scope="module")
def gw(fake_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    # (``fake``, ``fake_stack``: tests/gateway/conftest.py)
    with fake_stack("stack", GATEWAY_API_KEYS=f"tests={CLIENT_KEY}") as st:
        yield st


@pytest.fixture()
def client(gw: Stack) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)


@pytest.fixture()
def tail(gw: Stack) -> Iterator[Tail]:
    warm = openai.OpenAI(base_url=gw.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)
    proc = start_tail(
        gw.env,
        lambda: warm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "tail warm-up"}]
        ),
    )
    try:
        yield proc
    finally:
        proc.stop()


def last_request(fake: FakeProvider) -> Any:
    return fake.requests[-1]


def test_plain_completion_is_answered_and_recorded(
    gw: Stack, client: openai.OpenAI, fake: FakeProvider
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
    )
    completion = raw.parse()
    assert "hello there" in (completion.choices[0].message.content or "")
    request_id = raw.headers["x-request-id"]
    assert raw.headers["x-ekai-provider"] == "openai"

    forwarded = last_request(fake)
    assert forwarded.headers["authorization"] == "Bearer sk-test-openai-secret-key"
    assert CLIENT_KEY not in json.dumps(dict(forwarded.headers))
    assert "stream_options" not in forwarded.json

    row = gw.row_for(request_id)
    assert row["provider"] == "openai" and row["model"] == "gpt-4o-mini"
    assert row["status"] == 200 and row["streamed"] == 0 and row["client_format"] == "openai_chat"
    usage = completion.usage
    assert usage is not None
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
    assert row["input_tokens"] == usage.prompt_tokens - (cached or 0)
    assert row["output_tokens"] == usage.completion_tokens
    assert row["cost_usd"] is not None and row["cost_usd"] > 0
    assert row["latency_ms"] > 0 and row["attempts"] == 1


def test_stream_without_include_usage_hides_the_usage_chunk(
    gw: Stack, client: openai.OpenAI, fake: FakeProvider
) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream me"}], stream=True
    ) as resp:
        request_id = resp.headers["x-request-id"]
        assert resp.headers["content-type"].startswith("text/event-stream")
        chunks = list(resp.parse())
    assert chunks, "no chunks"
    assert all(c.choices for c in chunks), "the usage-only chunk reached a client that did not ask for it"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "stream me" in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices[0].finish_reason] == ["stop"]
    assert last_request(fake).json["stream_options"] == {"include_usage": True}

    row = gw.row_for(request_id)
    assert row["streamed"] == 1 and row["status"] == 200
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0 and row["cost_usd"] > 0
    assert row["ttft_ms"] is not None and 0 < row["ttft_ms"] <= row["latency_ms"]


def test_stream_with_include_usage_gets_usage_and_ledger_matches(
    gw: Stack, client: openai.OpenAI, fake: FakeProvider
) -> None:
    fake.set_fault("cache-read:5", times=1)  # OpenAI reports cached tokens inside prompt_tokens
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "count me"}],
        stream=True,
        stream_options={"include_usage": True},
    ) as resp:
        request_id = resp.headers["x-request-id"]
        chunks = list(resp.parse())
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    row = gw.row_for(request_id)
    cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
    assert row["input_tokens"] + row["cache_read_tokens"] == usage.prompt_tokens
    assert row["cache_read_tokens"] == cached == 5
    assert row["output_tokens"] == usage.completion_tokens


def test_tail_prints_each_event(gw: Stack, client: openai.OpenAI, tail: Tail) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "tail me"}]
    )
    request_id = raw.headers["x-request-id"]
    lines = tail.lines
    seen: list[dict[str, Any]] = []
    while not seen or seen[-1]["request_id"] != request_id:
        seen.append(json.loads(lines.get(timeout=30)))
    match = [e for e in seen if e["request_id"] == request_id]
    assert match and match[0]["provider"] == "openai" and match[0]["status"] == 200


def test_upstream_error_keeps_its_status_and_is_recorded(gw: Stack, client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model="gpt-4o-mini@fault=status:400", messages=[{"role": "user", "content": "x"}]
        )
    request_id = info.value.response.headers["x-request-id"]
    row = gw.row_for(request_id)
    assert row["status"] == 400 and row["attempts"] == 1


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"[]", 400, "JSON object"),
        (b'{"model": "gpt-4o-mini"}', 400, "messages"),
        (b'{"model": "no-such-model-xyz", "messages": [{"role": "user", "content": "x"}]}', 404, "available"),
    ],
)
def test_bad_requests_get_openai_shaped_errors(gw: Stack, body: bytes, status: int, needle: str) -> None:
    resp = httpx.post(
        gw.gateway_url + "/v1/chat/completions",
        content=body,
        headers={"content-type": "application/json", "authorization": f"Bearer {CLIENT_KEY}"},
    )
    assert resp.status_code == status
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and needle in err["message"]
    assert resp.headers["x-request-id"]


def test_unknown_route_is_a_json_404(gw: Stack) -> None:
    resp = httpx.get(gw.gateway_url + "/v1/nope", headers={"authorization": f"Bearer {CLIENT_KEY}"})
    assert resp.status_code == 404 and resp.json()["error"]["message"]


def test_health_shows_providers_and_queue(gw: Stack) -> None:
    # "ok" once the recorder's connection is made (in the background, at start-up)
    body = wait_until(lambda: (h := httpx.get(gw.gateway_url + "/health").json())["status"] == "ok" and h)
    assert body["version"] and body["reasons"] == [] and body["recorder"] == {"connected": True}
    assert body["providers"]["openai"]["configured"] is True
    assert body["providers"]["anthropic"]["configured"] is False
    assert {"queued", "sent", "dropped"} <= set(body["events"])


def test_client_disconnect_mid_stream_is_still_recorded(gw: Stack, fake: FakeProvider) -> None:
    import socket

    payload = json.dumps(
        {
            "model": "gpt-4o-mini@fault=chunk-delay:0.3",
            "stream": True,
            "messages": [{"role": "user", "content": "one two three four five six seven"}],
        }
    ).encode()
    port = int(gw.env["GATEWAY_PORT"])
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\nx-request-id: disconnect-test-1\r\n".encode()
            + f"x-api-key: {CLIENT_KEY}\r\n\r\n".encode()
            + payload
        )
        s.recv(200)  # headers and the first frame arrived
    row = gw.row_for("disconnect-test-1", timeout=15)
    assert row["client_disconnected"] == 1 and row["streamed"] == 1


def test_provider_key_never_in_logs_or_ledger(gw: Stack, client: openai.OpenAI, tail: Tail) -> None:
    """Neither the provider key nor a gateway key (right or wrong) reaches logs, ledger, tail or bodies."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "leak scan"}]
    )
    with pytest.raises(openai.AuthenticationError) as wrong:
        openai.OpenAI(
            base_url=gw.gateway_url + "/v1", api_key=WRONG_KEY, max_retries=0
        ).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    bodies = raw.http_response.text + wrong.value.response.text
    gw.row_for(raw.headers["x-request-id"])
    got: list[str] = []
    lines = tail.lines
    wait_until(
        lambda: got.append(lines.get(timeout=1)) or raw.headers["x-request-id"] in "".join(got), timeout=15
    )
    seen = "".join(got)
    dump = json.dumps(gw.rows()) + gw.logs() + seen + bodies
    for secret in ("sk-test-openai-secret-key", CLIENT_KEY, WRONG_KEY):
        assert secret not in dump


def test_a_provider_key_echoed_in_an_error_is_redacted(gw: Stack, fake: FakeProvider) -> None:
    fake.set_fault("status:401,echo-key", times=1)  # the fake quotes the key it received, as OpenAI does
    with pytest.raises(openai.AuthenticationError) as info:
        openai.OpenAI(
            base_url=gw.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0
        ).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "leak?"}])
    assert (
        "[redacted]" in info.value.response.text and gw.row_for(info.value.request_id or "")["status"] == 401
    )
    assert "sk-test-openai-secret-key" not in info.value.response.text
    assert "sk-test-openai-secret-key" not in gw.logs()
    dump = json.dumps(gw.rows())
    assert "sk-test-openai-secret-key" not in dump and CLIENT_KEY not in dump


def test_events_queue_while_recorder_is_down(tmp_path: Path, fake: FakeProvider) -> None:
    with stack(tmp_path, {"openai": f"{fake.base_url}/v1"}) as st:
        st.services["recorder"].stop()
        client = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        ids = []
        for i in range(3):
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"while down {i}"}]
            )
            ids.append(raw.headers["x-request-id"])
        health = httpx.get(st.gateway_url + "/health").json()["events"]
        assert health["queued"] == 3 and health["dropped"] == 0
        st.start_recorder()
        for rid in ids:
            st.row_for(rid, timeout=15)
        wait_until(lambda: httpx.get(st.gateway_url + "/health").json()["events"]["queued"] == 0)


def test_events_past_the_bound_are_dropped_and_counted(tmp_path: Path, fake: FakeProvider) -> None:
    with stack(tmp_path, {"openai": f"{fake.base_url}/v1"}, EVENT_QUEUE_MAX="2") as st:
        st.services["recorder"].stop()
        client = openai.OpenAI(base_url=st.gateway_url + "/v1", api_key=CLIENT_KEY, max_retries=0)
        for i in range(5):
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"n{i}"}]
            )
            assert reply.choices[0].message.content  # requests are served all the same
        events = httpx.get(st.gateway_url + "/health").json()["events"]
        assert events["queued"] == 2 and events["dropped"] == 3
        assert "dropped" in st.services["gateway"].log()
        metrics = httpx.get(st.gateway_url + "/metrics").text.splitlines()
        assert "ekai_events_dropped_total 3.0" in metrics and "ekai_events_queued 2.0" in metrics


@pytest.mark.parametrize(
    ("given", "kept"), [("my-trace-id.42", True), ("x" * 500, False), ("bad id;drop", False)]
)
def test_request_ids_from_callers_are_kept_only_when_plain(gw: Stack, given: str, kept: bool) -> None:
    resp = httpx.get(gw.gateway_url + "/health", headers={"x-request-id": given})
    assert (resp.headers["x-request-id"] == given) is kept
    assert resp.headers["x-request-id"]
