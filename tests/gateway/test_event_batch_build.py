"""A request's ledger event built with its batch (``EventPublisher.publish_later``), seen through the real
gateway app in-process with the real publisher: what the client can ask right after its answer
(``/metrics``, ``/health``) already counts the request while its event still waits to be built, and the
event built with the batch is the one built at once from the same facts (streamed, translated, refused).

The publisher's batch timer and background rounds are pushed an hour away and no recorder listens, so the
facts wait until something builds them: nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import aiohttp
import orjson
import pytest
from aiohttp import web, web_server
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from services.gateway.app import _RequestHandler, create_app
from services.gateway.publisher import EventPublisher
from shared.events import UsageEvent
from shared.settings import load_settings
from tests.gateway.inproc import Scripted, chat_answer
from tests.procs import free_port

USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}
HOUR = 3600.0


class HeldPublisher(EventPublisher):
    """The real publisher with its batch timer and rounds an hour away; notes, for each request handed
    over with ``publish_later``, the event built at once from its facts and the event its batch built."""

    made: list[HeldPublisher] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        build: Callable[..., UsageEvent] = kwargs["build"]
        self.at_once: list[UsageEvent] = []
        self.batched: list[UsageEvent] = []

        def noted(*facts: Any) -> UsageEvent:
            event = build(*facts)
            self.batched.append(event)
            return event

        super().__init__(*args, **{**kwargs, "batch_delay_s": HOUR, "build": noted})
        self._built_by = build
        HeldPublisher.made.append(self)

    def start(self, interval: float = HOUR) -> None:
        super().start(HOUR)

    def publish_later(self, facts: tuple[Any, ...]) -> None:
        self.at_once.append(self._built_by(*facts))
        super().publish_later(facts)


@pytest.fixture()
def held() -> Iterator[type[HeldPublisher]]:
    HeldPublisher.made = []
    with (
        mock.patch("services.gateway.app.EventPublisher", HeldPublisher),
        mock.patch.object(web_server, "RequestHandler", _RequestHandler),
    ):
        yield HeldPublisher


async def gateway(
    upstream: Scripted | Hanging, env: dict[str, str] | None = None
) -> tuple[TestClient[Any, Any], TestServer]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    up = TestServer(app)
    await up.start_server()
    root = str(up.make_url("")).rstrip("/")
    settings = {
        "ROUTING_POLICY": "ordered",
        "OPENAI_API_KEY": "test-key",
        "OPENAI_BASE_URL": root + "/v1",
        "EVENTS_ENDPOINT": f"tcp://127.0.0.1:{free_port()}",  # no recorder: nothing is sent
        **(env or {}),
    }
    client = TestClient(TestServer(create_app(load_settings(settings))))
    await client.start_server()
    # as ``python -m services.gateway`` serves: a hang-up does not cancel the handler (aiohttp's test
    # server does), and its connections tell a non-streamed handler of the hang-up (``hangup.lost``)
    server = client.server.runner.server
    assert isinstance(server, web_server.Server)
    server.handler_cancellation = False
    return client, up


def requests_counted(text: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "ekai_requests_total"
    )


async def test_metrics_and_health_count_a_request_whose_event_waits_for_its_batch(
    held: type[HeldPublisher],
) -> None:
    upstream = Scripted()
    client, up = await gateway(upstream)
    try:
        (pub,) = held.made
        upstream.answers.append((orjson.dumps(chat_answer(USAGE, stream=False)), "application/json"))
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        answer = await client.post("/v1/chat/completions", json=body)
        assert answer.status == 200
        await answer.read()
        health = await (await client.get("/health")).json()
        assert health["events"]["queued"] == 1  # held for the recorder, built or not
        assert len(pub.at_once) == 1 and pub.batched == []  # its event waits for its batch
        metrics = await (await client.get("/metrics")).text()
        assert requests_counted(metrics) == 1  # the scrape built it first (app.py: before_scrape)
        assert len(pub.batched) == 1
        assert requests_counted(await (await client.get("/metrics")).text()) == 1  # counted once
    finally:
        await client.close()
        await up.close()


@pytest.mark.parametrize("stream", [False, True])
async def test_the_event_built_with_its_batch_is_the_event_built_at_once(
    held: type[HeldPublisher], stream: bool
) -> None:
    """Chat as asked, Messages translated to the chat wire, an unknown model (no attempt) and bad input:
    every field but the event id the same, cost to the last bit."""
    upstream = Scripted()
    client, up = await gateway(upstream)
    try:
        (pub,) = held.made
        chat = chat_answer(USAGE, stream=stream)
        for _ in range(2):
            upstream.answers.append(
                (chat, "text/event-stream")
                if isinstance(chat, bytes)
                else (orjson.dumps(chat), "application/json")
            )
        asked: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            asked |= {"stream": True, "stream_options": {"include_usage": True}}
        messages: dict[str, Any] = {
            "model": "gpt-4o",
            "max_tokens": 50,
            "stream": stream,
            "messages": [{"role": "user", "content": "hi"}],
        }
        for path, body in (
            ("/v1/chat/completions", asked),
            ("/v1/messages", messages),
            ("/v1/chat/completions", {**asked, "model": "no-such-model"}),
            ("/v1/messages", {"model": "gpt-4o", "messages": "not a list"}),
        ):
            response = await client.post(path, json=body, headers={"anthropic-version": "2023-06-01"})
            await response.read()
        # the first request's event was built ahead in the second's upstream wait (one request open:
        # ``loop_waits``); the last three wait for their batch (the unknown model and the bad input
        # never went upstream)
        assert len(pub.at_once) == 4 and len(pub.batched) == 1
        assert pub.requests_open == 0
        pub.build_waiting()
        assert len(pub.batched) == 4
        statuses = [e.status for e in pub.batched]
        assert statuses[:2] == [200, 200] and statuses[2] == 404 and statuses[3] == 400
        assert pub.batched[1].translated and pub.batched[0].cost_usd
        for now, later in zip(pub.at_once, pub.batched, strict=True):
            assert dataclasses.replace(later, event_id=now.event_id) == now
    finally:
        await client.close()
        await up.close()


class Hanging:
    """An upstream that sends the head of its answer (a streamed chunk, or nothing) and then never ends."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        self.arrived.set()
        if body.get("stream"):
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            chunk = chat_answer(USAGE, stream=True)
            assert isinstance(chunk, bytes)
            await response.write(chunk.split(b"\n\n")[0] + b"\n\n")  # the first delta only
        await asyncio.Event().wait()  # cancelled when the gateway lets go
        raise AssertionError("unreachable")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_hang_up_event_built_with_its_batch_is_the_one_built_at_once(
    held: type[HeldPublisher], stream: bool
) -> None:
    """The client hangs up before a plain answer (hangup.py) or mid-stream (the relay's write): 499
    ``client_disconnected``, the same event whenever it is built."""
    upstream = Hanging()
    client, up = await gateway(upstream, {"STREAM_KEEPALIVE_S": "0.05"})  # its write finds the hang-up
    try:
        (pub,) = held.made
        body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        session = aiohttp.ClientSession()
        try:
            sent = asyncio.ensure_future(session.post(client.make_url("/v1/chat/completions"), json=body))
            if stream:
                response = await sent
                assert response.status == 200
                await response.content.readuntil(b"\n\n")  # the first delta reached the client
                response.close()  # the connection with it
            else:
                await upstream.arrived.wait()
                sent.cancel()  # waiting for the answer's head: the connection is closed
                with pytest.raises(asyncio.CancelledError):
                    await sent
        finally:
            await session.close()
        async with asyncio.timeout(30):  # the gateway notices the hang-up on its own time
            while not pub.at_once:
                await asyncio.sleep(0.005)
        pub.build_waiting()
        (now,), (later,) = pub.at_once, pub.batched
        assert (later.status, later.error_type, later.client_disconnected) == (
            499,
            "client_disconnected",
            True,
        )
        assert dataclasses.replace(later, event_id=now.event_id) == now
    finally:
        await client.close()
        await up.close()
