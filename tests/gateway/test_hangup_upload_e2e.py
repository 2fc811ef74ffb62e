"""A client that hangs up while it sends its body (review of s11's hang-up handling: only a hang-up while the
answer was awaited became a 499; one during the upload escaped ``read_json`` as a ConnectionResetError and
was logged as an unhandled error with its traceback and recorded 500 ``internal_error``, a gateway fault).
Real processes (recorder and gateway); a raw socket as the client. ``Expect: 100-continue`` makes the
gateway say when the handler starts (aiohttp answers "100 Continue" just before calling it), so the
hang-up comes while the body is being read, without timing.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.procs import Stack, stack


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack(tmp_path_factory.mktemp("upload")) as st:
        yield st


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_a_client_gone_while_sending_its_body_is_a_499_not_an_internal_error(gw: Stack, path: str) -> None:
    rid = f"upload-gone-{path.strip('/').replace('/', '-')}"
    s = socket.create_connection(("127.0.0.1", int(gw.env["GATEWAY_PORT"])))
    try:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"anthropic-version: 2023-06-01\r\nx-request-id: {rid}\r\nExpect: 100-continue\r\n"
            "Content-Length: 100000\r\n\r\n".encode()
        )
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            assert chunk, got
            got += chunk
        assert got.startswith(b"HTTP/1.1 100"), got  # the handler is called now
        s.sendall(b'{"model": "gpt-4o-mini", "messages": [')  # a part of the body, then gone
    finally:
        s.close()
    row = gw.row_for(rid, timeout=15)
    assert row["status"] == 499 and row["error_type"] == "client_disconnected", row
    assert row["client_disconnected"] == 1, row
    assert "Traceback" not in gw.logs() and "unhandled error" not in gw.logs()
