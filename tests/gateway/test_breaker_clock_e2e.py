"""Circuit breaker and Retry-After windows in the real gateway process, on an injected clock.

The gateway's ``ProviderHealth`` takes a clock; a ``sitecustomize`` module on ``PYTHONPATH`` gives the
process one that reads an offset from a file. The test moves time by writing that file, so a window
is never shorter or longer than the test says, whatever the machine's speed (the windows are 30 s and
60 s of clock time and no test waits for them).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import openai
import pytest
from test_routing_e2e import (  # the routing suite's stack: its fakes, catalog and helpers
    chat,
    clean_fakes,
    fakes,
    health_of,
    routing_stack,
    served_by,
)

from tests.fake_provider import FakeProvider
from tests.procs import ROOT, Stack

__all__ = ["clean_fakes", "fakes"]  # fixtures, used by name

CLOCK_HOOK = """
import os, time
from services.gateway.routing import health

_PATH = os.environ["EKAI_TEST_CLOCK_OFFSET_FILE"]


def _clock():
    with open(_PATH) as f:
        return time.time() + float(f.read() or 0)


_from_settings = health.ProviderHealth.from_settings.__func__
health.ProviderHealth.from_settings = classmethod(lambda cls, settings, clock=_clock: _from_settings(
    cls, settings, clock=clock))
"""


class Clock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0.0
        path.write_text("0")

    def advance(self, seconds: float) -> None:
        self.offset += seconds
        self.path.write_text(repr(self.offset))


@contextmanager
def clocked_stack(tmp: Path, fakes: dict[str, FakeProvider], **env: str) -> Iterator[tuple[Stack, Clock]]:
    hooks = tmp / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(CLOCK_HOOK)
    clock = Clock(tmp / "clock-offset")
    extra = {"PYTHONPATH": f"{hooks}:{ROOT}", "EKAI_TEST_CLOCK_OFFSET_FILE": str(clock.path)}
    with routing_stack(tmp, fakes, **extra, **env) as st:
        yield st, clock


def test_breaker_opens_then_half_opens_then_closes(fakes: dict[str, FakeProvider], tmp_path: Path) -> None:
    with clocked_stack(tmp_path, fakes, BREAKER_FAILURES="2", BREAKER_COOLDOWN="30") as (st, clock):
        for _ in range(3):  # the client's own bad requests never count
            with pytest.raises(openai.BadRequestError):
                chat(st, "gpt-4o@fault=status:400")
        assert health_of(st, "openai")["state"] == "healthy"

        fakes["openai"].set_fault("status:503")
        for _ in range(2):
            headers, _ = chat(st, "gpt-4o")
            served_by(st, headers, "openrouter", 2)
        state = health_of(st, "openai")
        assert state["state"] == "cooling_down" and state["reason"] == "circuit_open"
        assert state["until"].endswith("Z") and state["consecutive_failures"] == 2
        tried = len(fakes["openai"].requests)
        clock.advance(20)  # still inside the cooldown (10 s of it left: more than any request takes)
        headers, _ = chat(st, "gpt-4o")
        served_by(st, headers, "openrouter", 1)  # open: skipped without an attempt
        assert len(fakes["openai"].requests) == tried

        clock.advance(11)  # past it
        assert health_of(st, "openai")["state"] == "half_open"
        headers, _ = chat(st, "gpt-4o")  # the probe fails: open again
        served_by(st, headers, "openrouter", 2)
        assert health_of(st, "openai")["state"] == "cooling_down"

        fakes["openai"].clear_fault()
        clock.advance(31)
        assert health_of(st, "openai")["state"] == "half_open"
        headers, _ = chat(st, "gpt-4o")  # the probe succeeds: closed
        served_by(st, headers, "openai", 1)
        assert health_of(st, "openai")["state"] == "healthy"
        rows = st.wait_rows("model = ? AND provider = ?", ("gpt-4o", "openrouter"), 4)
        assert len(rows) == 4


def test_retry_after_takes_a_provider_out_for_that_long(
    fakes: dict[str, FakeProvider], tmp_path: Path
) -> None:
    with clocked_stack(tmp_path, fakes) as (st, clock):
        fakes["openai"].set_fault("status:429:retry-after=60")
        headers, _ = chat(st, "gpt-4o")
        assert served_by(st, headers, "openrouter", 2)
        fakes["openai"].clear_fault()
        state = health_of(st, "openai")
        assert state["state"] == "cooling_down" and state["reason"] == "retry_after" and state["until"]
        clock.advance(50)  # 10 s of the window left
        headers, _ = chat(st, "gpt-4o")
        served_by(st, headers, "openrouter", 1)  # skipped, not tried
        assert len(fakes["openai"].requests) == 1
        # The only candidate is resting: the client gets a 429 that says when to come back.
        with pytest.raises(openai.RateLimitError) as info:
            chat(st, "openai::gpt-4o")
        assert 1 <= int(info.value.response.headers["retry-after"]) <= 10
        assert len(fakes["openai"].requests) == 1
        clock.advance(11)
        assert health_of(st, "openai")["state"] == "healthy"
        headers, _ = chat(st, "gpt-4o")
        served_by(st, headers, "openai", 1)
