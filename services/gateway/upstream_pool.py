"""HTTP/1.1 requests to providers over pooled keep-alive connections: the transport under ``UpstreamClient``.

Why not ``aiohttp.ClientSession``: its request machinery (``ClientRequest``'s URL, header and cookie
handling, the connector's keys and traces, the body-writer task, ``ClientResponse``) costs ~140 µs of CPU a
request here (a sequential POST of a 2.4 kB streamed answer from local nginx: 229–251 µs a request through
the session against 87–105 µs for the same exchange on a bare protocol; ``docs/benchmarks.md``, "Session 16"),
more than all of the gateway's own work on a passed-through answer. The gateway sends one kind of request (a
POST with a body in memory) to a handful of origins, so it needs none of that generality. What it does need is
kept, and taken from aiohttp itself rather than rewritten: each connection is an ``aiohttp`` ``ResponseHandler``
(its protocol) with aiohttp's C HTTP response parser (llhttp: status line, headers, ``Content-Length``,
chunked transfer coding, bodies delimited by the connection's end, ``Content-Encoding`` gzip/deflate), and a
response's body is aiohttp's ``StreamReader``, so everything that reads an answer (``upstream.Chunks``,
``UpstreamClient.read_body`` and ``error_from``) reads it exactly as before; transport failures raise aiohttp's
own ``ClientError`` subclasses, which ``upstream.upstream_error`` maps.

Shapes and rules:

- ``UpstreamPool.post(url, data=body, headers=headers) -> UpstreamResponse``: writes
  ``POST <path?query> HTTP/1.1`` with ``Host`` (the port only when it is not the scheme's default: RFC 9110
  §7.2), the caller's headers, ``Accept: */*``, ``User-Agent`` (aiohttp's ``SERVER_SOFTWARE``) and
  ``Accept-Encoding: gzip, deflate`` unless the caller gave them, and ``Content-Length`` (RFC 9112 §6.2)
  (see "Writing"); returns once the final response's head is in (1xx interim responses are
  skipped, RFC 9110 §15.2). ``Host``, ``Content-Length``, ``Transfer-Encoding`` and ``Connection`` given by a
  caller are dropped (the pool frames the message itself). A URL's ``user:password@`` is sent as
  ``Authorization: Basic`` (RFC 7617) unless the caller gave an ``Authorization``, as the session did (it
  refused the combination), and is never in ``Host`` or an error message. A header value with CR or LF raises ``ValueError``
  (aiohttp's ``_serialize_headers``, as the session did).
- Connections: one pool of idle connections per origin (scheme, host, port), newest first; an idle one is
  used again only while connected and younger than ``keepalive_s`` (seconds); at most ``IDLE_MAX`` idle per
  origin; idle connections older than ``keepalive_s`` are also closed by a sweep every ``keepalive_s``
  while any are idle (aiohttp's connector's rule), so a burst's connections do not stay open until the
  origin's next request. A connection goes back to the pool when its response's body has been read to the end (aiohttp's
  rule: on the body's end-of-file, before the reader has taken the last bytes) and the response did not say
  ``Connection: close``; one released or closed earlier is closed (its request's state is unknown).
- Connecting: host names resolved with the loop's ``getaddrinfo`` and kept ``dns_ttl_s`` seconds; the
  addresses raced as aiohttp's connector did (``aiohappyeyeballs``: the next address tried
  ``HAPPY_EYEBALLS_DELAY_S`` after the previous one if that has not connected yet, families interleaved;
  RFC 8305 §5), so a blackholed first address (a dead A record, an IPv6 route to nowhere) costs 0.25 s, not
  the connect timeout; the whole connect (and a TLS handshake) bounded by ``connect_timeout_s``
  (``aiohttp.ConnectionTimeoutError``); a refused or unreachable address, a failed lookup or a TLS failure is
  an ``aiohttp.ClientConnectionError`` naming the origin and the cause. TLS: the system's default context
  (``ssl.create_default_context``: ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured), ALPN ``http/1.1``, as
  aiohttp's own default. No proxy from the environment (the session had ``trust_env`` off too).
- ``Keep-Alive: timeout=N`` in an answer (Apache sends it, nginx with ``keepalive_timeout``'s second value;
  MDN "Keep-Alive"): its connection is kept idle no longer than ``N - KEEP_ALIVE_MARGIN_S`` seconds (half
  of N for N <= 2 s; not at all for 0), so it is not picked just as the origin closes it.
- Sent again: a request on a *reused* connection (one that has carried a whole exchange) that ends (EOF or a
  socket error: closed, reset) before any byte of an answer came, 1xx included, is written once more on a
  *new* connection; that one's outcome is the request's, whatever it is (never a third time).
  ``unanswered_retries`` counts them. Why: an origin closes an idle kept connection when its keep-alive
  timeout fires (nginx 75 s; many APIs 5-60 s) or its per-connection request limit is met, and a request
  written in that instant is lost unanswered; the pool cannot see the close coming. Sources: Go's
  ``net/http`` ``persistConn.shouldRetryRequest`` (``transport.go``): never on a fresh connection ("There's
  no reason the server should've hung up on us", and a server that hangs up on a request would loop),
  always when nothing was written (``nothingWrittenError``), and on EOF (``errServerClosedIdle``: "Probably
  an unfortunately keep-alive timeout, just as the client was writing a request") or a read error before
  the first response byte (``transportReadFromServerError``). Go allows that last case only for a
  replayable request (an idempotent method, or an ``Idempotency-Key`` header); httpcore sends again only
  when the connection turned out unusable before the request was written (``ConnectionNotAvailable``) and
  drops an idle connection that has become readable (``has_expired``). Here a POST is sent again in that
  case too, knowingly: the gateway already sends the same POST again after any connection error before the
  answer (``UpstreamError`` retryable: the next route, and the SDKs' own retries), so this sends nothing
  the gateway would not; it only keeps the race from costing a route and the provider's health. Only when
  the origin may have received the request and not begun answering can a request be done twice (the
  same as with those retries).
- Errors while waiting for the head: the connection closing first is ``aiohttp.ServerDisconnectedError``, a
  socket error ``aiohttp.ClientOSError``, a malformed response ``UpstreamProtocolError`` (a
  ``ClientResponseError``-free ``aiohttp.ClientError``); a cancelled wait closes the connection.
- Writing: head and body in one write below ``WRITE_APART_BYTES`` (64 KiB); a bigger body in a write of its
  own after the head's, as a ``memoryview``, so it is not copied to put the head before it (asyncio's
  selector transport slices what the socket did not take without copying a memoryview; uvloop queues both
  writes into one ``writev``).
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
from aiohappyeyeballs import AddrInfoType, start_connection
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import SERVER_SOFTWARE
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.http_writer import _serialize_headers
from aiohttp.streams import EofStream, StreamReader
from multidict import CIMultiDictProxy
from yarl import URL

IDLE_MAX = 512  # idle connections kept per origin (beyond them a released connection is closed)
TARGETS_KEPT = 256  # parsed request targets kept (providers x operations: a handful in practice)
READ_BUFSIZE = 2**16  # the body reader's buffer before the socket is paused (aiohttp's default)
MAX_LINE_SIZE = 8190  # status line and header field limits (aiohttp's defaults)
MAX_FIELD_SIZE = 8190
_DEFAULTS = (("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"), ("User-Agent", SERVER_SOFTWARE))
_DEFAULT_NAMES = frozenset(name.lower() for name, _ in _DEFAULTS)
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_USERINFO = re.compile(r"//[^/?#@]*@")  # a URL's ``user:password@``, kept out of error messages
HAPPY_EYEBALLS_DELAY_S = 0.25  # seconds before the next address is tried too (aiohttp's default; RFC 8305 §5)
# A body this long or longer is written after the head in a write of its own rather than copied behind it
# (1-10 MB requests: a long context, images); below it, one write of head + body (one send, one packet).
WRITE_APART_BYTES = 1 << 16
KEEP_ALIVE_MARGIN_S = 1.0  # an idle connection is dropped this long before the origin's stated timeout
_KEEP_ALIVE_TIMEOUT = re.compile(r"(?:^|[,;\s])timeout\s*=\s*\"?(\d{1,9})", re.IGNORECASE)
# aiohttp's header serialiser (C, with a Python fallback): both read only ``.items()``, so a plain dict serves
_serialize = cast(Callable[[str, Mapping[str, str]], bytes], _serialize_headers)


class UpstreamProtocolError(aiohttp.ClientError):
    """The upstream's answer was not HTTP/1.1 the parser could read (a malformed status line or header)."""


class _Heard:
    """Whether any byte of an answer arrived on a reused connection (the "Sent again" rule's test): stands in
    for the request's parser (``ResponseHandler._parser``, made anew by ``set_response_params``; aiohttp's
    ``data_received`` looks it up on every call) until the first bytes, then puts the parser back, so the
    rest of the answer costs no extra call. Looked at only when the request failed."""

    __slots__ = ("heard", "_proto", "_parser")

    def __init__(self, proto: ResponseHandler) -> None:
        """Stand in for ``proto``'s parser now (after ``set_response_params``, before the request is written)."""
        self.heard = False
        self._proto = proto
        self._parser: Any = proto._parser
        proto._parser = self  # type: ignore[assignment]  # (no ``cast``: a call per request)

    def feed_data(self, data: bytes) -> Any:
        self.heard = True
        self._proto._parser = self._parser
        return self._parser.feed_data(data)

    def __getattr__(self, name: str) -> Any:  # feed_eof (the connection's end), pause_reading
        return getattr(self._parser, name)


def keep_alive_timeout(value: str | None) -> float | None:
    """The seconds of ``Keep-Alive: timeout=N`` (RFC 2068 §19.7.1.1; what Apache and nginx send: how long
    the server keeps an idle connection), None without one."""
    if value is None:
        return None
    found = _KEEP_ALIVE_TIMEOUT.search(value)
    return float(found.group(1)) if found is not None else None


@dataclass(frozen=True, slots=True)
class _Target:
    """What a URL's requests share: the origin's pool key, its address, the request line and ``Host``."""

    key: tuple[str, str, int]
    host: str  # as resolved and named in TLS (no brackets)
    port: int
    tls: bool
    request_line: str  # "POST /v1/messages HTTP/1.1"
    path: str  # "/v1/messages" (with its query): the request line of another method (``UpstreamPool.post``)
    host_header: str  # "api.anthropic.com", "127.0.0.1:8080", "[::1]:8080"
    basic_auth: str | None = None  # "Basic dXNlcjpwdw==" from the URL's user:password@, else None


def _target(url: URL | str) -> _Target:
    """``url``'s target; ``aiohttp.InvalidURL`` (the URL without its ``user:password@``) when it does not parse
    (yarl's ``ValueError``: a port out of range or not a number, an unclosed IPv6 bracket) or is not an absolute
    http(s) URL with a host."""
    try:
        parsed = url if isinstance(url, URL) else URL(url)
        port = parsed.port
    except ValueError as exc:
        raise aiohttp.InvalidURL(_USERINFO.sub("//", str(url)), str(exc)) from None
    scheme = parsed.scheme
    host = parsed.raw_host
    if scheme not in _DEFAULT_PORTS or not host:
        raise aiohttp.InvalidURL(_USERINFO.sub("//", str(url)))  # no password
    port = port or _DEFAULT_PORTS[scheme]
    path = parsed.raw_path_qs or "/"
    name = f"[{host}]" if ":" in host else host
    host_header = name if port == _DEFAULT_PORTS[scheme] else f"{name}:{port}"
    credentials = aiohttp.BasicAuth.from_url(parsed)  # user:password@ (percent-decoded), as the session
    return _Target(
        (scheme, host, port),
        host,
        port,
        scheme == "https",
        f"POST {path} HTTP/1.1",
        path,
        host_header,
        credentials.encode() if credentials is not None else None,
    )


def default_ssl_context() -> ssl.SSLContext:
    """The TLS context for https upstreams: verified against the system's CAs, ALPN ``http/1.1`` (aiohttp's
    ``_make_ssl_context(True)``). Loads certificates from disk: make it before the loop serves requests."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


class UpstreamResponse:
    """A provider's answer: ``status`` (int), ``reason``, ``headers`` (case-insensitive, read-only),
    ``content`` (aiohttp's ``StreamReader`` over the decoded body), ``sent_again`` (the request was
    sent once more on a new connection: the module's "Sent again" rule), ``error_body`` (a 4xx/5xx answer's
    body when it was read ahead, else None). ``release()`` when done with it:
    ``close()`` to drop the connection at once (the provider stops generating)."""

    __slots__ = (
        "status",
        "reason",
        "headers",
        "content",
        "sent_again",
        "error_body",
        "_pool",
        "_key",
        "_proto",
        "_linger_s",
    )

    def __init__(
        self,
        status: int,
        reason: str,
        headers: CIMultiDictProxy[str],
        content: StreamReader,
        pool: UpstreamPool,
        key: tuple[str, str, int],
        proto: ResponseHandler,
        sent_again: bool = False,
    ) -> None:
        self.status = status
        self.sent_again = sent_again
        self.reason = reason
        self.headers = headers
        self.content = content
        self.error_body: bytes | None = (
            None  # an error answer's body, read ahead (``UpstreamClient.read_error``)
        )
        self._pool = pool
        self._key = key
        self._proto: ResponseHandler | None = proto
        self._linger_s = 0.0  # ``linger``: how long a release waits for a body that has not ended
        content.on_eof(self.release)  # the body's end gives the connection back (at once if it has ended)

    async def read(self) -> bytes:
        """The whole body (``ClientPayloadError`` if it broke off)."""
        return await self.content.read()

    def linger(self, within_s: float) -> None:
        """The caller stopped reading at the answer's own closing frame (chat's ``[DONE]``, ``message_stop``,
        ``response.completed``) before the body's end: ``release`` then waits up to ``within_s`` seconds for
        that end, unread, and gives the connection back if it comes (a server writes its last event and the
        chunked body's end in two writes, which may arrive in two reads: closing at once would cost the next
        request a new connection, a TLS handshake to a real provider), else closes it (a server that keeps
        the body open with pings after its closing frame)."""
        self._linger_s = within_s

    def release(self) -> None:
        """Done with the answer: its connection goes back to the pool if the body was read to its end and
        the connection may be kept, else it is closed (after ``linger``'s wait for the body's end, when the
        caller asked for one). Idempotent."""
        if self._linger_s > 0 and self._proto is not None and not self.content.is_eof():
            within_s, self._linger_s = self._linger_s, 0.0
            timer = asyncio.get_running_loop().call_later(within_s, self.close)
            self.content.on_eof(timer.cancel)  # the end came: ``release`` (also an eof callback) keeps it
            return
        proto, self._proto = self._proto, None
        if proto is not None:
            self._pool._put(self._key, proto, self.headers.get("Keep-Alive"))

    def close(self) -> None:
        """Drop the connection now, whatever was read. Idempotent."""
        proto, self._proto = self._proto, None
        if proto is not None:
            proto.close()


class UpstreamPool:
    """Pooled HTTP/1.1 POSTs to providers (see the module's docstring for the rules). ``connect_timeout_s``,
    ``keepalive_s``, ``dns_ttl_s``: seconds. ``clock``: monotonic seconds (tests move it). ``on_written``: called
    after each request is written, before its answer is awaited, with the connection's transport."""

    def __init__(
        self,
        connect_timeout_s: float,
        keepalive_s: float = 30.0,
        dns_ttl_s: float = 300.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_written: Callable[[asyncio.BaseTransport], None] | None = None,
    ) -> None:
        self.connect_timeout_s = connect_timeout_s
        # called (with the connection's transport; must not raise) right after each request is written: the
        # loop is about to wait for the upstream, its one sure idle moment at one connection
        # (``EventPublisher.loop_waits``, which asks the transport whether the answer is in yet)
        self._on_written = on_written
        self.keepalive_s = keepalive_s
        self.dns_ttl_s = dns_ttl_s
        self._ssl = ssl_context
        self._clock = clock
        self._targets: dict[URL | str, _Target] = {}
        self._idle: dict[tuple[str, str, int], list[tuple[ResponseHandler, float]]] = {}
        self._addresses: dict[tuple[str, int], tuple[float, list[AddrInfoType]]] = {}
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop connections were made in
        self._sweep: asyncio.TimerHandle | None = None  # the next ``_expire``, while connections are idle
        self.unanswered_retries = 0  # requests sent again after a kept connection ended unanswered

    @property
    def closed(self) -> bool:
        return self._closed

    def idle_count(self, url: URL | str) -> int:
        """Idle connections kept for ``url``'s origin (for tests and diagnostics)."""
        return len(self._idle.get(self._target_of(url).key, ()))

    def _target_of(self, url: URL | str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _target(url)
            if len(self._targets) < TARGETS_KEPT:
                self._targets[url] = target
        return target

    async def post(
        self, url: URL | str, *, data: bytes, headers: Mapping[str, str], method: str = "POST"
    ) -> UpstreamResponse:
        """POST ``data`` to ``url``; the response once its head is in. Errors: see the module's docstring.
        ``method``: another method (GET, DELETE: the stored-response calls, ``stored_responses.py``) with no
        body (``data`` empty) is sent without ``Content-Length`` (RFC 9110 §8.6: a request without content
        whose method anticipates none SHOULD NOT carry one)."""
        if self._closed:
            raise aiohttp.ClientConnectionError("the upstream pool is closed")
        target = self._target_of(url)
        fields: dict[str, str] = {"Host": target.host_header}
        given: set[str] = set()
        for name, value in headers.items():
            low = name.lower()
            if low in _FRAMING:
                continue
            fields[name] = value
            if low in _DEFAULT_NAMES:
                given.add(low)
        for name, value in _DEFAULTS:
            if name.lower() not in given:
                fields[name] = value
        if target.basic_auth is not None and not any(name.lower() == "authorization" for name in headers):
            fields["Authorization"] = target.basic_auth
        if method == "POST":
            request_line = target.request_line
            fields["Content-Length"] = str(len(data))
        else:
            request_line = f"{method} {target.path} HTTP/1.1"
            if data:
                fields["Content-Length"] = str(len(data))
        head = _serialize(request_line, fields)  # ValueError on CR/LF in a field
        proto = self._take(target.key)
        reused = proto is not None  # (not ``or``: a ResponseHandler is a queue, false while empty)
        again = False
        while True:  # twice at most: the second time on a new connection (the module's "Sent again" rule)
            if proto is None:
                proto = await self._connect(target)
            heard: _Heard | None = None
            try:
                proto.set_response_params(
                    read_until_eof=True,
                    auto_decompress=True,
                    read_bufsize=READ_BUFSIZE,
                    max_line_size=MAX_LINE_SIZE,
                    max_field_size=MAX_FIELD_SIZE,
                )
                transport = proto.transport
                if transport is None:
                    raise aiohttp.ServerDisconnectedError()
                if reused:
                    heard = _Heard(proto)
                if len(data) < WRITE_APART_BYTES:
                    transport.write(head + data)
                else:  # a big body is not copied to put the head before it (see ``WRITE_APART_BYTES``)
                    transport.write(head)
                    transport.write(memoryview(data))
                if self._on_written is not None:
                    self._on_written(transport)
                while True:
                    try:
                        message, payload = await proto.read()
                    except EofStream as exc:
                        raise aiohttp.ServerDisconnectedError() from exc
                    except HttpProcessingError as exc:
                        raise UpstreamProtocolError(
                            f"malformed HTTP response from {target.host_header}: {exc.message}"
                        ) from exc
                    if not 100 <= message.code <= 199 or message.code == 101:
                        break
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                proto.close()
                if reused and (heard is None or not heard.heard):
                    proto, reused, again = None, False, True
                    self.unanswered_retries += 1
                    continue
                raise
            except BaseException:
                proto.close()
                raise
            return UpstreamResponse(
                message.code, message.reason, message.headers, payload, self, target.key, proto, again
            )

    def _take(self, key: tuple[str, str, int]) -> ResponseHandler | None:
        """The newest idle connection to ``key``'s origin that is still usable, else None."""
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest_kept = self._clock() - self.keepalive_s
        while idle:
            proto, since = idle.pop()
            if since >= oldest_kept and proto.is_connected() and not proto.should_close:
                return proto
            proto.close()
        return None

    def _put(self, key: tuple[str, str, int], proto: ResponseHandler, keep_alive: str | None = None) -> None:
        """``proto`` back to the pool when it may carry another request, else closed; the oldest idle
        connection is closed when it has outlived ``keepalive_s`` (one check per release). ``keep_alive``:
        the answer's ``Keep-Alive`` field: a stated ``timeout=N`` shorter than ``keepalive_s`` keeps the
        connection only ``N - KEEP_ALIVE_MARGIN_S`` seconds (half of N when N is 2 s or less), as if it had
        been idle already for the rest (its time is kept so)."""
        if self._closed or proto.should_close or not proto.is_connected():
            proto.close()
            return
        now = since = self._clock()
        if keep_alive is not None and (stated := keep_alive_timeout(keep_alive)) is not None:
            lifetime = stated - min(KEEP_ALIVE_MARGIN_S, stated / 2)
            if lifetime <= 0:
                proto.close()
                return
            since = now - max(0.0, self.keepalive_s - lifetime)
        idle = self._idle.setdefault(key, [])
        if idle and idle[0][1] < now - self.keepalive_s:
            idle.pop(0)[0].close()
        if len(idle) >= IDLE_MAX:
            proto.close()
            return
        idle.append((proto, since))
        if self._sweep is None and self._loop is not None:
            self._sweep = self._loop.call_later(self.keepalive_s, self._expire)

    def _expire(self) -> None:
        """The sweep: close the idle connections older than ``keepalive_s`` (the oldest are first in each
        list); again in ``keepalive_s`` while any are left."""
        self._sweep = None
        oldest_kept = self._clock() - self.keepalive_s
        for key, idle in list(self._idle.items()):
            expired = 0
            while expired < len(idle) and idle[expired][1] < oldest_kept:
                idle[expired][0].close()
                expired += 1
            del idle[:expired]
            if not idle:
                del self._idle[key]
        if self._idle and self._loop is not None and not self._closed:
            self._sweep = self._loop.call_later(self.keepalive_s, self._expire)

    async def _connect(self, target: _Target) -> ResponseHandler:
        loop = self._loop = asyncio.get_running_loop()
        ssl_context: ssl.SSLContext | None = None
        if target.tls:
            if self._ssl is None:
                self._ssl = default_ssl_context()
            ssl_context = self._ssl
        origin = f"{target.host_header} ssl:{target.tls}"
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                infos = await self._resolve(loop, target)
                try:
                    sock = await start_connection(
                        infos, happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY_S, loop=loop
                    )
                    _, proto = await loop.create_connection(
                        lambda: ResponseHandler(loop),
                        sock=sock,
                        ssl=ssl_context,
                        server_hostname=target.host if ssl_context is not None else None,
                    )
                except OSError as exc:  # refused, unreachable (each address), TLS (an ssl.SSLError)
                    raise aiohttp.ClientConnectionError(f"Cannot connect to host {origin} [{exc}]") from exc
                return proto
        except TimeoutError as exc:
            raise aiohttp.ConnectionTimeoutError(
                f"Connection timeout to host {origin} ({self.connect_timeout_s:g}s)"
            ) from exc

    async def _resolve(self, loop: asyncio.AbstractEventLoop, target: _Target) -> list[AddrInfoType]:
        """``target``'s addresses (``getaddrinfo``'s tuples, duplicates dropped, in its order), kept
        ``dns_ttl_s``; a failed lookup is a ``ClientConnectionError``."""
        where = (target.host, target.port)
        known = self._addresses.get(where)
        now = self._clock()
        if known is not None and known[0] > now:
            return known[1]
        try:
            infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise aiohttp.ClientConnectionError(
                f"Cannot connect to host {target.host_header} ssl:{target.tls} [{exc}]"
            ) from exc
        addresses: list[AddrInfoType] = []
        seen: set[tuple[int, object]] = set()
        for family, kind, proto, _, sockaddr in infos:
            if (family, sockaddr) not in seen:
                seen.add((family, sockaddr))
                addresses.append((family, kind, proto, "", sockaddr))
        if not addresses:
            raise aiohttp.ClientConnectionError(f"Cannot connect to host {target.host_header}: no address")
        if known is not None or len(self._addresses) < TARGETS_KEPT:  # an expired entry renewed, full or not
            self._addresses[where] = (now + self.dns_ttl_s, addresses)
        return addresses

    async def close(self) -> None:
        """Close every idle connection; later posts raise. Connections in use close when released."""
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for proto, _ in idle:
                proto.close()
        self._idle.clear()
