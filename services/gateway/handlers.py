"""HTTP endpoints: parse, route, hand to the proxy; one usage event per generation request."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from services.gateway import auth, context, hangup, keys, metrics, status, workers
from services.gateway.calls import Call, event_for
from services.gateway.dialects import registry
from services.gateway.dialects._request_common import TranslationError
from services.gateway.dialects.formats import ClientFormat
from services.gateway.dialects.registry import Endpoint
from services.gateway.errors import ClientError, GatewayError
from services.gateway.routing.catalog import UnknownModel

log = logging.getLogger("gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WORKER_SCOPE = (
    "one of several workers on this port (GATEWAY_WORKERS): status, providers' breaker state, the recorder "
    "connection and events are this worker's own (events piling up: summed over the live workers); "
    "events_all_workers sums the live workers; /metrics covers every worker"
)


def json_error(
    fmt: ClientFormat,
    status: int,
    message: str,
    *,
    request_id: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> web.Response:
    body = registry.error_response_body(fmt, status, message, code=code, param=param, request_id=request_id)
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def read_json(request: web.Request) -> tuple[dict[str, Any], bytes]:
    timeout_s = 0.0
    try:
        if request.content.is_eof():  # the whole body came with the headers: no timer to set
            raw = await request.read()
        else:
            timeout_s = request.app[keys.STATE].settings.client_body_timeout_s
            async with asyncio.timeout(timeout_s):
                raw = await request.read()
    # the client hung up while sending it: aiohttp's connection_lost sets this error on the body
    except ConnectionResetError as exc:
        raise ClientError(499, "client closed request", code="client_disconnected") from exc
    except TimeoutError as exc:  # a client that trickles its body does not hold a connection forever
        raise ClientError(
            408,
            f"request body not received within {timeout_s:g}s (CLIENT_BODY_TIMEOUT)",
            code="request_timeout",
        ) from exc
    except web.HTTPRequestEntityTooLarge as exc:
        raise ClientError(
            413,
            f"request body is too large (the limit is {request.client_max_size} bytes)",
            code="request_too_large",
        ) from exc
    except RequestPayloadError as exc:  # the body is not what its Content-Encoding says (gzip, deflate)
        # aiohttp's lingering read of an unread body would meet the same error again after the answer
        # ("Unhandled exception" in the log): the body is done with, and the connection closes after the
        # answer (what follows the broken body on it cannot be trusted).
        request.content.feed_eof()
        request.protocol.close()
        encoding = request.headers.get("Content-Encoding", "")
        raise ClientError(
            400,
            f"request body could not be decoded as its Content-Encoding ({encoding!r}) says",
            closes_connection=True,  # so the client does not send its next request on it
        ) from exc
    if not raw:
        raise ClientError(400, "request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ClientError(400, "request body must be a JSON object")
    return body, raw


def generation_handler(endpoint: Endpoint, guarded: bool = True) -> Handler:
    """The handler of one generation endpoint (chat completions, messages, responses, …): ``generate``
    with the endpoint bound (a partial, not a wrapping coroutine: one frame fewer to resume per await).
    ``guarded``: requests need a gateway key (``auth.check``; False when the gateway has no keys)."""
    return functools.partial(generate, endpoint=endpoint, guarded=guarded)


async def generate(request: web.Request, endpoint: Endpoint, guarded: bool = True) -> web.StreamResponse:
    """Parse with the endpoint's client format, route, serve; publish one event whatever happens.

    Runs in the request context itself (``context.in_context``'s steps inline: the hot path has no
    wrapping coroutine)."""
    rid = context.request_id(request)
    try:
        if guarded and (refusal := auth.check(request)) is not None:
            return context.stamped(refusal, rid)
        state = request.app[keys.STATE]
        # the app's loop, kept: ``asyncio.get_running_loop()`` checks the pid, a system call a request on
        # CPython 3.11 (issue 13, session 31); used by the hang-up watch and the event's ``call_soon``
        loop = state.loop
        spec = registry.client(endpoint.format)
        call = Call(
            endpoint,
            rid,
            request.headers,
            time.monotonic(),
            time.time(),
            api_key_name=auth.key_name(request) if guarded else None,
            attribution_pending=True,  # read from the headers with the event (``row_for``), off the path
        )
        watched = False
        publisher = state.publisher
        publisher.requests_open += 1  # its batch builds ahead while one request is open (loop_waits)
        try:
            call.body, call.raw = await read_json(request)
            call.model = m if isinstance(m := call.body.get("model"), str) else ""
            try:
                parsed = (endpoint.parse or spec.parse)(call.body)
            except TranslationError as exc:
                raise ClientError(400, str(exc), param=exc.param) from exc
            call.stream, call.include_usage, call.reasoning = (
                parsed.stream,
                parsed.include_usage,
                parsed.reasoning,
            )
            if guarded:  # 403 outside the key's models, 429 past its budget or rate limits
                auth.admit(request, call)
            routes = state.catalog.routes(parsed.model, request.headers.get("x-ekai-provider") or None)
            # a stream sees a hang-up when it writes; a plain answer is watched for one (hangup.py)
            watched = not call.stream and hangup.watch(request, loop)
            try:  # the proxy's every answer carries the request id already (Proxy._headers): no stamping
                return await state.proxy.serve(request, call, routes)
            finally:
                if watched:
                    hangup.unwatch(request)
        except asyncio.CancelledError:
            if not watched or not hangup.hung_up(request):
                raise  # not the client's hang-up (a shutdown): not ours to answer
            hangup.answered(call)
            response = json_error(call.fmt, 499, "client closed request", request_id=rid)
        except UnknownModel as exc:
            call.answer(404, "model_not_found")
            response = json_error(
                call.fmt,
                404,
                exc.message(),
                request_id=rid,
                code="model_not_found",
                param="model",
            )
        except GatewayError as exc:
            call.answer(exc.status, exc.error_type)
            response = json_error(
                call.fmt, exc.status, exc.message, request_id=rid, code=exc.code, param=exc.param
            )
            if exc.closes_connection:
                response.force_close()
        finally:
            publisher.requests_open -= 1
            # An exception that escapes leaves call.status 0: the event says 500, the client gets one below.
            latency_ms = (time.monotonic() - call.t0) * 1000
            loop.call_soon(record, request, call, time.time(), latency_ms, state)
    except Exception as exc:
        response = context.escaped(request, exc, rid)
    return context.stamped(response, rid)


def record(
    request: web.Request,
    call: Call,
    finished_at: float,
    latency_ms: float,
    state: keys.GatewayState | None = None,
) -> None:
    """Publish and count the call's event (``event_for``, the publisher, ``auth.settle``).

    ``generate`` schedules this with ``call_soon`` from its ``finally``: a whole answer that the handler
    returns is written by aiohttp after the handler, in the same step of the task, and the callback runs
    at the loop's next turn, so the event costs the client no latency. Nothing that the answer leads to
    can see the call unrecorded (a client's next request, an in-process test reading the events): the
    answer's bytes reach anyone only after that write, and a task woken by I/O is scheduled behind this
    callback.
    The event itself is built with its batch (``publish_later``: warm, issue 13), except when the call's
    gateway key has a budget or rate limits (``auth.settles``): its next request is checked against this
    one's cost, so that event is built and settled here. Whatever reads the event's effects otherwise
    (the ledger, ``/metrics``, ``/health``'s events held, the recorder's ``tail``) reads them after the
    batch is built: the recorder gets it with its batch, as before; a scrape builds what waits first.
    ``state``: the app's ``GatewayState`` (``generate`` passes it; looked up from the request otherwise).
    Never raises (a bug here must not reach the loop as an unhandled error without a trace).
    """
    if state is None:
        state = request.app[keys.STATE]
    try:
        key = call.api_key_name
        if key is None or not auth.settles(request, key):  # nothing to settle now: it waits for its batch
            state.publisher.publish_later((call, state.pricer, finished_at, latency_ms))
            return
        event = event_for(call, state.pricer, finished_at, latency_ms)
        state.publisher.publish(event)
        auth.settle(request, event)
    except Exception:
        log.exception("could not record request %s", call.request_id)


async def responses_get(request: web.Request) -> web.Response:
    """``GET /v1/responses``: Codex's built-in OpenAI provider first tries a WebSocket here. 426 makes it
    fall back to HTTP at once (a 404 fails the turn; a 405 or 501 costs it several retries first), per
    ``client-protocols.md`` (Codex). A plain GET is a method the endpoint does not have."""
    fmt = registry.format_for_path(request.path)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        message = (
            "WebSocket transport is not supported by this gateway; use POST /v1/responses with stream: true"
        )
        response = json_error(fmt, 426, message, request_id=request[keys.REQUEST_ID], code="upgrade_required")
        response.headers["Connection"] = "close"
        return response
    return json_error(
        fmt, 405, "method GET is not allowed on /v1/responses; use POST", request_id=request[keys.REQUEST_ID]
    )


async def health(request: web.Request) -> web.Response:
    """GET /health: ``status`` (ok, degraded, unavailable) and its ``reasons`` (``status.py``: 200 for ok
    and degraded, 503 with ``retry-after`` when every configured provider is cooling down), version,
    providers (breaker state), ``recorder`` (connected), events held for the recorder. A worker
    (GATEWAY_WORKERS > 1) also gives ``worker`` (index, of, pid, scope) and ``events_all_workers``; its
    verdict is its own, plus ``events_piling_up`` judged on the sum over the live workers."""
    state = request.app[keys.STATE]
    breakers = state.health.snapshot()
    providers = {
        name: {
            "configured": p.configured,
            "base_url": p.base_url,
            "wires": list(p.wires),
            **breakers.get(name, {}),
        }
        for name, p in state.providers.items()
    }
    configured = [name for name, p in state.providers.items() if p.configured]
    publisher = state.publisher
    events = publisher.stats()
    worker = request.app.get(workers.WORKER)
    everyone = request.app[metrics.METRICS].events_all_workers() if worker is not None else None
    verdict = status.assess(
        configured,
        {name: breakers.get(name, {}) for name in configured},
        {name: state.health.wait_time(name) for name in configured},
        status.EventsState(
            publisher.recorder_connected,
            # several workers: held over all of them, against all their room
            everyone["queued"] if everyone else events["queued"],
            events["max_queued"] * (worker.count if everyone and worker else 1),
            events["dropped"],
            publisher.since_drop_s(),
        ),
    )
    body: dict[str, object] = {
        **verdict.as_json(),
        "version": state.version,
        "providers": providers,
        "recorder": {"connected": publisher.recorder_connected},
        "events": events,
    }
    if worker is not None:
        body["worker"] = {
            "index": worker.index,
            "of": worker.count,
            "pid": worker.pid,
            "scope": WORKER_SCOPE,
        }
        body["events_all_workers"] = everyone
    response = web.json_response(body, status=verdict.http_status, dumps=lambda o: orjson.dumps(o).decode())
    if verdict.retry_after_s is not None:
        response.headers["retry-after"] = str(verdict.retry_after_s)
    return response


async def root(request: web.Request) -> web.Response:
    """HEAD / (Claude Code's preflight) and GET /."""
    return web.json_response({"name": "ekai-gateway", "status": "ok"})
