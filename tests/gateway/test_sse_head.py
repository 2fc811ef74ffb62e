"""The head of a streamed answer (``proxy.SSEResponse``), on a real socket: the bytes aiohttp's own
``StreamResponse`` sends for the same headers (HTTP/1.1 kept or closed, HTTP/1.0), an ``on_response_prepare``
hook's headers replacing those of the same name, and a field with a line break refused, not sent."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from services.gateway.proxy import SSE_HEADERS, SSEResponse
from tests.procs import free_port

FIELDS = {
    "anthropic-ratelimit-requests-remaining": "49",
    "x-ekai-provider": "anthropic",
    "x-ekai-attempts": "1",
    "x-request-id": "req_0123456789abcdef",
    "request-id": "req_0123456789abcdef",
}
BODY = b"event: ping\ndata: {}\n\n"
_DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")

Make = Callable[[], web.StreamResponse]


def ours() -> web.StreamResponse:
    return SSEResponse(FIELDS)


def aiohttps() -> web.StreamResponse:
    """The reference: aiohttp's generic response with the same headers, its head held for the body too."""
    response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **FIELDS})
    response._send_headers_immediately = False
    return response


async def _serve(make: Make, hook: dict[str, str] | None = None) -> AsyncIterator[int]:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = make()
        await response.prepare(request)
        await response.write_eof(BODY)
        return response

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        for name, value in (hook or {}).items():
            response.headers[name] = value

    app = web.Application()
    app.router.add_post("/", handler)
    if hook is not None:
        app.on_response_prepare.append(on_prepare)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield port
    finally:
        await runner.cleanup()


async def _exchange(make: Make, request: bytes, hook: dict[str, str] | None = None) -> bytes:
    """What the server sends for ``request`` until it closes the connection or the chunked body ends."""
    async for port in _serve(make, hook):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        data = b""
        while not data.endswith(b"0\r\n\r\n") and (more := await asyncio.wait_for(reader.read(65536), 10)):
            data += more
        writer.close()
        return _DATE.sub(b"\r\nDate: -\r\n", data)
    raise AssertionError("no server")


KEPT = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
CLOSED = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
OLD = b"POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize("request_bytes", [KEPT, CLOSED, OLD], ids=["http11-kept", "http11-close", "http10"])
async def test_the_head_is_aiohttps_own(request_bytes: bytes) -> None:
    got, want = await _exchange(ours, request_bytes), await _exchange(aiohttps, request_bytes)
    assert got == want
    assert b"Content-Type: text/event-stream\r\n" in got and b"x-ekai-provider: anthropic\r\n" in got


async def test_a_hook_replaces_headers_of_the_same_name() -> None:
    """``auth``'s quota hook sets ``retry-after`` and its budget note after the fields are in: its values
    win, as they do over aiohttp's ``CIMultiDict`` (the order of the lines may differ)."""
    hook = {"Anthropic-RateLimit-Requests-Remaining": "0", "x-ekai-budget-remaining-usd": "1.000000"}
    got, want = await _exchange(ours, KEPT, hook), await _exchange(aiohttps, KEPT, hook)

    def fields(raw: bytes) -> list[bytes]:
        return sorted(line.lower() for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")[1:])

    assert fields(got) == fields(want)
    assert b"anthropic-ratelimit-requests-remaining: 0" in fields(got)
    assert b"anthropic-ratelimit-requests-remaining: 49" not in fields(got)


async def test_a_line_break_in_a_field_is_refused_not_sent() -> None:
    def injected() -> web.StreamResponse:
        return SSEResponse({**FIELDS, "x-request-id": "r\r\nSet-Cookie: a=b"})

    got = await _exchange(injected, KEPT)
    assert got.startswith(b"HTTP/1.1 500 ")
    assert b"Set-Cookie" not in got
