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
from services.gateway.upstream import UpstreamClient
from tests.unit.test_upstream_chunks import body

PROVIDER = Provider("p", "http://127.0.0.1:9", "sk-secret-key")


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


@pytest.mark.usefixtures("no_task_per_read")
async def test_the_last_events_that_came_with_the_bodys_end_are_read_before_its_error() -> None:
    """The answer's last events and the connection's end arrive while no read waits (the keep-alive went
    to a slow client): the events come first, the error with the next read. aiohttp's ``readany`` raises a
    stored error before it looks at its buffer; bugcase 13's kind (a finished answer whose body broke off)
    must stay a success."""
    reader, chunks = body()
    last = b'data: {"finish_reason":"stop"}\n\ndata: [DONE]\n\n'

    async def on_idle() -> None:
        reader.feed_data(last)
        reader.set_exception(aiohttp.ClientPayloadError("Response payload is not completed"))

    assert await client().next_chunk(chunks, PROVIDER, "between_chunks", 60.0, on_idle) == last
    with pytest.raises(UpstreamError) as info:
        await client().next_chunk(chunks, PROVIDER, "between_chunks", 60.0, on_idle)
    assert info.value.error_type == "broken_stream"


@pytest.mark.parametrize("keepalive_s", [0.02, 0.0])
async def test_bytes_already_there_when_the_body_broke_are_read_first(keepalive_s: float) -> None:
    """Between two chunks (the previous one went to a slow client meanwhile): the same rule."""
    reader, chunks = body()
    reader.feed_data(b"data: a\n\n")
    reader.feed_data(b"data: b\n\n")
    reader.set_exception(aiohttp.ClientPayloadError("cut"))
    assert chunks.buffered() == b"data: a\n\ndata: b\n\n" and chunks.buffered() == b""
    reader2, chunks2 = body()
    reader2.feed_data(b"data: c\n\n")
    reader2.set_exception(aiohttp.ClientPayloadError("cut"))
    up = client(keepalive_s=keepalive_s)
    assert await up.next_chunk(chunks2, PROVIDER, "between_chunks", 60.0, _idle) == b"data: c\n\n"
    with pytest.raises(UpstreamError):
        await up.next_chunk(chunks2, PROVIDER, "between_chunks", 60.0, _idle)


async def _idle() -> None:
    return None


@pytest.mark.usefixtures("no_task_per_read")
async def test_a_chunk_that_comes_in_the_timers_own_turn_is_no_silence() -> None:
    """The chunk arrives in the loop turn the keep-alive timer fires in (the read's waiter is done, the
    timer's cancellation wins): the chunk is returned, with no keep-alive for it (before the first token
    a keep-alive commits the stream, forfeiting fallback)."""
    reader, chunks = body()
    fires, idles = 0, 0
    expire = upstream._expire

    def expire_with_data(task: asyncio.Task[object], fired: list[bool]) -> None:
        nonlocal fires
        fires += 1
        if fires == 2:
            reader.feed_data(b"data: x\n\n")
        expire(task, fired)

    async def on_idle() -> None:
        nonlocal idles
        idles += 1

    with mock.patch.object(upstream, "_expire", expire_with_data):
        got = await client().next_chunk(chunks, PROVIDER, "first_token", 60.0, on_idle)
    assert got == b"data: x\n\n" and idles == 1 and fires == 2
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


@pytest.mark.usefixtures("no_task_per_read")
async def test_a_chunk_that_came_while_a_slow_keepalive_outlasted_the_bound_is_read() -> None:
    """The keep-alive's write took longer than the chunk timeout while the provider's chunk arrived: the
    chunk is read, not blamed on the provider as a silence."""
    reader, chunks = body()

    async def on_idle() -> None:
        reader.feed_data(b"data: late\n\n")
        await asyncio.sleep(0.15)  # past the 0.1 s bound

    up = client(keepalive_s=0.02, chunk_timeout_s=0.1)
    assert await up.next_chunk(chunks, PROVIDER, "between_chunks", 0.1, on_idle) == b"data: late\n\n"
