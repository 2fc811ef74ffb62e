"""Serving one generation request: build each attempt's upstream request, relay or translate the answer.

The handler parses the request into a ``Call``; ``Proxy.serve`` hands the routes to the serve loop
(``serve.serve``) with ``Proxy.attempt`` as the attempt function. An attempt looks up the pairing of
the client's format and the provider's wire in the format registry, sends through the one upstream
client, and either answers the client or returns the ``UpstreamError`` that ended it. A stream commits
to a route only when the upstream's first token has arrived, so failures before then can still fall
back; after that, a failure becomes an in-stream error event in the client's format. A silence before the
first token starts the client's answer (headers, its format's opening, keep-alives); a route that then
fails before its first token still falls back, and the next route continues that same stream
(``OpenStream``), as long as the client got nothing but the opening and keep-alives.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import orjson
from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE, HttpVersion11
from multidict import CIMultiDict

from services.gateway import waiting
from services.gateway.bodies import dumps_body, refusal
from services.gateway.calls import Attempt, Call
from services.gateway.dialects import gathered, ir, registry
from services.gateway.dialects._error_meaning import overflow_told_whole, said_keeping_fields
from services.gateway.dialects._opening import Opening
from services.gateway.dialects._prompt_cache import session_from
from services.gateway.dialects._request_common import TranslationError
from services.gateway.dialects.formats import ClientFormat
from services.gateway.dialects.openai_responses import completion_deltas
from services.gateway.dialects.registry import Pairing
from services.gateway.dialects.view import KEPT_VIEWS, View, passthrough_view
from services.gateway.errors import ClientError, UpstreamError, parse_upstream_error
from services.gateway.hangup import CLIENT_GONE
from services.gateway.providers.base import Operation, Provider, Route
from services.gateway.providers.limits import asked_output_tokens, clamp_body, use_tokens_field
from services.gateway.relay import Relay, make_relay
from services.gateway.routing.health import (
    ProviderHealth,
    is_retryable,
    retry_after_seconds,
)
from services.gateway.routing.refusals import Refusals
from services.gateway.serve import Answer, Limits, Unfit, serve
from services.gateway.upstream import FINISHED_KEEPALIVE_S, Chunks, PeekedChunks, UpstreamClient
from services.gateway.upstream_pool import UpstreamResponse
from services.gateway.whole_answer import looks_whole, read_answer
from shared.sse import SSEEvent

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class SSEResponse(web.StreamResponse):
    """A 200 event stream: ``SSE_HEADERS``, then ``fields`` (the forwarded and the gateway's own headers),
    in aiohttp's chunked coding.

    Its head goes out with its first bytes, in one write (aiohttp's ``web.Response`` does the same; a
    plain ``StreamResponse`` writes it on its own at ``prepare``). Over HTTP/1.1 (every client that
    streams) the head is serialized from one plain ``dict``, without the ``CIMultiDict`` a
    ``StreamResponse`` keeps its headers in and without its generic header rules (compression, cookies,
    lengths, bodiless statuses: none applies to a 200 event stream), but with the same fields aiohttp adds
    (``Transfer-Encoding: chunked``, ``Date``, ``Server``, ``Connection: close`` when the connection is not
    kept, RFC 9112 §6.1 and §9.6), and by aiohttp's own serializer, which refuses a CR or LF in a field
    (``ValueError``). Headers an ``on_response_prepare`` hook sets (``auth``'s quota notes) replace those of
    the same name. Anything else (HTTP/1.0) takes aiohttp's path with the same fields."""

    _send_headers_immediately = False

    def __init__(self, fields: Mapping[str, str]) -> None:
        super().__init__(status=200)
        self._fields = fields
        self._plain = False  # ``_prepare_headers`` took the HTTP/1.1 path: ``_write_headers`` serializes
        # ``time.monotonic()`` of the last ``tell``: when the client last heard something before its first token
        self.heard_at = 0.0

    async def tell(self, data: bytes) -> None:
        """Write ``data`` (an opening, a keep-alive: whole frames before the answer's first token) and note when
        (``heard_at``): the next keep-alive is due ``STREAM_KEEPALIVE_S`` after it, whatever the gateway waits on
        meanwhile (the next route's headers, its own Retry-After wait, a first byte)."""
        await self.write(data)
        self.heard_at = time.monotonic()

    def quiet_left(self, keepalive_s: float) -> float:
        """Seconds until a keep-alive is due (``heard_at`` + ``keepalive_s``), 0 when it is overdue."""
        return max(0.0, self.heard_at + keepalive_s - time.monotonic())

    @property
    def fields(self) -> Mapping[str, str]:
        """The stream's own header fields as given (the forwarded and the gateway's: ``x-ekai-provider``,
        ``x-request-id``, …; ``SSE_HEADERS`` and the hooks' fields not included). Over HTTP/1.1 they go out
        without passing through ``headers`` (class docstring), which then holds only what hooks set."""
        return self._fields

    async def _prepare_headers(self) -> None:
        request = self._req
        writer = self._payload_writer
        assert request is not None and writer is not None
        if request.version != HttpVersion11 or self._must_be_empty_body or self._compression or self._cookies:
            self._headers.update({**SSE_HEADERS, **self._fields})
            await super()._prepare_headers()
            return
        if self._keep_alive is None:
            self._keep_alive = request.keep_alive
        writer.enable_chunking()
        self._plain = True

    async def _write_headers(self) -> None:
        if not self._plain:
            await super()._write_headers()
            return
        writer = self._payload_writer
        assert writer is not None
        fields = {**SSE_HEADERS, **self._fields}
        if self._headers:  # set by an ``on_response_prepare`` hook: they replace those of the same name
            hooked = {name.lower() for name in self._headers}
            fields = {k: v for k, v in fields.items() if k.lower() not in hooked}
            fields.update(self._headers)
        fields["Transfer-Encoding"] = "chunked"
        fields["Date"] = rfc822_formatted_time()
        fields["Server"] = SERVER_SOFTWARE
        if not self._keep_alive:
            fields["Connection"] = "close"
        # a plain dict: aiohttp's serializer reads ``items()`` alone
        await writer.write_headers(_STATUS_LINE, cast("CIMultiDict[str]", fields))


_STATUS_LINE = "HTTP/1.1 200 OK"


@dataclass(slots=True)
class OpenStream:
    """A client's stream begun on a silence before the first token (``until_committed``) for a route that
    then failed before it, retryably (``Call.opened``): the next route's answer continues it. Also one begun
    while the first route's response headers were awaited (``_send_opening``): that route's answer continues
    it, and no failure is told yet (``error`` None, ``ending`` empty).

    ``opening``: what the client has of its format's opening (``ClientSpec.opening``; keep-alives aside,
    nothing else reached it). ``ending``: the client's bytes that tell that failure (``error``), written when
    it is still the last one when no later route answers; ``status`` and ``error_type``: what the ledger then
    records (as an in-stream error after the answer began)."""

    response: SSEResponse
    opening: Opening
    ending: bytes
    status: int
    error_type: str
    error: UpstreamError | None

    def keepalive(self, fmt: ClientFormat) -> bytes:
        """The client's next keep-alive while no route's answer writes to it (headers awaited, a Retry-After
        wait, a slow first byte): its format's (``ClientSpec.keepalive``); for a format whose keep-alives are
        numbered events once the opening is out (Responses: ``ClientSpec.numbered_keepalive``; Codex's reader
        drops comments, its idle timer waits on events) the next number, counted into ``opening``, so the
        answer that continues the stream numbers its events after it (``Relay.resume``). Before s27 these were
        comments after a Responses opening (s25 variant 19-ka-fallback-resp-vG: 2.6 s without an event)."""
        spec = registry.client(fmt)
        numbered = spec.numbered_keepalive
        if numbered is None or not self.opening.frames:
            return spec.keepalive
        frame = numbered(self.opening.frames)
        self.opening = Opening(self.opening.frames + 1, self.opening.id)
        return frame


# What begins a client's stream for a route sent while nothing reached the client (``Call.unopened``): the client's
# request, the route's pairing and its view (``Proxy._open``); a tuple, not a class: no call made for it per send
Unopened = tuple[web.Request, Pairing, View]


class ClientGone(Exception):
    """``_send_keeping_alive``: the client of a stream an earlier route began hung up (a keep-alive could not
    be written) while the next route's headers were awaited."""


class FailedAfterOpening(Exception):
    """``until_committed``: a stream failed before its first token after the client's answer had started on
    a silence. ``error``: the failure; ``held``: the client's bytes read since the last keep-alive, not yet
    written (an upstream error event, as relayed, among them)."""

    def __init__(self, error: UpstreamError, held: bytes) -> None:
        super().__init__(error.message)
        self.error, self.held = error, held


class CutAnswer(UpstreamError):
    """A same-format whole answer whose finish reason says the server cut it (``WireSpec.cut_answer``: vLLM's
    ``abort``, DeepSeek's ``insufficient_system_resource``, Z.ai's ``network_error``): a failed attempt, retryable as
    its status says (the next route is tried while the client has nothing), that holds the answer's bytes as they
    came (``raw``) and its usage reader. When no route answers, the client gets those bytes untouched (the
    passthrough rule: the body it would have had from the provider itself, its finish reason saying the cut), and the
    ledger the cut's status and error type with the answer's usage (``Proxy._held_answer``), as a passthrough
    stream cut after its first token is recorded (``relay.error``).

    A streamed request's whole answer (``Proxy._whole_as_stream``) holds its stream form instead: ``render(opening)``
    gives the client's stream bytes (the answer's content, then the cut told as an in-stream error, after
    ``opening`` when an earlier route began the stream), what a stream cut after its first token gives the client
    (``Proxy._held_stream``; session 27: the streamed-request lane ran no cut check, a 200 on the ledger)."""

    def __init__(
        self,
        status: int,
        message: str,
        provider: str,
        error_type: str,
        raw: bytes,
        read_usage: Callable[[], ir.Usage],
        render: Callable[[Opening | None], bytes] | None = None,
    ) -> None:
        super().__init__(
            status, message, provider=provider, retryable=is_retryable(status), error_type=error_type
        )
        self.raw = raw
        self.read_usage = read_usage
        self.render = render


@dataclass(slots=True)
class Upstream:
    """An outgoing request to one provider, and the view its answer is made for."""

    url: str
    headers: dict[str, str]
    body: bytes
    view: View
    # ``TranslatedRequest.thinking_room``: taken off ``max_tokens`` when a retry's strip drops the ``thinking``
    thinking_room: int = 0


class Proxy:
    def __init__(
        self, upstream: UpstreamClient, providers: dict[str, Provider], health: ProviderHealth, limits: Limits
    ) -> None:
        self.upstream = upstream
        self.providers = providers
        self.health = health
        self.limits = limits
        # each provider's last 429 with a stated window, on the breaker's clock (the windows it tells
        # are the ones the breaker keeps)
        self.refusals: Refusals[Attempt] = Refusals(health.clock)
        # Made once per provider (the object: a provider replaced under the same name gets its own) and
        # client format / operation, looked up by every attempt: the pairing (``registry.choose_wire``)
        # and the upstream URL (``Provider.url``), the same few every time.
        self._pairings: dict[tuple[Provider, ClientFormat], Pairing] = {}
        self._urls: dict[tuple[Provider, Operation], str] = {}
        # ``_send_opening``'s ``stop`` until its keep-alives start (never set, never awaited): one per proxy,
        # not made at import (nothing made at import may belong to an event loop)
        self._never_stopped = asyncio.Event()

    async def serve(self, request: web.Request, call: Call, routes: list[Route]) -> web.StreamResponse:
        """Try ``routes`` (see ``serve.serve``); the answer, or the error in the client's format."""
        # a partial, not a wrapping coroutine: one frame fewer to resume at every await of an attempt
        outcome = await serve(
            routes,
            functools.partial(self.attempt, request, call),
            self.health,
            self.limits,
            sleep=functools.partial(self._wait, call) if call.stream else asyncio.sleep,
        )
        # a refusal is noted even when a fallback answered (more than one attempt): the provider still
        # refused, and once every provider rests the client must hear one of their own refusals
        if self.refusals.held or isinstance(outcome, UpstreamError) or len(call.attempts) > 1:
            self._note_refusals(call)
        if isinstance(outcome, UpstreamError) and (cut := _last_cut(call)) is not None:
            if not call.stream:
                return self._held_answer(call, *cut)
            if cut[1].render is not None:
                return await self._held_stream(request, call, *cut)
        if isinstance(outcome, UpstreamError) and call.opened is not None:
            return await self._end_opened(call, call.opened, outcome)
        if isinstance(outcome, UpstreamError) and (opened := await self._opened_to_tell(call, outcome)):
            return await self._end_opened(call, opened, outcome)
        if isinstance(outcome, UpstreamError):
            told = self._told_again(call, routes, outcome)
            if told is not None and call.stream:
                # (every route rests: none was sent, so the stream begins from the resting route's pairing)
                view = passthrough_view(
                    call.model, call.include_usage, call.reasoning, bool(call.body.get("tools"))
                )
                unopened = (request, registry.pairing(call.fmt, told[1].wire), view)
                if opened := await self._opened_to_tell(call, told[0], told[1], unopened):
                    return await self._end_opened(call, opened, told[0])
            if told is not None:
                return self._error_response(call, *told)
            return self._error_response(call, _soonest_refusal(call.attempts, outcome))
        return outcome

    def _held_answer(self, call: Call, att: Attempt, cut: CutAnswer) -> web.Response:
        """When no route answered a non-streamed request and an attempt's answer was cut (``CutAnswer``, the last
        such attempt's, ``_last_cut``): that answer's bytes as the provider sent them, with its provider's forwarded
        headers; the attempt counts as the one that answered (its provider, model and usage on the ledger,
        ``calls.row_for``) and the call as the cut's status and error type (the ledger, the metrics). It wins over
        any later route's error, a 4xx too (docs/catalog.md "Fallback": a later route's refusal is about that
        route; the cut answer is the request served, its finish reason saying the cut)."""
        att.answered, att.read_usage = True, cut.read_usage
        call.answer(cut.status, cut.error_type)
        headers = self._headers(call, att)
        return web.Response(body=cut.raw, status=200, content_type="application/json", headers=headers)

    async def _held_stream(
        self, request: web.Request, call: Call, att: Attempt, cut: CutAnswer
    ) -> web.StreamResponse:
        """``_held_answer`` for a streamed request whose cut answer came whole (``_whole_as_stream``): the client's
        stream (``cut.render``: the content, then the cut as an in-stream error), continuing the stream an earlier
        route began (``call.opened``), else a new one with the cut attempt's headers."""
        att.answered = True
        call.answer(cut.status, cut.error_type)
        assert cut.render is not None  # (``serve`` asks for it)
        opened: OpenStream | None = call.opened
        response = opened.response if opened is not None else SSEResponse(self._headers(call, att))
        body = cut.render(opened.opening if opened is not None else None)
        provider = self.providers.get(att.route.provider)
        try:
            if not response.prepared:
                await response.prepare(request)
            await response.write_eof(provider.scrub_bytes(body) if provider is not None else body)
        except CLIENT_GONE:
            pass  # the client is gone: the cut stands as the cause (``_end_opened``'s rule)
        return response

    async def _wait(self, call: Call, delay: float) -> None:
        """The serve loop's wait of ``delay`` seconds for a resting provider (a 429's Retry-After that fits in
        ``RETRY_AFTER_MAX_WAIT``, ``serve.serve``). A stream whose client's answer has begun (``call.opened``:
        held headers or a silence before the first token opened it, then the route was refused) gets its
        format's keep-alive after every ``STREAM_KEEPALIVE_S`` of the wait, as while headers are awaited
        (``_send_keeping_alive``); before (s20) the wait was a silence to the client. One whose client has
        nothing yet (the refusal came within ``STREAM_KEEPALIVE_S``) begins when the client's silence, counted
        from its request, reaches ``STREAM_KEEPALIVE_S`` (``_open``, for the route last sent: the next
        answer continues it), then gets the keep-alives: before (s23 variants 19-x1/x2/x6) it heard nothing
        for the whole wait and the next send's ``STREAM_KEEPALIVE_S`` besides (Claude Code's gateway
        protocol: pings in silent gaps). A keep-alive that finds the client gone stops the keep-alives, not
        the wait: the next send finds it gone (``ClientGone``)."""
        opened, keepalive_s = call.opened, self.upstream.keepalive_s
        end = time.monotonic() + delay
        if opened is None and keepalive_s > 0 and call.unopened is not None:
            # nothing reached the client yet (the refusal came within STREAM_KEEPALIVE_S): its silence began at
            # its request, and the wait must not lengthen it past a keep-alive period (s23 variants 19-x1/x2/x6:
            # a 4 s wait was 4 s of silence at STREAM_KEEPALIVE_S=1); its answer begins then, as on held headers
            begin = call.t0 + keepalive_s - time.monotonic()
            if delay <= begin:
                await asyncio.sleep(delay)
                return
            await asyncio.sleep(max(0.0, begin))
            try:
                opened = await self._open(call, call.unopened)
            except CLIENT_GONE:
                opened = None  # the client hung up: the next send finds it gone (``ClientGone``)
        if opened is not None and keepalive_s > 0:
            # a keep-alive period after the client last heard something, not after the wait began (s24 variant
            # 19-ping-vG: a wait begun 0.6 s after the opening's keep-alive left the client 1.6 s without a byte
            # at STREAM_KEEPALIVE_S=1); the next send goes on from the last one (``_send_keeping_alive``)
            response = opened.response
            while response.heard_at + keepalive_s < end:
                await asyncio.sleep(response.quiet_left(keepalive_s))
                try:
                    await response.tell(opened.keepalive(call.fmt))
                except CLIENT_GONE:
                    break
        await asyncio.sleep(max(0.0, end - time.monotonic()))

    async def _opened_to_tell(
        self, call: Call, exc: UpstreamError, source: Attempt | None = None, unopened: Unopened | None = None
    ) -> OpenStream | None:
        """The client's stream begun to tell a translated route's rate limit in it (then ``_end_opened``: the
        format's in-stream error, the wait in its words), for a client that waits out a rate limit only when told
        so in a stream (``ClientSpec.waits_only_in_stream``: Codex, whose turn an HTTP 429 ends); else None (the
        HTTP answer, ``_error_response``, with its ``retry-after`` header).

        Only for a streamed request whose last failure is a 429 that means a rate limit (not a spent quota:
        ``quota_exhausted``, which no wait lifts) from a translated route: a passthrough's 429 is the provider's
        own answer to a client of its own API and goes back as it came. Only where the gateway begins streams
        itself (``STREAM_KEEPALIVE_S`` > 0). ``source`` and ``unopened``: a refusal told again while every route
        rests (``_told_again``: no route was sent, the stream begins from the resting route's pairing); else the
        attempt that got ``exc`` and ``call.unopened``. None too when the client has hung up. s32 fix32
        item 3: Codex's ``response.failed`` with ``rate_limit_exceeded`` and "Please try again in Ns." makes it wait
        N s and send the turn again (codex-rs ``sse/responses.rs`` ``try_parse_retry_after``); the HTTP 429
        ended the turn with "exceeded retry limit, last status: 429"."""
        unopened = unopened or call.unopened
        if (
            not call.stream
            or unopened is None
            or exc.upstream_status != 429
            or self.upstream.keepalive_s <= 0
        ):
            return None
        source = source or next((a for a in call.attempts if a.error is exc), None)
        if (
            source is None
            or not source.translated
            or not registry.client(call.fmt).waits_only_in_stream(call.headers)
        ):
            return None
        if registry.upstream_error_meaning(source.wire, 429, exc.body, exc.message) != "rate_limit":
            return None
        try:
            return await self._open(call, unopened)
        except CLIENT_GONE:
            return None  # the client is gone: the HTTP answer finds it gone too

    async def _end_opened(self, call: Call, opened: OpenStream, last: UpstreamError) -> web.StreamResponse:
        """No route answered a stream that had begun (``OpenStream``): the last failure, told in it, ends it:
        ``opened.ending`` when it is that failure, else ``last`` (a later route's refusal before its stream,
        an HTTP error: a 400 for the request's own size, a 401) in the client's words, as ``_error_response``
        says it, in an in-stream error."""
        ending = opened.ending
        if last is opened.error:
            call.answer(opened.status, opened.error_type)
        else:
            status, message = self._in_client_words(call, last)
            call.answer(status, last.error_type)
            ending = registry.client(call.fmt).resumed_error(opened.opening, status, message)
            provider = self.providers.get(last.provider)
            if provider is not None:
                ending = provider.scrub_bytes(ending)
        try:
            await opened.response.write_eof(ending)
        except CLIENT_GONE:
            pass  # the client is gone: the failure stands as the cause (``_relay_stream``'s rule)
        return opened.response

    def _note_refusals(self, call: Call) -> None:
        """Remember each attempt's 429 that stated a window (``routing/refusals.py``); forget the
        refusal of a provider that answered."""
        for att in call.attempts:
            exc = att.error
            if exc is not None and exc.upstream_status == 429 and exc.retry_after_s is not None:
                self.refusals.remember(att.route.provider, exc.retry_after_s, att)
            elif att.answered:
                self.refusals.forget(att.route.provider)

    def _told_again(
        self, call: Call, routes: list[Route], outcome: UpstreamError
    ) -> tuple[UpstreamError, Attempt] | None:
        """When no provider could be tried because each is resting after its own 429, that provider's
        refusal as it said it (body, forwarded headers), with the time left of its window; else None."""
        if call.attempts or outcome.upstream_status != 429:
            return None
        found = self.refusals.current(dict.fromkeys(r.provider for r in routes))
        if found is None:
            return None
        att, left_s = found
        old = att.error
        assert old is not None  # only failed attempts are remembered
        pair = registry.pairing(call.endpoint.format, att.wire)
        source = Attempt(att.route, att.wire, pair.translated)
        again = UpstreamError(
            old.upstream_status,
            old.message,
            provider=old.provider,
            retryable=True,
            body=old.body,
            error_type=old.upstream_type,
            retry_after_s=left_s,
            headers=dict(old.headers),
        )
        source.error = again
        return again, source

    # ---- one attempt ------------------------------------------------------------------------------

    async def attempt(
        self, request: web.Request, call: Call, route: Route, within: int | None = None, retried: int = 0
    ) -> Answer[web.StreamResponse] | UpstreamError | Unfit:
        """One attempt on ``route``, recorded in ``call.attempts``; ``Unfit`` (the ``ClientError`` inside,
        not recorded) when the request cannot be expressed for this provider (not the provider's fault:
        the serve loop tries the next route). ``within``: an output limit the provider stated in a refusal
        inside its stream (``_stated_in_stream``), for this retry; ``retried``: how many such retries came
        before (at most two, each within a smaller limit: a window, then what the prompt leaves of it). A model
        its provider refuses on this wire as served on one other only (OpenAI's 404 "only supported in
        v1/responses": ``Provider.learn_only_wire``) gets one more attempt on that wire, counted as a retry."""
        provider = self.providers[route.provider]
        fmt = call.endpoint.format
        pair = self._pairings.get((provider, fmt)) or self._pairing(provider, fmt)
        if provider.wires_by_model and (only := provider.only_wire(route.model)) is not None:
            pair = registry.pairing(fmt, only)  # a model served on one wire only (OpenAI's Responses-only)
        try:
            up = self._build(call, provider, route, pair)
        except ClientError as exc:
            return Unfit(exc)
        if within is not None:
            up = _clamped(up, within)
        att = Attempt(route, pair.wire.name, pair.translated, sent=up.body)
        call.attempts.append(att)
        in_band = False  # an error inside a 200's stream, not an HTTP refusal (``_within_output_limit``'s)
        # a stream's relay, made in the upstream's wait once the request is written (``waiting``), not after the
        # answer's head: taken by ``_relay_stream`` (session 32, issue 13)
        ahead: list[Relay] = []
        try:
            try:
                left = (
                    waiting.leave(
                        functools.partial(_relay_ahead, ahead, pair, up.view, provider, route.model)
                    )
                    if call.stream
                    else None
                )
                try:
                    # ``_send``'s plain case tested here first: a request sent plainly makes no call more
                    if call.opened is None and not (call.stream and self.upstream.keepalive_s > 0):
                        resp = await self.upstream.send(provider, up.url, up.headers, up.body)
                    else:
                        resp = await self._send(request, call, pair, provider, up)
                finally:
                    if left is not None:
                        waiting.take_back(left)
                if resp.status >= 400 and provider.may_state_output_limit(resp.status):
                    resp, up = await self._within_output_limit(request, call, provider, route, pair, resp, up)
                    att.sent = up.body
            except ClientGone:  # hung up while this route's headers were awaited: the request ends
                assert call.opened is not None  # only a begun stream finds its client gone
                att.client_disconnected = True
                call.answer(499, "client_disconnected")
                return Answer(call.opened.response, judged=False)
            try:
                if resp.status >= 400:
                    raise await self.upstream.error_from(resp, provider)
                in_band = True
                att.headers = provider.response_headers(resp.headers)
                chunks: Chunks | None = None
                if call.stream and _json_typed(resp.headers):
                    # a non-streaming proxy's whole answer to a streamed request (s20 variant 13-ae), with a
                    # length or chunked (s21), or a stream mislabelled (``chunks``: what was read comes again)
                    try:
                        raw, chunks = await self._sniffed(request, resp, provider, call, pair, up.view)
                    except ClientGone:  # hung up while the answer's first byte was awaited
                        att.client_disconnected = True
                        call.answer(499, "client_disconnected")
                        assert call.opened is not None  # only a begun stream is kept alive
                        return Answer(call.opened.response, judged=False)
                    if raw is not None:
                        return await self._whole_as_stream(request, call, att, pair, up.view, provider, raw)
                if call.stream:
                    chunks = Chunks(resp) if chunks is None else chunks
                    return await self._relay_stream(
                        request, call, att, pair, up.view, provider, chunks, ahead
                    )
                return await self._relay_json(
                    call, att, pair, up.view, provider, await self.upstream.read_body(resp, provider)
                )
            finally:
                if att.client_disconnected:
                    resp.close()  # cancel the upstream request at once: no tokens generated for nobody
                else:
                    resp.release()
        except UpstreamError as exc:
            att.failed(exc)
            if (
                provider.wires_by_model
                and not in_band
                and retried == 0
                and (only := provider.learn_only_wire(route.model, exc.message)) is not None
                and only != pair.wire.name
            ):
                # the model is served on one wire only, as the refusal says: once more on that wire
                return await self.attempt(request, call, route, within, retried=1)
            if isinstance(exc, CutAnswer) and att.usage is None:
                att.read_usage = (
                    exc.read_usage
                )  # the provider billed the cut answer: its usage goes to the ledger
            if (
                in_band
                and retried < 2
                and (limit := self._stated_in_stream(call, provider, route, up, exc)) is not None
                and (within is None or limit < within)
            ):
                return await self.attempt(request, call, route, within=limit, retried=retried + 1)
            return exc

    def _send(
        self, request: web.Request, call: Call, pair: Pairing, provider: Provider, up: Upstream
    ) -> Awaitable[UpstreamResponse]:
        """``upstream.send`` for ``up``, with the client's stream fed while the headers are awaited: a stream
        with keep-alives on (``STREAM_KEEPALIVE_S`` > 0) whose client has nothing yet goes through
        ``_send_opening``, one an earlier send began through ``_send_keeping_alive`` (also with keep-alives
        off: that stream is open); anything else is the plain send. For an attempt's first send and its
        retries (``_within_output_limit``). Raises ``ClientGone`` as those do, and at once, nothing sent, when
        the client of a begun stream has hung up already (while the gateway waited out a Retry-After, ``_wait``:
        a request sent then had the provider generate for nobody)."""
        if call.opened is not None:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ClientGone
            return self._send_keeping_alive(call, call.opened, provider, up)
        if call.stream and self.upstream.keepalive_s > 0:
            return self._send_opening(request, call, pair, provider, up)
        return self.upstream.send(provider, up.url, up.headers, up.body)

    async def _send_opening(
        self, request: web.Request, call: Call, pair: Pairing, provider: Provider, up: Upstream
    ) -> UpstreamResponse:
        """``upstream.send`` for a stream whose client has nothing yet. When the provider's response headers
        take longer than ``STREAM_KEEPALIVE_S`` (an Ollama server loading a cold model, a relay retrying a
        rate limit inside one request, a queueing server: its status line comes with its first chunk), the
        client's answer starts then, as on a silence before the first token (``until_committed``): headers,
        its format's opening and keep-alive (``call.opened``, continued by this route's answer, or by the next
        route's when this one fails: a refusal is then told in the stream, ``_end_opened``), and a keep-alive
        after every ``STREAM_KEEPALIVE_S`` while the headers are awaited. A silence is a silence to the client
        and to any proxy in front of the gateway whether or not the provider's status line has come (Claude
        Code's gateway protocol: pings in silent gaps; s19 variant 19-r). Raises ``ClientGone`` as
        ``_send_keeping_alive`` does.

        The usual answer, headers in time, costs a timer and its cancel (no task, no ``asyncio.wait``: about
        115 calls fewer a streamed request than a task for the send); the keep-alives' task starts only when
        the timer fires. It writes whole frames only and stops between two (``stop``), never cancelled inside a
        write, so the client's bytes end between events when the answer continues them."""
        keepalive_s = self.upstream.keepalive_s
        # the task and its loop without ``asyncio.get_running_loop``/``current_task()``: each costs a ``getpid``
        # system call on CPython 3.11 (its fork check), two a stream (issue 13, session 31)
        me = self.upstream.running_task()
        loop = asyncio.get_running_loop() if me is None else me.get_loop()
        stop = self._never_stopped  # made when the keep-alives start: the usual answer makes no event
        gone = False
        keeping: asyncio.Task[None] | None = None

        async def keep() -> None:
            nonlocal gone
            try:
                # ``call.opened`` set first: the answer continues it once ``stop`` has let this write end whole
                opened = await self._open(call, unopened)
                while True:
                    try:
                        await asyncio.wait_for(stop.wait(), keepalive_s)
                        return
                    except TimeoutError:
                        await opened.response.tell(opened.keepalive(call.fmt))
            except CLIENT_GONE:
                # the client hung up: while the headers are awaited its request ends there, the send with
                # it; once they came the answer's own writes find it gone (``_relay_stream``)
                if not stop.is_set() and me is not None:
                    gone = True
                    me.cancel()

        def start() -> None:
            nonlocal keeping, stop
            stop = asyncio.Event()
            keeping = loop.create_task(keep())

        unopened: Unopened = (request, pair, up.view)
        call.unopened = unopened
        # the client's silence began at its request, not at this send: an earlier route's failure, or the gateway's
        # own wait, already took part of it (s23 variant 19-x7: a 0.9 s failure, then held headers: first byte 1.9 s)
        # (a delay already past runs at once: ``call_later`` takes it as is, no ``max`` call)
        timer = loop.call_later(call.t0 + keepalive_s - time.monotonic(), start)
        try:
            # ``_send_whole_error``'s steps inline (no second coroutine a stream): an error's words are waited for
            # as its headers were, so a slow error body is no silence either
            resp = await self.upstream.send(provider, up.url, up.headers, up.body)
            if resp.status >= 400:
                await self.upstream.read_error(resp)
            return resp
        except asyncio.CancelledError:
            if gone and me is not None and me.uncancel() == 0:
                raise ClientGone from None
            raise
        finally:
            timer.cancel()
            if keeping is not None:
                stop.set()
                if not gone:
                    await keeping  # its last frame written whole (a write is never cut)

    async def _open(self, call: Call, unopened: Unopened) -> OpenStream:
        """Begin the client's answer before anything of the provider's is known (slow headers:
        ``_send_opening``; a slow first byte of a whole JSON answer: ``_sniffed``; the gateway's own Retry-After
        wait: ``_wait``): headers, then its format's opening and keep-alive, from a relay that reads no usage
        (the answer's own relay reads it with ``provider.usage_rule``: none is given here, none is misread).
        ``call.opened`` is set before the first write, so the answer, or the next route's, continues this
        stream. Raises the connection errors of a client that has hung up."""
        request, pair, view = unopened
        response = SSEResponse(self._headers(call))
        data = make_relay(pair, view).keepalive()
        opened = call.opened = OpenStream(response, pair.client.opening(data) or Opening(), b"", 0, "", None)
        await response.prepare(request)
        await response.tell(data)
        return opened

    async def _send_keeping_alive(
        self, call: Call, opened: OpenStream, provider: Provider, up: Upstream
    ) -> UpstreamResponse:
        """``upstream.send`` for a stream an earlier route began (``OpenStream``): the client gets its
        format's keep-alive after every ``STREAM_KEEPALIVE_S`` while the headers are awaited (that route's
        answer ended between two events). A keep-alive that finds the client gone cancels the send (the
        provider's request with it: no tokens generated for nobody) and raises ``ClientGone``: the request
        ends there, recorded as the client's hang-up, and no further route is tried.

        Every way out but the answer returned drops the send (``_drop``): a send still under way is cancelled,
        a response that came is closed. A keep-alive's write may wait for room (a client that stops reading:
        aiohttp drains after 64 KiB) while the headers come; a client that then hangs up ends that write in a
        plain ``ConnectionError`` (``CLIENT_GONE``), and the response, done and returned to nobody, stayed
        open (fix33 item 1: the provider's connection held, its answer generated for nobody, the request a 500)."""
        keepalive_s = self.upstream.keepalive_s
        sending = asyncio.ensure_future(self._send_whole_error(provider, up))
        response = opened.response
        try:
            while keepalive_s > 0 and not sending.done():
                # due a period after the client last heard something (a keep-alive of the wait before, the
                # failed route's), not after this send began (s24 variant 19-ping-vG)
                done, _ = await asyncio.wait((sending,), timeout=response.quiet_left(keepalive_s))
                if done:
                    break
                try:
                    await response.tell(opened.keepalive(call.fmt))
                except CLIENT_GONE as exc:
                    raise ClientGone from exc
            return await sending
        except BaseException:
            _drop(sending)
            raise

    async def _send_whole_error(self, provider: Provider, up: Upstream) -> UpstreamResponse:
        """``upstream.send``, and a 4xx/5xx answer's body read too (``UpstreamClient.read_error``): the wait
        ``_send_keeping_alive`` keeps the client alive in takes in a body slow after its status line."""
        resp = await self.upstream.send(provider, up.url, up.headers, up.body)
        if resp.status >= 400:
            await self.upstream.read_error(resp)
        return resp

    def _pairing(self, provider: Provider, fmt: ClientFormat) -> Pairing:
        """The pairing of ``fmt`` with the wire ``provider`` is sent on (``registry.choose_wire``), kept."""
        pair = self._pairings[(provider, fmt)] = registry.pairing(
            fmt, registry.choose_wire(fmt, provider.wires)
        )
        return pair

    def _url(self, provider: Provider, operation: Operation) -> str:
        """``provider.url(operation)``, kept."""
        url = self._urls[(provider, operation)] = provider.url(operation)
        return url

    def _stated_in_stream(
        self, call: Call, provider: Provider, route: Route, up: Upstream, exc: UpstreamError
    ) -> int | None:
        """The output limit a provider stated when it refused the request's max_tokens inside a stream it had
        already answered 200 (OpenRouter relays its provider's refusal in-band, before any token), when
        nothing reached the client yet and a smaller max_tokens would do; else None. As with an HTTP refusal
        (``_within_output_limit``) a lasting limit is remembered (s11 variant 17-j). The status the error states
        may be a 5xx (``Provider.may_state_output_limit``: LiteLLM's in-band ``"code": "503"`` around vLLM's
        max_model_len refusal; s24 variant 17-inband-503-vF)."""
        if not call.stream or not provider.may_state_output_limit(exc.upstream_status):
            return None
        stated = provider.output_limit_from_error(
            exc.upstream_status, exc.message, asked_output_tokens(up.body)
        )
        if stated is None:
            return None
        if stated.lasting:
            provider.learn_output_limit(route.model, stated.tokens)
        return stated.tokens if _clamped(up, stated.tokens).body != up.body else None

    async def _within_output_limit(
        self,
        request: web.Request,
        call: Call,
        provider: Provider,
        route: Route,
        pair: Pairing,
        resp: UpstreamResponse,
        up: Upstream,
    ) -> tuple[UpstreamResponse, Upstream]:
        """A refusal that states the model's output limit ("the valid range of max_tokens is [1, 8192]")
        is not the client's problem when a smaller max_tokens would do: remember the limit and send once
        more within it. When that one is refused again with a smaller limit stated (the first was the context
        window, the second what the prompt leaves of it), once more within that; never more than two retries.
        Any other answer comes back as it is (its body still unread). A retry is sent as the first send was
        (``_send``): a streamed client hears keep-alives while its headers are awaited, its answer opened
        when they are slow (s20: before, a retry's wait was a silence to the client)."""
        try:
            err = await self.upstream.error_from(resp, provider)
        finally:
            resp.release()
        stated = provider.output_limit_from_error(
            err.upstream_status, err.message, asked_output_tokens(up.body)
        )
        if stated is not None:
            for again in (True, False):  # at most two retries, each asking for less
                if stated.lasting:  # the model's own limit: every later request keeps within it
                    provider.learn_output_limit(route.model, stated.tokens)
                retry = self._build(call, provider, route, pair)
                if not stated.lasting:  # what this prompt leaves of the context window: this retry only
                    retry = _clamped(retry, stated.tokens)
                if not _asks_less(retry, up):  # as much as was refused (a limit above it): no retry
                    raise err
                resp = await self._send(request, call, pair, provider, retry)
                if not again or (resp.status not in (400, 422) and resp.status < 500):
                    return resp, retry
                # A limit that was the window (vLLM's "cannot be greater than max_model_len") leaves the
                # prompt no room: the second refusal states what the prompt leaves (s12 variants 17-c/f), under
                # a relay's 5xx as the first did (s24 variant 17-503-twice-vG)
                try:
                    err = await self.upstream.error_from(resp, provider)
                finally:
                    resp.release()
                up, stated = (
                    retry,
                    provider.output_limit_from_error(
                        err.upstream_status, err.message, asked_output_tokens(retry.body)
                    ),
                )
                if stated is None:
                    raise err
            raise err
        elif (field := provider.tokens_field_from_error(err.upstream_status, err.message)) is not None:
            # the output-token field refused by its name ("Unsupported parameter: 'max_tokens' …" from an Azure
            # deployment of o3 under its owner's name; Mistral's "max_completion_tokens: Extra inputs are not
            # permitted"): remembered for the model, and once more by the other name (s26 variants 17-azure-*,
            # 17-mistral-*)
            provider.learn_tokens_field(route.model, field)
            retry = self._build(call, provider, route, pair)
            if retry.body != up.body:
                return await self._send(request, call, pair, provider, retry), retry
        elif (
            err.upstream_status in provider.output_refusal_statuses
            and (strip := pair.wire.strip_refused) is not None
        ):
            # a part of the history the wire's provider refused (a thinking block signed elsewhere: s7 variant
            # 04-g; reasoning_content on a server that does not take it): once more without it
            retry = _without_refused(self._build(call, provider, route, pair), strip, err)
            if retry.body != up.body:
                return await self._send(request, call, pair, provider, retry), retry
        raise err

    def _build(self, call: Call, provider: Provider, route: Route, pair: Pairing) -> Upstream:
        """The upstream request: translated, or the client's body untouched unless the model name or a
        provider requirement (``Provider.prepare``) must change it."""
        operation = pair.wire.operation
        if pair.translate is not None:
            source = call.endpoint.prepare(call.body) if call.endpoint.prepare else call.body
            # the kept target read here (``Provider.target_of``'s own first step): no call when kept (session 35)
            target = provider.kept_targets.get(route.model) or provider.target_of(route.model)
            try:
                result = pair.translate(source, target, session_from(call.headers))
            except TranslationError as exc:
                raise ClientError(400, str(exc), param=exc.param) from exc
            except (orjson.JSONEncodeError, RecursionError) as exc:  # a translator serialising a deep part
                raise refusal(exc) from exc
            room = result.thinking_room
            if not result.unminted:  # (a body the translator knows holds nothing minted: nothing to strip)
                pair.wire.strip_minted(result.body)
                room = _unraised(result.body, room)
            provider.prepare(result.body, call.stream, pair.wire.name)
            try:  # ``bodies.dumps_body``'s steps inline (its rule; one call fewer a translated request: session 35)
                raw = orjson.dumps(result.body)
            except orjson.JSONEncodeError as exc:
                raise refusal(exc) from exc
            tools = bool(call.body.get("tools"))
            if result.tool_names or result.custom_tools or result.compaction or target.thought_signatures:
                view = View(
                    model=call.model,
                    include_usage=call.include_usage,
                    reasoning=call.reasoning,
                    tool_names=result.tool_names,
                    custom_tools=result.custom_tools,
                    compaction=result.compaction,
                    tools=tools,
                    signed_calls=target.thought_signatures,
                )
            else:  # nothing renamed, no custom tool, no compaction, no signed calls: the shared view (a frozen View's making
                # is a ``__setattr__`` a field, ~7 calls a request: issue 13, session 23), a kept one without a call
                key = (call.model, call.include_usage, call.reasoning, tools)
                view = KEPT_VIEWS.get(key) or passthrough_view(*key)
        else:
            operation = call.endpoint.passthrough_operation or operation
            room = 0  # (the client's own max_tokens: nothing raised)
            body = dict(call.body)
            body["model"] = route.model
            changed = pair.wire.strip_minted(body)  # what the gateway made must not reach the provider
            if (limit := provider.known_output_limit(route.model)) is not None:
                changed = clamp_body(body, limit) or changed
            changed = (
                provider.prepare(body, call.stream, pair.wire.name) or changed or route.model != call.model
            )
            if provider.learned_fields and (field := provider.learned_fields.get(route.model)) is not None:
                changed = use_tokens_field(body, field) or changed  # the output-token field it said it takes
            # a changed body goes as the gateway read it, whatever its size; an unchanged one as the client wrote it
            # (``bodies.dumps_body``: the rule for a repeated top-level name)
            raw = dumps_body(body) if changed else call.raw
            tools = bool(call.body.get("tools"))
            view = passthrough_view(call.model, call.include_usage, call.reasoning, tools)
        url = self._urls.get((provider, operation)) or self._url(provider, operation)
        headers = provider.headers(call.headers)
        if provider.conversation_header is not None:  # a provider that routes a conversation by a header
            if (conversation := provider.conversation_id(call.headers, call.body)) is not None:
                headers[provider.conversation_header] = conversation
        return Upstream(url, headers, raw, view, room)

    # ---- answers ----------------------------------------------------------------------------------

    async def _sniffed(
        self,
        request: web.Request,
        resp: UpstreamResponse,
        provider: Provider,
        call: Call,
        pair: Pairing,
        view: View,
    ) -> tuple[bytes | None, Chunks | None]:
        """What an ``application/json`` answer to a streamed request is: ``(body, None)`` for one whole JSON
        document, ``(None, chunks)`` for a stream mislabelled (its chunks, the bytes read here first again).
        With a ``content-length`` it is whole (s20 variant 13-ae); chunked, it is whole when its first byte
        that is not white space opens a JSON object (RFC 8259 §2: white space may precede a value), as no SSE
        line can (WHATWG HTML §9.2.6: a line is a field, a comment ``:`` or blank), s21. The wait for that
        byte is bounded by ``first_byte_timeout_s``, for the whole wait, not each piece of white space. The client
        gets its format's keep-alive after every ``STREAM_KEEPALIVE_S`` of the wait (when above 0), as while the
        headers are awaited (``_send_opening``): a silence is a silence to the client whether or not the
        provider's status line has come (Claude Code's gateway protocol: pings in silent gaps). An answer that
        has not begun yet (``call.opened`` None) begins at the first of them with its format's opening
        (``_open``): whole JSON or a stream, the answer continues it (``_whole_as_stream``, ``_relay_stream``),
        a failure is told in it (``_end_opened``). Before: a begun answer got keep-alives (s22 variant
        13-sniffwait-vD), one not begun none, silent for up to the whole bound (s23 variant 13-sniffopen).
        ``ClientGone`` when a keep-alive finds the client gone. A UTF-8 BOM before the first byte is passed over
        (``_first_byte``). Errors:
        ``UpstreamError`` as ``next_chunk``'s and ``read_body``'s (a timeout, a broken body)."""
        if "content-length" in resp.headers:
            return await self.upstream.read_body(resp, provider), None
        chunks = Chunks(resp)
        read = b""
        # one deadline for the whole wait, as ``until_committed``'s: white space trickled in pieces (a
        # keep-alive) does not restart it (review21b: each piece got the whole timeout, so the wait had no end)
        bound_s = self.upstream.first_byte_timeout_s
        deadline = time.monotonic() + bound_s
        on_idle: Callable[[], Awaitable[None]] | None = None
        if call.opened is not None or self.upstream.keepalive_s > 0:

            async def keepalive() -> None:
                try:
                    if call.opened is None:
                        await self._open(call, (request, pair, view))
                    else:
                        await call.opened.response.tell(call.opened.keepalive(call.fmt))
                except CLIENT_GONE as exc:
                    raise ClientGone from exc

            on_idle = keepalive
        keepalive_s = self.upstream.keepalive_s
        while not _first_byte(read):
            remaining = max(0.0, deadline - time.monotonic())
            # the next keep-alive is due a period after the client last heard something, or after its request when
            # it has heard nothing yet, not after these headers came (s24, as ``until_committed``'s ``quiet_since``)
            heard = call.t0 if call.opened is None else call.opened.response.heard_at
            chunk = await self.upstream.next_chunk(
                chunks,
                provider,
                "first_token",
                remaining,
                on_idle,
                bound_s,
                heard + keepalive_s - time.monotonic(),
            )
            if chunk is None:
                break
            read += chunk
        if _first_byte(read) == b"{":
            return read + await self.upstream.read_body(resp, provider, len(read)), None
        return None, PeekedChunks(resp, read)

    async def _whole_as_stream(
        self,
        request: web.Request,
        call: Call,
        att: Attempt,
        pair: Pairing,
        view: View,
        provider: Provider,
        raw: bytes,
    ) -> Answer[web.StreamResponse]:
        """A streamed request the provider answered with one whole JSON answer (``application/json``: a proxy
        that does not stream, ChatGPTBox-dev/chatGPTBox#294): the answer goes to the client as its format's
        stream, the wire's JSON reader's Completion through the client's stream encoder
        (``completion_deltas``), usage to the ledger. Before: 502 empty_stream (s20 variant 13-ae). Errors
        as ``_relay_json``'s (a 200 carrying an error, not JSON)."""
        data = self._answer_object(provider, raw, pair.wire, att.headers)
        model = data.get("model")
        att.served_model = model if isinstance(model, str) and model else None
        completion = pair.wire.completion(data)
        completion.usage = att.usage = provider.usage_rule(att.route.model)(completion.usage)
        if not view.reasoning:
            completion.content = [b for b in completion.content if not isinstance(b, ir.REASONING_BLOCKS)]
        if (cut := pair.wire.cut_answer) is not None and (err := cut(data)) is not None:
            # cut by the server (its finish reason), as ``_relay_json`` reads a whole answer: the next route is tried;
            # when none answers the client gets this answer's stream, the cut told at its end (``CutAnswer.render``)
            message = provider.scrub(f"{provider.name}: {err.message}")
            told = ir.StreamError(status=err.status, type=err.type, message=message)
            usage = completion.usage
            render = functools.partial(_cut_stream, pair, view, completion, told)
            raise CutAnswer(err.status, message, provider.name, err.type, b"", lambda: usage, render)
        encoder = pair.client.encoder(view)
        opened = call.opened
        if opened is not None:  # an earlier route began the client's stream: this answer continues it
            encoder.opened(opened.opening)
        body = b"".join(encoder.feed(d) for d in completion_deltas(completion)) + encoder.finish()
        att.answered, att.status = True, 200
        call.answer(200)
        response = opened.response if opened is not None else SSEResponse(self._headers(call))
        if not response.prepared:
            await response.prepare(request)
        await response.write_eof(provider.scrub_bytes(body))
        return Answer(response)

    @staticmethod
    def _answer_object(
        provider: Provider,
        raw: bytes,
        wire: registry.WireSpec | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A whole answer's JSON object; UpstreamError 502 ``bad_response`` for invalid JSON, a non-object, or
        a 200 that carries an error the ``wire``'s stream reader does not read as one (with ``wire``, an error it
        reads is raised with its own status; ``headers``: the answer's, for when to retry). A leading UTF-8 BOM is passed over: RFC 8259 §8.1, a JSON text must not
        begin with one but its parsers "MAY ignore the presence of a byte order mark rather than treating it as
        an error" (relays written on .NET send one; s22 variant 13-bom-vA: a 502 before)."""
        try:
            data = orjson.loads(raw.removeprefix(_UTF8_BOM))
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                502,
                f"{provider.name}: invalid JSON from provider",
                provider=provider.name,
                retryable=True,
                error_type="bad_response",
            ) from exc
        if not isinstance(data, dict):
            raise UpstreamError(
                502,
                f"{provider.name}: the provider's answer is not a JSON object",
                provider=provider.name,
                retryable=True,
                error_type="bad_response",
            )
        if isinstance(data.get("error"), dict):  # a 200 that carries an error is not an answer
            if wire is not None and (told := _error_told_inside(wire, raw)) is not None:
                # the error the body tells, read as the same object told in the wire's stream is (its status
                # from the code: OpenRouter's HTTP 200 with {"error": {"code": 429, …}} is a rate limit, not a
                # 502 bad_response; s27 variant 11-or-200-body-429-cc-ns-vE), when to retry as an HTTP error
                # answer says it (``_stream_as_json``)
                raise UpstreamError(
                    told.status,
                    provider.scrub(f"{provider.name}: {told.message}"),
                    provider=provider.name,
                    retryable=is_retryable(told.status),
                    error_type=told.type,
                    retry_after_s=retry_after_seconds(headers or {}, told.status, told.body),
                )
            message, _ = parse_upstream_error(provider.scrub(raw.decode("utf-8", errors="replace")).encode())
            raise UpstreamError(
                502,
                f"{provider.name}: answered 200 with an error inside: {message}",
                provider=provider.name,
                retryable=True,
                error_type="bad_response",
            )
        return data

    async def _relay_json(
        self, call: Call, att: Attempt, pair: Pairing, view: View, provider: Provider, raw: bytes
    ) -> Answer[web.StreamResponse]:
        wire = pair.wire
        if (
            pair.translate is None
            and looks_whole(raw)
            and (wire.repair_answer is None or (wire.mends_answer is not None and not wire.mends_answer(raw)))
            and (wire.cut_answer is None or (wire.cuts_answer is not None and not wire.cuts_answer(raw)))
        ):
            # same format, an answer that opens and closes as one object with no error in it, nothing to
            # mend and no finish reason that says the server cut it: its bytes go out unparsed; the parse,
            # its served model and usage come with the event (``whole_answer``; session 26)
            att.read_usage = functools.partial(read_answer, att, provider.usage_rule, wire.usage, raw)
            return self._answered(call, att, raw)
        try:
            data = self._answer_object(provider, raw, pair.wire, att.headers)
        except UpstreamError:
            if not gathered.is_event_stream(raw):
                raise
            return self._stream_as_json(call, att, pair, view, provider, raw)
        model = data.get("model")
        att.served_model = model if isinstance(model, str) and model else None
        if (cut := pair.wire.cut_answer) is not None and (err := cut(data)) is not None:
            # a whole answer the server says it cut (its finish reason): a failure before the client has a byte, as
            # in a stream (``until_committed``): the next route is tried. A translated client that none answers is
            # told the error; a same-format one gets this answer as it came (``CutAnswer``, ``_held_answer``)
            message = provider.scrub(f"{provider.name}: {err.message}")
            usage = functools.partial(_usage_of, provider.usage_rule, att.route.model, pair.wire.usage, data)
            if pair.translate is None:
                if (repair := pair.wire.repair_answer) is not None:
                    raw = repair(raw, data)
                raise CutAnswer(err.status, message, provider.name, err.type, raw, usage)
            # the provider billed the cut answer a translated client is not given: its tokens go to the ledger
            # as a failed attempt's (``calls.row_for``), as a same-format client's and a streamed request's do
            # (review27: a translated non-streamed request's cut answer was billed nowhere)
            att.read_usage = usage
            raise UpstreamError(
                err.status,
                message,
                provider=provider.name,
                retryable=is_retryable(err.status),
                error_type=err.type,
            )
        if pair.translate is None:  # same format: the bytes go back as they came; only usage is read,
            # with the event (``Attempt.read_usage``), not before the answer's bytes (session 19)
            att.read_usage = functools.partial(
                _usage_of, provider.usage_rule, att.route.model, pair.wire.usage, data
            )
            if (repair := pair.wire.repair_answer) is not None:
                raw = repair(raw, data)
        else:
            completion = pair.wire.completion(data)
            completion.usage = att.usage = provider.usage_rule(att.route.model)(completion.usage)
            if not view.reasoning:
                completion.content = [b for b in completion.content if not isinstance(b, ir.REASONING_BLOCKS)]
            render = call.endpoint.render or pair.client.render
            raw = orjson.dumps(render(completion, view))
        return self._answered(call, att, raw)

    def _answered(self, call: Call, att: Attempt, body: bytes) -> Answer[web.StreamResponse]:
        """A plain answer's end (``_relay_json``'s lanes): the attempt and the call marked answered (200),
        ``body`` (the client's JSON bytes) in the ``web.Response`` the client gets."""
        att.answered, att.status = True, 200
        call.answer(200)
        return Answer(
            web.Response(body=body, status=200, content_type="application/json", headers=self._headers(call))
        )

    def _stream_as_json(
        self, call: Call, att: Attempt, pair: Pairing, view: View, provider: Provider, raw: bytes
    ) -> Answer[web.StreamResponse]:
        """A non-streamed request the provider answered with an event stream anyway (an OpenAI-compatible server
        or relay that ignores ``"stream": false``; s25 variants 18-nonstream-sse-*: a 502 "invalid JSON" before):
        the stream read whole (``gathered.decoded``) and answered as one JSON body in the client's format, with
        its usage, as a whole answer is (``_relay_json``'s translated branch; the same format's too: its bytes
        are not an answer the client asked for). An error event in it is the provider's error (as before the
        first token of a stream: ``until_committed``); a stream without its finish, or with a tool call's
        arguments that are no JSON object, is a 502 ``bad_response``."""
        decoder = pair.wire.decoder()
        if (wait := getattr(decoder, "wait_for_signatures", None)) is not None:
            # a call's thought signature may come in a later chunk than its start (``wait_for_signatures``): the
            # whole answer is gathered before anything is sent, so holding each start costs nothing, and a start
            # read before its signature gave the client a call without it (Gemini then got the dummy next turn)
            wait()
        deltas = gathered.decoded(raw, decoder)
        name = provider.name
        if decoder.usage is not None:  # a failure below is still billed what the stream said (fix28)
            att.usage = provider.usage_rule(att.route.model)(decoder.usage)
        err = next((d for d in deltas if isinstance(d, ir.StreamError)), None)
        if err is not None:
            # when to retry, as an HTTP error answer says it: the answer's own retry and rate-limit headers (a
            # ``retry-after``, the exhausted limit's reset: ``att.headers``), else the error object's (review25:
            # read from the error object alone, an Anthropic ``rate_limit_error`` event carried no hint)
            raise UpstreamError(
                err.status,
                provider.scrub(f"{name}: {err.message}"),
                provider=name,
                retryable=is_retryable(err.status),
                error_type=err.type,
                retry_after_s=retry_after_seconds(att.headers, err.status, err.body),
            )
        try:
            completion = gathered.gathered(deltas, decoder.usage, decoder.model)
        except gathered.StreamAnswerError as exc:
            raise UpstreamError(
                502,
                provider.scrub(
                    f"{name}: the provider streamed an answer to a non-streamed request, and {exc}"
                ),
                provider=name,
                retryable=True,
                error_type="bad_response",
            ) from exc
        att.served_model = decoder.model
        completion.usage = att.usage = provider.usage_rule(att.route.model)(completion.usage)
        if not view.reasoning:
            completion.content = [b for b in completion.content if not isinstance(b, ir.REASONING_BLOCKS)]
        render = call.endpoint.render or pair.client.render
        body = provider.scrub_bytes(orjson.dumps(render(completion, view)))
        att.answered, att.status = True, 200
        call.answer(200)
        return Answer(
            web.Response(body=body, status=200, content_type="application/json", headers=self._headers(call))
        )

    async def _relay_stream(
        self,
        request: web.Request,
        call: Call,
        att: Attempt,
        pair: Pairing,
        view: View,
        provider: Provider,
        chunks: Chunks,
        ahead: list[Relay] | None = None,
    ) -> Answer[web.StreamResponse]:
        """Relay a streamed answer. ``ahead``: the relay made for this pairing and view while the upstream worked
        (``attempt``, ``_relay_ahead``), when it was: a relay no byte has reached yet, as ``make_relay`` makes."""
        if ahead and (made := ahead.pop()).view is view and made.pairing is pair:
            relay = made
        else:
            relay = make_relay(pair, view, provider.usage_rule(att.route.model))
        relay.sent = att.sent  # an in-stream overflow's count restated against its max_tokens (s21)
        if (
            pair.translate is None
            and "n" in call.body
            and (expect := getattr(relay.decoder, "expect_choices", None)) is not None
        ):
            # the client's choices, relayed as they come: each must finish (session 27). Only when its body went
            # as it came: a translation sends no ``n`` (the server answers one choice; review27: an Anthropic
            # client's stray ``n`` made a finished answer wait for choices never asked for)
            expect(call.body["n"])
        opened: OpenStream | None = call.opened
        if opened is None:
            response = SSEResponse(self._headers(call))
        else:  # an earlier route began the client's stream: this answer continues it
            response = opened.response
            relay.resume(opened.opening)
        sent: list[bytes] = []  # what this attempt wrote to the client before its first token

        def commit() -> None:
            att.answered, att.status = True, 200
            call.answer(200)

        async def silent(held: bytes) -> None:
            """The upstream is silent before its first token (a model thinking): the client's answer
            starts now, headers, what was read so far (``held``), then its format's keep-alive, so that
            its idle watchdog does not give up (Claude Code's gateway protocol; bugcase 19). A failure
            before the first token may still fall back while the client has nothing but its answer's
            opening and keep-alives (``_left_before_token``)."""
            if not att.answered:
                commit()
            if not response.prepared:
                await response.prepare(request)
            if data := held + relay.keepalive():  # a keep-alive only between events the client has whole
                sent.append(data)
                await response.tell(data)

        try:
            try:
                first = await self.until_committed(
                    relay, chunks, provider, silent, call.t0 if opened is None else opened.response.heard_at
                )
            except (UpstreamError, FailedAfterOpening) as failed:
                exc, held = (
                    (failed, b"") if isinstance(failed, UpstreamError) else (failed.error, failed.held)
                )
                # usage said before the failure is billed (``BilledAttempt``; fix28)
                if relay.decoder.usage is not None:
                    att.read_usage = relay.read_usage
                if not response.prepared:
                    raise exc from None  # nothing reached the client: the next route may serve it
                kept = isinstance(failed, FailedAfterOpening)  # else an earlier route began the stream
                ending = self._ending(pair, relay, provider, exc, held, None if kept else opened)
                if self._left_before_token(call, att, pair, relay, response, sent, ending, exc):
                    raise exc from None  # the next route continues the client's stream (``OpenStream``)
                if not att.answered:  # (a stream an earlier route began: this one's failure ends it)
                    commit()
                await response.write_eof(ending)
            else:
                if not att.answered:
                    commit()
                if not response.prepared:
                    await response.prepare(request)
                await self._pump(call, att, relay, response, first, chunks, provider)
                if relay.decoder.closed:  # the closing frame ended the answer; the body may not have
                    chunks.stopped_at_close()
        except CLIENT_GONE:
            # A client that hangs up after the whole answer lost nothing: a success. One that hangs up after
            # the upstream's stream failed (an error or a malformed frame the relay has already read: its
            # SDK raises on it and closes) is recorded with that failure, the cause (``finally`` below).
            if not relay.delivered and relay.error is None:
                att.client_disconnected = True
                call.answer(499, "client_disconnected")
        finally:
            if att.answered:  # else an error before the first token: the attempt failed, nothing was sent
                # what ``feed_last`` kept, when ``_pump`` did not run to decode it (the client was gone before
                # its answer began): the facts below are the whole read's (a no-op otherwise)
                relay.settle()
                # read with the event (``Attempt.read_usage``), not between the answer and the next
                # request (session 20)
                att.read_usage = relay.read_usage
                att.served_model = relay.decoder.model
                if relay.error is not None and call.error_type is None:
                    call.answer(relay.error.status, relay.error.type)
        failure = (call.status, call.error_type) if call.status >= 500 else None
        return Answer(response, failure)

    @staticmethod
    def _ending(
        pair: Pairing,
        relay: Relay,
        provider: Provider,
        exc: UpstreamError,
        held: bytes,
        opened: OpenStream | None,
    ) -> bytes:
        """The client's bytes that tell ``exc``, a failure before the first token of a stream whose client's
        answer has begun: ``held`` (what was read since the last keep-alive, when this route's silence began
        it: ``opened`` None; else nothing was kept), then the failure. An error event the upstream sent is in
        ``held`` as relayed when kept; when not (this route failed before its own silence, on a stream an
        earlier route began: ``opened``), it is told in the client's format after that stream's opening
        (``ClientSpec.resumed_error``: a translator's encoder has closed on it). Any other failure is the
        relay's ``fail``."""
        if relay.error is not None:
            if opened is None:
                return held
            error = pair.client.resumed_error(opened.opening, relay.error.status, exc.message)
            return provider.scrub_bytes(error)
        return held + provider.scrub_bytes(relay.fail(502, exc.message, exc.error_type or "broken_stream"))

    @staticmethod
    def _left_before_token(
        call: Call,
        att: Attempt,
        pair: Pairing,
        relay: Relay,
        response: SSEResponse,
        sent: list[bytes],
        ending: bytes,
        exc: UpstreamError,
    ) -> bool:
        """Whether a stream whose client's answer has begun (this route's silence, or an earlier route's)
        and that failed before its first token (``exc``) falls back: when the failure is one to fall back on
        (``exc.retryable``: not a refusal of the request itself, a 400) and the client got nothing but its
        format's opening and keep-alives (``ClientSpec.opening`` of what this attempt wrote, after what an
        earlier one did). Then the attempt gives its answer up (it failed: ``attempt`` records it) and
        ``call.opened`` holds the stream for the next route, ``ending`` (this failure told in it) for when
        none answers. Otherwise False: the caller tells the failure in the stream, as after a first token."""
        if not exc.retryable:
            return False
        mine = pair.client.opening(b"".join(sent))
        if mine is None:
            return False
        # what ``ending`` tells (the relay's ``fail`` set it, or the upstream's error event did)
        told = relay.error or ir.StreamError(status=502, type=exc.error_type, message=exc.message)
        opening = mine if call.opened is None else call.opened.opening.then(mine)
        call.opened = OpenStream(response, opening, ending, told.status, told.type, exc)
        att.answered, att.status = False, None
        call.answer(0)
        return True

    async def until_committed(
        self,
        relay: Relay,
        chunks: AsyncIterator[bytes],
        provider: Provider,
        on_idle: Callable[[bytes], Awaitable[None]] | None = None,
        quiet_since: float | None = None,
    ) -> bytes:
        """Read the upstream stream until its first token (or finish, or error), keeping the output.

        Until then nothing has reached the client, so a failure can still fall back to another route:
        a broken connection, a timeout, an empty stream, an in-stream error before any content.
        ``on_idle(held)`` is awaited after every ``STREAM_KEEPALIVE_S`` without a first token, the
        upstream's own keep-alives (OpenRouter's comments, Anthropic's pings) counting as silence: the
        caller starts the client's answer there and writes ``held``, the output so far (which this then
        no longer returns). Once it has run, a failure before the first token (a timeout, a broken body, an
        error event, an empty stream) is raised as ``FailedAfterOpening``, with the output read since (the caller
        falls back or tells it in the stream: the client already has its answer's headers). ``quiet_since``
        (``time.monotonic()``): since when the client has heard nothing, when that was before this stream's
        headers (its request, for a client with nothing yet: s23 variant 19-x8, headers after 0.9 s then a
        silence put the first byte at 1.9 s with a 1 s period); else now.
        """
        idled = False
        out: list[bytes] = []
        read = 0  # bytes read so far: what is held is at most this (``MAX_ANSWER_BYTES``)
        keepalive_s = self.upstream.keepalive_s if on_idle is not None else 0.0
        if quiet_since is None:
            quiet_since = time.monotonic()  # when the client last got something (so far: nothing)

        async def idle() -> None:
            nonlocal idled, quiet_since
            idled = True
            held = b"".join(out)
            out.clear()
            quiet_since = time.monotonic()
            if on_idle is not None:
                await on_idle(held)

        try:
            deadline = time.monotonic() + self.upstream.first_byte_timeout_s
            while not relay.started:
                remaining = max(0.0, deadline - time.monotonic())
                chunk = await self.upstream.next_chunk(
                    chunks,
                    provider,
                    "first_token",
                    remaining,
                    None if on_idle is None else idle,
                    self.upstream.first_byte_timeout_s,
                    # the client's silence so far counts: its next keep-alive is due a period after it began
                    quiet_since + keepalive_s - time.monotonic() if keepalive_s > 0 else None,
                )
                if chunk is None:
                    if relay.inside_event:
                        # The body ended inside its last event (its data line whole but unended, or without its
                        # blank line): read it before the stream is judged, as ``finish`` reads it after a first
                        # token. An error event there (an overflow, in-band or Anthropic's, a failed Response) is
                        # the upstream's refusal, not an empty stream (bug33a variants 10v33resp-failed-unended,
                        # 10v33inband-unended-*, 10v33anthropic-error-event-unended-*: a 502 empty_stream; llama.cpp's
                        # ``error:`` line unended, fix33 item 3, ``SSEDecoder.ends_whole``).
                        out.append(provider.scrub_bytes(relay.end()))
                    break
                read += len(chunk)
                # next_chunk scrubbed each read; what a relay re-frames may join a key split across two reads
                # (a read passed on as it came is that scrubbed read itself)
                # the body's last read: the relay may decode part of it after the answer (``_pump``)
                ended = isinstance(chunks, Chunks) and chunks.ended
                fed = relay.feed_last(chunk) if ended else relay.feed(chunk)
                out.append(fed if fed is chunk else provider.scrub_bytes(fed))
                if read > self.upstream.max_answer_bytes and not relay.started:
                    raise self._too_long(provider, "before its first token")
                if relay.decoder.closed:
                    break  # the stream's closing frame: nothing may follow it (``_pump``), held open or not
                if keepalive_s > 0 and not relay.started and time.monotonic() - quiet_since >= keepalive_s:
                    await idle()  # the upstream's keep-alives reached no one: silence, for the client
            name = provider.name
            if relay.error is not None and not relay.saw_content:
                err = relay.error
                raise UpstreamError(
                    err.status,
                    provider.scrub(f"{name}: {err.message}"),
                    provider=name,
                    retryable=is_retryable(err.status),
                    error_type=err.type,
                    # the error object, when the relay kept it (fields of its own, a 429's: ``StreamError.body``):
                    # said again in the client's words with those fields (``_error_response``; fix33 item 4)
                    body=err.body,
                    # when to retry as an HTTP error answer says it: the stream's own retry and rate-limit headers
                    # first, else its error object (session 27: the error object alone, as ``_stream_as_json`` was)
                    retry_after_s=retry_after_seconds(
                        chunks.retry_headers() if isinstance(chunks, Chunks) else {}, err.status, err.body
                    ),
                )
            if not relay.started and not relay.complete:
                raise UpstreamError(
                    502,
                    f"{name}: stream ended before its first token",
                    provider=name,
                    retryable=True,
                    error_type="empty_stream",
                )
        except UpstreamError as exc:
            if idled:  # the client's answer has started: the caller falls back or tells what went wrong
                raise FailedAfterOpening(exc, b"".join(out)) from exc
            raise
        return b"".join(out)

    async def _pump(
        self,
        call: Call,
        att: Attempt,
        relay: Relay,
        response: web.StreamResponse,
        first: bytes,
        chunks: Chunks,
        provider: Provider,
    ) -> None:
        """Relay the rest of the stream. What one upstream read yields goes out in one write (but the read
        that brings the first token when the relay stopped there and the body goes on: two,
        ``_first_token_out``), and what the last read yields goes out with the end of the answer (a whole
        answer in one read: one write, its first token waiting only for the rest's translation). ``next_chunk`` scrubs the key from each
        read, and what the relay gives back is scrubbed again: a translator or frame filter joins an event
        split across two reads, and a key split with it would otherwise go out whole."""
        if relay.saw_content:
            att.ttft_ms = (time.monotonic() - call.t0) * 1000
        if relay.unsettled:
            # The whole body came in the first read and the relay decoded it up to its first token only
            # (``Relay.feed_last``): ``first`` is the client's whole answer and ``finish`` adds nothing, so
            # the answer ends now and the rest of its frames are decoded after, before any fact of the
            # stream is read (its usage, model, error and completion: the event, the provider's health)
            try:
                await response.write_eof(first)
            finally:
                relay.settle()
                relay.end()
            relay.delivered = relay.complete and relay.error is None
            return
        if not first and not chunks.ended:
            await response.write(b"")  # nothing to say yet: the headers go out now, on their own
        held = first  # read, not yet written
        if relay.has_rest and not chunks.ended:  # (tested here: no coroutine for the streams not split)
            # the first token goes out before the rest of its read is translated; a body that has ended
            # is the whole answer: ``finish`` translates the rest and it goes out with the end, one write
            held = await self._first_token_out(relay, response, held, provider)
        if not chunks.ended:
            rest = await self._pump_reads(call, att, relay, response, held, chunks, provider)
            if rest is None:
                return
            held = rest
        tail = relay.end()
        if not relay.complete and relay.error is None:
            if relay.started:
                tail += relay.fail(502, f"{provider.name}: upstream stream ended early", "broken_stream")
            else:  # the answer started on a silence (``until_committed``) and no token ever came
                tail += relay.fail(
                    502, f"{provider.name}: stream ended before its first token", "empty_stream"
                )
        await response.write_eof(held + provider.scrub_bytes(tail) if tail else held)
        relay.delivered = relay.complete and relay.error is None  # the client has every byte of the answer

    async def _pump_reads(
        self,
        call: Call,
        att: Attempt,
        relay: Relay,
        response: web.StreamResponse,
        held: bytes,
        chunks: Chunks,
        provider: Provider,
    ) -> bytes | None:
        """``_pump``'s reads after the first, while the body has not ended (a whole answer in the first
        read, a canned one, skips this: no keep-alive timer, no deadline): each read's bytes written in one
        write once the next read is there or the body ends. Returns what is read and not yet written (the
        caller writes it with the end of the answer), or None when the stream failed and its end was
        written (an in-stream error)."""
        keepalive_s = self.upstream.keepalive_s
        quiet_since = time.monotonic()  # when the client last got something

        async def keepalive() -> None:  # the upstream is silent: keep the client's idle watchdog fed
            nonlocal quiet_since
            if frame := relay.keepalive():
                await response.write(frame)
                quiet_since = time.monotonic()

        # a finished answer (finish and usage), or one ended by an in-stream error (whose usage may follow it: vLLM's
        # "abort"), got a read of keep-alives alone (after an error: of nothing the relay counts) since its last event
        pinged = False
        unframed = (
            0  # bytes read since the last event: a line without its end is held whole (``MAX_ANSWER_BYTES``)
        )
        try:
            progress = (relay.events, time.monotonic())
            # Until the stream's own closing frame (chat's [DONE], message_stop, response.completed): nothing
            # may follow it, and a server that keeps the body open after it (pings, a keep-alive loop that
            # outlives its generator: s20 variants 13-ab, 13-ac) must not hold the client's answer open until
            # it closes. The connection is then released unread (aiohttp closes it).
            while not chunks.ended and not relay.decoder.closed:
                if held:
                    await response.write(held)
                    held = b""
                    quiet_since = time.monotonic()
                    relay.delivered = relay.complete and relay.error is None and relay.passthrough
                elif keepalive_s > 0 and time.monotonic() - quiet_since >= keepalive_s:
                    # The upstream is not silent, yet nothing reached the client that long: an event
                    # trickled a few bytes at a time is held until it ends (s11 variants 19-f/19-g).
                    await keepalive()
                progress = self._deadline(relay, progress, provider)
                remaining = progress[1] + self.upstream.chunk_timeout_s - time.monotonic()
                if pinged:
                    # the answer has its finish and its usage (or its error), and the upstream only pings on without
                    # its closing frame: FINISHED_KEEPALIVE_S after the last event the answer ends (the timeout below,
                    # as a complete or failed answer's broken body ends it) and the upstream is released (s20 13-aa)
                    remaining = min(remaining, progress[1] + FINISHED_KEEPALIVE_S - time.monotonic())
                # the client's silence so far counts (a read that gave it nothing: a partial event, a dropped
                # empty delta): its next keep-alive is due a period after it last heard something, not after
                # this wait began (s25 variant 19-ka-vA: a 0.8 s read of nothing, then silence, left it 1.8 s
                # without a byte at STREAM_KEEPALIVE_S=1)
                chunk = await self.upstream.next_chunk(
                    chunks,
                    provider,
                    "between_chunks",
                    remaining,
                    keepalive,
                    self.upstream.chunk_timeout_s,
                    quiet_since + keepalive_s - time.monotonic() if keepalive_s > 0 else None,
                )
                if chunk is None:
                    break
                seen = relay.events
                held = relay.feed(chunk)
                unframed = unframed + len(chunk) if relay.events == seen else 0
                if unframed > self.upstream.max_answer_bytes:
                    raise self._too_long(provider, "in one event")
                pinged = (
                    relay.events == seen
                    and ((relay.complete and relay.usage is not None) or relay.error is not None)
                    and relay.between_events
                )
                if held is not chunk:  # re-framed: scrubbed again (a read passed on as it came already was)
                    held = provider.scrub_bytes(held)
                if relay.saw_content and att.ttft_ms is None:
                    att.ttft_ms = (time.monotonic() - call.t0) * 1000
                    if relay.has_rest and not chunks.ended:  # (ended: as in ``_pump``, one write)
                        held = await self._first_token_out(relay, response, held, provider)
        except UpstreamError as exc:
            if pinged and relay.error is not None:
                return (
                    held  # the upstream's own error was told: the grace for its usage is over, nothing to add
                )
            if not relay.complete or relay.error is not None:
                failed = relay.fail(502, exc.message, exc.error_type or "broken_stream")
                await response.write(held + provider.scrub_bytes(failed))
                return None
            # The answer had ended (a finish / stop reason came) when the body broke off: a complete answer,
            # ended as a clean end of the body ends it (bugcase 13; s10 variant 13-u).
        return held

    @staticmethod
    async def _first_token_out(
        relay: Relay, response: web.StreamResponse, held: bytes, provider: Provider
    ) -> bytes:
        """When the read that brought the first token was translated only up to it (``Relay.has_rest``),
        ``held`` (which ends with that token) is written now and the rest of the read translated after:
        returns what is then held. A long read's first token does not wait for all of it to be translated,
        at the cost of one more write per stream. The caller tests ``relay.has_rest`` first, and that the
        body goes on: a read that ends it goes out whole with the end of the answer (one write and one
        client wake-up fewer; the token waits only for the rest's translation, tens of µs on a canned answer)."""
        try:
            await response.write(held)
        except BaseException:
            relay.rest()  # the client is gone: the read is decoded all the same, its usage goes to the ledger
            raise
        return provider.scrub_bytes(relay.rest())

    def _too_long(self, provider: Provider, where: str) -> UpstreamError:
        """The 502 ``bad_response`` for a stream that held more than ``MAX_ANSWER_BYTES`` (``max_answer_bytes``)
        ``where``: before its first token (``until_committed``: what the gateway holds to be able to fall back),
        or in one event (``_pump_reads``: a line that never ends, held whole by the SSE reader). Memory stays
        bounded while reading (session 27: neither was capped, only a whole answer was, ``read_body``)."""
        return UpstreamError(
            502,
            f"{provider.name}: the provider's stream sent more than {self.upstream.max_answer_bytes} bytes {where} "
            "(MAX_ANSWER_BYTES)",
            provider=provider.name,
            retryable=True,
            error_type="bad_response",
        )

    def _deadline(self, relay: Relay, progress: tuple[int, float], provider: Provider) -> tuple[int, float]:
        """``UPSTREAM_CHUNK_TIMEOUT`` bounds the time since the stream's last *event*: keep-alive comments
        and a data line trickled byte by byte do not reset it, so a stream that trickles forever ends that
        long after its last real event. ``progress``: (events seen, when the count last changed)."""
        seen, since = progress
        now = time.monotonic()
        if relay.events != seen:
            return relay.events, now
        if now - since >= self.upstream.chunk_timeout_s:
            raise UpstreamError(
                None,
                f"{provider.name}: upstream stream made no progress for {self.upstream.chunk_timeout_s:g}s"
                " (only keep-alives or a partial line)",
                provider=provider.name,
                retryable=True,
                error_type="broken_stream",
            )
        return progress

    # ---- the client's answer when nothing served it -----------------------------------------------

    def _headers(self, call: Call, att: Attempt | None = None) -> dict[str, str]:
        """The gateway's own headers, after the answering provider's forwarded ones (``att``'s; default: the last
        attempt's)."""
        if att is None and call.attempts:
            att = call.attempts[-1]
        return {
            **(att.headers if att is not None else {}),
            "x-ekai-provider": att.route.provider if att is not None else "",
            "x-ekai-attempts": str(len(call.attempts)),
            "x-request-id": call.request_id,
            "request-id": call.request_id,
        }

    @staticmethod
    def _in_client_words(call: Call, exc: UpstreamError) -> tuple[int, str]:
        """The status and message the client gets for ``exc`` in an in-stream error: the upstream's meaning
        (context overflow, rate limit, …) in the client's words, as ``_error_response`` says it; a
        Retry-After the provider gave (whole seconds, rounded up), which an HTTP answer would carry as the
        ``retry-after`` header, said in the message ("… (Please try again in 30s.)") unless the provider's own message
        already says when to retry (``ClientSpec.said_with_wait``: the client's rule)."""
        status = exc.upstream_status or 502
        message = exc.message
        source = next((a for a in call.attempts if a.error is exc), None)
        client = registry.client(call.fmt)
        if exc.upstream_status is not None and source is not None:
            meaning = registry.upstream_error_meaning(source.wire, exc.upstream_status, exc.body, exc.message)
            status, message, _ = client.error_words(
                meaning, status, message, asked_output_tokens(source.sent)
            )
        # a stream has no retry-after header: its wait goes in the words, unless they already say it
        message = client.said_with_wait(message, exc.retry_after_s)
        return client.client_status(status), message

    def _error_response(self, call: Call, exc: UpstreamError, source: Attempt | None = None) -> web.Response:
        """The last error, in the client's format. A provider's own error body goes back unmodified when
        the client speaks that provider's API (clients match its wording to recover), unless it does not
        say its meaning in the words clients look for (``registry.said_in_client_words``). ``source``:
        the attempt that got ``exc``, when it is not one of this call's (a refusal told again)."""
        status = exc.upstream_status or 502
        headers = {**exc.headers, **self._headers(call)}
        if exc.retry_after_s is not None:
            headers["retry-after"] = str(max(1, math.ceil(exc.retry_after_s)))  # whole seconds, rounded up
        source = source or next((a for a in call.attempts if a.error is exc), None)
        meaning = None
        if exc.upstream_status is not None and source is not None:
            # the upstream's meaning (context overflow, rate limit, …), said in the client's words below
            # an error told in the stream (before the first token) came without a body: its message says it
            meaning = registry.upstream_error_meaning(source.wire, exc.upstream_status, exc.body, exc.message)
            headers.update(registry.retry_advice(meaning))
        if (
            meaning is not None
            and source is not None
            and not source.translated
            and _json_object(exc.body)
            and registry.said_in_client_words(source.wire, meaning, exc.body)
        ):
            call.answer(status, exc.error_type)
            return web.Response(
                body=exc.body, status=status, content_type="application/json", headers=headers
            )
        client = registry.client(call.fmt)
        message, code = exc.message, exc.upstream_type
        if meaning is not None:  # translated: the upstream's meaning in the client's words
            status, message, words_code = client.error_words(
                meaning, status, message, asked_output_tokens(source.sent) if source is not None else None
            )
            code = words_code or code
        status = client.client_status(status)
        call.answer(status, exc.error_type)
        body = client.error_body(status, message, code, None, call.request_id)
        if meaning is not None and source is not None and not source.translated:
            # said again in the client's words, the provider's own fields kept
            body = said_keeping_fields(body, exc.body)
        return web.Response(
            body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
        )


# U+FEFF in UTF-8: a byte order mark some relays put before a JSON answer (RFC 8259 §8.1)
_UTF8_BOM = b"\xef\xbb\xbf"


def _drop(sending: asyncio.Future[UpstreamResponse]) -> None:
    """An upstream send given up on (``Proxy._send_keeping_alive``): cancelled while under way (the pool closes
    its connection), its response closed when it had come (``UpstreamResponse.close``: idempotent, so a response
    the body's end gave back already is left alone). Its error, if it failed, is retrieved (not logged unseen)."""
    if not sending.done():
        sending.cancel()
    elif not sending.cancelled() and sending.exception() is None:
        sending.result().close()


def _relay_ahead(made: list[Relay], pair: Pairing, view: View, provider: Provider, model: str) -> None:
    """The relay ``_relay_stream`` would make for this answer (``make_relay`` with the provider's usage rule for
    ``model``), made in the upstream's wait (``waiting.run_left``) and put in ``made``."""
    made.append(make_relay(pair, view, provider.usage_rule(model)))


def _first_byte(read: bytes) -> bytes:
    """The first byte of an answer's bytes so far that is neither white space nor part of a leading UTF-8 BOM, b""
    while none came (``Proxy._sniffed``): a JSON text may follow a BOM (RFC 8259 §8.1: parsers may ignore it), and
    so may an SSE stream (WHATWG HTML §9.2.6 drops one). A BOM's first bytes alone are not yet an answer's first
    byte: the BOM may arrive split across reads."""
    if len(read) < len(_UTF8_BOM) and _UTF8_BOM.startswith(read):
        return b""
    return read.removeprefix(_UTF8_BOM).lstrip()[:1]


def _error_told_inside(wire: registry.WireSpec, raw: bytes) -> ir.StreamError | None:
    """The error a 200 JSON body carries (``{"error": {...}}``), read as the wire's stream reader reads the same
    object told as an event: the status its code says (OpenRouter's numeric ``code``, OpenAI's string codes), the
    provider's own words from ``metadata.raw``, the error object kept for its retry hints (``metadata.headers``);
    None when the reader does not read it as an error, or reads no status of its own in it (500). OpenRouter
    documents that an error may come in the body of a response whose HTTP status is 200 (OpenRouter docs,
    "Errors"); read as a 502 ``bad_response``, its rate limit was an ``overloaded_error`` to Claude Code and a 502
    to OpenAI clients, without the wait (s27 variants 11-or-200-body-429-*)."""
    text = raw.removeprefix(_UTF8_BOM).decode("utf-8", errors="replace").strip()
    deltas = wire.decoder().feed(SSEEvent(event=None, data=text))
    told = next((d for d in deltas if isinstance(d, ir.StreamError)), None)
    if (
        told is not None
        and told.status == 500
        and (words := overflow_told_whole(told.message, raw)) is not None
    ):
        # a failed Response whose error is a context overflow: the client's 400 overflow, not a retryable 502
        # ``bad_response`` sent on to the next route (s29 fix29; the meaning and its words: ``_error_meaning``)
        return replace(told, status=400, type="invalid_request_error", message=words)
    # 500 is the readers' word for an error that states no status: it stays the 502 ``bad_response`` it was
    return told if told is not None and told.status != 500 else None


def _json_typed(headers: Mapping[str, str]) -> bool:
    """Whether an answer's headers call it ``application/json``: one whole JSON document, or a stream
    mislabelled (``Proxy._sniffed`` tells which)."""
    return headers.get("content-type", "").startswith("application/json")


def _soonest_refusal(attempts: list[Attempt], last: UpstreamError) -> UpstreamError:
    """The 429 among ``attempts``' whose stated window (Retry-After) ends soonest, when every attempt was refused
    so; else ``last``, the last real error. The client may come back when the first provider is free again (the
    next request is told that provider's refusal, ``_told_again``), not after the last one tried says (s15 variant
    11-c; docs/catalog.md "Fallback")."""
    windows = [
        a.error
        for a in attempts
        if a.error is not None and a.error.upstream_status == 429 and a.error.retry_after_s is not None
    ]
    if last.upstream_status != 429 or not windows or len(windows) != len(attempts):
        return last
    return min(windows, key=lambda e: e.retry_after_s or 0.0)


def _asks_less(retry: Upstream, up: Upstream) -> bool:
    """Whether ``retry`` asks for fewer output tokens than ``up`` (``asked_output_tokens``), or, when either
    states none, differs from it at all: a retry within a stated limit that asks for as much as the refused
    request, or more (a second refusal stating a larger remainder than the first), would be refused again."""
    if retry.body == up.body:
        return False
    new, old = asked_output_tokens(retry.body), asked_output_tokens(up.body)
    return new is None or old is None or new < old


def _clamped(up: Upstream, limit: int) -> Upstream:
    """``up`` with every output-token field of its body at most ``limit`` (a one-off retry: parsed again)."""
    body = orjson.loads(up.body)
    if not isinstance(body, dict) or not clamp_body(body, limit):
        return up
    return replace(up, body=dumps_body(body), thinking_room=0)  # (the raise is within the stated limit now)


def _without_refused(
    up: Upstream, strip: Callable[[int | None, str, dict[str, Any]], bool], err: UpstreamError
) -> Upstream:
    """``up`` without the part of the history ``err`` refused (``WireSpec.strip_refused``; a one-off retry)."""
    body = orjson.loads(up.body)
    if not isinstance(body, dict) or not strip(err.upstream_status, err.message, body):
        return up
    room = _unraised(body, up.thinking_room)
    return replace(up, body=dumps_body(body), thinking_room=room)


def _unraised(body: dict[str, Any], room: int) -> int:
    """``room`` (tokens the translator added to ``max_tokens`` for its thinking) taken off ``body["max_tokens"]``
    when the ``thinking`` is gone from ``body`` (a strip dropped it); returns the room still in the body (0 then).
    The raise follows the thinking actually sent (s29 fix29)."""
    if room and "thinking" not in body and isinstance(body.get("max_tokens"), int):
        body["max_tokens"] -= room
        return 0
    return room


def _json_object(body: bytes) -> bool:
    """A provider's error body can go back as it came only when it is JSON (an HTML page from a proxy in
    front of the provider must not reach a client labelled application/json)."""
    try:
        return isinstance(orjson.loads(body), dict)
    except orjson.JSONDecodeError:
        return False


def _usage_of(
    rule_for: Callable[[str], Callable[[ir.Usage], ir.Usage]],
    model: str,
    read: Callable[[dict[str, Any]], ir.Usage],
    answer: dict[str, Any],
) -> ir.Usage:
    """A passthrough plain ``answer``'s usage: the wire's reader (``Wire.usage``), then the provider's
    convention for ``model`` (``Provider.usage_rule``). Called with the event's build (``Attempt.read_usage``)."""
    return rule_for(model)(read(answer))


def _last_cut(call: Call) -> tuple[Attempt, CutAnswer] | None:
    """The last attempt whose answer was cut (``CutAnswer``) and that attempt, else None (``Proxy.serve``)."""
    for att in reversed(call.attempts):
        if isinstance(att.error, CutAnswer):
            return att, att.error
    return None


def _cut_stream(
    pair: Pairing, view: View, completion: ir.Completion, told: ir.StreamError, opening: Opening | None
) -> bytes:
    """A whole answer cut by the server as the client's stream (``CutAnswer.render``): its content, its usage, then
    ``told`` (the cut) where its finish would be, as a stream cut after its first token ends (an in-stream error);
    after ``opening`` when an earlier route began the stream."""
    encoder = pair.client.encoder(view)
    if opening is not None:
        encoder.opened(opening)
    deltas = completion_deltas(completion)
    deltas[-1] = told  # the finish
    return b"".join(encoder.feed(d) for d in deltas) + encoder.finish()
