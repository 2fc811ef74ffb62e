"""The real gateway app in-process, against a scripted upstream, with its ledger events captured.

For tests that need exact provider answers (cost, usage conventions) through every pairing, streamed
and not, without starting processes: ``async with InProcGateway(["anthropic"]) as gw`` scripts the
upstream with ``gw.answer(...)``, sends with ``gw.post(...)`` and reads the event the gateway published
for that request (``gw.events``). The publisher is the one thing replaced (a list instead of ZeroMQ).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.app import create_app
from shared.events import UsageEvent
from shared.settings import load_settings

# Where each built-in provider's API lives under the upstream's root.
_PREFIX = {"openai": "/v1", "xai": "/v1", "openrouter": "/api/v1", "anthropic": ""}


class CapturingPublisher:
    """Stands in for ``EventPublisher``: keeps every event in a list."""

    sink: list[UsageEvent]
    requests_open = 0  # ``handlers.generate`` keeps it (``EventPublisher.requests_open``)

    def __init__(self, *args: Any, build: Callable[..., UsageEvent] | None = None, **kwargs: Any) -> None:
        self.sink = CapturingPublisher.current
        self.build = build

    current: list[UsageEvent] = []

    def start(self, interval: float = 0.05) -> None:
        pass

    async def close(self, grace_s: float = 2.0) -> None:
        pass

    def publish(self, event: UsageEvent) -> None:
        self.sink.append(event)

    def publish_later(self, facts: tuple[Any, ...]) -> None:
        """The event built at once (``EventPublisher`` builds it with its batch): a test reads it as soon
        as the answer is in, as the gateway's metrics and ledger do once the batch is built."""
        assert self.build is not None
        self.sink.append(self.build(*facts))

    def build_waiting(self) -> None:
        pass

    def loop_waits(self, upstream: object = None) -> None:  # the pool's ``on_written``: nothing waits here
        pass

    def announce_drain(self) -> None:
        pass

    def stats(self) -> dict[str, int]:
        return {}

    @property
    def queued(self) -> int:
        return 0


@dataclass
class Scripted:
    """The next answers of the upstream (any path), and what it received."""

    answers: list[tuple[bytes, str]] = field(default_factory=list)
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append((request.path, orjson.loads(body) if body else {}))
        raw, content_type = self.answers.pop(0)
        if content_type == "text/event-stream":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(raw)
            await response.write_eof()
            return response
        return web.Response(body=raw, content_type=content_type)


class InProcGateway:
    def __init__(
        self, providers: list[str], env: dict[str, str] | None = None, catalog: str | None = None
    ) -> None:
        """``catalog``: a catalog file's text, ``{UPSTREAM}`` standing for the scripted upstream's root URL (its
        providers' ``base_url``)."""
        self.providers = providers
        self.env = env or {}
        self.catalog = catalog
        self.upstream = Scripted()
        self.events: list[UsageEvent] = []
        self._patch: Iterator[Any] | None = None

    async def __aenter__(self) -> InProcGateway:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.upstream.handle)
        self._up = TestServer(app)
        await self._up.start_server()
        root = str(self._up.make_url("")).rstrip("/")
        env = {"ROUTING_POLICY": "ordered", **self.env}
        for name in self.providers:
            env[f"{name.upper()}_API_KEY"] = "test-key"
            env[f"{name.upper()}_BASE_URL"] = root + _PREFIX[name]
        if self.catalog is not None:
            self._catalog_dir = tempfile.TemporaryDirectory()
            path = Path(self._catalog_dir.name) / "catalog.toml"
            path.write_text(self.catalog.replace("{UPSTREAM}", root))
            env["CATALOG_PATH"] = str(path)
        CapturingPublisher.current = self.events
        self._patcher = mock.patch("services.gateway.app.EventPublisher", CapturingPublisher)
        self._patcher.start()
        self.client = TestClient(TestServer(create_app(load_settings(env))))
        await self.client.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        await self._up.close()
        self._patcher.stop()
        if self.catalog is not None:
            self._catalog_dir.cleanup()

    def answer(self, body: dict[str, Any] | bytes) -> None:
        """Script the next upstream answer: a JSON object, or SSE bytes."""
        if isinstance(body, bytes):
            self.upstream.answers.append((body, "text/event-stream"))
        else:
            self.upstream.answers.append((orjson.dumps(body), "application/json"))

    async def post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        """Send one request; returns (status, body) once the gateway has published its event."""
        before = len(self.events)
        response = await self.client.post(
            path, json=body, headers={"anthropic-version": "2023-06-01", **(headers or {})}
        )
        raw = await response.read()
        async with asyncio.timeout(30):  # the handler publishes in its `finally`, right after the body
            while len(self.events) == before:
                await asyncio.sleep(0.005)
        assert len(self.events) == before + 1, "the gateway published no event"
        return response.status, raw

    @property
    def last_event(self) -> UsageEvent:
        return self.events[-1]

    @property
    def last_upstream_body(self) -> dict[str, Any]:
        return self.upstream.received[-1][1]


# ---- upstream answers with a given usage, in each wire format, whole or streamed ---------------------


def sse(events: list[tuple[str | None, dict[str, Any] | str]]) -> bytes:
    out = b""
    for name, data in events:
        if name:
            out += f"event: {name}\n".encode()
        out += b"data: " + (data.encode() if isinstance(data, str) else orjson.dumps(data)) + b"\n\n"
    return out


def anthropic_answer(
    usage: dict[str, Any], *, stream: bool, start_usage: dict[str, Any] | None = None
) -> dict[str, Any] | bytes:
    """An Anthropic Messages answer. Streamed: ``message_start`` carries ``start_usage`` (default: the input
    side of ``usage`` and one output token, as Anthropic sends), ``message_delta`` carries ``usage``."""
    message = {
        "id": "msg_golden",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }
    if not stream:
        return message
    first = (
        start_usage
        if start_usage is not None
        else {k: v for k, v in usage.items() if k not in ("output_tokens", "iterations", "server_tool_use")}
        | {"output_tokens": 1}
    )
    return sse(
        [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {**message, "content": [], "stop_reason": None, "usage": first},
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "ok"}},
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": usage,
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
    )


def chat_answer(usage: dict[str, Any], *, stream: bool, model: str = "m") -> dict[str, Any] | bytes:
    """An OpenAI Chat Completions answer; streamed, usage comes in the last chunk (include_usage)."""
    if not stream:
        return {
            "id": "chatcmpl-golden",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
            ],
            "usage": usage,
        }
    base = {"id": "chatcmpl-golden", "object": "chat.completion.chunk", "created": 1, "model": model}
    return sse(
        [
            (
                None,
                {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}
                    ],
                },
            ),
            (None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
            (None, {**base, "choices": [], "usage": usage}),
            (None, "[DONE]"),
        ]
    )


def responses_answer(
    usage: dict[str, Any], *, stream: bool, extra_output: list[dict[str, Any]] | None = None, model: str = "m"
) -> dict[str, Any] | bytes:
    """An OpenAI Responses answer (``extra_output`` items, such as ``web_search_call``, come first)."""
    message = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "text": "ok", "annotations": []}],
    }
    output = [*(extra_output or []), message]
    response = {
        "id": "resp_golden",
        "object": "response",
        "created_at": 1,
        "status": "completed",
        "model": model,
        "output": output,
        "usage": usage,
    }
    if not stream:
        return response
    index = len(output) - 1
    return sse(
        [
            (
                "response.created",
                {
                    "type": "response.created",
                    "response": {**response, "status": "in_progress", "output": [], "usage": None},
                },
            ),
            (
                "response.output_item.added",
                {
                    "type": "response.output_item.added",
                    "output_index": index,
                    "item": {**message, "status": "in_progress", "content": []},
                },
            ),
            (
                "response.output_text.delta",
                {
                    "type": "response.output_text.delta",
                    "item_id": "msg_1",
                    "output_index": index,
                    "content_index": 0,
                    "delta": "ok",
                },
            ),
            (
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": index, "item": message},
            ),
            ("response.completed", {"type": "response.completed", "response": response}),
        ]
    )
