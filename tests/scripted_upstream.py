"""A scripted upstream for end-to-end tests: exact bytes, statuses, headers and silences, per path.

``ScriptedUpstream.start()`` serves on 127.0.0.1 in a thread. ``script(path, *answers)`` queues answers
for ``POST <path>``; each request takes the first queued answer whose ``when`` accepts its JSON body
(answers with ``keep=True`` stay queued). A streamed answer is a list of byte pieces written one by one,
with ``Pause(seconds)`` between pieces for silences, and ``abort=True`` to close the connection
instead of ending the body. ``requests`` records what arrived; a request's ``Seen.done`` is set once its
answer has ended, and ``Seen.cut`` says that the gateway closed the connection before a streamed answer's
end (a write found it gone: the gateway dropped the upstream response rather than leaving it open).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass(frozen=True, slots=True)
class Pause:
    seconds: float


@dataclass(slots=True)
class Answer:
    body: bytes | list[bytes | Pause] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    when: Callable[[dict[str, Any]], bool] | None = None
    keep: bool = False
    abort: bool = False  # a streamed answer: the connection is closed after the pieces, the body unended
    # A streamed answer's headers wait until this is set (a provider slow to answer, held by the test)
    gate: threading.Event | None = None


def sse(pieces: list[bytes | Pause], **kw: Any) -> Answer:
    return Answer(body=pieces, content_type="text/event-stream", **kw)


def json_answer(obj: Any, status: int = 200, **kw: Any) -> Answer:
    return Answer(body=orjson.dumps(obj), status=status, **kw)


@dataclass(slots=True)
class Seen:
    path: str
    headers: dict[str, str]
    json: Any
    peer: Any = None  # the client's (host, port): which connection the request came on
    done: threading.Event = field(default_factory=threading.Event)  # the answer ended (whole or cut)
    cut: bool = False  # a streamed answer's write found the connection closed by the gateway


class ScriptedUpstream:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self._queues: dict[str, list[Answer]] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @classmethod
    def start(cls) -> ScriptedUpstream:
        up = cls()
        up._thread.start()
        asyncio.run_coroutine_threadsafe(up._serve(), up._loop).result(10)
        return up

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, path: str, *answers: Answer) -> None:
        with self._lock:
            self._queues.setdefault(path, []).extend(answers)

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self.requests.clear()

    def seen(self, path: str) -> list[Seen]:
        return [r for r in self.requests if r.path == path]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        peer = None if request.transport is None else request.transport.get_extra_info("peername")
        seen = Seen(request.path, dict(request.headers), body, peer)
        self.requests.append(seen)
        try:
            return await self._answer(request, seen, body)
        finally:
            seen.done.set()

    async def _answer(self, request: web.Request, seen: Seen, body: Any) -> web.StreamResponse:
        answer = self._take(request.path, body if isinstance(body, dict) else {})
        if answer is None:
            return web.json_response(
                {"error": {"message": f"nothing scripted for {request.path}"}}, status=599
            )
        if isinstance(answer.body, bytes):
            return web.Response(
                body=answer.body,
                status=answer.status,
                headers=answer.headers,
                content_type=answer.content_type,
            )
        response = web.StreamResponse(status=answer.status, headers=answer.headers)
        response.content_type = answer.content_type
        if answer.gate is not None:
            await asyncio.get_running_loop().run_in_executor(None, answer.gate.wait, 60)
        await response.prepare(request)
        for piece in answer.body:
            if isinstance(piece, Pause):
                await asyncio.sleep(piece.seconds)
                continue
            try:
                await response.write(piece)
            except ConnectionError:  # (aiohttp's ClientConnectionResetError is one) the gateway closed it
                seen.cut = True
                return response
        if answer.abort and request.transport is not None:
            request.transport.close()
            return response
        await response.write_eof()
        return response

    def _take(self, path: str, body: dict[str, Any]) -> Answer | None:
        with self._lock:
            queue = self._queues.get(path, [])
            for i, answer in enumerate(queue):
                if answer.when is None or answer.when(body):
                    if not answer.keep:
                        del queue[i]
                    return answer
        return None
