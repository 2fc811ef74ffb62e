"""A client that goes away (issue 11, part 4), through the real gateway and recorder processes.

- Mid-stream: the upstream request is cancelled at once, and the row says 499 ``client_disconnected`` with the
  usage seen so far and its cost.
- After the whole answer: the openai SDK closes the connection as soon as it reads ``data: [DONE]``; when the
  upstream ends its body a little later, the gateway's last write fails. That is a success (200).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest

from tests.fake_provider import FakeProvider
from tests.procs import Stack, wait_until

LONG = " ".join(f"word{i}" for i in range(60))  # the fake echoes it: a stream of many frames


@pytest.fixture(scope="module")
def gw(fake: FakeProvider, fake_stack: Callable[..., AbstractContextManager[Stack]]) -> Iterator[Stack]:
    # (``fake``, ``fake_stack``: tests/gateway/conftest.py)
    with fake_stack("stack", {"openai": f"{fake.base_url}/v1", "anthropic": fake.base_url}) as st:
        yield st


def raw_request(st: Stack, path: str, body: dict[str, object], request_id: str) -> socket.socket:
    payload = json.dumps(body).encode()
    s = socket.create_connection(("127.0.0.1", int(st.env["GATEWAY_PORT"])))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nanthropic-version: 2023-06-01\r\n"
        f"Content-Length: {len(payload)}\r\nx-request-id: {request_id}\r\n\r\n"
    )
    s.sendall(head.encode() + payload)
    return s


def read_until(s: socket.socket, marker: bytes) -> bytes:
    got = b""
    while marker not in got:
        chunk = s.recv(65536)
        assert chunk, f"connection closed before {marker!r}: {got[-300:]!r}"
        got += chunk
    return got


def fake_request(fake: FakeProvider, text: str) -> dict[str, object]:
    found = [r for r in fake.requests if text in json.dumps(r.json)]
    assert found, "the fake never saw the request"
    return found[-1].as_dict() if hasattr(found[-1], "as_dict") else found[-1].__dict__


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {
                "model": "gpt-4o-mini@fault=chunk-delay:0.2",
                "stream": True,
                "messages": [{"role": "user", "content": "chat " + LONG}],
            },
        ),
        (
            "/v1/messages",
            {
                "model": "claude-haiku-4-5@fault=chunk-delay:1",
                "stream": True,
                "max_tokens": 500,
                "messages": [{"role": "user", "content": "messages " + LONG}],
            },
        ),
        (
            "/v1/responses",
            {"model": "gpt-4o-mini@fault=chunk-delay:0.2", "stream": True, "input": "responses " + LONG},
        ),
    ],
)
def test_a_client_gone_mid_stream_cancels_the_upstream_and_is_recorded(
    gw: Stack, fake: FakeProvider, path: str, body: dict[str, object]
) -> None:
    rid = f"gone-{path.strip('/').replace('/', '-')}"
    marker = str(body.get("input") or body["messages"][0]["content"])[:12]  # type: ignore[index]
    with raw_request(gw, path, body, rid) as s:
        read_until(s, b"word1")  # the stream is under way: some content arrived
    # The fake would need 60 × 0.2 s (or 1 s) to finish; it sees its client (the gateway) go long before that.
    wait_until(lambda: any(r.client_disconnected for r in fake.requests if marker in json.dumps(r.json)), 8)
    row = gw.row_for(rid, timeout=15)
    assert row["status"] == 499 and row["error_type"] == "client_disconnected"
    assert row["client_disconnected"] == 1 and row["streamed"] == 1
    if path == "/v1/messages":  # Anthropic reports input tokens in message_start: usage seen so far, priced
        assert row["input_tokens"] > 0 and row["cost_usd"] is not None and row["cost_usd"] > 0


def test_a_client_that_hangs_up_after_done_is_a_success(gw: Stack) -> None:
    body = {
        "model": "gpt-4o-mini@fault=end-delay:0.5",
        "stream": True,
        "messages": [{"role": "user", "content": "short answer"}],
    }
    with raw_request(gw, "/v1/chat/completions", body, "after-done-1") as s:
        got = read_until(s, b"data: [DONE]")  # what the openai SDK does: stop reading, close
    assert b"short" in got and b"answer" in got
    row = gw.row_for("after-done-1", timeout=15)
    assert row["status"] == 200 and row["error_type"] is None and row["output_tokens"] > 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (  # before the provider's headers
            "/v1/chat/completions",
            {"model": "gpt-4o-mini@fault=hang", "messages": [{"role": "user", "content": "plain-hang chat"}]},
        ),
        (  # headers came, the body never does; translated (an Anthropic client, an OpenAI model)
            "/v1/messages",
            {
                "model": "gpt-4o-mini@fault=stall",
                "max_tokens": 100,
                "messages": [{"role": "user", "content": "plain-stall messages"}],
            },
        ),
        ("/v1/responses", {"model": "gpt-4o-mini@fault=hang", "input": "plain-hang responses"}),
    ],
)
def test_a_client_gone_before_a_plain_answer_cancels_the_upstream_and_is_a_499(
    gw: Stack, fake: FakeProvider, path: str, body: dict[str, object]
) -> None:
    """A non-streamed request writes nothing before its answer, so the gateway learns of the hang-up from
    the connection itself (newcomer review, s11: it waited for the provider, up to
    UPSTREAM_FIRST_BYTE_TIMEOUT, and recorded a 502, or a 200 nobody read)."""
    rid = f"plain-gone-{path.strip('/').replace('/', '-')}"
    marker = str(body.get("input") or body["messages"][0]["content"])  # type: ignore[index]
    with raw_request(gw, path, body, rid):
        wait_until(lambda: any(marker in json.dumps(r.json) for r in fake.requests), 15)  # it is upstream
    wait_until(lambda: any(r.client_disconnected for r in fake.requests if marker in json.dumps(r.json)), 15)
    row = gw.row_for(rid, timeout=15)
    assert row["status"] == 499 and row["error_type"] == "client_disconnected", row
    assert row["client_disconnected"] == 1 and row["streamed"] == 0 and row["provider"] == "openai"
    assert row["output_tokens"] == 0 and row["failed_attempts"] in (None, "", "[]"), row
    assert "Traceback" not in gw.logs()
