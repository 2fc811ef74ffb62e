"""``upstream.read_error_body`` and ``UpstreamClient.error_from`` on a real aiohttp body reader fed in pieces (as
the connection feeds it): an error body is read to its end, not only the first piece that arrived (bug31b: one
``StreamReader.read(n)`` returned ``{"error":`` and the refusal's words were lost: kinds 04, 10, 11, 17)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from services.gateway.providers.base import Provider
from services.gateway.upstream import ERROR_BODY_LIMIT, UpstreamClient, read_error_body
from tests.unit.test_upstream_chunks import body

PROVIDER = Provider("p", "http://127.0.0.1:9", "sk-secret-key")
REFUSAL = orjson.dumps(
    {
        "error": {
            "message": "Invalid max_tokens value, the valid range of max_tokens is [1, 8192]",
            "type": "x",
        }
    }
)


class _Answer:
    """What ``error_from`` reads of an answer: its status, headers and body reader; ``close`` (a body that did not
    end is closed: fix33 item 2)."""

    def __init__(self, status: int, content: aiohttp.StreamReader) -> None:
        self.status = status
        self.headers: Any = CIMultiDict()
        self.content = content
        self.error_body: bytes | None = None
        self.closed = False

    def close(self) -> None:
        self.closed = True


async def test_a_body_written_in_pieces_is_read_to_its_end() -> None:
    reader, _ = body()
    reader.feed_data(REFUSAL[:10])

    async def rest() -> None:
        await asyncio.sleep(0.01)  # the second piece after the first read has begun waiting
        reader.feed_data(REFUSAL[10:])
        reader.feed_eof()

    later = asyncio.create_task(rest())
    pieces: list[bytes] = []
    await read_error_body(reader, pieces)
    await later
    assert b"".join(pieces) == REFUSAL


async def test_the_limit_bounds_the_read() -> None:
    reader, _ = body()
    reader.feed_data(b"x" * 30)
    reader.feed_data(b"y" * 30)  # never ended: the read stops at the limit, not at the end
    pieces: list[bytes] = []
    await read_error_body(reader, pieces, limit=40)
    assert b"".join(pieces) == b"x" * 30 + b"y" * 10


async def test_error_from_states_the_refusal_of_a_body_in_pieces() -> None:
    reader, _ = body()
    reader.feed_data(REFUSAL[:10])

    async def rest() -> None:
        await asyncio.sleep(0.01)
        reader.feed_data(REFUSAL[10:])
        reader.feed_eof()

    later = asyncio.create_task(rest())
    client = UpstreamClient(None, 5, 60.0, 0.0)  # type: ignore[arg-type]
    err = await client.error_from(_Answer(400, reader), PROVIDER)  # type: ignore[arg-type]
    await later
    assert err.status == 400
    assert "the valid range of max_tokens is [1, 8192]" in str(err.message)


async def test_what_came_before_a_stall_is_kept() -> None:
    reader, _ = body()
    reader.feed_data(b'{"error": {"message": "Rate limit')  # then nothing: the whole read is bounded
    client = UpstreamClient(None, 5, 0.05, 0.0)  # type: ignore[arg-type]
    answer = _Answer(429, reader)
    err = await client.error_from(answer, PROVIDER)  # type: ignore[arg-type]
    assert err.status == 429
    assert "Rate limit" in str(err.message) and "did not end" in str(err.message)
    assert answer.closed  # the rest is not read: the connection is not kept waiting on it


async def test_a_body_past_the_size_bound_says_so_not_a_wait() -> None:
    """A body cut at ``ERROR_BODY_LIMIT`` (a 422 echoing a large input) is told as cut at its size, not as a body
    that did not end in time (session 33's final read: the time bound's words for both)."""
    reader, _ = body()
    head = b'{"error": {"message": "input too large", "input": "'
    reader.feed_data(head + b"x" * ERROR_BODY_LIMIT)  # more than the bound, and not ended
    client = UpstreamClient(None, 5, 60.0, 0.0)  # type: ignore[arg-type]
    answer = _Answer(422, reader)
    err = await client.error_from(answer, PROVIDER)  # type: ignore[arg-type]
    assert err.status == 422
    assert f"passed {ERROR_BODY_LIMIT} bytes" in str(err.message)
    assert "did not end within" not in str(err.message)
    assert answer.closed
