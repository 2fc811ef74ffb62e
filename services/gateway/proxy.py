"""Serving one generation request: try the routes in order, relay or translate, fill in the event.

The handler parses the request into a ``Call``; ``Proxy.serve`` walks the candidate routes. Each
attempt either returns a response to the client or raises ``UpstreamError``; a retryable error moves
on to the next route. A stream commits to a route only when the upstream's first chunk has arrived,
so failures before then can still fall back; after that, a failure becomes an in-stream error event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from services.gateway.dialects import anthropic as anth
from services.gateway.dialects import ir
from services.gateway.dialects import openai_chat as oai
from services.gateway.dialects import translate_request as tr
from services.gateway.errors import (
    ClientError,
    UpstreamError,
    client_status,
    error_body,
    parse_upstream_error,
)
from services.gateway.providers.base import Operation, Provider, Route
from services.gateway.relay import Relay, make_relay
from services.gateway.routing.health import ProviderHealth, is_retryable, retry_after_seconds
from shared.events import FailedAttempt, UsageEvent
from shared.pricing import Pricer
from shared.settings import Settings

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class Call:
    """One client request, parsed."""

    fmt: str  # client format: "openai_chat" | "anthropic"
    body: dict[str, Any]
    raw: bytes
    model: str
    stream: bool
    include_usage: bool
    headers: Mapping[str, str]
    event: UsageEvent
    t0: float  # time.monotonic() at arrival


@dataclass
class Upstream:
    """An outgoing request to one provider."""

    provider: Provider
    route: Route
    url: str
    headers: dict[str, str]
    body: bytes
    translated: bool
    tool_names: dict[str, str]


class Proxy:
    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        providers: dict[str, Provider],
        pricer: Pricer,
        health: ProviderHealth,
    ) -> None:
        self.settings = settings
        self.session = session
        self.providers = providers
        self.pricer = pricer
        self.health = health

    async def serve(self, request: web.Request, call: Call, routes: list[Route]) -> web.StreamResponse:
        """Try ``routes`` best first until one answers; the rules are in docs/catalog.md ("Fallback").

        A provider that is cooling down (open breaker, or its own Retry-After) is skipped. When all
        that remain are, the request waits for the soonest one if that fits in RETRY_AFTER_MAX_WAIT
        (in total); a route that answered 429 with a Retry-After that short goes back in line. At most
        MAX_ATTEMPTS upstream attempts. A request nothing served gets the last real error, or, when no
        provider could even be tried, a 429/503 that says when to retry.
        """
        pending = list(routes)
        last: UpstreamError | None = None
        waited = 0.0
        while pending and call.event.attempts < self.settings.max_attempts:
            route = next((r for r in pending if self.health.acquire(r.provider)), None)
            if route is None:
                delay = max(0.001, min(self.health.wait_time(r.provider) for r in pending))
                if waited + delay > self.settings.retry_after_max_wait_s:
                    break
                waited += delay
                await asyncio.sleep(delay)
                continue
            pending.remove(route)
            outcome = await self._try_route(request, call, route)
            if not isinstance(outcome, UpstreamError):
                return outcome
            last = outcome
            if not outcome.retryable:
                break
            if outcome.retry_after_s is not None and outcome.retry_after_s <= self.settings.retry_after_max_wait_s:
                pending.append(route)  # worth another try once its Retry-After is over
        return self._upstream_error_response(call, last or self._unavailable(routes))

    # ---- one attempt ------------------------------------------------------------------------------

    async def _attempt(self, request: web.Request, call: Call, provider: Provider, route: Route) -> web.StreamResponse:
        up = self._build(call, provider, route)
        call.event.translated = up.translated
        resp = await self._send(up)
        try:
            if resp.status >= 400:
                raise await self._error_from(resp, provider)
            if call.stream:
                return await self._relay_stream(request, call, up, resp)
            return await self._relay_json(call, up, resp)
        finally:
            resp.release()

    def _build(self, call: Call, provider: Provider, route: Route) -> Upstream:
        op: Operation = "messages" if provider.wire == "anthropic" else "chat"
        translated = provider.wire != call.fmt
        tool_names: dict[str, str] = {}
        if translated:
            target = provider.target(route.model)
            try:
                if provider.wire == "anthropic":
                    result = tr.chat_to_anthropic(call.body, target)
                else:
                    result = tr.anthropic_to_chat(call.body, target)
            except tr.TranslationError as exc:
                raise ClientError(400, str(exc), param=exc.param) from exc
            body = result.body
            tool_names = result.tool_names
            provider.prepare(body, call.stream)
            raw = orjson.dumps(body)
        elif route.model != call.model or call.fmt == "openai_chat":
            # Same format: the body goes upstream unchanged unless a change is needed.
            body = dict(call.body)
            changed = route.model != call.model
            body["model"] = route.model
            changed = provider.prepare(body, call.stream) or changed
            raw = orjson.dumps(body) if changed else call.raw
        else:
            raw = call.raw
        return Upstream(provider, route, provider.url(op), provider.headers(call.headers), raw, translated, tool_names)

    async def _send(self, up: Upstream) -> aiohttp.ClientResponse:
        name = up.provider.name
        try:
            async with asyncio.timeout(self.settings.first_byte_timeout_s):
                return await self.session.post(up.url, data=up.body, headers=up.headers)
        except TimeoutError as exc:
            raise UpstreamError(None, f"{name}: no response within {self.settings.first_byte_timeout_s:g}s",
                                provider=name, retryable=True, error_type="timeout") from exc
        except aiohttp.ClientError as exc:
            message = up.provider.scrub(f"{name}: {type(exc).__name__}: {exc}")
            raise UpstreamError(None, message, provider=name, retryable=True, error_type="connection_error") from exc

    async def _error_from(self, resp: aiohttp.ClientResponse, provider: Provider) -> UpstreamError:
        try:
            async with asyncio.timeout(self.settings.chunk_timeout_s):
                body = await resp.content.read(1 << 20)
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
            retry_after_s=retry_after_seconds(resp.headers),
        )

    # ---- answers ----------------------------------------------------------------------------------

    async def _relay_json(self, call: Call, up: Upstream, resp: aiohttp.ClientResponse) -> web.Response:
        raw = await self._read_all(resp, up.provider.name)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(502, f"{up.provider.name}: invalid JSON from provider", provider=up.provider.name,
                                retryable=True, error_type="bad_response") from exc
        if not isinstance(data, dict):
            raise UpstreamError(502, f"{up.provider.name}: the provider's answer is not a JSON object",
                                provider=up.provider.name, retryable=True, error_type="bad_response")
        model = data.get("model")
        call.event.served_model = model if isinstance(model, str) and model else None
        if not up.translated:  # same format: the bytes go back as they came; only usage is read
            usage = found if isinstance(found := data.get("usage"), dict) else {}
            from_wire = anth.usage_from_anthropic if up.provider.wire == "anthropic" else oai.usage_from_openai
            self._account(call, up, from_wire(usage))
        else:
            if up.provider.wire == "anthropic":
                completion = anth.completion_from_messages(data)
            else:
                completion = oai.completion_from_chat(data)
            self._account(call, up, completion.usage)
            if not wants_reasoning(call):
                completion.content = [b for b in completion.content if not isinstance(b, ir.ThinkingBlock)]
            if call.fmt == "anthropic":
                out = anth.messages_from_completion(completion, call.model, up.tool_names)
            else:
                out = oai.chat_from_completion(completion, call.model, up.tool_names)
            raw = orjson.dumps(out)
        call.event.status = 200
        return web.Response(body=raw, status=200, content_type="application/json", headers=self._headers(call))

    async def _read_all(self, resp: aiohttp.ClientResponse, name: str) -> bytes:
        try:
            async with asyncio.timeout(self.settings.chunk_timeout_s):
                return await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamError(None, f"{name}: response broke off: {type(exc).__name__}", provider=name,
                                retryable=True, error_type="broken_response") from exc

    async def _relay_stream(
        self, request: web.Request, call: Call, up: Upstream, resp: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        relay = make_relay(call.fmt, up.provider.wire, call.model, call.include_usage, up.tool_names,
                           reasoning=wants_reasoning(call))
        chunks = self._chunks(resp)
        pending = await self._until_committed(relay, chunks, up.provider.name)
        response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **self._headers(call)})
        call.event.status = 200
        try:
            await response.prepare(request)
            await self._pump(call, relay, response, pending, chunks, up.provider.name)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            call.event.client_disconnected = True
            call.event.status = 499
            call.event.error_type = "client_disconnected"
        finally:
            self._account(call, up, relay.usage or ir.Usage())
            call.event.served_model = relay.decoder.model
            if relay.error is not None and call.event.error_type is None:
                call.event.status = relay.error.status
                call.event.error_type = relay.error.type
        return response

    async def _until_committed(self, relay: Relay, chunks: AsyncIterator[bytes], name: str) -> bytes:
        """Read the upstream stream until its first token (or finish, or error), keeping the output.

        Until then nothing has reached the client, so a failure can still fall back to another route:
        a broken connection, a timeout, an empty stream, an in-stream error before any content.
        """
        out: list[bytes] = []
        try:
            async with asyncio.timeout(self.settings.first_byte_timeout_s):
                while not relay.started:
                    chunk = await anext(chunks, None)
                    if chunk is None:
                        break
                    out.append(relay.feed(chunk))
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise UpstreamError(None, f"{name}: stream broke before its first token ({type(exc).__name__})",
                                provider=name, retryable=True, error_type="broken_stream") from exc
        if relay.error is not None and not relay.saw_content:
            err = relay.error
            raise UpstreamError(err.status, f"{name}: {err.message}", provider=name,
                                retryable=is_retryable(err.status), error_type=err.type)
        if not relay.started and not relay.complete:
            raise UpstreamError(502, f"{name}: stream ended before its first token", provider=name,
                                retryable=True, error_type="empty_stream")
        return b"".join(out)

    async def _pump(self, call: Call, relay: Relay, response: web.StreamResponse, first: bytes,
                    chunks: AsyncIterator[bytes], name: str) -> None:
        if relay.saw_content:
            call.event.ttft_ms = (time.monotonic() - call.t0) * 1000
        if first:
            await response.write(first)
        try:
            while True:
                async with asyncio.timeout(self.settings.chunk_timeout_s):
                    chunk = await anext(chunks, None)
                if chunk is None:
                    break
                await self._write(call, relay, response, chunk)
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                aiohttp.ClientOSError) as exc:
            await response.write(relay.fail(502, f"{name}: upstream stream broke off ({type(exc).__name__})"))
            return
        tail = relay.finish()
        if not relay.complete and relay.error is None:
            tail += relay.fail(502, f"{name}: upstream stream ended early")
        if tail:
            await response.write(tail)
        await response.write_eof()

    async def _write(self, call: Call, relay: Relay, response: web.StreamResponse, chunk: bytes) -> None:
        out = relay.feed(chunk)
        if relay.saw_content and call.event.ttft_ms is None:
            call.event.ttft_ms = (time.monotonic() - call.t0) * 1000
        if out:
            await response.write(out)

    @staticmethod
    async def _chunks(resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        async for chunk in resp.content.iter_any():
            yield chunk

    def _account(self, call: Call, up: Upstream, usage: ir.Usage) -> None:
        ev = call.event
        ev.input_tokens = usage.input_tokens
        ev.output_tokens = usage.output_tokens
        ev.cache_read_tokens = usage.cache_read_tokens
        ev.cache_write_tokens = usage.cache_write_tokens
        ev.reasoning_tokens = usage.reasoning_tokens
        if usage.provider_cost_usd is not None:
            ev.cost_usd = usage.provider_cost_usd
        else:
            ev.cost_usd = self.pricer.cost(up.provider.name, up.route.model, usage.input_tokens,
                                           usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)

    def _headers(self, call: Call) -> dict[str, str]:
        return {
            "x-ekai-provider": call.event.provider or "",
            "x-ekai-attempts": str(call.event.attempts),
            "x-request-id": call.event.request_id,
            "request-id": call.event.request_id,
        }

    def _upstream_error_response(self, call: Call, exc: UpstreamError) -> web.Response:
        status = exc.upstream_status or 502
        call.event.error_type = exc.error_type
        headers = self._headers(call)
        if exc.retry_after_s is not None:
            headers["retry-after"] = str(max(1, round(exc.retry_after_s)))
        provider = self.providers.get(exc.provider)
        if exc.upstream_status is not None and exc.body and provider is not None and provider.wire == call.fmt:
            call.event.status = status
            return web.Response(body=exc.body, status=status, content_type="application/json", headers=headers)
        status = client_status(call.fmt, status)
        call.event.status = status
        body = error_body(call.fmt, status, exc.message, code=exc.upstream_type, request_id=call.event.request_id)
        return web.Response(body=orjson.dumps(body), status=status, content_type="application/json", headers=headers)

    # ---- routing helpers (serve) ------------------------------------------------------------------

    async def _try_route(self, request: web.Request, call: Call, route: Route) -> web.StreamResponse | UpstreamError:
        """One attempt on ``route``: the answer, or the error that ended it (already reported to the
        provider's health and recorded as a failed attempt)."""
        provider = self.providers[route.provider]
        call.event.attempts += 1
        call.event.provider = provider.name
        call.event.provider_format = provider.wire
        if route.price_source == "catalog" and route.rates is not None:
            # The catalog file's price is the one this request is charged at in the ledger.
            self.pricer.set_override(route.provider, route.model, route.rates)
        try:
            response = await self._attempt(request, call, provider, route)
        except UpstreamError as exc:
            self.health.record_failure(provider.name, exc.upstream_status, exc.retry_after_s, exc.error_type)
            call.event.failed_attempts.append(
                FailedAttempt(provider.name, exc.upstream_status, exc.error_type, exc.message[:300])
            )
            return exc
        except BaseException:
            self.health.release(provider.name)  # cancelled, or the request itself was at fault
            raise
        if call.event.status >= 500:
            # The stream broke after its first byte: too late to fall back, but the provider failed.
            self.health.record_failure(provider.name, call.event.status, None, call.event.error_type)
        else:
            self.health.record_success(provider.name)
        return response

    def _unavailable(self, routes: list[Route]) -> UpstreamError:
        """No candidate could be tried: all are cooling down. 429 if all said Retry-After, else 503."""
        names = list(dict.fromkeys(r.provider for r in routes))
        if not names:
            return UpstreamError(503, "no provider can serve this request", provider="", retryable=True,
                                 error_type="providers_unavailable")
        waits = {name: self.health.wait_time(name) for name in names}
        limited = all(self.health.rate_limited(name) for name in names)
        detail = ", ".join(f"{name} for {wait:.1f}s" for name, wait in waits.items())
        return UpstreamError(
            429 if limited else 503,
            f"no provider can take this request now; cooling down: {detail}",
            provider=names[0],
            retryable=True,
            error_type="rate_limit_error" if limited else "providers_unavailable",
            retry_after_s=min(waits.values()),
        )


def wants_reasoning(call: Call) -> bool:
    """Reasoning text goes back to OpenAI clients (as reasoning_content) and to Anthropic clients that
    asked for thinking; an Anthropic client that did not ask must not receive thinking blocks."""
    if call.fmt != "anthropic":
        return True
    thinking = call.body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")
