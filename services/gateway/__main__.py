"""`python -m services.gateway`: serve the gateway with settings from the environment.

``GATEWAY_WORKERS=1`` (the default): this process serves. More: this process is the parent of that many
workers sharing the port (``services/gateway/workers.py``), which it starts as
``python -m services.gateway --worker I --parent-fd FD --ready-fd FD``; those options are for the parent only.
Either way, "listening on" is logged once the socket listens (``workers.listening``).
"""

from __future__ import annotations

# Nothing heavy here (asyncio, argparse: a few hundred ms on a busy machine): main's first line is the
# start-up's stop handler, and a signal before it meets the default action.
import signal
import sys
from typing import TYPE_CHECKING

from shared.stopping import STOP_SIGNALS, exit_0_while_starting, exit_now

if TYPE_CHECKING:
    import argparse

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _args() -> argparse.Namespace:
    import argparse

    parser = argparse.ArgumentParser(prog="ekai-gateway", description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)  # set by the parent
    parser.add_argument("--parent-fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    """Serve until SIGTERM or SIGINT (exit 0); exit 1 with one line on a start-up failure."""
    # SIGTERM or Ctrl-C before the gateway serves (its imports and catalog take seconds on a busy machine): exit 0
    # at once, quietly. honcho stops every process when one fails at start-up; with the signal's default action
    # the gateway died of it (``gateway.1 stopped (rc=-15)``) or printed a KeyboardInterrupt traceback. Serving
    # replaces this handler (workers.install_single, install_worker, or the workers' parent's). A worker is
    # started with these signals blocked until it serves (workers._spawn): for it this handler never runs.
    for sig in STOP_SIGNALS:
        signal.signal(sig, exit_0_while_starting)
    _serve(_args())
    # Served and drained (or the workers' parent: all of them exited 0): no finalization, under which a late
    # copy of the stop found the signals' default action again (shared/stopping.py).
    exit_now(0)


def _serve(args: argparse.Namespace) -> None:
    # Imported here, after the handler: these imports are most of the start-up time.
    import asyncio
    import logging
    import os

    from aiohttp import web

    from services.gateway import workers
    from services.gateway.app import create_app, gc_after_startup, install_http_error_answer
    from services.gateway.keys.keyfile import KeyFileError
    from services.gateway.routing.config import CatalogError
    from shared.access import ExposedWithoutKeys
    from shared.settings import SECOND_STACK, another_port, load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        sys.exit(f"gateway: bad setting: {exc}")
    worker = args.worker
    fmt = LOG_FORMAT if worker is None else LOG_FORMAT.replace("%(name)s", f"%(name)s[w{worker}]")
    logging.basicConfig(level=settings.log_level, format=fmt)
    if worker is None and settings.gateway_workers > 1:
        exit_now(workers.supervise(settings))
    if worker is None and settings.gateway_port:
        try:  # a clear line rather than a start-up message and then a traceback
            workers.check_port_free(settings.gateway_host, settings.gateway_port)
        except workers.HostUnusable as exc:
            sys.exit(
                f"gateway: {exc}: set GATEWAY_HOST to an address of this machine (127.0.0.1); not starting"
            )
        except OSError as exc:
            sys.exit(
                f"gateway: {exc}: set GATEWAY_PORT to a free port "
                f"({another_port('GATEWAY_PORT', settings.gateway_port)}; {SECOND_STACK}); not starting"
            )
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    install_http_error_answer()  # unparseable HTTP: a JSON 4xx, the bytes not echoed; hang-ups told (hangup.py)
    access_log = logging.getLogger("aiohttp.access") if settings.log_level == "DEBUG" else None
    try:
        app = create_app(settings)
    except (CatalogError, KeyFileError, ExposedWithoutKeys) as exc:
        sys.exit(f"gateway: {exc}")
    app.on_startup.append(gc_after_startup)  # last: after the resources are made
    info = None
    if worker is not None:
        info = workers.WorkerInfo(worker, settings.gateway_workers, os.getpid())
        workers.install_worker(app, info, args.parent_fd)
    else:
        workers.install_single(app)
    where = f"http://{settings.gateway_host}:{settings.gateway_port}"
    web.run_app(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        access_log=access_log,
        print=workers.listening(where, info, args.ready_fd),
        # SIGTERM: stop accepting, let in-flight requests and streams finish for up to this long.
        shutdown_timeout=settings.shutdown_grace_s,
        # A worker shares the port with its siblings. Each process handles its signals itself (workers.py).
        reuse_port=True if worker is not None else None,
        handle_signals=False,
    )
    # Drained. Before main's exit_now (no interpreter finalization): send what the ZeroMQ sockets still hold, the
    # publisher's goodbye (``publisher.BYE``, its socket closed with 200 ms of linger) that ends the recorder's
    # wait for this gateway's drain, and end the context; the interpreter's exit did this before. Without it a
    # recorder stopped at the same time waited its 4.6 s for a gateway already gone and honcho killed it
    # (``recorder.1 stopped (rc=-9)``, session 34's make demo run).
    import zmq

    zmq.Context.instance().destroy(linger=200)


if __name__ == "__main__":
    main()
