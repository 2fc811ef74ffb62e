"""Fixtures shared by every test folder: a real PostgreSQL server (``tests/pgserver.py``).

``pg_server`` starts one private cluster per test session, on first use; ``pg_url`` gives each test a
fresh database in it (dropped afterwards). A machine without PostgreSQL fails these tests: never a skip.

``zmq_ctx`` gives a test its own ZeroMQ context, destroyed at teardown with every socket still open in it
closed at linger 0, pass or fail (the default linger lets ``term`` wait forever on queued messages:
zmq_ctx_term(3)).

The exit guard: pytest-timeout bounds each test, not the interpreter's exit. Once pytest has finished
(its last ``pytest_unconfigure``), a C watchdog thread (``faulthandler.dump_traceback_later``: it needs no
GIL, so it fires during finalisation too) dumps every thread's stack to stderr and ends the process with
status 1 if it is still alive ``EXIT_GRACE_S`` seconds later: a leaked socket, thread or child turns into
a loud failure, not a CI run that hangs until its limit.

Hypothesis runs without its per-example deadline (the profile below): a deadline is a timed assertion, which the
project's tests do not make, and on the shared 2-core machine an example's first run took 650 ms against the
default 200 ms (review32: ``test_recorder_metrics`` failed as ``FlakyFailure``, then passed on its rerun).
"""

from __future__ import annotations

import faulthandler
import os
from collections.abc import Iterator
from typing import IO

import pytest
import zmq
from hypothesis import settings

from tests.pgserver import PgServer

settings.register_profile("no-deadline", deadline=None)
settings.load_profile("no-deadline")

EXIT_GRACE_S = 60.0  # the interpreter's exit after pytest's last hook: normally well under a second
_guard_file: list[IO[str]] = []  # the watchdog writes here: a copy of stderr, kept open until the end


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Arm the exit watchdog (see the module's docstring); pytest's own stderr capture is gone by now."""
    _guard_file.append(os.fdopen(os.dup(2), "w"))
    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True, file=_guard_file[0])


@pytest.fixture
def zmq_ctx() -> Iterator[zmq.Context[zmq.Socket[bytes]]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    try:
        yield ctx
    finally:
        ctx.destroy(linger=0)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)
