"""``UpstreamPool`` against real sockets: a scripted HTTP/1.1 server in this process answers each request
with bytes written exactly as given (cut where the test says), so framing, keep-alive, interim responses,
content coding, broken bodies and TLS are each checked on the wire."""

from __future__ import annotations

import asyncio
import gzip
import socket
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway import upstream_pool
from services.gateway.upstream_pool import (
    UpstreamPool,
    UpstreamProtocolError,
    _target,
    default_ssl_context,
)

Answer = list[bytes]  # written piece by piece, a loop turn apart


@dataclass
class Server:
    """Answers request i with ``answers[i]`` (the last one repeats); ``close_after``: close the connection
    once that answer is written. Records each request's head and body, and counts connections.
    ``hang_up(answered_here, answered)``: true when the request just read is to go unanswered (requests
    answered on its connection and in all before it): ``hang_up_with`` is written (a response's first
    bytes, or nothing) and the connection ends, reset instead of closed when ``reset`` (RST: ECONNRESET);
    a keep-alive timeout that fired as the request arrived, from the client's side."""

    answers: list[Answer]
    close_after: bool = False
    hang_up: Callable[[int, int], bool] | None = None
    hang_up_with: bytes = b""
    reset: bool = False
    answered: int = 0
    body_gate: asyncio.Event | None = None  # set: the body is read (unset: it waits in the socket)
    head_seen: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)
    connections: int = 0
    closed_by_client: int = 0
    port: int = 0
    server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        answered_here = 0
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client += 1
                    return
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                self.head_seen.set()
                if self.body_gate is not None:
                    await self.body_gate.wait()
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                if self.hang_up is not None and self.hang_up(answered_here, self.answered):
                    writer.write(self.hang_up_with)
                    await writer.drain()
                    if self.reset:
                        writer.transport.abort()
                    return
                answered_here += 1
                self.answered += 1
                answer = self.answers[min(self.answered - 1, len(self.answers) - 1)]
                for piece in answer:
                    writer.write(piece)
                    await writer.drain()
                    await asyncio.sleep(0)
                if self.close_after:
                    return
        except (ConnectionError, asyncio.CancelledError):  # the client's reset; the test's end
            return
        finally:
            writer.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions?x=1"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., asyncio.Future[Server]]]:
    servers: list[Server] = []

    async def start(
        answers: list[Answer], close_after: bool = False, ssl_context: ssl.SSLContext | None = None
    ) -> Server:
        srv = Server(answers, close_after)
        srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0, ssl=ssl_context)
        srv.port = srv.server.sockets[0].getsockname()[1]
        servers.append(srv)
        return srv

    yield start  # type: ignore[misc]
    for srv in servers:
        assert srv.server is not None
        srv.server.close()


def ok(body: bytes, *extra: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), b"".join(extra), body)


def chunked(*chunks: bytes) -> bytes:
    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    for chunk in chunks:
        out += b"%x\r\n%s\r\n" % (len(chunk), chunk)
    return out + b"0\r\n\r\n"


async def test_the_request_on_the_wire_and_the_answer_read(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    srv = await serve([[ok(b'{"a":1}', b"X-Request-Id: r1\r\nretry-after: 3\r\n")]])
    pool = UpstreamPool(5)
    headers = {
        "Content-Type": "application/json",
        "Authorization": "Bearer sk-x",
        "content-length": "999",  # the pool frames the message itself
        "Connection": "close",
        "Host": "evil.example",
        "Transfer-Encoding": "chunked",
    }
    resp = await pool.post(srv.url, data=b'{"q":2}', headers=headers)
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.headers["x-request-id"] == "r1" and resp.headers["Retry-After"] == "3"
    assert await resp.read() == b'{"a":1}'
    resp.release()
    head, body = srv.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?x=1 HTTP/1.1"
    fields = [tuple(line.split(": ", 1)) for line in lines[1:] if line]
    assert fields[0] == ("Host", f"127.0.0.1:{srv.port}")
    names = [name.lower() for name, _ in fields]
    assert sorted(names) == sorted(
        ["host", "content-type", "authorization", "accept", "accept-encoding", "user-agent", "content-length"]
    )
    assert dict(fields)["Content-Length"] == "7" and body == b'{"q":2}'
    assert dict(fields)["Accept-Encoding"] == "gzip, deflate"
    await pool.close()


async def test_get_and_delete_go_without_a_body_on_the_same_connection(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """The stored-response calls (``stored_responses.py``): ``GET``/``DELETE`` with the method in the request
    line and no ``Content-Length`` (RFC 9110 §8.6), a body-less ``POST`` with ``Content-Length: 0``; one kept
    connection carries them all."""
    srv = await serve([[ok(b"one")], [ok(b"two")], [ok(b"three")]])
    pool = UpstreamPool(5)
    for method, want in (("GET", b"one"), ("DELETE", b"two"), ("POST", b"three")):
        resp = await pool.post(srv.url, data=b"", headers={"Authorization": "Bearer k"}, method=method)
        assert await resp.read() == want
        resp.release()
    heads = [head.decode().lower() for head, _ in srv.requests]
    assert [h.split(" ", 1)[0] for h in heads] == ["get", "delete", "post"]
    assert all(h.split("\r\n", 1)[0].endswith(" /v1/chat/completions?x=1 http/1.1") for h in heads)
    assert ["content-length" in h for h in heads] == [False, False, True]
    assert "content-length: 0\r\n" in heads[2]
    assert srv.connections == 1
    await pool.close()


async def test_on_written_is_called_once_per_request_after_its_bytes_are_written(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """The hook the publisher's batch waits for (``EventPublisher.loop_waits``): called in the caller's turn
    once the request is handed to the transport, before its answer."""
    srv = await serve([[ok(b"one")], [ok(b"two")]])
    seen: list[tuple[int, int]] = []  # requests answered when it was called, the peer's port it was handed

    def written(transport: asyncio.BaseTransport) -> None:
        seen.append((srv.answered, transport.get_extra_info("peername")[1]))

    pool = UpstreamPool(5, on_written=written)
    for want in (b"one", b"two"):
        resp = await pool.post(srv.url, data=b"{}", headers={})
        assert await resp.read() == want
        resp.release()
    # once each, before its own answer, with the connection written to (``loop_waits`` asks it whether the
    # answer is in, session 29)
    assert seen == [(0, srv.port), (1, srv.port)]
    await pool.close()


async def test_a_callers_accept_encoding_and_user_agent_are_kept(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    srv = await serve([[ok(b"{}")]])
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"", headers={"accept-encoding": "identity", "user-agent": "me/1"})
    await resp.read()
    head = srv.requests[0][0].decode().lower()
    assert "accept-encoding: identity\r\n" in head and "gzip" not in head
    assert "user-agent: me/1\r\n" in head and head.count("user-agent") == 1
    await pool.close()


async def test_a_connection_is_used_again_once_its_answer_was_read(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    srv = await serve([[ok(b"one")], [chunked(b"tw", b"o")], [ok(b"three")]])
    pool = UpstreamPool(5)
    for want in (b"one", b"two", b"three"):
        resp = await pool.post(srv.url, data=b"{}", headers={})
        assert await resp.read() == want
        resp.release()
    assert (srv.connections, len(srv.requests)) == (1, 3)
    assert pool.idle_count(srv.url) == 1
    await pool.close()
    assert pool.idle_count(srv.url) == 0


async def test_a_connection_released_before_its_end_is_closed(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    srv = await serve([[chunked(b"a"), b""], [ok(b"next")]])
    # the first answer's chunked body never ends (its last-chunk is not sent): cut by the server's silence
    srv.answers[0] = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n"]
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.content.readany() == b"a"
    resp.release()
    resp.release()  # idempotent
    resp2 = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp2.read() == b"next"
    assert srv.connections == 2
    for _ in range(100):  # the server sees the first connection end
        if srv.closed_by_client:
            break
        await asyncio.sleep(0.01)
    assert srv.closed_by_client >= 1
    await pool.close()


async def test_close_drops_the_connection(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve([[b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"], [ok(b"x")]])  # 3 bytes short
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.content.readany() == b"ab"
    resp.close()
    resp.release()
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"x"
    assert srv.connections == 2
    await pool.close()


async def test_close_after_the_whole_body_keeps_the_connection(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """aiohttp's rule: a body read to its end gave its connection back already; ``close`` then has nothing
    to drop (the provider finished: nothing is generated for nobody)."""
    srv = await serve([[ok(b"x")]])
    pool = UpstreamPool(5)
    for _ in range(2):
        resp = await pool.post(srv.url, data=b"{}", headers={})
        assert await resp.read() == b"x"
        resp.close()
    assert srv.connections == 1
    await pool.close()


async def test_connection_close_is_honoured(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve([[ok(b"x", b"Connection: close\r\n")]])
    pool = UpstreamPool(5)
    for _ in range(2):
        resp = await pool.post(srv.url, data=b"{}", headers={})
        assert await resp.read() == b"x"
        resp.release()
    assert srv.connections == 2 and pool.idle_count(srv.url) == 0
    await pool.close()


async def test_a_body_delimited_by_the_connections_end(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve(
        [[b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart one ", b"part two"]], close_after=True
    )
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"part one part two"
    resp.release()
    assert pool.idle_count(srv.url) == 0
    await pool.close()


async def test_interim_responses_are_skipped(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve(
        [[b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", ok(b"final")]]
    )
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert resp.status == 200 and await resp.read() == b"final"
    await pool.close()


async def test_a_gzip_answer_is_decoded(serve: Callable[..., asyncio.Future[Server]]) -> None:
    packed = gzip.compress(b'{"usage":{"prompt_tokens":3}}')
    srv = await serve([[ok(packed, b"Content-Encoding: gzip\r\n")]])
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b'{"usage":{"prompt_tokens":3}}'
    await pool.close()


async def test_an_error_status_is_an_answer(serve: Callable[..., asyncio.Future[Server]]) -> None:
    body = b'{"error":{"type":"rate_limit_error"}}'
    srv = await serve(
        [
            [
                b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\nContent-Length: %d\r\n\r\n%s"
                % (len(body), body)
            ]
        ]
    )
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert (resp.status, resp.headers["retry-after"]) == (429, "7")
    assert await resp.read() == body
    await pool.close()


async def test_a_body_broken_off_raises_a_payload_error(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve(
        [[b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", b"9\r\nbroke"]],
        close_after=True,
    )
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    with pytest.raises(aiohttp.ClientPayloadError):
        await resp.read()
    resp.release()
    assert pool.idle_count(srv.url) == 0
    await pool.close()


async def test_a_connection_closed_before_the_answer(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve([[]], close_after=True)
    pool = UpstreamPool(5)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pool.post(srv.url, data=b"{}", headers={})
    await pool.close()


async def test_a_malformed_answer_is_a_client_error(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve([[b"HTP/9 OK\r\n\r\n"]])
    pool = UpstreamPool(5)
    with pytest.raises(UpstreamProtocolError) as info:
        await pool.post(srv.url, data=b"{}", headers={})
    assert isinstance(info.value, aiohttp.ClientError)
    assert f"127.0.0.1:{srv.port}" in str(info.value)
    await pool.close()


async def test_a_refused_connection_names_the_origin() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    pool = UpstreamPool(5)
    with pytest.raises(aiohttp.ClientConnectionError) as info:
        await pool.post(
            f"http://127.0.0.1:{port}/v1/messages", data=b"{}", headers={"x-api-key": "sk-secret"}
        )
    assert f"Cannot connect to host 127.0.0.1:{port} ssl:False" in str(info.value)
    assert "sk-secret" not in str(info.value)
    await pool.close()


async def test_an_unknown_host_is_a_connection_error() -> None:
    pool = UpstreamPool(5)
    with pytest.raises(aiohttp.ClientConnectionError) as info:
        await pool.post("http://no-such-host.invalid/v1/messages", data=b"{}", headers={})
    assert "no-such-host.invalid" in str(info.value)
    await pool.close()


async def test_a_bad_url_and_a_bad_header_value() -> None:
    pool = UpstreamPool(5)
    with pytest.raises(aiohttp.InvalidURL):
        await pool.post("ftp://example.com/x", data=b"", headers={})
    with pytest.raises(aiohttp.InvalidURL):
        await pool.post("/relative", data=b"", headers={})
    with pytest.raises(ValueError):
        await pool.post("http://127.0.0.1:9/x", data=b"", headers={"x-api-key": "sk\r\nInjected: 1"})
    await pool.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await pool.post("http://127.0.0.1:9/x", data=b"", headers={})


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/v1/chat/completions",  # port out of range
        "http://[::1/v1/chat/completions",  # IPv6 literal without its bracket
        "http://user:secret-pw@127.0.0.1:abc/v1",  # port not a number, credentials in it
    ],
)
async def test_a_url_that_does_not_parse_is_invalid_url(url: str) -> None:
    """A base URL yarl cannot parse (a typo in ``OPENAI_BASE_URL``) is an ``aiohttp.InvalidURL`` (a
    ``ClientError``: the request's connection error in the client's format), not a ``ValueError`` the gateway
    answers with a 500; its password is not in the message."""
    pool = UpstreamPool(5)
    with pytest.raises(aiohttp.InvalidURL) as info:
        await pool.post(url, data=b"", headers={})
    assert "secret-pw" not in str(info.value)
    await pool.close()


def test_targets() -> None:
    assert _target("https://api.openai.com/v1/chat/completions").host_header == "api.openai.com"
    t = _target("https://api.openai.com:8443/v1/responses")
    assert (t.host_header, t.port, t.tls, t.request_line) == (
        "api.openai.com:8443",
        8443,
        True,
        "POST /v1/responses HTTP/1.1",
    )
    t = _target("http://[::1]:8080")
    assert (t.host, t.host_header, t.request_line, t.key) == (
        "::1",
        "[::1]:8080",
        "POST / HTTP/1.1",
        ("http", "::1", 8080),
    )
    assert _target("http://localhost/a%20b?c=d%26e").request_line == "POST /a%20b?c=d%26e HTTP/1.1"
    assert _target("http://example.com:80/").host_header == "example.com"


async def test_an_expired_address_is_kept_again_when_the_cache_is_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DNS cache holds at most ``TARGETS_KEPT`` origins; an origin already in it whose addresses expired is
    renewed in place even when it is full (else that origin was looked up again on every request, for good)."""
    monkeypatch.setattr(upstream_pool, "TARGETS_KEPT", 1)
    now = [0.0]
    pool = UpstreamPool(5, dns_ttl_s=10, clock=lambda: now[0])
    loop = asyncio.get_running_loop()
    lookups: list[str] = []
    real = loop.getaddrinfo

    async def counted(host: Any, port: Any, **kw: Any) -> Any:
        lookups.append(host)
        return await real(host, port, **kw)

    monkeypatch.setattr(loop, "getaddrinfo", counted)
    target = _target("http://127.0.0.1:9/v1")
    await pool._resolve(loop, target)
    await pool._resolve(loop, target)
    assert len(lookups) == 1  # kept
    now[0] = 11.0  # expired: looked up again, and kept again
    await pool._resolve(loop, target)
    await pool._resolve(loop, target)
    assert len(lookups) == 2
    await pool.close()


async def test_an_idle_connection_expires(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve([[ok(b"x")]])
    now = [1000.0]
    pool = UpstreamPool(5, keepalive_s=30, clock=lambda: now[0])
    for step in (0.0, 29.0, 31.0):
        now[0] += step
        resp = await pool.post(srv.url, data=b"{}", headers={})
        assert await resp.read() == b"x"
    assert srv.connections == 2  # the third request came 31 s after the second: a new connection
    await pool.close()


async def test_a_connection_the_server_closed_while_idle_is_not_used(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    srv = await serve([[ok(b"x")]], close_after=True)  # no Connection: close said, yet closed
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"x"
    for _ in range(200):  # the pool's side of the connection sees the server's close
        idle = pool._idle[next(iter(pool._idle))]
        if not idle or not idle[0][0].is_connected():
            break
        await asyncio.sleep(0.005)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"x"
    assert srv.connections == 2
    await pool.close()


async def test_concurrent_requests_open_connections_then_share_them(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    srv = await serve([[ok(b"x")]])
    pool = UpstreamPool(5)

    async def one() -> bytes:
        resp = await pool.post(srv.url, data=b"{}", headers={})
        try:
            return await resp.read()
        finally:
            resp.release()

    assert await asyncio.gather(*(one() for _ in range(20))) == [b"x"] * 20
    first = srv.connections
    assert 1 <= first <= 20 and pool.idle_count(srv.url) == first
    for _ in range(20):
        assert await one() == b"x"
    assert srv.connections == first
    await pool.close()


async def test_a_cancelled_wait_closes_the_connection(serve: Callable[..., asyncio.Future[Server]]) -> None:
    gate = asyncio.Event()
    srv = await serve([[ok(b"x")]])
    original = srv.handle

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await gate.wait()
        await original(reader, writer)

    srv.handle = slow  # type: ignore[method-assign]
    assert srv.server is not None
    srv.server.close()
    srv.server = await asyncio.start_server(lambda r, w: srv.handle(r, w), "127.0.0.1", srv.port)
    pool = UpstreamPool(5)
    task = asyncio.ensure_future(pool.post(srv.url, data=b"{}", headers={}))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.idle_count(srv.url) == 0
    gate.set()
    await pool.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chunks=st.lists(st.binary(min_size=1, max_size=40), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8),
    extension=st.booleans(),
    trailer=st.booleans(),
)
def test_a_chunked_body_cut_anywhere(
    chunks: list[bytes], cuts: list[int], extension: bool, trailer: bool
) -> None:
    """The chunked transfer coding (RFC 9112 §7.1: sizes in hex, chunk extensions, trailer fields) read
    whole whatever the TCP writes cut it into, and the connection used again after it."""
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    for chunk in chunks:
        wire += b"%X%s\r\n%s\r\n" % (len(chunk), b";ext=1" if extension else b"", chunk)
    wire += b"0\r\n" + (b"X-Trailer: t\r\n" if trailer else b"") + b"\r\n"
    pieces, at = [], 0
    for cut in sorted(set(cuts)):
        if at < cut < len(wire):
            pieces.append(wire[at:cut])
            at = cut
    pieces.append(wire[at:])

    async def run() -> None:
        srv = Server([pieces, [ok(b"after")]])
        srv.server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        srv.port = srv.server.sockets[0].getsockname()[1]
        pool = UpstreamPool(5)
        try:
            resp = await pool.post(srv.url, data=b"{}", headers={})
            assert await resp.read() == b"".join(chunks)
            resp = await pool.post(srv.url, data=b"{}", headers={})
            assert await resp.read() == b"after"
            assert srv.connections == 1
        finally:
            await pool.close()
            srv.server.close()

    asyncio.run(run())


async def test_tls(serve: Callable[..., asyncio.Future[Server]], tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    srv = await serve([[ok(b"secure")]], ssl_context=server_context)
    url = f"https://127.0.0.1:{srv.port}/v1/messages"
    trusting = default_ssl_context()
    trusting.load_verify_locations(cert)
    pool = UpstreamPool(5, ssl_context=trusting)
    for _ in range(2):
        resp = await pool.post(url, data=b"{}", headers={})
        assert await resp.read() == b"secure"
    assert srv.connections == 1
    assert f"Host: 127.0.0.1:{srv.port}\r\n" in srv.requests[0][0].decode()
    await pool.close()
    untrusting = UpstreamPool(5)  # the system's CAs: a self-signed certificate is refused
    with pytest.raises(aiohttp.ClientConnectionError) as info:
        await untrusting.post(url, data=b"{}", headers={})
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    await untrusting.close()


async def test_a_tls_handshake_that_never_ends_is_a_connect_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers the ClientHello
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = UpstreamPool(0.2)
    with pytest.raises(aiohttp.ConnectionTimeoutError) as info:
        await pool.post(f"https://127.0.0.1:{port}/v1/messages", data=b"{}", headers={})
    assert isinstance(info.value, TimeoutError) and f"127.0.0.1:{port}" in str(info.value)
    await pool.close()
    server.close()


def _unanswering_listener(port: int) -> tuple[socket.socket, list[socket.socket]]:
    """A listener on 127.0.0.2:``port`` whose accept queue is full: the kernel drops further SYNs, so a
    connect there neither succeeds nor fails (a blackholed address: a dead A record, an IPv6 route that
    goes nowhere)."""
    listener = socket.socket()
    listener.bind(("127.0.0.2", port))
    listener.listen(0)
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        try:
            filler.connect(("127.0.0.2", port))
        except BlockingIOError:
            pass
        fillers.append(filler)
    return listener, fillers


async def test_an_address_that_never_answers_does_not_keep_the_next_one_from_serving(
    serve: Callable[..., asyncio.Future[Server]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host name with two addresses, the first blackholed: the second is tried 0.25 s later while the
    first is still pending (RFC 8305's connection attempt delay, as aiohttp's connector did), not only
    once the whole connect timeout has gone to the first."""
    srv = await serve([[ok(b"served")]])
    listener, fillers = _unanswering_listener(srv.port)
    loop = asyncio.get_running_loop()

    async def resolved(host: str, port: int, **_: object) -> list[tuple[int, int, int, str, tuple[str, int]]]:
        assert host == "upstream.test"
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
        ]

    monkeypatch.setattr(loop, "getaddrinfo", resolved)
    pool = UpstreamPool(5)
    try:
        resp = await pool.post(f"http://upstream.test:{srv.port}/v1/messages", data=b"{}", headers={})
        assert (resp.status, await resp.read()) == (200, b"served")
        assert srv.requests[0][0].startswith(b"POST /v1/messages HTTP/1.1\r\nHost: upstream.test:")
    finally:
        await pool.close()
        for sock in (listener, *fillers):
            sock.close()


async def test_idle_connections_are_closed_once_expired_without_further_requests(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """After a burst nothing more is sent: the idle connections are still closed once they outlive
    ``keepalive_s`` (aiohttp's connector swept them every keep-alive period), not held open, with their
    file descriptors and the provider's connection slots, until the next request to that origin."""
    srv = await serve([[ok(b"x")]])
    pool = UpstreamPool(5, keepalive_s=0.05)

    async def one() -> bytes:
        resp = await pool.post(srv.url, data=b"{}", headers={})
        return await resp.read()

    assert await asyncio.gather(*(one() for _ in range(3))) == [b"x"] * 3
    assert srv.connections == 3
    for _ in range(500):  # the sweep's turn comes within a few keep-alive periods
        if srv.closed_by_client == 3:
            break
        await asyncio.sleep(0.01)
    assert srv.closed_by_client == 3 and pool.idle_count(srv.url) == 0
    await pool.close()


async def test_credentials_in_the_url_are_sent_as_basic_auth(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """A base URL with ``user:password@`` (a company proxy with basic auth in front of a provider that
    authenticates by ``x-api-key``, an Ollama behind nginx): aiohttp's session sent them as
    ``Authorization: Basic`` (RFC 7617); a caller's own ``Authorization`` wins. Never in ``Host``."""
    srv = await serve([[ok(b"x")]])
    pool = UpstreamPool(5)
    url = f"http://user:pa%20ss@127.0.0.1:{srv.port}/v1/messages"
    for headers in ({"x-api-key": "sk-a"}, {"authorization": "Bearer sk-b"}):
        resp = await pool.post(url, data=b"{}", headers=headers)
        assert await resp.read() == b"x"
    first, second = (head.decode() for head, _ in srv.requests)
    assert "\r\nAuthorization: Basic dXNlcjpwYSBzcw==\r\n" in first  # base64("user:pa ss")
    assert f"\r\nHost: 127.0.0.1:{srv.port}\r\n" in first and "user" not in first.split("Authorization")[0]
    assert "Basic" not in second and "\r\nauthorization: Bearer sk-b\r\n" in second
    with pytest.raises(aiohttp.InvalidURL) as info:
        await pool.post("ftp://user:secret-pw@example.com/x", data=b"", headers={})
    assert "secret-pw" not in str(info.value)
    await pool.close()


def after_each(answers_per_connection: int) -> Callable[[int, int], bool]:
    """A server that ends each connection when the request after its ``answers_per_connection``-th arrives
    (a keep-alive timeout or a request limit, met just as the client sent)."""
    return lambda answered_here, answered: answered_here >= answers_per_connection


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
async def test_a_request_on_a_kept_connection_that_ends_unanswered_is_sent_again_on_a_new_one(
    serve: Callable[..., asyncio.Future[Server]], reset: bool
) -> None:
    """The keep-alive race: the origin ends a kept connection (closes it, or resets it) as the next request
    goes out on it, and no byte of an answer comes. The request is sent once more on a new connection and
    answered there; the caller sees only the answer. Fails before: ``ServerDisconnectedError`` /
    ``ClientOSError`` for the second request."""
    srv = await serve([[ok(b"one")], [ok(b"two")], [ok(b"three")]])
    srv.hang_up, srv.reset = after_each(1), reset
    pool = UpstreamPool(5)
    for want, again in ((b"one", False), (b"two", True), (b"three", True)):
        resp = await pool.post(srv.url, data=b'{"n":1}', headers={})
        assert await resp.read() == want
        assert resp.sent_again is again
    # connection 1: one, then the second request unanswered; 2: two, then the third unanswered; 3: three
    assert (srv.connections, srv.answered, len(srv.requests)) == (3, 3, 5)
    assert [body for _, body in srv.requests] == [b'{"n":1}'] * 5  # the same request, whole, each time
    assert pool.unanswered_retries == 2
    await pool.close()


async def test_no_second_try_once_a_byte_of_the_answer_came(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """The origin began answering (its first byte came) and then closed: it saw the request, so it is not
    sent again; the error is the caller's."""
    srv = await serve([[ok(b"one")]])
    srv.hang_up, srv.hang_up_with = after_each(1), b"HTTP/1.1 5"
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"one"
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pool.post(srv.url, data=b"{}", headers={})
    assert (srv.connections, len(srv.requests), pool.unanswered_retries) == (1, 2, 0)
    await pool.close()


async def test_no_second_try_after_an_interim_response(serve: Callable[..., asyncio.Future[Server]]) -> None:
    srv = await serve([[ok(b"one")]])
    srv.hang_up, srv.hang_up_with = after_each(1), b"HTTP/1.1 100 Continue\r\n\r\n"
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"one"
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pool.post(srv.url, data=b"{}", headers={})
    assert (srv.connections, pool.unanswered_retries) == (1, 0)
    await pool.close()


async def test_sent_again_once_only(serve: Callable[..., asyncio.Future[Server]]) -> None:
    """An origin that answers one request and then hangs up on every later one, on any connection: the
    request on the kept connection is sent again once, on a new connection, and that one's failure (a new
    connection's: no race explains it) is the caller's error. Not a third try."""
    srv = await serve([[ok(b"one")]])
    srv.hang_up = lambda answered_here, answered: answered >= 1
    pool = UpstreamPool(5)
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"one"
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pool.post(srv.url, data=b"{}", headers={})
    assert (srv.connections, len(srv.requests), pool.unanswered_retries) == (2, 3, 1)
    assert pool.idle_count(srv.url) == 0
    await pool.close()


async def test_a_new_connection_that_ends_unanswered_is_not_tried_again(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """Go's rule (``persistConn.shouldRetryRequest``: "This was a fresh connection. There's no reason the
    server should've hung up on us"): a fresh connection's failure is the answer."""
    srv = await serve([[ok(b"one")]])
    srv.hang_up = after_each(0)
    pool = UpstreamPool(5)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await pool.post(srv.url, data=b"{}", headers={})
    assert (srv.connections, len(srv.requests), pool.unanswered_retries) == (1, 1, 0)
    await pool.close()


async def test_a_stated_keep_alive_timeout_is_kept_within(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """``Keep-Alive: timeout=5`` (Apache's, nginx's ``keepalive_timeout 75 5``): the connection is not used
    after 4 s idle (5 less the margin) even though the pool's own ``keepalive_s`` is 30; before, it is."""
    srv = await serve([[ok(b"x", b"Keep-Alive: timeout=5, max=100\r\n")]])
    now = [1000.0]
    pool = UpstreamPool(5, keepalive_s=30, clock=lambda: now[0])
    for step in (0.0, 3.9, 4.1):
        now[0] += step
        resp = await pool.post(srv.url, data=b"{}", headers={})
        assert await resp.read() == b"x"
    assert srv.connections == 2  # the third came 4.1 s after the second: a new connection
    await pool.close()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("timeout=5, max=1000", 5.0),
        ("max=3, timeout=75", 75.0),
        ("Timeout = 2", 2.0),
        ('timeout="7"', 7.0),
        ("max=5", None),
        ("notimeout=4", None),
        ("timeout=", None),
    ],
)
def test_keep_alive_timeout(value: str, seconds: float | None) -> None:
    assert upstream_pool.keep_alive_timeout(value) == seconds


async def test_a_keep_alive_timeout_of_a_second_or_less_is_kept_half_of(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    srv = await serve([[ok(b"x", b"Keep-Alive: timeout=1\r\n")], [ok(b"x", b"Keep-Alive: timeout=0\r\n")]])
    now = [1000.0]
    pool = UpstreamPool(5, keepalive_s=30, clock=lambda: now[0])
    resp = await pool.post(srv.url, data=b"{}", headers={})
    assert await resp.read() == b"x" and pool.idle_count(srv.url) == 1
    now[0] += 0.4
    resp = await pool.post(srv.url, data=b"{}", headers={})  # within half a second: the same connection
    assert await resp.read() == b"x"
    assert srv.connections == 1 and pool.idle_count(srv.url) == 0  # timeout=0: not kept
    await pool.close()


async def test_a_big_body_is_not_copied_to_put_the_head_before_it(
    serve: Callable[..., asyncio.Future[Server]],
) -> None:
    """A 10 MB request body goes out without the pool copying it (the head in a write of its own): what is
    allocated while it is sent, with the origin not reading yet, is less than the body (the transport's
    buffer of what the socket did not take). Before: the head + body copy alone was the whole body."""
    body = b"b" * (10 << 20)
    gate = asyncio.Event()
    srv = await serve([[ok(b"x")]])
    srv.body_gate = gate
    pool = UpstreamPool(5)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        task = asyncio.ensure_future(pool.post(srv.url, data=body, headers={}))
        await srv.head_seen.wait()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    gate.set()
    resp = await task
    assert await resp.read() == b"x"
    assert srv.requests[0][1] == body
    assert peak - base < len(body) - (1 << 16), (peak - base, len(body))
    await pool.close()


@pytest.mark.parametrize("first_bytes", [b"", b"HTTP/1.1 2"], ids=["unanswered", "answer-begun"])
def test_the_sent_again_rule_on_uvloop(first_bytes: bytes) -> None:
    """The gateway's own loop (``services/gateway/__main__.py``): uvloop's transports call the protocol's
    ``data_received`` as asyncio's do, so the first answer byte is noticed (``_Heard``) there too."""
    uvloop = pytest.importorskip("uvloop")

    async def run() -> None:
        srv = Server([[ok(b"one")], [ok(b"two")]], hang_up=after_each(1), hang_up_with=first_bytes)
        server = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
        srv.port = server.sockets[0].getsockname()[1]
        pool = UpstreamPool(5)
        resp = await pool.post(srv.url, data=b"{}", headers={})
        assert await resp.read() == b"one"
        if first_bytes:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await pool.post(srv.url, data=b"{}", headers={})
            assert (srv.connections, pool.unanswered_retries) == (1, 0)
        else:
            resp = await pool.post(srv.url, data=b"{}", headers={})
            assert await resp.read() == b"two" and resp.sent_again
            assert (srv.connections, pool.unanswered_retries) == (2, 1)
        await pool.close()
        server.close()

    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(run())
    finally:
        loop.close()
