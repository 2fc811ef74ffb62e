"""The gateway's aiohttp application: routes (each in the request context, ``context.py``; no middleware)
and the lifecycle of its shared resources."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import metadata

import orjson
from aiohttp import web, web_protocol, web_server
from aiohttp.http_exceptions import LineTooLong

from services.gateway import auth, handlers, hangup, keys, metrics, models_api, stored_responses, waiting
from services.gateway.calls import event_for
from services.gateway.context import UNROUTED_PATH, contextual, unrouted
from services.gateway.dialects import registry
from services.gateway.providers.registry import build_providers
from services.gateway.proxy import Proxy
from services.gateway.publisher import EventPublisher
from services.gateway.routing.catalog import Catalog
from services.gateway.routing.health import ProviderHealth
from services.gateway.serve import Limits
from services.gateway.upstream import UpstreamClient
from services.gateway.upstream_pool import UpstreamPool, default_ssl_context
from shared.pricing import Pricer
from shared.settings import Settings

log = logging.getLogger("gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _version() -> str:
    try:
        return metadata.version("ekai-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0"


class _RequestHandler(web_protocol.RequestHandler):
    """aiohttp's connection handler. It tells a non-streamed request's handler that its client hung up
    (``hangup.lost``), and answers an HTTP message it cannot parse (a header over
    ``max_field_size``, a broken request line, a bad chunked body) with a JSON error in the default client
    shape instead of a text/plain page that quotes the offending bytes (which may be a credential). The log
    gets one line naming the error's kind, never the bytes, and no traceback."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        too_long = isinstance(exc, LineTooLong)
        status = 431 if too_long else status
        text = "request line or header too large" if too_long else "malformed HTTP request"
        log.warning("%d %s from %s (%s)", status, text, request.remote, type(exc).__name__)
        body = registry.error_response_body(registry.DEFAULT_FORMAT, status, text)
        response = web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
        response.force_close()
        return response

    def connection_lost(self, exc: BaseException | None) -> None:
        # The request being handled when the client's connection closed (aiohttp's own attribute, which
        # its connection_lost clears; read defensively, as a private attribute): a non-streamed answer
        # awaited for it is cancelled (hangup.py).
        request: web.BaseRequest | None = getattr(self, "_current_request", None)
        super().connection_lost(exc)
        if request is not None:
            hangup.lost(request)


def install_http_error_answer() -> None:
    """Make aiohttp's server build its connections with ``_RequestHandler`` (``python -m services.gateway``)."""
    web_server.RequestHandler = _RequestHandler  # type: ignore[attr-defined]


# Allocations (minus deallocations) of tracked objects between two young collections. CPython's 700 is
# reached by the objects merely alive in flight (32 requests' parsed bodies, responses, futures), so each
# young collection found little garbage, promoted live request objects, and the promotions fed the full
# collections (measured: 1 young collection per ~16 requests, 30-60 us of CPU per request). At 7,000
# the in-flight peak stays below it: what refcounting frees never triggers a collection, and cyclic
# garbage (up to 7,000 objects, a few hundred KB) still does.
GC_YOUNG_THRESHOLD = 7000


async def gc_after_startup(app: web.Application) -> None:
    """An ``on_startup`` hook for the serving process (``__main__``), appended after the app's resources.

    Collect once, then move every object alive after start-up (modules, catalog, prices, the app: about
    130k) to the collector's permanent generation (``gc.freeze``; Python docs, "gc.freeze": so that full
    collections do not scan them), and raise the young generation's threshold to ``GC_YOUNG_THRESHOLD``
    (older generations keep CPython's 10 and 10). Measured (issue 13, anthropic plain at 32 connections):
    a full collection of the unfrozen heap cost 133 ms of CPU and came every ~2,000 requests, a pause
    for every request in flight; frozen it costs 1.5 ms."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)
    log.debug("start-up objects frozen: %d", gc.get_freeze_count())


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    auth.install(app, settings)  # gateway keys, budgets, rate limits; refuses an open door beyond loopback

    # Built before the server starts, so a bad catalog file stops the gateway with a clear message.
    providers = build_providers(settings)
    pricer = Pricer()
    catalog = Catalog(providers, pricer, settings)
    health = ProviderHealth.from_settings(settings)
    app[metrics.METRICS] = gateway_metrics = metrics.GatewayMetrics(
        health, [name for name, p in providers.items() if p.configured]
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        # pooled HTTP/1.1 to the providers (services/gateway/upstream_pool.py: aiohttp's protocol and parser
        # without its client session's per-request machinery); TLS context made here, before serving
        publisher = EventPublisher(
            settings.events_endpoint,
            settings.event_queue_max,
            ack_timeout_s=settings.event_ack_timeout_s,
            metrics=gateway_metrics,
            build=event_for,  # handlers.record's facts: (call, pricer, finished_at, latency_ms); built as
            # rows by the batch (event_for.as_row)
            wait_hints=True,  # the pool's on_written below: a due batch goes while a request waits upstream
        )
        loop_waits = publisher.loop_waits

        def written(upstream: asyncio.BaseTransport) -> None:
            """A request is written and the loop is about to wait for its answer: first what the request left
            for its own wait (its stream's relay: ``waiting``), then the publisher's work (``loop_waits``)."""
            waiting.run_left()
            loop_waits(upstream)

        session = UpstreamPool(
            settings.connect_timeout_s,
            keepalive_s=30,
            dns_ttl_s=300,
            ssl_context=default_ssl_context(),
            on_written=written,
        )
        gateway_metrics.before_scrape = publisher.build_waiting  # a scrape counts every finished request
        publisher.start()
        refresh = (
            asyncio.ensure_future(gateway_metrics.run_breaker_refresh())
            if gateway_metrics.multiprocess
            else None
        )
        upstream = UpstreamClient(
            session,
            settings.first_byte_timeout_s,
            settings.chunk_timeout_s,
            settings.stream_keepalive_s,
            on_sent_again=gateway_metrics.count_sent_again,
            max_answer_bytes=settings.max_answer_bytes,
        )
        limits = Limits(settings.max_attempts, settings.retry_after_max_wait_s)
        proxy = Proxy(upstream, providers, health, limits)
        app[keys.STATE] = keys.GatewayState(
            settings,
            _version(),
            providers,
            catalog,
            health,
            publisher,
            proxy,
            pricer,
            upstream,
            asyncio.get_running_loop(),
        )
        configured = [p.name for p in providers.values() if p.configured]
        # not yet listening: that is logged once the socket listens (workers.listening)
        log.info(
            "gateway starting; providers configured: %s; events -> %s",
            ", ".join(configured) or "none",
            settings.events_endpoint,
        )
        yield
        # Shutdown: the server stopped accepting and gave in-flight requests SHUTDOWN_GRACE to finish
        # (__main__'s shutdown_timeout); now their events get SHUTDOWN_ACK_WAIT to be acknowledged.
        if refresh is not None:
            refresh.cancel()
        await session.close()
        await publisher.close(settings.shutdown_ack_wait_s)
        gateway_metrics.close()

    async def announce_drain(app: web.Application) -> None:
        # Runs when shutdown begins, before in-flight requests are waited for: the recorder then waits
        # for this gateway's last events before it exits itself.
        if keys.STATE in app:
            app[keys.STATE].publisher.announce_drain()

    app.cleanup_ctx.append(resources)
    app.on_shutdown.append(announce_drain)
    guarded = app[auth.GUARD].checks
    for path, endpoint in registry.ENDPOINTS.items():  # generate runs in the request context itself
        app.router.add_post(path, handlers.generation_handler(endpoint, guarded))
    app.router.add_post("/v1/messages/count_tokens", contextual(models_api.count_tokens))
    app.router.add_get("/v1/models", contextual(models_api.list_models))
    app.router.add_get("/v1/models/{model_id:.+}", contextual(models_api.get_model))
    app.router.add_get("/v1/responses", contextual(handlers.responses_get))
    # retrieve, delete, cancel, input_items: forwarded to the provider that stored the response
    for stored in stored_responses.CALLS:
        app.router.add_route(stored.method, stored.path, contextual(stored_responses.handler(stored)))
    app.router.add_get("/health", contextual(handlers.health))
    app.router.add_get("/metrics", contextual(metrics.handle))
    app.router.add_get("/", contextual(handlers.root))
    _mount_usage(app, settings)
    app.router.add_route("*", UNROUTED_PATH, contextual(unrouted))  # last: what no route above takes
    return app


def _mount_usage(app: web.Application, settings: Settings) -> None:
    try:
        from services.gateway.usage_api import setup_usage_routes
        from shared.ledger.engine import ledger_of
    except ImportError as exc:  # said in the log and at /usage, never a silent 404
        log.error("/usage is unavailable: %s", exc)
        reason = f"/usage is unavailable: {exc}"

        async def unavailable(request: web.Request) -> web.Response:
            fmt = registry.format_for_path(request.path)
            return handlers.json_error(fmt, 503, reason, request_id=request[keys.REQUEST_ID])

        app.router.add_get("/usage", contextual(unavailable))
        return
    setup_usage_routes(app, ledger_of(settings), contextual)
