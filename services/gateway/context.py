"""The request context every route runs in: a request id on every answer, the gateway key checked
(``auth.check``), every error in the client's own format.

Route-level rather than an aiohttp middleware: with any middleware at all, aiohttp adds one of its own
(the current-app fix), and the two are two more coroutine frames resumed at every await of every
request. Routes are wrapped with ``contextual``; ``handlers.generate`` (the hot path) does the same
steps inline; ``unrouted`` is the last route and answers what no other route takes (404, 405).
"""

from __future__ import annotations

import functools
import logging
import os
import random
import re
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from services.gateway import auth, keys
from services.gateway.dialects import registry
from services.gateway.dialects.formats import ClientFormat

log = logging.getLogger("gateway")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNROUTED_PATH = "/{unrouted_path:[\\s\\S]*}"  # the catch-all route's path: any path at all


# new request ids' own generator (as ``shared.events``' event ids): an id must be unique, not secret, and
# this costs no ``getrandom`` system call on the request path (``os.urandom`` made one per request; session
# 13). Seeded from ``os.urandom`` at import and again in a forked child; no ``random.seed()`` elsewhere
# reaches it.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)
_random_bits = _rng.getrandbits


def request_id(request: web.Request) -> str:
    """The request's id, set as ``request[keys.REQUEST_ID]``: the caller's own ``x-request-id`` when it
    is short and plain (it ties their logs to ours), else a new ``req_`` + 32 hex digits (128 random bits
    from a private generator: ``_rng``)."""
    given = request.headers.get("x-request-id")
    rid = given if given and _SAFE_ID.fullmatch(given) else f"req_{_random_bits(128):032x}"
    request[keys.REQUEST_ID] = rid
    return rid


def stamped(response: web.StreamResponse, rid: str) -> web.StreamResponse:
    """``response`` with the request id in ``x-request-id`` and ``request-id`` (unless already sent)."""
    if not response.prepared:
        headers = response.headers
        headers["x-request-id"] = rid
        headers["request-id"] = rid
    return response


def error_response(fmt: ClientFormat, status: int, message: str, rid: str) -> web.Response:
    """A JSON error in client format ``fmt``."""
    body = registry.error_response_body(fmt, status, message, request_id=rid)
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def http_error(request: web.Request, exc: web.HTTPException, rid: str) -> web.Response:
    """The client's answer for an aiohttp ``HTTPException`` (status >= 400) raised by a handler."""
    meant = registry.path_meant(request.path) if exc.status == 404 else None
    hint = (
        f"; did you mean {meant}? (base URL: http://host:port/v1 for the OpenAI SDKs, http://host:port for"
        " Anthropic's, which adds /v1 itself)"
        if meant
        else ""
    )
    message = {
        404: f"no route for {request.method} {request.path}{hint}",
        405: f"method {request.method} is not allowed on {request.path}",
        413: "request body is too large",
    }.get(exc.status, exc.reason)
    return error_response(
        registry.format_for_request(request.path, request.headers), exc.status, message, rid
    )


def internal_error(request: web.Request, rid: str) -> web.Response:
    """The client's 500 for an exception a handler let escape; the log gets its traceback."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(
        registry.format_for_request(request.path, request.headers), 500, "internal gateway error", rid
    )


async def in_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run ``handler`` in the request context (see the module docstring)."""
    rid = request_id(request)
    try:
        refusal = auth.check(request)  # (not ``or``: a response is a mapping, falsy when empty)
        response = refusal if refusal is not None else await handler(request)
    except Exception as exc:
        response = escaped(request, exc, rid)
    return stamped(response, rid)


def escaped(request: web.Request, exc: Exception, rid: str) -> web.Response:
    """The client's answer for an exception a handler let escape (call it in the ``except`` block: the log
    gets the traceback): an aiohttp ``HTTPException`` of status >= 400 in the client's format
    (``http_error``), any other a 500 (``internal_error``); a redirect or other HTTPException < 400 is raised
    again, for aiohttp to answer."""
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return http_error(request, exc, rid)
    return internal_error(request, rid)


def contextual(handler: Handler) -> Handler:
    """``handler`` run in the request context (a partial: no wrapping coroutine of its own)."""
    return functools.partial(in_context, handler=handler)


async def unrouted(request: web.Request) -> web.StreamResponse:
    """The catch-all route: 405 when another route has this path (with other methods), else 404."""
    for resource in request.app.router.resources():
        if resource is request.match_info.route.resource:
            continue
        match, allowed = await resource.resolve(request)
        if match is None and allowed:
            raise web.HTTPMethodNotAllowed(request.method, sorted(allowed))
    raise web.HTTPNotFound()
