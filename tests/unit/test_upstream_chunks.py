"""Reads on real aiohttp body readers: a chunk or a whole body already received is returned at once, without
a timer or a task around the read (issue 13: per-read overhead on every request); the end of a body and a
broken body are reported as before."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from services.gateway import keys
from services.gateway.errors import UpstreamError
from services.gateway.handlers import read_json
from services.gateway.providers.base import Provider
from services.gateway.upstream import Chunks, UpstreamClient

PROVIDER = Provider("p", "http://127.0.0.1:9", "sk-secret-key")


class _Response:
    def __init__(self, content: aiohttp.StreamReader) -> None:
        self.content = content


def body() -> tuple[aiohttp.StreamReader, Chunks]:
    reader = aiohttp.StreamReader(mock.Mock(_reading_paused=False), 2**16, loop=asyncio.get_running_loop())
    return reader, Chunks(_Response(reader))  # type: ignore[arg-type]


class NoWaiting(UpstreamClient):
    """Fails the test if a read has to be awaited."""

    async def _next_chunk(self, *args: Any) -> bytes | None:
        raise AssertionError("waited for a chunk that was already there")


async def test_a_received_chunk_comes_back_without_waiting_and_scrubbed() -> None:
    reader, chunks = body()
    reader.feed_data(b"data: one sk-secret-key\n\n")
    reader.feed_data(b"data: two\n\n")
    client = NoWaiting(None, 5, 5)  # type: ignore[arg-type]
    chunk = await client.next_chunk(chunks, PROVIDER, "between_chunks", 0.0)
    assert chunk == b"data: one [redacted]\n\ndata: two\n\n"  # everything received so far, as readany
    assert not chunks.ended


async def test_the_end_and_a_broken_body_are_reported_as_before() -> None:
    reader, chunks = body()
    client = UpstreamClient(None, 5, 5)  # type: ignore[arg-type]
    reader.feed_data(b"last")
    reader.feed_eof()
    assert await client.next_chunk(chunks, PROVIDER, "between_chunks", 1.0) == b"last"
    assert chunks.ended
    assert await client.next_chunk(chunks, PROVIDER, "between_chunks", 1.0) is None

    reader, chunks = body()
    reader.set_exception(aiohttp.ClientPayloadError("cut"))
    with pytest.raises(UpstreamError) as info:
        await client.next_chunk(chunks, PROVIDER, "between_chunks", 1.0)
    assert info.value.error_type == "broken_stream" and info.value.retryable


class _NoTimer:
    """Stands in for ``asyncio.timeout``: fails the test if a timer is set around a read."""

    def __init__(self, delay: float) -> None:
        raise AssertionError("a timer was set to read a body that had already arrived")


async def test_a_body_already_received_is_read_without_a_timer() -> None:
    reader, _ = body()
    reader.feed_data(b'{"ok": "sk-secret-key"}')
    reader.feed_eof()
    resp = mock.Mock(content=reader)
    resp.read = mock.AsyncMock(side_effect=lambda: reader.read_nowait())
    with mock.patch("services.gateway.upstream.asyncio.timeout", _NoTimer):
        got = await UpstreamClient(None, 5, 5).read_body(resp, PROVIDER)  # type: ignore[arg-type]
    assert got == b'{"ok": "[redacted]"}'


async def test_a_client_body_already_received_is_read_without_a_timer() -> None:
    reader, _ = body()
    reader.feed_data(b'{"model": "m"}')
    reader.feed_eof()
    app = web.Application()
    app[keys.STATE] = mock.Mock(settings=mock.Mock(client_body_timeout_s=5.0))
    request = make_mocked_request("POST", "/v1/chat/completions", app=app, payload=reader)
    with mock.patch("services.gateway.handlers.asyncio.timeout", _NoTimer):
        parsed, raw = await read_json(request)
    assert parsed == {"model": "m"} and raw == b'{"model": "m"}'
