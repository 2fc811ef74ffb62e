"""``python -m services.dashboard``: serve the usage dashboard on DASHBOARD_HOST:DASHBOARD_PORT."""

from __future__ import annotations

import logging

from shared.settings import load_settings


def main() -> None:
    """Read settings from the environment and serve until interrupted."""
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s dashboard: %(message)s")
    if settings.log_level != "DEBUG":
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access line per callback is noise
    from services.dashboard.app import create_app  # imports Dash/pandas: after settings are known good

    app = create_app(settings.database_path, settings.dashboard_refresh_s,
                     gateway_url=f"http://{settings.gateway_host}:{settings.gateway_port}")
    logging.getLogger("dashboard").info("ledger %s, http://%s:%d/", settings.database_path,
                                        settings.dashboard_host, settings.dashboard_port)
    if settings.database_url:
        logging.getLogger("dashboard").warning(
            "DATABASE_URL is set but the dashboard does not read PostgreSQL yet: it shows the SQLite file %s, "
            "which the recorder no longer writes (docs/deployment.md)", settings.database_path)
    app.run(host=settings.dashboard_host, port=settings.dashboard_port, debug=False)


if __name__ == "__main__":
    main()
