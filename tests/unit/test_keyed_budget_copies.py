"""A background response's usage (a keyed event id, ``shared.events.keyed_event_id``) may reach a gateway's
budget counters in several copies: each worker that saw the response finished publishes it, and the recorder
republishes every copy it receives (``TAIL_ENDPOINT``). ``auth.follow_others`` counts one of them; ordinary
events are counted as before. A real ZeroMQ PUB socket stands in for the recorder's tail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import zmq
import zmq.asyncio

from services.gateway import auth
from services.gateway.keys.keyfile import KeyRing
from shared import events
from tests.ports import free_port


class Counted:
    """The budget counters' ``settle``, recorded."""

    def __init__(self) -> None:
        self.settled: list[tuple[str | None, float | None]] = []

    def settle(self, name: str | None, cost_usd: float | None, tokens: int, **_: Any) -> None:
        self.settled.append((name, cost_usd))


def event(event_id: str, cost: float) -> bytes:
    e = events.UsageEvent("r", "/v1/responses/{response_id}", "openai_responses", "m", event_id=event_id)
    e.api_key_name, e.cost_usd = "team", cost
    return events.encode_row(e)


async def follow(sent: list[bytes]) -> list[tuple[str | None, float | None]]:
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    ctx = zmq.asyncio.Context()
    pub = ctx.socket(zmq.PUB)
    pub.bind(endpoint)
    counted = Counted()
    guard = auth.Guard(KeyRing(), counted, False, None, "", endpoint)  # type: ignore[arg-type]
    task = asyncio.create_task(auth.follow_others(guard))
    try:
        marker = event(events.new_event_id(), 0.0)  # sent until it arrives: the subscription is up
        while not counted.settled:
            await pub.send(marker)
            await asyncio.sleep(0.01)
        counted.settled.clear()
        for raw in [*sent, event(events.new_event_id(), -1.0)]:  # the last: everything before it is read
            await pub.send(raw)
        while not counted.settled or counted.settled[-1][1] != -1.0:
            await asyncio.sleep(0.01)
        return counted.settled[:-1]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pub.close(linger=0)
        ctx.term()


def test_copies_of_a_keyed_event_count_once_ordinary_ones_each() -> None:
    keyed = events.keyed_event_id("openai", "resp_1")
    other = events.keyed_event_id("openai", "resp_2")
    sent = [
        event(keyed, 0.5),
        event(keyed, 0.5),
        event(events.new_event_id(), 0.25),
        event(other, 0.125),
        event(keyed, 0.5),
    ]
    assert asyncio.run(follow(sent)) == [("team", 0.5), ("team", 0.25), ("team", 0.125)]
