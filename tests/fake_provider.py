"""A fake LLM provider that speaks the real OpenAI, OpenRouter and Anthropic wire formats on 127.0.0.1.

Three ways to run it:

* in an async test: ``async with FakeProvider(name="openai") as fp: ...`` (free port, ``fp.base_url``);
* in a sync test: ``fp = FakeProvider.start_in_thread(name="anthropic")`` ... ``fp.stop()``;
* as a process: ``python -m tests.fake_provider --port 8801 --name openrouter [--fault SPEC]`` (``--tls-cert
  CERT.pem --tls-key KEY.pem``: over https).

Like the real providers it stands for, it refuses a request without a key (401), unless started as a local
server that needs none (``require_key=False``, ``--no-key``: a catalog entry without ``api_key_env``).

Endpoints: ``POST /v1/chat/completions`` and ``/api/v1/chat/completions`` (OpenAI format; OpenRouter
quirks when ``name == "openrouter"``), ``POST /v1/responses`` and ``POST /v1/responses/compact`` (the
OpenAI Responses API, as Codex uses it), ``POST /v1/messages``, ``POST /v1/messages/count_tokens``,
``GET /v1/models`` (and ``/api/v1/models``; Anthropic shape when ``anthropic-version`` is sent), plus the
control routes ``GET /_fake/requests``, ``POST /_fake/reset``, ``POST /_fake/fault``, ``GET /_fake/health``, ``POST /_fake/release`` (the streams ``hold-mid-stream`` holds go on).

Answers are deterministic: a tool call to the first (or the named / mentioned / asked-for, see
``tests/fake/conversation.py``) tool when the request has tools and ends with a user turn;
``"Tool said: <result>"`` after a tool result; otherwise ``"Hello from fake-<name>: <echo of the user text>"``.
Responses answers carry a reasoning item when the request sets a reasoning effort; its
``encrypted_content`` (when included) is listed in ``fp.issued_reasoning`` so tests can check it came back.
Remote compaction (``/v1/responses/compact``, or an input ending with a ``compaction_trigger`` item) answers
one ``compaction`` item, listed in ``fp.issued_compactions``. ``GET /v1/responses`` (Codex's WebSocket
attempt) gets 426, which sends Codex to HTTP at once. Faults use the grammar of ``tests/fake/behaviour.py``,
set per server (``fp.set_fault``, ``fp.behaviour``, ``--fault``) or per request (``x-fake-fault`` header,
or a ``@fault=<spec>`` suffix on the model name).
"""

from __future__ import annotations

import signal

from shared.stopping import STOP_SIGNALS, StopOnce, exit_0_while_starting, exit_now

if __name__ == "__main__":
    # As a process (``python -m tests.fake_provider``): the start-up's stop handler before the imports below
    # (aiohttp and orjson, about 0.3 s of CPU, seconds on a busy machine); a Ctrl-C or SIGTERM meanwhile met the
    # signal's default action (a KeyboardInterrupt traceback, or rc=-15). ``main`` replaces it.
    for _sig in STOP_SIGNALS:
        signal.signal(_sig, exit_0_while_starting)

import argparse  # noqa: E402 - after the start-up's stop handler
import asyncio
import itertools
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from tests.fake import anthropic_wire, openai_wire, responses_wire
from tests.fake.behaviour import Behaviour, apply_spec, split_model
from tests.fake.conversation import (
    Reply,
    Turn,
    Usage,
    anthropic_turn,
    count_usage,
    openai_turn,
    plan_reply,
    responses_turn,
    user_texts,
)
from tests.fake.frames import Frame, Meta
from tests.fake.prompt_cache import Block, PromptCache, Style, anthropic_blocks, chat_blocks, responses_blocks
from tests.fake.stored import StoredResponses

FAULT_HEADER = "x-fake-fault"
DEFAULT_MODELS: dict[str, list[str]] = {
    "openai": ["gpt-4o-mini", "gpt-4o", "gpt-5", "gpt-5.5"],
    "anthropic": ["claude-sonnet-4-6", "claude-opus-4-8", "claude-haiku-4-5"],
    "openrouter": ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5", "x-ai/grok-4"],
    "xai": ["grok-4", "grok-3-mini"],
}
_FLAVOURS = {"openrouter": "openrouter", "xai": "xai"}
_MESSAGES = {
    400: "Invalid request",
    401: "Invalid API key",
    403: "Permission denied",
    404: "Not found",
    429: "Rate limit exceeded",
    500: "Internal server error",
    503: "Service unavailable",
    529: "Overloaded",
}


@dataclass(slots=True)
class RecordedRequest:
    """One request as the fake received it. Header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any  # the parsed body, or None when it was empty or not JSON
    raw: bytes = field(default=b"", repr=False)
    client_disconnected: bool = False  # the client went away before the answer was complete
    dropped: bool = False  # the fake itself reset the connection (break-* faults)

    def items(self, kind: str) -> list[dict[str, Any]]:
        """The Responses ``input`` items of one type (``reasoning``, ``function_call_output``, …)."""
        body = self.json if isinstance(self.json, dict) else {}
        items = body.get("input")
        return (
            [i for i in items if isinstance(i, dict) and i.get("type") == kind]
            if isinstance(items, list)
            else []
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "json": self.json,
            "client_disconnected": self.client_disconnected,
            "dropped": self.dropped,
        }


RECORD = web.RequestKey("fake_record", RecordedRequest)
Sleep = Callable[[float], Awaitable[None]]
SLEEP = web.AppKey("fake_sleep", Sleep)  # the fake's timing faults wait through this (tests inject one)
HELD = web.AppKey("fake_held", Callable[[], Awaitable[None]])  # hold-mid-stream waits on it until a release
Answer = Callable[[web.Request, dict[str, Any], Behaviour], Awaitable[web.StreamResponse]]


class FakeProvider:
    """An aiohttp server impersonating an LLM provider; see the module docstring."""

    def __init__(
        self,
        name: str = "openai",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        behaviour: Behaviour | None = None,
        api_key: str | None = None,
        require_key: bool = True,
        models: list[str] | None = None,
        prompt_cache: bool = True,
        sleep: Sleep = asyncio.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.name = name
        self.ssl_context = ssl_context  # set: served over TLS (https base URLs)
        self.sleep = sleep  # latency, first-byte and chunk delays: a test may record them instead
        # The provider's documented prompt caching (tests/fake/prompt_cache.py); the cache-read/-write
        # fault knobs, when set, take precedence.
        self.simulate_cache = prompt_cache
        self.prompt_cache = PromptCache()
        self.host = host
        self.api_key = api_key  # when set, requests must carry exactly this key
        # False: a local OpenAI-compatible server (Ollama, vLLM) that needs no key, the one a catalog entry
        # without `api_key_env` describes (docs/catalog.md); a key sent anyway is ignored, as they do.
        self.require_key = require_key
        self.models = models or DEFAULT_MODELS.get(name, [f"fake-{name}-model"])
        self.requests: list[RecordedRequest] = []
        self.issued_reasoning: list[str] = []  # encrypted_content of every reasoning item sent (Responses)
        self.issued_compactions: list[str] = []  # encrypted_content of every compaction item sent (Responses)
        self.stored = StoredResponses()  # responses kept for retrieve / delete / cancel / input_items
        self._base = behaviour or Behaviour()
        self.behaviour = replace(self._base)  # server-level knobs; mutate freely
        self._fault_times: int | None = None
        self._released = asyncio.Event()  # hold-mid-stream: the held streams go on once it is set
        self._port = port
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> FakeProvider:
        """Listen (again) on the configured port, or on a free one chosen at first start."""
        self._runner = web.AppRunner(self.build_app(), handler_cancellation=True, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, ssl_context=self.ssl_context)
        await site.start()
        self._port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        """Close the listener and every connection: later requests get connection refused."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeProvider:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @classmethod
    def start_in_thread(cls, name: str = "openai", **kwargs: Any) -> ThreadedFakeProvider:
        """Start a server on its own event loop in a daemon thread, for synchronous tests."""
        return ThreadedFakeProvider(cls(name, **kwargs))

    # --- addresses --------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:PORT``: the Anthropic SDK's base_url."""
        scheme = "http" if self.ssl_context is None else "https"
        return f"{scheme}://{self.host}:{self._port}"

    @property
    def openai_base_url(self) -> str:
        return self.base_url + "/v1"

    @property
    def openrouter_base_url(self) -> str:
        return self.base_url + "/api/v1"

    @property
    def provider_base_url(self) -> str:
        """The URL a gateway's ``<PROVIDER>_BASE_URL`` takes for this fake: the root for Anthropic (the SDK
        adds ``/v1``), ``/api/v1`` for OpenRouter, ``/v1`` for OpenAI-style providers."""
        if self.name == "anthropic":
            return self.base_url
        return self.openrouter_base_url if self.name == "openrouter" else self.openai_base_url

    @property
    def flavour(self) -> str:
        return _FLAVOURS.get(self.name, "openai")

    # --- knobs and recording ----------------------------------------------------------------

    def set_fault(self, spec: str, *, times: int | None = None) -> None:
        """Apply a fault spec to every request, e.g. ``"status:503"``; after ``times`` requests it clears."""
        self.behaviour = apply_spec(spec, self.behaviour)
        self._fault_times = times

    def clear_fault(self) -> None:
        """Back to the behaviour given at construction (or on the command line)."""
        self.behaviour = replace(self._base)
        self._fault_times = None

    def reset(self) -> None:
        """Forget recorded requests and clear faults."""
        self.requests.clear()
        self.issued_reasoning.clear()
        self.issued_compactions.clear()
        self.stored.kept.clear()
        self.prompt_cache.clear()
        self.clear_fault()

    @property
    def last_request(self) -> RecordedRequest:
        return self.requests[-1]

    # --- the app ----------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record], client_max_size=64 * 2**20)
        app[SLEEP] = self.sleep
        app[HELD] = self._held
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/api/v1/chat/completions", self._chat)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_post("/v1/responses/compact", self._responses_compact)
        app.router.add_get("/v1/responses", self._responses_websocket)
        app.router.add_get("/v1/responses/{response_id}", self._stored_response)
        app.router.add_delete("/v1/responses/{response_id}", self._stored_response)
        app.router.add_post("/v1/responses/{response_id}/cancel", self._stored_response)
        app.router.add_get("/v1/responses/{response_id}/input_items", self._stored_response)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/api/v1/models", self._models)
        app.router.add_get("/", self._root)
        app.router.add_get("/_fake/requests", self._control_requests)
        app.router.add_post("/_fake/reset", self._control_reset)
        app.router.add_post("/_fake/fault", self._control_fault)
        app.router.add_get("/_fake/health", self._control_health)
        app.router.add_post("/_fake/release", self._control_release)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_fake/"):
            return await handler(request)
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        record = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            raw,
        )
        self.requests.append(record)
        request[RECORD] = record
        try:
            return await handler(request)
        except asyncio.CancelledError:
            record.client_disconnected = not record.dropped
            raise

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        style = "openrouter" if self.flavour == "openrouter" else "openai"
        return await self._serve(request, style, self._answer_chat)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "anthropic", self._answer_messages)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "openai", self._answer_responses)

    async def _responses_websocket(self, request: web.Request) -> web.StreamResponse:
        """Codex's built-in OpenAI provider tries a WebSocket first; 426 sends it to HTTP SSE at once."""
        return self._error("openai", 426, "WebSockets are not served here; use HTTP (POST /v1/responses)")

    async def _stored_response(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "openai", self._answer_stored)

    async def _responses_compact(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "openai", self._answer_compact)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        return await self._serve(request, "anthropic", self._answer_count_tokens)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        style = "anthropic" if "anthropic-version" in request.headers else "openai"
        return await self._serve(request, style, self._answer_models)

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"fake-{self.name}\n")

    async def _serve(self, request: web.Request, style: str, answer: Answer) -> web.StreamResponse:
        """Faults first (a down provider fails before looking at the request), then auth, then the answer."""
        record = request[RECORD]
        body = record.json if isinstance(record.json, dict) else {}
        try:
            behaviour = self._behaviour_for(request.headers.get(FAULT_HEADER, ""), body)
        except ValueError as err:
            return self._error(style, 400, f"bad fault spec: {err}")
        if behaviour.latency:
            await self.sleep(behaviour.latency)
        if behaviour.hang:
            await asyncio.Event().wait()  # cancelled when the client disconnects (handler_cancellation)
        if behaviour.break_before_first_byte:
            return await _drop_connection(request)
        if behaviour.status:
            message = _MESSAGES.get(behaviour.status, "Injected error")
            if behaviour.echo_key:  # as real providers do: "Incorrect API key provided: sk-…"
                message += f"; key received: {received_key(request)}"
            if behaviour.html_error:
                return _html_error(behaviour.status, message)
            return self._error(
                style, behaviour.status, message, code=behaviour.error_code, retry_after=behaviour.retry_after
            )
        auth_problem = self._check_auth(request, style)
        if auth_problem is not None:
            return self._error(style, 401, auth_problem)
        if (
            request.method == "POST"
            and not isinstance(record.json, dict)
            and "response_id" not in request.match_info
        ):
            return self._error(style, 400, "The request body must be a JSON object")
        if behaviour.body == "error":  # a 200 whose body is an error (some proxies and providers do this)
            message = "Internal error" + (
                f"; key received: {received_key(request)}" if behaviour.echo_key else ""
            )
            return self._error(style, 200, message)
        if behaviour.body is not None:
            data = b"[]" if behaviour.body == "array" else b"<html><body>502 Bad Gateway</body></html>"
            return web.Response(body=data, status=200, content_type="application/json")
        if behaviour.trickle and not body.get("stream"):
            return await _trickle_json(request)
        if behaviour.stall:
            response = web.StreamResponse(headers={"x-request-id": "req_fake_stall"})
            response.content_type = "text/event-stream" if body.get("stream") else "application/json"
            await response.prepare(request)
            await asyncio.Event().wait()  # cancelled when the client disconnects (handler_cancellation)
        try:
            return await answer(request, body, behaviour)
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as exc:
            # A field of the wrong type, or nesting too deep for it: a real provider validates and
            # answers 400, so does the fake.
            return self._error(style, 400, f"Invalid request: {type(exc).__name__}: {exc}")

    def _behaviour_for(self, header_spec: str, body: dict[str, Any]) -> Behaviour:
        behaviour = self.behaviour
        if self._fault_times is not None:
            self._fault_times -= 1
            if self._fault_times <= 0:
                self.clear_fault()
        model_spec = split_model(str(body.get("model") or ""))[1]
        return apply_spec(model_spec, apply_spec(header_spec, behaviour))

    def _check_auth(self, request: web.Request, style: str) -> str | None:
        if not self.require_key:
            return None
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        key = (request.headers.get("x-api-key") if style == "anthropic" else None) or bearer
        if not key:
            header = "x-api-key or Authorization" if style == "anthropic" else "Authorization: Bearer"
            return f"Missing API key: send it in the {header} header"
        if self.api_key is not None and key != self.api_key:
            return "Invalid API key"
        return None

    # --- answers ----------------------------------------------------------------------------

    async def _answer_chat(
        self, request: web.Request, body: dict[str, Any], behaviour: Behaviour
    ) -> web.StreamResponse:
        flavour = self.flavour
        style = "openrouter" if flavour == "openrouter" else "openai"
        missing = _missing(body, "model", "messages")
        if missing:
            return self._error(style, 400, f"Missing required parameter: '{missing}'.")
        seq = next(self._ids)
        turn = openai_turn(body)
        reply = plan_reply(turn, self.name, behaviour.tools, f"call_fake{seq:06d}")
        usage = None if behaviour.no_usage else count_usage(turn, reply, behaviour)
        model = split_model(str(body["model"]))[0]
        markers = flavour == "openrouter" and model.startswith(("anthropic/", "google/gemini"))
        usage = self._cached(
            usage,
            behaviour,
            chat_blocks(body),
            "markers" if markers else "automatic",
            "" if markers else str(body.get("prompt_cache_key") or ""),
        )
        meta = Meta(f"chatcmpl-fake{seq:06d}", split_model(body["model"])[0], int(time.time()), flavour)
        headers = {"x-request-id": f"req_fake{seq:06d}"}
        if flavour == "openrouter":
            headers["x-generation-id"] = f"gen-fake{seq:06d}"
        if not body.get("stream"):
            return await _send_json(request, openai_wire.completion(meta, reply, usage), behaviour, headers)
        include_usage = bool(
            (body.get("stream_options") or {}).get("include_usage")
            or (body.get("usage") or {}).get("include")
        )
        frames = openai_wire.stream_frames(meta, reply, usage, include_usage)
        return await _send_stream(request, frames, openai_wire.stream_error_frame(meta), behaviour, headers)

    async def _answer_responses(
        self, request: web.Request, body: dict[str, Any], behaviour: Behaviour
    ) -> web.StreamResponse:
        missing = _missing(body, "model")
        if missing:
            return self._error("openai", 400, f"Missing required parameter: '{missing}'.")
        seq = next(self._ids)
        turn = responses_turn(body)
        reply = plan_reply(turn, self.name, behaviour.tools, f"call_fake{seq:06d}")
        usage = None if behaviour.no_usage else count_usage(turn, reply, behaviour)
        usage = self._cached(
            usage, behaviour, responses_blocks(body), "automatic", str(body.get("prompt_cache_key") or "")
        )
        meta = Meta(f"resp_fake{seq:06d}", split_model(body["model"])[0], int(time.time()), "openai")
        options = responses_wire.Options.from_body(body)
        if reply.thinking and options.encrypted_reasoning:
            self.issued_reasoning.append(responses_wire.encrypted_content(meta))
        if reply.compaction is not None:
            self.issued_compactions.append(responses_wire.compaction_content(meta, reply))
        headers = {"x-request-id": f"req_fake{seq:06d}"}
        whole = self.stored.keep(body, responses_wire.response(meta, reply, usage, options))
        if not body.get("stream"):
            return await _send_json(request, whole, behaviour, headers)
        frames = responses_wire.stream_frames(meta, reply, usage, options)
        return await _send_stream(
            request, frames, responses_wire.stream_error_frame(meta, options), behaviour, headers
        )

    async def _answer_stored(
        self, request: web.Request, body: dict[str, Any], behaviour: Behaviour
    ) -> web.StreamResponse:
        """Retrieve, delete, cancel or list the input of a stored response (``tests/fake/stored.py``)."""
        response_id = request.match_info["response_id"]
        stored = self.stored
        if request.method == "DELETE":
            answer: dict[str, Any] | str | None = stored.delete(response_id)
        elif request.path.endswith("/cancel"):
            answer = stored.cancel(response_id)
        elif request.path.endswith("/input_items"):
            answer = stored.items(response_id)
        else:
            answer = stored.retrieve(response_id)
        if answer is None:
            return self._error("openai", 404, f"Response with id '{response_id}' not found.")
        if isinstance(answer, str):
            return self._error("openai", 400, answer)
        headers = {"x-request-id": f"req_fake{next(self._ids):06d}"}
        if request.query.get("stream") == "true":  # a retrieve streamed: the stored response's events again
            return await _send_stream(request, _retrieved_frames(answer), Frame(b""), behaviour, headers)
        return await _send_json(request, answer, behaviour, headers)

    async def _answer_compact(
        self, request: web.Request, body: dict[str, Any], behaviour: Behaviour
    ) -> web.StreamResponse:
        """Remote compaction: the whole history in, one ``compaction`` item out (never streamed)."""
        missing = _missing(body, "model", "input")
        if missing:
            return self._error("openai", 400, f"Missing required parameter: '{missing}'.")
        seq = next(self._ids)
        turn = replace(responses_turn(body), compact=True)
        reply = plan_reply(turn, self.name, behaviour.tools, f"call_fake{seq:06d}")
        usage = None if behaviour.no_usage else count_usage(turn, reply, behaviour)
        meta = Meta(f"resp_fake{seq:06d}", split_model(body["model"])[0], int(time.time()), "openai")
        headers = {"x-request-id": f"req_fake{seq:06d}"}
        compacted = responses_wire.compact_response(meta, reply, usage, user_texts(body))
        self.issued_compactions.append(responses_wire.compaction_content(meta, reply))
        return await _send_json(request, compacted, behaviour, headers)

    async def _answer_messages(
        self, request: web.Request, body: dict[str, Any], behaviour: Behaviour
    ) -> web.StreamResponse:
        missing = _missing(body, "model", "max_tokens", "messages")
        if missing:
            return self._error("anthropic", 400, f"{missing}: Field required")
        seq = next(self._ids)
        turn = anthropic_turn(body)
        reply: Reply = plan_reply(turn, self.name, behaviour.tools, f"toolu_fake{seq:06d}")
        usage = None if behaviour.no_usage else count_usage(turn, reply, behaviour)
        usage = self._cached(usage, behaviour, anthropic_blocks(body), "markers")
        meta = Meta(f"msg_fake{seq:06d}", split_model(body["model"])[0], int(time.time()), "anthropic")
        headers = {"request-id": f"req_fake{seq:06d}"}
        if not body.get("stream"):
            return await _send_json(request, anthropic_wire.message(meta, reply, usage), behaviour, headers)
        frames = anthropic_wire.stream_frames(meta, reply, usage)
        return await _send_stream(request, frames, anthropic_wire.stream_error_frame(), behaviour, headers)

    def _cached(
        self,
        usage: Usage | None,
        behaviour: Behaviour,
        blocks: list[Block],
        style: Style,
        namespace: str = "",
    ) -> Usage | None:
        """``usage`` with the simulated prompt cache's reads and writes (see tests/fake/prompt_cache.py)."""
        if usage is None or not self.simulate_cache or behaviour.cache_read or behaviour.cache_write:
            return usage
        got = self.prompt_cache.serve(blocks, style, namespace)
        if not (got.read or got.write):
            return usage
        prompt = max(usage.prompt, sum(len(b.text) for b in blocks) // 4 + 10)
        read = min(got.read, prompt)
        write = min(got.write, prompt - read)
        return replace(
            usage, prompt=prompt, cache_read=read, cache_write=write, cache_write_1h=min(got.write_1h, write)
        )

    async def _answer_count_tokens(
        self, request: web.Request, body: dict[str, Any], behaviour: Behaviour
    ) -> web.StreamResponse:
        missing = _missing(body, "model", "messages")
        if missing:
            return self._error("anthropic", 400, f"{missing}: Field required")
        turn: Turn = anthropic_turn(body)
        usage = count_usage(turn, Reply(None), behaviour)
        return await _send_json(request, {"input_tokens": usage.prompt}, behaviour, {})

    async def _answer_models(
        self, request: web.Request, body: dict[str, Any], behaviour: Behaviour
    ) -> web.StreamResponse:
        if "anthropic-version" in request.headers:
            limit = int(request.query.get("limit", "20"))
            return await _send_json(request, anthropic_wire.models_list(self.models, limit), behaviour, {})
        return await _send_json(
            request, openai_wire.models_list(self.models, f"fake-{self.name}"), behaviour, {}
        )

    def _error(
        self,
        style: str,
        status: int,
        message: str,
        *,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> web.Response:
        request_id = f"req_fake_error{next(self._ids):06d}"
        message = f"{message} (fake-{self.name})"
        if style == "anthropic":
            body = anthropic_wire.error_body(status, message, request_id, code)
        else:
            body = openai_wire.error_body(style, status, message, code)
        headers = {"x-request-id": request_id, "request-id": request_id}
        if retry_after is not None:
            headers["retry-after"] = f"{retry_after:g}"
        return web.Response(
            status=status, body=orjson.dumps(body), headers=headers, content_type="application/json"
        )

    # --- control routes (for tests that run the fake as a subprocess) -----------------------

    async def _control_requests(self, request: web.Request) -> web.Response:
        return web.json_response([r.to_dict() for r in self.requests])

    async def _control_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    async def _control_fault(self, request: web.Request) -> web.Response:
        """Body ``{"fault": "status:503", "times": 2}``; ``{"fault": null}`` clears it."""
        payload = await request.json()
        spec, times = payload.get("fault"), payload.get("times")
        try:
            self.set_fault(spec, times=times) if spec else self.clear_fault()
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"ok": True, "behaviour": asdict(self.behaviour)})

    async def _control_release(self, request: web.Request) -> web.Response:
        """The streams held by ``hold-mid-stream`` so far go on to their end; later ones are held anew."""
        self.release()
        return web.json_response({"ok": True})

    def release(self) -> None:
        """As ``POST /_fake/release``; call it on the provider's own loop."""
        released, self._released = self._released, asyncio.Event()
        released.set()

    async def _held(self) -> None:
        await self._released.wait()

    async def _control_health(self, request: web.Request) -> web.Response:
        return web.json_response({"name": self.name, "behaviour": asdict(self.behaviour)})


def received_key(request: web.Request) -> str:
    """The credential the request carried (x-api-key or Bearer), as a careless provider would quote it."""
    bearer = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return request.headers.get("x-api-key") or bearer


def _html_error(status: int, message: str) -> web.Response:
    page = f"<html><head><title>{status}</title></head><body><h1>{status}</h1><p>{message}</p></body></html>"
    return web.Response(text=page, status=status, content_type="text/html")


def _with_key(frame: Frame, key: str) -> Frame:
    """An in-stream error frame whose message quotes ``key``."""
    data = frame.data.replace(b'"message":"', b'"message":"key received: ' + key.encode() + b"; ", 1)
    return replace(frame, data=data)


def _missing(body: dict[str, Any], *names: str) -> str | None:
    return next((n for n in names if body.get(n) is None), None)


_TERMINAL_KINDS = {
    "completed": "response.completed",
    "incomplete": "response.incomplete",
    "failed": "response.failed",
}


def _retrieved_frames(answer: dict[str, Any]) -> list[Frame]:
    """A streamed retrieve's events: ``response.in_progress`` (the response without output or usage yet), then,
    for a response in a final status, its terminal event (``tail``: a ``stall-mid-stream`` fault stops before
    it, a ``chunk-delay`` comes before it). OpenAI API reference, "Retrieve a model response" (``stream``)."""

    def frame(kind: str, number: int, response: dict[str, Any], tail: bool) -> Frame:
        event = {"type": kind, "sequence_number": number, "response": response}
        return Frame(f"event: {kind}\ndata: ".encode() + orjson.dumps(event) + b"\n\n", tail=tail)

    running = answer | {"status": "in_progress", "output": [], "usage": None}
    frames = [frame("response.in_progress", 0, running, False)]
    kind = _TERMINAL_KINDS.get(str(answer.get("status")))
    if kind is not None:
        frames.append(frame(kind, 1, answer, True))
    return frames


async def _send_json(
    request: web.Request, body: dict[str, Any], behaviour: Behaviour, headers: dict[str, str]
) -> web.StreamResponse:
    data = orjson.dumps(body)
    if not behaviour.first_byte_delay:
        return web.Response(body=data, headers=headers, content_type="application/json")
    response = web.StreamResponse(headers=headers)
    response.content_type = "application/json"
    response.content_length = len(data)
    await response.prepare(request)  # a StreamResponse sends its headers here
    await request.app[SLEEP](behaviour.first_byte_delay)
    await response.write(data)
    await response.write_eof()
    return response


async def _send_stream(
    request: web.Request,
    frames: list[Frame],
    error_frame: Frame | Callable[[int], Frame],
    behaviour: Behaviour,
    headers: dict[str, str],
) -> web.StreamResponse:
    """Write SSE frames one by one, injecting mid-stream faults before the third content frame
    (or before the first closing frame, for replies shorter than that). ``error_frame`` may be built
    from the number of frames already sent (Responses events carry a sequence number)."""
    response = web.StreamResponse(headers=headers | {"Cache-Control": "no-cache"})
    response.content_type = "text/event-stream"
    response.charset = "utf-8"
    await response.prepare(request)
    sleep = request.app[SLEEP]
    if behaviour.first_byte_delay:
        await sleep(behaviour.first_byte_delay)
    sent = 0
    held = False
    for i, frame in enumerate(frames):
        at_fault_point = (i == 0) if behaviour.early else (frame.content and sent == 2) or frame.tail
        if at_fault_point and behaviour.break_mid_stream:
            await asyncio.sleep(0.05)  # let the client read what was sent before the reset
            return await _drop_connection(request)
        if at_fault_point and behaviour.error_mid_stream:
            error = error_frame if isinstance(error_frame, Frame) else error_frame(i)
            if behaviour.echo_key:
                error = _with_key(error, received_key(request))
            await response.write(error.data)
            break
        if at_fault_point and behaviour.stall_mid_stream:
            await asyncio.Event().wait()  # cancelled when the client disconnects (handler_cancellation)
        if at_fault_point and behaviour.hold_mid_stream and not held:
            held = True  # once a stream: the tail frames are fault points too
            await request.app[HELD]()
        if frame.tail and behaviour.no_close:
            break
        if at_fault_point and (behaviour.trickle or behaviour.trickle_bytes):
            await _trickle_forever(
                response,
                b": keep-alive\n\n" if behaviour.trickle else b"x",
                received_key(request) if behaviour.echo_key else "",
            )
        if at_fault_point and behaviour.cut_mid_frame:
            await response.write(frame.data[: len(frame.data) // 2])
            break
        if i and behaviour.chunk_delay:
            await sleep(behaviour.chunk_delay)
        await response.write(frame.data)
        sent += frame.content
    if behaviour.end_delay:
        await sleep(behaviour.end_delay)  # the answer is complete; the body ends later
    await response.write_eof()
    return response


async def _trickle_forever(response: web.StreamResponse, piece: bytes, key: str) -> None:
    """A stream that never ends: ``piece`` every 50 ms until the client goes away. With ``key``, a
    half-written data line quoting it first (a broken stream must not carry the key to the client)."""
    if key:
        await response.write(b'data: {"key received": "' + key.encode() + b'", ')
    while True:
        await response.write(piece)
        await asyncio.sleep(0.05)


async def _trickle_json(request: web.Request) -> web.StreamResponse:
    """A non-streamed answer whose body starts and never ends (a space every 50 ms)."""
    response = web.StreamResponse()
    response.content_type = "application/json"
    await response.prepare(request)
    await response.write(b'{"id": "chatcmpl-trickle", "choices": [')
    while True:
        await response.write(b" ")
        await asyncio.sleep(0.05)


async def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Reset the TCP connection (SO_LINGER 0 makes close() send RST) without finishing the response."""
    request[RECORD].dropped = True
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    # The connection is gone; aiohttp cancels this handler at the next await and sends nothing.
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


class ThreadedFakeProvider:
    """A FakeProvider served from a daemon thread; attribute access is delegated to ``.provider``."""

    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"fake-{provider.name}", daemon=True
        )
        self._thread.start()
        asyncio.run_coroutine_threadsafe(provider.start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        """Stop the server and its thread (idempotent)."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.provider.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.provider, name)

    def __enter__(self) -> ThreadedFakeProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    stop = StopOnce(lambda name: None).install()  # a stop while starting: noted, acted on by _serve_forever
    parser = argparse.ArgumentParser(prog="python -m tests.fake_provider", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on start)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--name", default="openai", help="openai, anthropic, openrouter, xai, …")
    parser.add_argument(
        "--fault", action="append", default=[], help="fault spec, e.g. status:503 (repeatable)"
    )
    parser.add_argument("--api-key", help="require exactly this key")
    parser.add_argument(
        "--no-key",
        action="store_true",
        help="need no key (a local server: a catalog entry without api_key_env)",
    )
    parser.add_argument("--model", action="append", dest="models", help="models to list (repeatable)")
    parser.add_argument("--tls-cert", help="PEM certificate: serve https (with --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = parser.parse_args(argv)
    ssl_context: ssl.SSLContext | None = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            parser.error("--tls-cert and --tls-key go together")
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    behaviour = Behaviour()
    try:
        for spec in args.fault:
            behaviour = apply_spec(spec, behaviour)
    except ValueError as err:
        parser.error(str(err))
    provider = FakeProvider(
        args.name,
        host=args.host,
        port=args.port,
        behaviour=behaviour,
        api_key=args.api_key,
        require_key=not args.no_key,
        models=args.models,
        ssl_context=ssl_context,
    )
    asyncio.run(_serve_forever(provider, stop))
    exit_now(0)  # no finalization: it gave the signals their default action back (shared/stopping.py)


async def _serve_forever(provider: FakeProvider, stop: StopOnce) -> None:
    """Serve until the first SIGINT/SIGTERM (also one that came while starting), then stop the server. The copies
    that follow do nothing: with the loop's handlers (``loop.add_signal_handler``), taken back when the loop
    closed, a second signal killed the stopped fake (rc=-15, rc=-2)."""
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop.on_stop = lambda name: loop.call_soon_threadsafe(done.set)
    if stop.stopping is not None:
        return
    await provider.start()
    print(f"fake-{provider.name} listening on {provider.base_url}", flush=True)
    await done.wait()
    await provider.stop()


@contextmanager
def running(*names: str) -> Iterator[dict[str, ThreadedFakeProvider]]:
    """One fake provider per name (each in its own thread, speaking that provider's wire format), by name;
    all stopped on exit."""
    fps = {name: FakeProvider.start_in_thread(name=name) for name in names}
    try:
        yield fps
    finally:
        for fp in fps.values():
            fp.stop()


def provider_urls(fakes: Mapping[str, Any]) -> dict[str, str]:
    """The gateway's base URL setting for each running fake, by provider name (:attr:`provider_base_url`)."""
    return {name: fp.provider_base_url for name, fp in fakes.items()}


if __name__ == "__main__":
    main()
