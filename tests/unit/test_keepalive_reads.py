"""Keep-alives while a stream's upstream is silent, on a real aiohttp body reader (``upstream.Chunks``): each
wait is bounded by one timer and the read is cancelled and begun again after the keep-alive, with no task
and no ``asyncio.wait`` per read (session 10: a task per upstream read on every stream). What arrives
meanwhile is not lost; the silence still counts towards the chunk timeout; a client gone during the
keep-alive and a cancellation from outside are not the provider's fault."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import aiohttp
import pytest

from services.gateway import upstream
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


def client(keepalive_s: float = 0.02, chunk_timeout_s: float = 60.0) -> UpstreamClient:
    return UpstreamClient(None, 5, chunk_timeout_s, keepalive_s)  # type: ignore[arg-type]


def _no_task(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a task was started for one upstream read")


@pytest.fixture
def no_task_per_read() -> Any:
    with (
        mock.patch.object(upstream.asyncio, "ensure_future", _no_task),
        mock.patch.object(upstream.asyncio, "wait", _no_task),
    ):
        yield


@pytest.mark.usefixtures("no_task_per_read")
async def test_keepalives_during_the_silence_then_the_chunk_and_what_came_meanwhile() -> None:
    reader, chunks = body()
    idle = 0

    async def on_idle() -> None:  # the upstream speaks during the 3rd keep-alive (the read is not waiting)
        nonlocal idle
        idle += 1
        if idle == 3:
            reader.feed_data(b"data: late sk-secret-key\n\n")

    chunk = await client().next_chunk(chunks, PROVIDER, "between_chunks", 60.0, on_idle)
    assert chunk == b"data: late [redacted]\n\n" and idle == 3  # nothing lost, scrubbed, no 4th keep-alive
    reader.feed_data(b"data: next\n\n")
    reader.feed_eof()
    assert await client().next_chunk(chunks, PROVIDER, "between_chunks", 60.0, on_idle) == b"data: next\n\n"
    assert await client().next_chunk(chunks, PROVIDER, "between_chunks", 60.0, on_idle) is None


@pytest.mark.usefixtures("no_task_per_read")
async def test_a_chunk_that_comes_while_the_read_waits_ends_the_wait() -> None:
    reader, chunks = body()
    idle = 0

    async def on_idle() -> None:
        nonlocal idle
        idle += 1
        if idle == 2:  # arrives on its own a loop turn later, while the read waits again
            asyncio.get_running_loop().call_soon(reader.feed_data, b"data: x\n\n")

    assert await client().next_chunk(chunks, PROVIDER, "first_token", 60.0, on_idle) == b"data: x\n\n"
    assert idle == 2


@pytest.mark.usefixtures("no_task_per_read")
async def test_the_silence_still_counts_towards_the_chunk_timeout() -> None:
    _, chunks = body()
    calls = 0

    async def on_idle() -> None:
        nonlocal calls
        calls += 1

    with pytest.raises(UpstreamError) as info:
        await client(chunk_timeout_s=0.2).next_chunk(chunks, PROVIDER, "between_chunks", 0.2, on_idle)
    assert info.value.error_type == "broken_stream" and info.value.retryable and calls >= 1
    assert info.value.message == "p: upstream stream broke off (no data for 0.2s)"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.usefixtures("no_task_per_read")
async def test_a_client_gone_during_the_silence_is_not_the_providers_fault() -> None:
    reader, chunks = body()

    async def on_idle() -> None:
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await client().next_chunk(chunks, PROVIDER, "between_chunks", 5.0, on_idle)
    reader.feed_data(b"data: still here\n\n")  # the abandoned read left the body readable
    assert await client().next_chunk(chunks, PROVIDER, "between_chunks", 5.0) == b"data: still here\n\n"


@pytest.mark.usefixtures("no_task_per_read")
async def test_a_body_that_breaks_during_the_silence_is_a_broken_stream() -> None:
    reader, chunks = body()
    idle = 0

    async def on_idle() -> None:
        nonlocal idle
        idle += 1
        if idle == 2:
            reader.set_exception(aiohttp.ClientPayloadError("cut"))

    with pytest.raises(UpstreamError) as info:
        await client().next_chunk(chunks, PROVIDER, "between_chunks", 60.0, on_idle)
    assert info.value.error_type == "broken_stream" and idle == 2


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    _, chunks = body()
    idle = asyncio.Event()

    async def on_idle() -> None:
        idle.set()

    task = asyncio.create_task(client().next_chunk(chunks, PROVIDER, "between_chunks", 60.0, on_idle))
    await idle.wait()  # the read has been bounded, cancelled and begun again at least once
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.usefixtures("no_task_per_read")
async def test_without_keepalives_the_wait_is_bounded_by_the_chunk_timeout() -> None:
    _, chunks = body()
    with pytest.raises(UpstreamError) as info:
        await client(keepalive_s=0.0).next_chunk(chunks, PROVIDER, "first_token", 0.05)
    assert info.value.error_type == "broken_stream"
    assert info.value.message == "p: stream broke before its first token (no data for 0.05s)"
