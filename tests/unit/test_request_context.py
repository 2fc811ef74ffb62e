"""The request context (services/gateway/context.py): every route's answer carries a request id and its
errors are JSON in the client's format, without an aiohttp middleware (which would add two coroutine
frames to every request)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from services.gateway.app import create_app
from services.gateway.context import UNROUTED_PATH, _random_bits, contextual, in_context, unrouted
from services.gateway.handlers import generate
from shared.settings import load_settings


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _broken(request: web.Request) -> web.Response:
    raise RuntimeError("a bug")


async def _too_large(request: web.Request) -> web.Response:
    raise web.HTTPRequestEntityTooLarge(max_size=1, actual_size=2)


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/ok", contextual(_ok))
    app.router.add_get("/broken", contextual(_broken))
    app.router.add_post("/v1/messages", contextual(_too_large))
    app.router.add_route("*", UNROUTED_PATH, contextual(unrouted))
    return app


async def _ask(
    method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], dict]:  # type: ignore[type-arg]
    client = TestClient(TestServer(_app()))
    await client.start_server()
    try:
        resp = await client.request(method, path, headers=headers or {})
        return resp.status, CIMultiDict(resp.headers), await resp.json()
    finally:
        await client.close()


def test_the_gateway_app_has_no_middleware(tmp_path: Path) -> None:
    app = create_app(load_settings({"DATABASE_PATH": str(tmp_path / "usage.db")}))
    assert list(app.middlewares) == []


async def test_an_answer_carries_the_callers_plain_request_id() -> None:
    status, headers, _ = await _ask("GET", "/ok", {"x-request-id": "abc-123"})
    assert status == 200 and headers["x-request-id"] == headers["request-id"] == "abc-123"


async def test_an_unsafe_request_id_is_replaced() -> None:
    _, headers, _ = await _ask("GET", "/ok", {"x-request-id": "a b<script>"})
    assert headers["x-request-id"].startswith("req_") and len(headers["x-request-id"]) == 36


async def test_an_escaped_exception_is_a_json_500_with_the_id() -> None:
    status, headers, body = await _ask("GET", "/broken")
    assert status == 500 and body["error"]["message"] == "internal gateway error"
    assert body["error"].get("request_id", headers["x-request-id"]) == headers["x-request-id"]


async def test_unknown_paths_and_methods_are_json_404_and_405() -> None:
    status, headers, body = await _ask("POST", "/nope/x")
    assert status == 404 and body["error"]["message"] == "no route for POST /nope/x"
    assert headers["x-request-id"].startswith("req_")
    status, _, body = await _ask("PUT", "/ok")
    assert status == 405 and body["error"]["message"] == "method PUT is not allowed on /ok"


async def test_an_http_error_is_in_the_client_format() -> None:
    status, _, body = await _ask("POST", "/v1/messages")
    assert status == 413 and body["type"] == "error"  # Anthropic's error shape on its path
    assert body["error"]["message"] == "request body is too large"


def test_every_route_of_the_gateway_runs_in_the_request_context(tmp_path: Path) -> None:
    """With no middleware, a route registered without ``contextual`` would go without the gateway-key
    check: every route of the app is ``context.in_context`` or ``handlers.generate`` (which does the
    same steps inline), with keys configured and without."""
    for env in ({}, {"GATEWAY_API_KEYS": "team=gk-route-check"}):
        app = create_app(load_settings({"DATABASE_PATH": str(tmp_path / "usage.db"), **env}))
        handlers = [route.handler for route in app.router.routes()]
        assert len(handlers) > 10
        for handler in handlers:
            assert isinstance(handler, functools.partial), handler
            assert handler.func in (in_context, generate), handler
        last = list(app.router.routes())[-1].handler
        assert isinstance(last, functools.partial) and last.keywords["handler"] is unrouted  # the catch-all


def test_new_request_ids_are_unique_and_a_forked_child_draws_its_own() -> None:
    """New ids come from a private generator (no system call); a worker forked after the parent drew ids
    must not repeat the parent's next ones."""
    ids = {f"{_random_bits(128):032x}" for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 32 for i in ids)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next bits, then out without running the test session's teardown
        os.write(write_end, f"{_random_bits(128):032x}".encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != f"{_random_bits(128):032x}"
