"""GET /v1/models (OpenAI or Anthropic list shape) and POST /v1/messages/count_tokens."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import web

from services.gateway import keys
from services.gateway.bodies import dumps_body
from services.gateway.dialects import registry
from services.gateway.dialects._minted import refused_signature, strip_thinking
from services.gateway.dialects.formats import ClientFormat
from services.gateway.errors import GatewayError, UpstreamError
from services.gateway.handlers import json_error, read_json
from services.gateway.routing.catalog import UnknownModel
from services.gateway.routing.health import retry_after_seconds

_EPOCH = 1_700_000_000


def _anthropic_entry(model: str) -> dict[str, Any]:
    return {
        "type": "model",
        "id": model,
        "display_name": model,
        "created_at": datetime.fromtimestamp(_EPOCH, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


async def list_models(request: web.Request) -> web.Response:
    """Only models a configured provider can serve; Anthropic's shape when `anthropic-version` is sent."""
    state = request.app[keys.STATE]
    names = sorted(set(state.catalog.model_names()))
    if "anthropic-version" in request.headers:
        data = [_anthropic_entry(m) for m in names]
        after, before = request.query.get("after_id"), request.query.get("before_id")
        if after in names:
            data = data[names.index(after) + 1 :]
        elif before in names:
            data = data[: names.index(before)]
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "20"))))
        except ValueError:
            return json_error(
                "anthropic", 400, "limit must be an integer", request_id=request[keys.REQUEST_ID]
            )
        page = data[:limit]
        body: dict[str, Any] = {
            "data": page,
            "has_more": len(data) > limit,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    else:
        body = {
            "object": "list",
            "data": [
                {"id": m, "object": "model", "created": _EPOCH, "owned_by": "ekai", "display_name": m}
                for m in names
            ],
        }
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    state = request.app[keys.STATE]
    model = request.match_info["model_id"]
    anthropic = "anthropic-version" in request.headers
    fmt: ClientFormat = "anthropic" if anthropic else "openai_chat"
    try:
        state.catalog.routes(model)
    except UnknownModel:
        return json_error(
            fmt,
            404,
            f"model {model!r} not found",
            request_id=request[keys.REQUEST_ID],
            code="model_not_found",
        )
    body = (
        _anthropic_entry(model)
        if anthropic
        else {"id": model, "object": "model", "created": _EPOCH, "owned_by": "ekai"}
    )
    return web.Response(body=orjson.dumps(body), content_type="application/json")


def estimate_tokens(body: dict[str, Any]) -> int:
    """A documented local estimate for models Anthropic does not serve: about 4 characters a token,
    over the text of system, messages and tool definitions (JSON structure is not counted)."""
    chars = 0
    stack = [body.get("system"), body.get("messages"), body.get("tools")]
    while stack:  # its own stack: a deeply nested body cannot exhaust Python's
        value = stack.pop()
        if isinstance(value, str):
            chars += len(value)
        elif isinstance(value, dict):
            stack.extend(v for k, v in value.items() if k not in ("type", "cache_control", "role"))
        elif isinstance(value, list):
            stack.extend(value)
    return max(1, (chars + 3) // 4)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    """Forwarded to Anthropic for models it serves; a local estimate otherwise. Not a billed request,
    so no usage event is recorded."""
    state = request.app[keys.STATE]
    request_id = request[keys.REQUEST_ID]
    try:
        body, raw = await read_json(request)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return json_error("anthropic", 400, "model: Field required", request_id=request_id, param="model")
        if not isinstance(body.get("messages"), list):
            return json_error(
                "anthropic", 400, "messages: Field required", request_id=request_id, param="messages"
            )
        try:
            routes = state.catalog.routes(model, request.headers.get("x-ekai-provider") or None)
        except UnknownModel:
            routes = []
        for route in routes:
            provider = state.providers[route.provider]
            if not provider.speaks("anthropic"):
                continue
            sent = {**body, "model": route.model}
            # what the gateway minted (synthetic thinking signatures) must not reach Anthropic here either
            changed = registry.WIRES["anthropic"].strip_minted(sent) or route.model != model
            try:
                status, payload, forwarded = await state.upstream.post_json(
                    provider,
                    provider.url("count_tokens"),
                    provider.headers(request.headers),
                    dumps_body(sent) if changed else raw,
                )
                if refused_signature(status, payload.decode("utf-8", "replace")) and strip_thinking(sent):
                    # a thinking block signed elsewhere: once more without the history's thinking, as
                    # /v1/messages does (proxy.py; bug8a variant 04-f)
                    status, payload, forwarded = await state.upstream.post_json(
                        provider,
                        provider.url("count_tokens"),
                        provider.headers(request.headers),
                        dumps_body(sent),
                    )
            except UpstreamError:
                continue  # connection error or timeout: try the next route, else the local estimate
            if status < 500:  # with the provider's retry and rate-limit headers (s10 variant 11-h)
                if status == 429 and "retry-after" not in forwarded:
                    # said only in its rate-limit headers or body: told as retry-after, as /v1/messages
                    # tells it (``Proxy._error_response``; s22 variant 11-w8)
                    wait = retry_after_seconds(forwarded, status, payload)
                    if wait is not None:
                        forwarded = {**forwarded, "retry-after": str(max(1, math.ceil(wait)))}
                return web.Response(
                    body=payload, status=status, content_type="application/json", headers=forwarded
                )
        return web.json_response({"input_tokens": estimate_tokens(body)})
    except GatewayError as exc:
        return json_error("anthropic", exc.status, exc.message, request_id=request_id)
