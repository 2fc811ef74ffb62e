"""``UpstreamClient.send``'s bound on the answer's headers: its own timer (``asyncio.timeout``'s rule written
out) turns only its own cancellation into the ``timeout`` error; a cancellation from outside (a client that
hung up, a shutdown) stays a cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.gateway.errors import UpstreamError
from services.gateway.providers.base import Provider
from services.gateway.upstream import UpstreamClient

PROVIDER = Provider("p", "http://127.0.0.1:9", "sk-secret-key")


class Session:
    """A session whose answer's headers never come (or come at once with ``answer``)."""

    def __init__(self, answer: object = None) -> None:
        self.answer = answer
        self.entered = asyncio.Event()

    async def post(self, url: str, **kwargs: Any) -> object:
        self.entered.set()
        if self.answer is not None:
            return self.answer
        await asyncio.get_running_loop().create_future()  # never resolved
        raise AssertionError("unreachable")


async def test_headers_that_never_come_are_a_timeout() -> None:
    client = UpstreamClient(Session(), 0.05, 5)  # type: ignore[arg-type]
    with pytest.raises(UpstreamError) as info:
        await client.send(PROVIDER, "http://x", {}, b"{}")
    assert (info.value.error_type, info.value.retryable) == ("timeout", True)
    assert info.value.message == "p: no response within 0.05s"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    session = Session()
    client = UpstreamClient(session, 60, 5)  # type: ignore[arg-type]
    task = asyncio.create_task(client.send(PROVIDER, "http://x", {}, b"{}"))
    await session.entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_outside_cancellation_that_meets_the_timer_stays_a_cancellation() -> None:
    """The timer fires and the task is cancelled from outside before it runs again: asyncio.timeout's
    rule (uncancel() above the count at entry) keeps the outer cancellation."""
    session = Session()
    client = UpstreamClient(session, 0, 5)  # type: ignore[arg-type]
    task = asyncio.create_task(client.send(PROVIDER, "http://x", {}, b"{}"))
    await session.entered.wait()  # the timer (0 s) is due: it runs in this loop turn, before the task
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_an_answer_in_time_is_returned() -> None:
    answer = object()
    client = UpstreamClient(Session(answer), 60, 5)  # type: ignore[arg-type]
    assert await client.send(PROVIDER, "http://x", {}, b"{}") is answer
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


class Swallowing:
    """A session that swallows the cancellation and answers anyway (as a library may, mid-cleanup)."""

    async def post(self, url: str, **kwargs: Any) -> object:
        try:
            await asyncio.get_running_loop().create_future()
        except asyncio.CancelledError:
            return "answer"
        raise AssertionError("unreachable")


async def test_a_fired_timer_whose_cancellation_was_swallowed_is_taken_back() -> None:
    client = UpstreamClient(Swallowing(), 0.05, 5)  # type: ignore[arg-type]
    assert await client.send(PROVIDER, "http://x", {}, b"{}") == "answer"  # type: ignore[comparison-overlap]
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


def test_a_client_used_in_a_second_event_loop_times_out_in_that_loop() -> None:
    """``UpstreamClient.running_task`` keeps the loop it was last used in; in another loop (the first one closed)
    the running task is looked up again: the bound's timer cancels the task that waits, in its own loop."""
    client = UpstreamClient(Session(), 0.05, 5)  # type: ignore[arg-type]

    async def once() -> tuple[str | None, asyncio.AbstractEventLoop | None]:
        with pytest.raises(UpstreamError) as info:
            await client.send(PROVIDER, "http://x", {}, b"{}")
        return info.value.error_type, client._loop

    first = asyncio.run(once())
    second = asyncio.run(once())
    assert first[0] == second[0] == "timeout"
    assert first[1] is not None and second[1] is not None and first[1] is not second[1]


async def test_the_task_looked_up_is_the_one_that_waits() -> None:
    """Two tasks of one loop share the kept loop, and each gets its own task (not the first one's)."""
    client = UpstreamClient(Session(), 60, 5)  # type: ignore[arg-type]

    async def mine() -> bool:
        await asyncio.sleep(0)
        return client.running_task() is asyncio.current_task()

    assert await asyncio.gather(mine(), mine(), mine()) == [True, True, True]
