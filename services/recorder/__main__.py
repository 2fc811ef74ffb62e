"""``python -m services.recorder`` (console script ``ekai-recorder``): the ledger's only writer.

SIGTERM and SIGINT stop receiving, commit everything buffered, close sockets and database, exit 0.
Exit 1 when startup fails (bad endpoint, port in use, unusable database, unreachable PostgreSQL) or when buffered events could
not be committed before shutdown; exit 2 on a malformed setting.
"""

from __future__ import annotations

# Only what the start-up's stop handler needs at module level; asyncio and sqlite3 (a few hundred ms on a busy
# machine) are imported where used, after it: a signal before it meets the default action.
import signal
import sys
from typing import TYPE_CHECKING, NoReturn

from shared.stopping import STOP_SIGNALS, StopOnce, exit_0_while_starting, exit_now

if TYPE_CHECKING:
    from services.recorder import service
    from shared.settings import Settings


async def _serve(settings: Settings) -> service.Counters:
    import asyncio

    from services.recorder import service

    should_exit = asyncio.Event()
    loop = asyncio.get_running_loop()
    # The first SIGTERM/SIGINT drains; the copies that follow (Ctrl-C, then honcho's SIGTERM) do nothing, also
    # after the loop has closed (not loop.add_signal_handler, which gives them their default action back
    # then: a copy arriving after the drain killed the recorder, rc=-15; shared/stopping.py).
    StopOnce(lambda name: loop.call_soon_threadsafe(should_exit.set)).install()
    return await service.run(settings, should_exit)


def _taken(settings: Settings, exc: BaseException) -> str | None:
    """For an address another program holds: the setting that moves it, else None. pyzmq's bind error says
    the endpoint (``(addr='tcp://…')``); the one plain socket the recorder binds is its metrics server's."""
    import errno

    import zmq

    from shared.settings import SECOND_STACK, another_port

    if isinstance(exc, zmq.ZMQError) and exc.errno == errno.EADDRINUSE:
        tail = f"'{settings.tail_endpoint}'" in str(exc)
        name, endpoint = (
            ("TAIL_ENDPOINT", settings.tail_endpoint)
            if tail
            else ("EVENTS_ENDPOINT", settings.events_endpoint)
        )
        return (
            f"{name} is taken (another recorder running?): stop it, or set {name} to a free port "
            f"({another_port(name, 0, endpoint)}; {SECOND_STACK})"
        )
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        where = f"{settings.recorder_metrics_host}:{settings.recorder_metrics_port}"
        return (
            f"the metrics port {where} is taken: set RECORDER_METRICS_PORT to a free port, or 0 (off) "
            f"({another_port('RECORDER_METRICS_PORT', settings.recorder_metrics_port)})"
        )
    return None


def _hint(settings: Settings, exc: BaseException) -> str:
    """What to do: a taken port names its setting; a read-only disk shows up as SQLite's 'unable to open
    database file'; an unreachable PostgreSQL names the (redacted) DATABASE_URL."""
    import os
    import sqlite3
    from pathlib import Path

    taken = _taken(settings, exc)
    if taken is not None:
        return f" ({taken})"
    if settings.database_url:
        from services.recorder.pg_store import redact

        return f" (PostgreSQL ledger DATABASE_URL={redact(settings.database_url)}: is the server up and reachable?)"
    if not isinstance(exc, sqlite3.Error) or settings.database_path.startswith("file:"):
        return ""
    folder = Path(settings.database_path).resolve().parent
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return f" ({folder} is not writable: read-only disk? The events wait in the gateways meanwhile.)"
    return ""


def _postgres_errors(settings: Settings) -> tuple[type[Exception], ...]:
    """asyncpg's errors (unreachable or refusing server) when the ledger is PostgreSQL."""
    if not settings.database_url:
        return ()
    import asyncpg

    return (asyncpg.PostgresError, asyncpg.InterfaceError)


def main() -> NoReturn:
    """Run the recorder until SIGTERM/SIGINT, then exit with its status (see module) without the interpreter's
    finalization (``shared/stopping.py``: a late copy of the stop found the default action again there, and
    aiosqlite's and pyzmq's threads were still being torn down)."""
    exit_now(_run())


def _run() -> int:
    """The recorder's run; returns the process exit code."""
    # SIGTERM or Ctrl-C before the recorder has opened anything (its imports take a second or two on a busy
    # machine): exit 0 at once, quietly. honcho stops every process when one fails at start-up; with the
    # signal's default action the recorder died of it (``recorder.1 stopped (rc=-15)``). ``_serve``'s handler
    # replaces it before the ledger is opened.
    for sig in STOP_SIGNALS:
        signal.signal(sig, exit_0_while_starting)
    # Imported after the handler: these imports are most of the start-up time.
    import asyncio
    import logging
    import sqlite3

    import zmq

    from shared.settings import load_settings

    try:
        settings = load_settings()
    except ValueError as exc:  # e.g. RECORDER_BATCH_SIZE=lots
        print(f"ekai-recorder: bad setting: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosqlite logs every statement with its parameters at DEBUG: far too much, even for debugging.
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
    startup_errors: tuple[type[Exception], ...] = (
        zmq.ZMQError,
        OSError,
        sqlite3.Error,
        ValueError,
        *_postgres_errors(settings),
    )
    try:
        counters = asyncio.run(_serve(settings))
    except startup_errors as exc:
        logging.getLogger("recorder").error(
            "recorder failed: %s: %s%s", type(exc).__name__, exc, _hint(settings, exc)
        )
        return 1
    return 1 if counters.lost else 0


if __name__ == "__main__":
    main()
