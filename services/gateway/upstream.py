"""The one upstream boundary: every request to a provider goes through ``UpstreamClient``, and every
transport failure becomes an ``UpstreamError`` in one place, with the phase it happened in
(code-review example 2; httpx's ``map_httpcore_exceptions``).

Phases and what a failure there is recorded as (``UpstreamError.error_type``):

    send           connect + response headers  (FIRST_BYTE timeout) → ``timeout`` / ``connection_error``
    body           a whole non-streamed answer  (CHUNK timeout)      → ``broken_response``
    first_token    a stream before its first token (FIRST_BYTE)      → ``broken_stream``
    between_chunks a stream after it began      (CHUNK timeout)      → ``broken_stream``

A stream's bounds: ``FIRST_BYTE`` until its headers, ``FIRST_BYTE`` more in total until its first token
whatever arrives before it, then ``CHUNK`` since its last event (keep-alives and partial lines do not
count: ``Proxy._pump``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Literal

import aiohttp
from yarl import URL

from services.gateway.errors import UpstreamError, parse_upstream_error
from services.gateway.providers.base import Provider
from services.gateway.routing.health import is_retryable, retry_after_seconds

Phase = Literal["send", "body", "first_token", "between_chunks"]
_TIMEOUT_TYPES: dict[Phase, str] = {
    "send": "timeout",
    "body": "broken_response",
    "first_token": "broken_stream",
    "between_chunks": "broken_stream",
}
_BROKEN_TYPES: dict[Phase, str] = {
    "send": "connection_error",
    "body": "broken_response",
    "first_token": "broken_stream",
    "between_chunks": "broken_stream",
}
_WHAT: dict[Phase, str] = {
    "send": "no response",
    "body": "response broke off",
    "first_token": "stream broke before its first token",
    "between_chunks": "upstream stream broke off",
}
ERROR_BODY_LIMIT = 1 << 20  # bytes of an upstream error body kept
URLS_KEPT = 256  # parsed upstream URLs kept (providers x operations: a handful in practice)


class upstream_errors:  # lower case: it reads as the function it was, ``with upstream_errors(...)``
    """Turn a timeout or a transport error inside the block into a retryable ``UpstreamError``.

    The message names the provider and the phase, never the key (``Provider.scrub``). A class rather
    than a ``@contextmanager`` generator: it wraps every upstream send and read, and entering and
    leaving it is then two plain calls."""

    __slots__ = ("provider", "phase", "timeout_s")

    def __init__(self, provider: Provider, phase: Phase, timeout_s: float) -> None:
        self.provider = provider
        self.phase = phase
        self.timeout_s = timeout_s

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, (TimeoutError, aiohttp.ClientError)):
            raise upstream_error(exc, self.provider, self.phase, self.timeout_s) from exc


def upstream_error(
    exc: TimeoutError | aiohttp.ClientError, provider: Provider, phase: Phase, timeout_s: float
) -> UpstreamError:
    """The retryable ``UpstreamError`` for a timeout or a transport error in ``phase`` (``upstream_errors``
    raises it; the plain path's send and read catch the two and raise it themselves, without a context
    manager's calls). The message names the provider and the phase, never the key."""
    if isinstance(exc, TimeoutError):
        detail = f"within {timeout_s:g}s" if phase == "send" else f"(no data for {timeout_s:g}s)"
        return UpstreamError(
            None,
            f"{provider.name}: {_WHAT[phase]} {detail}",
            provider=provider.name,
            retryable=True,
            error_type=_TIMEOUT_TYPES[phase],
        )
    message = provider.scrub(f"{provider.name}: {_WHAT[phase]} ({type(exc).__name__}: {exc})")
    return UpstreamError(
        None, message, provider=provider.name, retryable=True, error_type=_BROKEN_TYPES[phase]
    )


def _expire(task: asyncio.Task[object], fired: list[bool]) -> None:
    """``send``'s timer: cancel the task waiting for the answer's headers, and say that it was us."""
    fired.append(True)
    task.cancel()


class UpstreamClient:
    """Sends requests to providers over one pooled ``aiohttp.ClientSession`` and reads their answers.

    Timeouts (seconds): ``first_byte_timeout_s`` until the response headers and until a stream's first
    token; ``chunk_timeout_s`` between two chunks and for reading a whole body. ``keepalive_s``
    (``STREAM_KEEPALIVE_S``): how long a committed stream may be silent before its client gets a
    keep-alive.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        first_byte_timeout_s: float,
        chunk_timeout_s: float,
        keepalive_s: float = 0.0,
    ) -> None:
        self.session = session
        self.first_byte_timeout_s = first_byte_timeout_s
        self.chunk_timeout_s = chunk_timeout_s
        self.keepalive_s = keepalive_s  # silence after which a stream's client gets a keep-alive (0: never)
        # url -> its parsed form: aiohttp parses a str URL on every request, the same few every time
        self._urls: dict[str, URL] = {}

    def _url(self, url: str) -> URL | str:
        """``url`` parsed once (one that does not parse goes to aiohttp as it is, which says so)."""
        parsed = self._urls.get(url)
        if parsed is None:
            try:
                parsed = URL(url)
            except ValueError:
                return url
            if len(self._urls) < URLS_KEPT:
                self._urls[url] = parsed
        return parsed

    async def send(
        self, provider: Provider, url: str, headers: dict[str, str], body: bytes
    ) -> aiohttp.ClientResponse:
        """POST ``body``; returns once the response headers are in (``first_byte_timeout_s``, else the
        ``timeout`` ``UpstreamError``). The caller releases the response.

        The bound is ``asyncio.timeout``'s rule written out (a timer cancels the task; that cancellation,
        and only it, becomes ``TimeoutError``): the same behaviour without its four Python-level calls
        per request."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("UpstreamClient.send must run inside a task")
        cancelling = task.cancelling()  # cancellations asked before ours are not ours to turn
        fired: list[bool] = []
        # the task's own loop: asyncio.get_running_loop() would make a getpid() system call (its fork check)
        timer = task.get_loop().call_later(self.first_byte_timeout_s, _expire, task, fired)
        try:
            try:
                return await self.session.post(self._url(url), data=body, headers=headers)
            except asyncio.CancelledError as exc:
                if fired:
                    fired.clear()  # taken back here
                    if task.uncancel() <= cancelling:
                        raise TimeoutError from exc
                raise
            finally:
                timer.cancel()
                if fired:  # ours fired, yet the call ended another way: take our cancellation back
                    task.uncancel()
        except (TimeoutError, aiohttp.ClientError) as exc:  # upstream_errors' rule, without its calls
            raise upstream_error(exc, provider, "send", self.first_byte_timeout_s) from exc

    async def read_body(self, resp: aiohttp.ClientResponse, provider: Provider) -> bytes:
        """A whole non-streamed answer."""
        try:
            if resp.content.is_eof():  # all of it is here: nothing to wait for, no timer to set
                return provider.scrub_bytes(await resp.read())
            async with asyncio.timeout(self.chunk_timeout_s):
                return provider.scrub_bytes(await resp.read())
        except (TimeoutError, aiohttp.ClientError) as exc:  # upstream_errors' rule, without its calls
            raise upstream_error(exc, provider, "body", self.chunk_timeout_s) from exc

    async def next_chunk(
        self,
        chunks: AsyncIterator[bytes],
        provider: Provider,
        phase: Phase,
        timeout_s: float,
        on_idle: Callable[[], Awaitable[None]] | None = None,
        bound_s: float | None = None,
    ) -> bytes | None:
        """The stream's next chunk, or None at its end, scrubbed of the provider's key.

        ``on_idle`` is awaited after every ``keepalive_s`` of silence while the chunk is awaited (the
        client's keep-alive); the silence still counts towards ``timeout_s``. An exception from it (the
        client hung up) propagates and abandons the read. ``bound_s``: the timeout the message names when
        ``timeout_s`` is what is left of it.
        """
        chunk: bytes | None = chunks.buffered() if isinstance(chunks, Chunks) else b""
        if not chunk:  # nothing there yet: wait for it, bounded (the end of the body is no chunk either)
            chunk = await self._next_chunk(chunks, provider, phase, timeout_s, on_idle, bound_s)
        # Scrubbed here, at the boundary, so no stream byte quoting the key reaches a client, a log or
        # the ledger (a key split across two chunks is the one case this misses; providers quote it whole
        # in one error event, which arrives in one chunk).
        return None if chunk is None else provider.scrub_bytes(chunk)

    async def _next_chunk(
        self,
        chunks: AsyncIterator[bytes],
        provider: Provider,
        phase: Phase,
        timeout_s: float,
        on_idle: Callable[[], Awaitable[None]] | None,
        bound_s: float | None,
    ) -> bytes | None:
        named_s = timeout_s if bound_s is None else bound_s
        if on_idle is None or self.keepalive_s <= 0 or self.keepalive_s >= timeout_s:
            with upstream_errors(provider, phase, named_s):
                async with asyncio.timeout(timeout_s):
                    return await anext(chunks, None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pending = asyncio.ensure_future(anext(chunks, None))
        try:
            while True:
                with upstream_errors(provider, phase, named_s):
                    left = deadline - loop.time()
                    if left <= 0:
                        raise TimeoutError
                    done, _ = await asyncio.wait({pending}, timeout=min(self.keepalive_s, left))
                    if done:
                        return pending.result()
                if self.keepalive_s < left:
                    await (
                        on_idle()
                    )  # outside upstream_errors: a client that hung up is not the provider's fault
        finally:
            if not pending.done():
                pending.cancel()
        raise AssertionError("unreachable")

    async def error_from(self, resp: aiohttp.ClientResponse, provider: Provider) -> UpstreamError:
        """The ``UpstreamError`` for a 4xx/5xx answer: its status, scrubbed body, type and Retry-After."""
        try:
            async with asyncio.timeout(self.chunk_timeout_s):
                body = await resp.content.read(ERROR_BODY_LIMIT)
        except (TimeoutError, aiohttp.ClientError):
            body = b""
        body = provider.scrub(body.decode("utf-8", errors="replace")).encode()
        message, etype = parse_upstream_error(body)
        return UpstreamError(
            resp.status,
            message,
            provider=provider.name,
            retryable=is_retryable(resp.status),
            body=body,
            error_type=etype,
            retry_after_s=retry_after_seconds(resp.headers, resp.status),
            headers=provider.response_headers(resp.headers),
        )

    async def post_json(
        self, provider: Provider, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """A small request/answer exchange (``count_tokens``): status, body and the provider's headers that
        go back to the client (``Provider.response_headers``: rate-limit and retry headers, its request
        id), both phases bounded."""
        resp = await self.send(provider, url, headers, body)
        try:
            return resp.status, await self.read_body(resp, provider), provider.response_headers(resp.headers)
        finally:
            resp.release()


class Chunks:
    """A response body as the chunks arrive (no re-buffering): each one is all the bytes received so
    far. ``ended``: the whole body has been read (the next read would say so), so what the caller holds
    can go out together with the end of its own answer, in one write."""

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._content = resp.content

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._content.readany()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    def buffered(self) -> bytes:
        """What has arrived and not been read, without waiting: the next chunk when it is already here
        (what ``__anext__`` would return at once, without a timer or a task around the read), else
        ``b""``. A broken body gives ``b""`` too: ``__anext__`` raises its error."""
        try:
            return self._content.read_nowait()
        except Exception:  # the body's error, or a reader already waiting: the awaited read reports it
            return b""

    @property
    def ended(self) -> bool:
        return self._content.at_eof()
