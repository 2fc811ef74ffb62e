"""`python -m services.gateway`: serve the gateway with settings from the environment."""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web

from services.gateway.app import create_app, install_http_error_answer
from services.gateway.keys.keyfile import KeyFileError
from services.gateway.routing.config import CatalogError
from shared.access import ExposedWithoutKeys
from shared.settings import load_settings


def main() -> None:
    try:
        settings = load_settings()
    except ValueError as exc:
        sys.exit(f"gateway: bad setting: {exc}")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    install_http_error_answer()  # unparseable HTTP (huge headers, …): a JSON 4xx, the bytes not echoed
    access_log = logging.getLogger("aiohttp.access") if settings.log_level == "DEBUG" else None
    try:
        app = create_app(settings)
    except (CatalogError, KeyFileError, ExposedWithoutKeys) as exc:
        sys.exit(f"gateway: {exc}")
    web.run_app(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        access_log=access_log,
        print=None,
        # SIGTERM: stop accepting, let in-flight requests and streams finish for up to this long.
        shutdown_timeout=settings.shutdown_grace_s,
    )


if __name__ == "__main__":
    main()
