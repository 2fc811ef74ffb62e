"""``UpstreamClient.next_chunk`` on a real aiohttp body reader (``upstream.Chunks``): a chunk already
received is returned at once, without a timer or a task around the read (issue 13: per-read overhead on
every stream); the end of the body and a broken body are reported as before."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import aiohttp
import pytest

from services.gateway.errors import UpstreamError
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
