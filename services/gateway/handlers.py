"""HTTP endpoints: parse, route, hand to the proxy; one usage event per generation request."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from aiohttp import web

from services.gateway import keys
from services.gateway.errors import ClientError, GatewayError, error_body
from services.gateway.proxy import Call
from services.gateway.routing.catalog import UnknownModel
from shared.events import UsageEvent

log = logging.getLogger("gateway")


def client_format_for(path: str) -> str:
    return "anthropic" if path.startswith("/v1/messages") else "openai_chat"


def json_error(fmt: str, status: int, message: str, *, request_id: str | None = None,
               code: str | None = None, param: str | None = None) -> web.Response:
    body = error_body(fmt, status, message, code=code, param=param, request_id=request_id)
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


async def read_json(request: web.Request) -> tuple[dict[str, Any], bytes]:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise ClientError(413, f"request body is too large (the limit is {request.client_max_size} bytes)",
                          code="request_too_large") from exc
    if not raw:
        raise ClientError(400, "request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ClientError(400, f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise ClientError(400, "request body must be a JSON object")
    return body, raw


def _validate(fmt: str, body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ClientError(400, "`model` is required and must be a non-empty string", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ClientError(400, "`messages` is required and must be a non-empty array", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise ClientError(400, f"messages[{i}] must be an object with a string `role`", param=f"messages[{i}]")
    if "stream" in body and not isinstance(body["stream"], bool | None):
        raise ClientError(400, "`stream` must be a boolean", param="stream")
    if fmt == "anthropic":
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise ClientError(400, "max_tokens: Field required (a positive integer)", param="max_tokens")
    return model


async def generate(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions and POST /v1/messages."""
    state = request.app[keys.STATE]
    fmt = client_format_for(request.path)
    request_id = request[keys.REQUEST_ID]
    event = UsageEvent(request_id=request_id, endpoint=request.path, client_format=fmt, model="")
    t0 = time.monotonic()
    try:
        body, raw = await read_json(request)
        event.model = m if isinstance(m := body.get("model"), str) else ""
        model = _validate(fmt, body)
        stream = body.get("stream") is True
        event.streamed = stream
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        pin = request.headers.get("x-ekai-provider") or None
        routes = state.catalog.routes(model, pin)
        call = Call(fmt, body, raw, model, stream, include_usage, request.headers, event, t0)
        return await state.proxy.serve(request, call, routes)
    except UnknownModel as exc:
        available = ", ".join(exc.available[:50]) or "none (no provider is configured)"
        event.status, event.error_type = 404, "model_not_found"
        return json_error(fmt, 404, f"model {exc.model!r} is not available; available models: {available}",
                          request_id=request_id, code="model_not_found", param="model")
    except GatewayError as exc:
        event.status, event.error_type = exc.status, exc.error_type
        return json_error(fmt, exc.status, exc.message, request_id=request_id, code=exc.code, param=exc.param)
    finally:
        event.finished_at = time.time()
        event.latency_ms = (time.monotonic() - t0) * 1000
        if event.status == 0:  # an exception escaped: the middleware answers 500
            event.status, event.error_type = 500, event.error_type or "internal_error"
        state.publisher.publish(event)


async def health(request: web.Request) -> web.Response:
    state = request.app[keys.STATE]
    breakers = state.health.snapshot()
    providers = {
        name: {"configured": p.configured, "base_url": p.base_url, "wire": p.wire, **breakers.get(name, {})}
        for name, p in state.providers.items()
    }
    body = {
        "status": "ok",
        "version": state.version,
        "providers": providers,
        "events": state.publisher.stats(),
    }
    return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())


async def root(request: web.Request) -> web.Response:
    """HEAD / (Claude Code's preflight) and GET /."""
    return web.json_response({"name": "ekai-gateway", "status": "ok"})
