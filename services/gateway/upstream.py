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
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp

from services.gateway.errors import UpstreamError, parse_upstream_error, unframed_error_body
from services.gateway.providers.base import Provider, relayed_headers
from services.gateway.routing.health import is_retryable, retry_after_seconds
from services.gateway.upstream_pool import UpstreamPool, UpstreamResponse

T = TypeVar("T")


def _event_stream(resp: UpstreamResponse) -> bool:
    """True when ``resp`` says it is an event stream (``Content-Type: text/event-stream``, WHATWG SSE)."""
    return resp.headers.get("content-type", "").lower().startswith("text/event-stream")


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
# An upstream error body's bounds (``UpstreamClient.error_from``). Providers' error bodies are one small JSON object
# written with the status line: OpenAI's and Anthropic's a few hundred bytes (their API references, "Errors"),
# OpenRouter's with its ``metadata.raw`` a few kB, a FastAPI/pydantic 422 that echoes the request's input up to the
# request's size. Size: 1 MiB kept (an echo past it is not read; its head says the error). Time: the whole read
# within ``ERROR_BODY_TIMEOUT_S`` (or the chunk timeout when shorter), not the 120 s chunk timeout: a body that stalls
# or trickles after its status line (a relay that flushed the head of a 503, a server wedged mid-write) held a plain
# request's client in silence for 120 s before it heard anything or the next route was tried (fix33 item 2). Ten
# seconds is far past any whole error body's time (one write after the head: milliseconds), and a tenth of the wait
# it replaces; what came of the body by then is the provider's words, its status is told either way.
ERROR_BODY_LIMIT = 1 << 20  # bytes of an upstream error body kept
ERROR_BODY_TIMEOUT_S = 10.0  # seconds for a whole upstream error body
# default bytes of a whole non-streamed answer read (``Settings.max_answer_bytes``)
MAX_ANSWER_BYTES = 64 << 20
# Seconds a connection waits, unread, for its body's end after the answer's closing frame (``Chunks.stopped_at_close``)
# Two timers end a stream near its close, on two rules (s21 lead: not one): this one starts once the client's answer
# is whole (the closing frame came and went out) and only decides whether the *connection* goes back to the pool
# (the chunked end arrives in a second read) or is closed; nobody waits on it, and its only cost is a connection
# held idle. ``FINISHED_KEEPALIVE_S`` runs before any closing frame, while the *client* still waits for its answer's
# end: it must outlast a server's last events after its usage (Azure's content-filter annotations), yet not hold the
# client on pings. Longer here keeps dead connections; shorter there cuts answers: the values move apart.
CLOSING_FRAME_WAIT_S = 1.0
# Seconds of keep-alives alone (comments, pings) after an answer that has its finish and its usage, before the client's
# answer is ended without the upstream's closing frame and the upstream released (``Proxy._pump_reads``; s20 variant
# 13-aa: an sse-starlette server pinging on without [DONE] held every client until UPSTREAM_CHUNK_TIMEOUT, 120 s).
# Silence does not count: a server that sends more after its usage (Azure's content-filter annotations) does not ping.
# Not ``CLOSING_FRAME_WAIT_S``'s rule (that one waits after the closing frame, for the connection, not the client).
FINISHED_KEEPALIVE_S = 2.0


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


class Expired(TimeoutError):
    """``within``'s bound passed (a ``TimeoutError``; a timeout raised by the awaited call itself is not
    one of these)."""


def _expire(task: asyncio.Task[object], fired: list[bool]) -> None:
    """``within``'s timer: cancel the task that waits, and say that it was us."""
    fired.append(True)
    task.cancel()


async def within(awaitable: Awaitable[T], timeout_s: float, task: asyncio.Task[Any] | None = None) -> T:
    """``await awaitable``, or ``Expired`` once ``timeout_s`` seconds have passed first.

    ``asyncio.timeout``'s rule written out: a timer cancels the waiting task, and that cancellation, and
    only it, becomes ``Expired``; one asked before or meanwhile from elsewhere (a client that hung up)
    stays a cancellation (``Task.cancelling`` / ``uncancel``, Python docs, "Task Cancellation"). The
    same behaviour without ``asyncio.timeout``'s context-manager object, its rescheduling and its four
    Python-level calls: one timer handle per wait. What is awaited is cancelled when the bound passes, so
    it must be safe to cancel (an aiohttp response or body read is; an async generator is not: cancelling
    it closes it). ``task``: the task that awaits here, when the caller knows it (``UpstreamClient._task``);
    else looked up."""
    if task is None:
        task = asyncio.current_task()
    if task is None:
        raise RuntimeError("within() must run inside a task")
    cancelling = task.cancelling()  # cancellations asked before ours are not ours to turn
    fired: list[bool] = []
    # the task's own loop: asyncio.get_running_loop() would make a getpid() system call (its fork check)
    timer = task.get_loop().call_later(timeout_s, _expire, task, fired)
    try:
        return await awaitable
    except asyncio.CancelledError as exc:
        if fired:
            fired.clear()  # taken back here
            if task.uncancel() <= cancelling:
                raise Expired from exc
        raise
    finally:
        timer.cancel()
        if fired:  # ours fired, yet the call ended another way: take our cancellation back
            task.uncancel()


class UpstreamClient:
    """Sends requests to providers over one ``UpstreamPool`` (pooled HTTP/1.1 connections) and reads their
    answers.

    Timeouts (seconds): ``first_byte_timeout_s`` until the response headers and until a stream's first
    token; ``chunk_timeout_s`` between two chunks and for reading a whole body. ``keepalive_s``
    (``STREAM_KEEPALIVE_S``): how long a committed stream may be silent before its client gets a
    keep-alive. ``on_sent_again(provider_name)``: told of each request the pool sent once more on a new
    connection after a kept one ended unanswered (``UpstreamResponse.sent_again``; the gateway's metrics).
    ``max_answer_bytes``: the largest whole (non-streamed) answer ``read_body`` reads (``MAX_ANSWER_BYTES``).
    """

    def __init__(
        self,
        session: UpstreamPool,
        first_byte_timeout_s: float,
        chunk_timeout_s: float,
        keepalive_s: float = 0.0,
        on_sent_again: Callable[[str], None] | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
    ) -> None:
        self.session = session
        self.max_answer_bytes = max_answer_bytes  # the largest whole non-streamed answer (``read_body``)
        self.on_sent_again = on_sent_again
        self.first_byte_timeout_s = first_byte_timeout_s
        self.chunk_timeout_s = chunk_timeout_s
        self.keepalive_s = keepalive_s  # silence after which a stream's client gets a keep-alive (0: never)
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop it was last used in (``running_task``)

    def running_task(self) -> asyncio.Task[Any] | None:
        """The running task, looked up in the loop this client was last used in:
        ``asyncio.current_task()`` without a loop asks for the running one, which costs a ``getpid``
        system call on every call (CPython 3.11's fork check; ~0.7 us here, once per upstream wait). A
        client is used by one event loop at a time (its session's): in a loop that is not running, no
        task is current, and the running one is looked up and kept."""
        loop = self._loop
        task = None if loop is None else asyncio.current_task(loop)
        if task is None:
            task = asyncio.current_task()
            if task is not None:
                self._loop = task.get_loop()
        return task

    async def send(
        self, provider: Provider, url: str, headers: dict[str, str], body: bytes, method: str = "POST"
    ) -> UpstreamResponse:
        """POST ``body`` (or ``method``: GET, DELETE without a body); returns once the response headers are in
        (``first_byte_timeout_s``, else the ``timeout`` ``UpstreamError``). The caller releases the response."""
        try:
            resp = await within(
                self.session.post(url, data=body, headers=headers, method=method),
                self.first_byte_timeout_s,
                self.running_task(),
            )
        except (TimeoutError, aiohttp.ClientError) as exc:  # upstream_errors' rule, without its calls
            raise upstream_error(exc, provider, "send", self.first_byte_timeout_s) from exc
        if self.on_sent_again is not None and resp.sent_again:
            self.on_sent_again(provider.name)
        return resp

    async def read_body(
        self, resp: UpstreamResponse, provider: Provider, held: int = 0, cut_events: bool = True
    ) -> bytes:
        """A whole non-streamed answer, scrubbed of the provider's key; ``held``: bytes of it the caller read
        already (``Proxy._sniffed``), counted against the cap; ``cut_events``: an event stream broken off after
        some events is returned as far as it came, for a caller that judges its events (below); False for one
        that takes the body as the answer (``post_json``), which gets the ``broken_response`` error instead.

        Bounded in time by ``chunk_timeout_s`` for the whole read (``broken_response`` after it) and in size by
        ``max_answer_bytes`` (``MAX_ANSWER_BYTES``): a longer answer, by its ``content-length`` before a byte of
        it is read, else as soon as what arrived passes the cap, is the retryable 502 ``bad_response``
        ``UpstreamError``, and its connection is closed (the rest is not read). Memory stays within the cap
        plus one read: the pieces are counted as they arrive (aiohttp's reader pauses the socket while its
        buffer is full), never gathered whole and then measured. A body already received whole is taken
        without a timer."""
        limit = self.max_answer_bytes - held
        content = resp.content
        pieces: list[bytes] = []
        try:
            if content.is_eof():  # all of it is here: nothing to wait for, no timer to set
                body = await resp.read()
            else:
                async with asyncio.timeout(self.chunk_timeout_s):
                    body = await self._capped(resp, provider, limit, pieces)
        except aiohttp.ClientPayloadError as exc:
            if not (cut_events and pieces and _event_stream(resp)):
                raise upstream_error(exc, provider, "body", self.chunk_timeout_s) from exc
            # An event stream (a server that streams a non-streamed request anyway) whose connection broke after
            # some events: its events, not the connection, say whether the answer is whole (a finish reason,
            # ``message_stop``), as on a streamed request; the caller judges them (``Proxy._stream_as_json``:
            # a stream without its finish is a 502 there). Bugcase 13's kind, bug28a variant 13-vO: a 502
            # "response broke off" for an answer whose finish had come.
            body = b"".join(pieces)
        except (TimeoutError, aiohttp.ClientError) as exc:  # upstream_errors' rule, without its calls
            raise upstream_error(exc, provider, "body", self.chunk_timeout_s) from exc
        if len(body) > limit:
            raise self._too_large(resp, provider)
        return provider.scrub_bytes(body)

    async def _capped(
        self, resp: UpstreamResponse, provider: Provider, limit: int, pieces: list[bytes]
    ) -> bytes:
        """``resp``'s body read piece by piece into ``pieces`` (the caller's: what came before a failure),
        ``_too_large`` once it holds more than ``limit`` bytes (or its ``content-length`` says it will)."""
        length = resp.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            raise self._too_large(resp, provider)
        content = resp.content
        size = 0
        while piece := await content.readany():
            size += len(piece)
            if size > limit:
                raise self._too_large(resp, provider)
            pieces.append(piece)
        return b"".join(pieces)

    def _too_large(self, resp: UpstreamResponse, provider: Provider) -> UpstreamError:
        """The 502 ``bad_response`` for an answer over ``max_answer_bytes``; ``resp``'s connection is closed at
        once (the provider stops sending, the rest is never read). Retryable: another route may answer."""
        resp.close()
        return UpstreamError(
            502,
            f"{provider.name}: the provider's answer is larger than {self.max_answer_bytes} bytes "
            "(MAX_ANSWER_BYTES)",
            provider=provider.name,
            retryable=True,
            error_type="bad_response",
        )

    async def next_chunk(
        self,
        chunks: AsyncIterator[bytes],
        provider: Provider,
        phase: Phase,
        timeout_s: float,
        on_idle: Callable[[], Awaitable[None]] | None = None,
        bound_s: float | None = None,
        idle_in_s: float | None = None,
    ) -> bytes | None:
        """The stream's next chunk, or None at its end, scrubbed of the provider's key.

        ``on_idle`` is awaited after every ``keepalive_s`` of silence while the chunk is awaited (the
        client's keep-alive), the first time after ``idle_in_s`` when given (the client has been silent for
        part of a period already); the silence still counts towards ``timeout_s``. An exception from it (the
        client hung up) propagates and abandons the read. ``bound_s``: the timeout the message names when
        ``timeout_s`` is what is left of it.
        """
        chunk: bytes | None = chunks.buffered() if isinstance(chunks, Chunks) else b""
        if not chunk:  # nothing there yet: wait for it, bounded (the end of the body is no chunk either)
            chunk = await self._next_chunk(chunks, provider, phase, timeout_s, on_idle, bound_s, idle_in_s)
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
        idle_in_s: float | None = None,
    ) -> bytes | None:
        named_s = timeout_s if bound_s is None else bound_s
        keepalive_s = self.keepalive_s if on_idle is not None else 0.0
        if not isinstance(chunks, Chunks):  # an iterator that a cancelled read would close: a task reads
            return await self._next_chunk_in_task(
                chunks, provider, phase, timeout_s, on_idle, named_s, idle_in_s
            )
        if keepalive_s <= 0 or keepalive_s >= timeout_s:
            try:
                return await within(chunks.read(), timeout_s, self.running_task())
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise upstream_error(exc, provider, phase, named_s) from exc
        # One timer per wait, the read cancelled when it fires (a cancelled body read loses nothing:
        # ``Chunks.read``) and begun again after the keep-alive: no task and no ``asyncio.wait`` per read.
        assert on_idle is not None
        deadline = time.monotonic() + timeout_s
        # the first turn's (a silence already a period long: at once)
        turn = (
            keepalive_s
            if idle_in_s is None or idle_in_s >= keepalive_s
            else idle_in_s
            if idle_in_s > 0
            else 0.0
        )
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    # what came while a slow client took the keep-alive is no silence of the provider's
                    early = chunks.buffered()
                    if early:
                        return early
                    raise TimeoutError
                return await within(chunks.read(), min(turn, left), self.running_task())
            except Expired as exc:
                early = chunks.buffered()  # it came in the timer's own loop turn: a chunk, not silence
                if early:
                    return early
                if turn >= left:  # the bound itself, not a keep-alive's turn
                    raise upstream_error(exc, provider, phase, named_s) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise upstream_error(exc, provider, phase, named_s) from exc
            turn = keepalive_s
            await on_idle()  # outside the mapping: a client that hung up is not the provider's fault

    async def _next_chunk_in_task(
        self,
        chunks: AsyncIterator[bytes],
        provider: Provider,
        phase: Phase,
        timeout_s: float,
        on_idle: Callable[[], Awaitable[None]] | None,
        named_s: float,
        idle_in_s: float | None = None,
    ) -> bytes | None:
        """``_next_chunk`` for any other async iterator (an async generator in tests): its read runs in a
        task of its own that lives through the keep-alives (cancelling an async generator's read would
        close it)."""
        if on_idle is None or self.keepalive_s <= 0 or self.keepalive_s >= timeout_s:
            with upstream_errors(provider, phase, named_s):
                async with asyncio.timeout(timeout_s):
                    return await anext(chunks, None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pending = asyncio.ensure_future(anext(chunks, None))
        turn = (
            self.keepalive_s
            if idle_in_s is None or idle_in_s >= self.keepalive_s
            else idle_in_s
            if idle_in_s > 0
            else 0.0
        )
        try:
            while True:
                with upstream_errors(provider, phase, named_s):
                    left = deadline - loop.time()
                    if left <= 0:
                        raise TimeoutError
                    done, _ = await asyncio.wait({pending}, timeout=min(turn, left))
                    if done:
                        return pending.result()
                if turn < left:
                    turn = self.keepalive_s
                    await (
                        on_idle()
                    )  # outside upstream_errors: a client that hung up is not the provider's fault
        finally:
            if not pending.done():
                pending.cancel()
        raise AssertionError("unreachable")

    async def error_from(self, resp: UpstreamResponse, provider: Provider) -> UpstreamError:
        """The ``UpstreamError`` for a 4xx/5xx answer: its status, scrubbed body, type and Retry-After.

        The body is read to its end, bounded (``ERROR_BODY_LIMIT`` bytes, ``ERROR_BODY_TIMEOUT_S`` for the whole read,
        or ``chunk_timeout_s`` when shorter); what arrived before the body stalled, broke or passed a bound is kept
        (``read_error_body``), the rest is not read (its connection closed), and the message says that the body did
        not end. One read ahead (``read_error``) is taken as it is."""
        body = resp.error_body
        if body is None:
            body = await self._error_bytes(resp)
        read = len(body)
        body = unframed_error_body(provider.scrub(body.decode("utf-8", errors="replace")).encode())
        message, etype = parse_upstream_error(body)
        if not resp.content.is_eof():  # cut at a bound, or broken: what the client is told says which
            cut = (
                f"its error body passed {ERROR_BODY_LIMIT} bytes, the rest not read"
                if read >= ERROR_BODY_LIMIT
                else f"its error body did not end within {self._error_bound_s():g}s"
            )
            message = f"{message} ({provider.name}: {cut})"
        headers = relayed_headers(resp.headers)  # a proxy's prefixed copies of the provider's retry headers
        return UpstreamError(
            resp.status,
            message,
            provider=provider.name,
            retryable=is_retryable(resp.status),
            body=body,
            error_type=etype,
            retry_after_s=retry_after_seconds(headers, resp.status, body),
            headers=provider.response_headers(headers),
        )

    async def read_error(self, resp: UpstreamResponse) -> None:
        """A 4xx/5xx answer's body read now into ``resp.error_body`` (``error_from`` takes it from there): for a
        caller that keeps its client alive while it waits for the answer (``Proxy._send_opening``,
        ``_send_keeping_alive``), so that a body slow after its status line (a relay that flushes its headers
        first) is a wait the client hears keep-alives in, as one for the headers is (bug31b variant 19k: 12 s
        of silence, then a retry). Cancelled (the client gone), the answer's connection is closed."""
        try:
            resp.error_body = await self._error_bytes(resp)
        except asyncio.CancelledError:
            resp.close()
            raise

    def _error_bound_s(self) -> float:
        """Seconds a whole error body is read for (``ERROR_BODY_TIMEOUT_S``, or the chunk timeout when shorter)."""
        return min(ERROR_BODY_TIMEOUT_S, self.chunk_timeout_s)

    async def _error_bytes(self, resp: UpstreamResponse) -> bytes:
        """An error answer's body, bounded (``error_from``); one that did not end within the bounds is closed."""
        pieces: list[bytes] = []
        try:
            async with asyncio.timeout(self._error_bound_s()):
                await read_error_body(resp.content, pieces)
        except (TimeoutError, aiohttp.ClientError):
            pass  # the bytes that came are still the provider's words (its status is told either way)
        if not resp.content.is_eof():
            resp.close()  # the rest is not read: the provider's connection is not kept waiting on it
        return b"".join(pieces)

    async def post_json(
        self, provider: Provider, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        """A small request/answer exchange (``count_tokens``): status, body and the provider's headers that
        go back to the client (``Provider.response_headers``: rate-limit and retry headers, its request
        id), both phases bounded."""
        resp = await self.send(provider, url, headers, body)
        try:
            # (a cut event stream is the provider's broken answer here, never half a body read as the answer)
            answer = await self.read_body(resp, provider, cut_events=False)
            return resp.status, answer, provider.response_headers(resp.headers)
        finally:
            resp.release()


async def read_error_body(
    content: aiohttp.StreamReader, pieces: list[bytes], limit: int = ERROR_BODY_LIMIT
) -> None:
    """An error answer's body into ``pieces`` (the caller's: what came before a stall or a break), to its end or
    ``limit`` bytes. aiohttp's ``StreamReader.read(n)`` returns what has arrived as soon as anything has, not ``n``
    bytes: one read took only the first piece of a body written in two (a relay flushing ``{"error":`` before the
    rest; bug31b variant 19k), and the refusal's words were lost: no retry within a stated output limit (kind 17),
    no overflow or quota meaning (kinds 10, 11), the client told ``{"error":``. Raises what the reader raises."""
    size = 0
    while size < limit and (piece := await content.read(limit - size)):
        pieces.append(piece)
        size += len(piece)


class Chunks:
    """A response body as the chunks arrive (no re-buffering): each one is all the bytes received so
    far. ``ended``: the whole body has been read (the next read would say so), so what the caller holds
    can go out together with the end of its own answer, in one write."""

    def __init__(self, resp: UpstreamResponse) -> None:
        self._content = resp.content
        self._resp = resp

    def retry_headers(self) -> Mapping[str, str]:
        """The response's headers that may say when to retry (``relayed_headers``: a proxy's prefixed copies of
        the provider's too), read as ``error_from`` reads an error answer's: for an error inside the stream."""
        return relayed_headers(self._resp.headers)

    def stopped_at_close(self) -> None:
        """The reader stopped at the answer's closing frame while the body may go on: the connection waits up
        to ``CLOSING_FRAME_WAIT_S`` for the body's end before it is closed (``UpstreamResponse.linger``)."""
        if not self._content.is_eof():
            self._resp.linger(CLOSING_FRAME_WAIT_S)

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._content.readany()
        if not chunk:
            raise StopAsyncIteration
        return chunk

    async def read(self) -> bytes | None:
        """The next chunk, or None at the end of the body. Safe to cancel while it waits: aiohttp's
        ``StreamReader.readany`` only waits on a future of its own, and what arrives meanwhile stays in
        its buffer for the next read (what ``within`` needs of what it bounds). Bytes that arrived before
        the body broke come first, its error with the read after them (``_before_error``)."""
        try:
            return await self._content.readany() or None
        except Exception:
            early = self._before_error()
            if early:
                return early
            raise

    def buffered(self) -> bytes:
        """What has arrived and not been read, without waiting: the next chunk when it is already here
        (what ``__anext__`` would return at once, without a timer or a task around the read), else
        ``b""``. A broken body gives what arrived before it broke, then ``b""``: ``read`` raises its
        error."""
        try:
            return self._content.read_nowait()
        except Exception:  # the body's error, or a reader already waiting: the awaited read reports it
            return self._before_error()

    def _before_error(self) -> bytes:
        """The bytes a broken body received before its error, ``b""`` when none wait. aiohttp's
        ``StreamReader.readany`` and ``read_nowait`` (3.x) raise a stored error before looking at the
        buffer, so the last events of an answer that arrived together with the connection's end (an
        upstream that closes without ending its chunked body, bugcase 13's kind) would be lost while no
        read waits for them (a keep-alive's turn, a slow client's write): they are taken from the
        buffer first (aiohttp's own ``_read_nowait``; ``tests/unit/test_keepalive_reads.py`` pins it)."""
        content = self._content
        if content.exception() is None or not getattr(content, "_buffer", None):
            return b""
        return content._read_nowait(-1)

    @property
    def ended(self) -> bool:
        return self._content.at_eof()


class PeekedChunks(Chunks):
    """``Chunks`` of a body whose first chunk (``first``) was already read to tell what the body is
    (``Proxy._sniffed``: a chunked ``application/json`` answer to a streamed request, one whole JSON
    document or a stream mislabelled): that chunk comes first again, then the body's own. A class of its
    own so that every other stream's reads test nothing more."""

    def __init__(self, resp: UpstreamResponse, first: bytes) -> None:
        super().__init__(resp)
        self._first = first

    def _take(self) -> bytes:
        first, self._first = self._first, b""
        return first

    async def __anext__(self) -> bytes:
        return self._take() if self._first else await super().__anext__()

    async def read(self) -> bytes | None:
        return self._take() if self._first else await super().read()

    def buffered(self) -> bytes:
        return self._take() if self._first else super().buffered()

    @property
    def ended(self) -> bool:
        return not self._first and self._content.at_eof()
