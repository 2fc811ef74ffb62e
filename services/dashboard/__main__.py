"""``python -m services.dashboard``: serve the usage dashboard on DASHBOARD_HOST:DASHBOARD_PORT."""

from __future__ import annotations

import logging
import signal
import sys

from shared.stopping import STOP_SIGNALS, StopOnce, exit_0_while_starting, exit_now


def _leave_serving(name: str) -> None:
    """The first SIGTERM (honcho's stop, a deploy) or SIGINT (Ctrl-C) leaves Werkzeug's serve loop as Ctrl-C does,
    so the process exits 0 (``StopOnce`` ignores the copies: honcho's stop is two signals at once, and a second
    KeyboardInterrupt landing while the loop closed ended in a traceback). With the signal's default action the
    dashboard died of it (``dashboard.1 stopped (rc=-15)``); it holds nothing to drain (the ledger is read-only
    to it)."""
    raise KeyboardInterrupt


def main() -> None:
    """Read settings from the environment and serve until interrupted (SIGTERM or Ctrl-C: exit 0)."""
    # SIGTERM or SIGINT while starting (Dash and pandas take a second or two to import): exit 0 at once, quietly.
    # Werkzeug's loop is not running yet, so ``_leave_serving``'s KeyboardInterrupt would end in a traceback; with the
    # signal's default action the process died of it (``rc=-15``) where a stop after serving says ``rc=0``.
    for sig in STOP_SIGNALS:
        signal.signal(sig, exit_0_while_starting)
    # Imported after the handler: aiohttp (through the key file's and the port check's modules) alone takes
    # most of a second on a busy machine, a SIGTERM meanwhile killed the dashboard (rc=-15).
    from services.gateway.keys.keyfile import KeyFileError, load_keyring
    from services.gateway.workers import HostUnusable, check_port_free
    from shared.access import ExposedWithoutKeys, check_exposure, is_loopback
    from shared.settings import SECOND_STACK, another_port, load_settings

    try:
        settings = load_settings()
    except ValueError as exc:
        sys.exit(f"dashboard: bad setting: {exc}")
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s dashboard: %(message)s")
    if settings.log_level != "DEBUG":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per callback is noise
    # Beyond loopback the dashboard needs an admin credential (basic ADMIN_USER/ADMIN_PASSWORD or an admin key).
    basic = (
        (settings.admin_user, settings.admin_password)
        if settings.admin_user and settings.admin_password
        else None
    )
    guarded = not is_loopback(settings.dashboard_host) and not settings.trusted_network
    try:
        ring = load_keyring(settings.gateway_api_keys, settings.gateway_keys_path) if guarded else None
        check_exposure(
            "the dashboard",
            settings.dashboard_host,
            settings.dashboard_port,
            basic is not None or bool(ring and ring.has_admin),
            settings.trusted_network,
            "read every request's usage and cost",
        )
    except (KeyFileError, ExposedWithoutKeys) as exc:
        sys.exit(f"dashboard: {exc}")
    if settings.dashboard_port:
        try:  # one line naming the setting, before Dash says it runs on a port another program holds
            check_port_free(settings.dashboard_host, settings.dashboard_port)
        except HostUnusable as exc:
            sys.exit(
                f"dashboard: {exc}: set DASHBOARD_HOST to an address of this machine (127.0.0.1); not starting"
            )
        except OSError as exc:
            sys.exit(
                f"dashboard: {exc}: set DASHBOARD_PORT to a free port "
                f"({another_port('DASHBOARD_PORT', settings.dashboard_port)}; {SECOND_STACK}); not starting"
            )
    from services.dashboard.app import create_app  # imports Dash/pandas: after settings are known good
    from shared.ledger.engine import describe, ledger_of

    app = create_app(
        ledger_of(settings),
        settings.dashboard_refresh_s,
        gateway_url=f"http://{settings.gateway_host}:{settings.gateway_port}",
    )
    if ring is not None:
        from services.dashboard.access import protect

        protect(app.server, basic, ring)
    logging.getLogger("dashboard").info(
        "ledger %s, http://%s:%d/",
        describe(ledger_of(settings)),
        settings.dashboard_host,
        settings.dashboard_port,
    )
    StopOnce(_leave_serving).install()  # Werkzeug's serve_forever ends on KeyboardInterrupt: exit 0
    try:
        app.run(host=settings.dashboard_host, port=settings.dashboard_port, debug=False)
    except KeyboardInterrupt:  # the signal came before Werkzeug's loop began (its banner, its socket)
        pass
    # The threads still running (a prefetch of the page's first view started by the last ``GET /``, Werkzeug's
    # request threads) are daemon threads; finalizing the interpreter under them aborted the process
    # (``terminate called without an active exception``, rc=-6, when one sat in a C++ extension's frame) or let
    # a late SIGTERM find the default action again (rc=-15). Nothing here needs finalizing: the dashboard only
    # reads the ledger.
    exit_now(0)


if __name__ == "__main__":
    main()
