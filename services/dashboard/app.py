"""The dashboard's Dash app factory. Reads the ledger only (read-only SQLite connections).

One page for now (:mod:`services.dashboard.pages.overview`); callbacks are registered on the app
instance rather than through ``dash.register_page``/``dash.callback`` globals, so tests can build
several apps against different databases in one process.
"""

from __future__ import annotations

from pathlib import Path

import dash

from services.dashboard.pages import overview

ASSETS = Path(__file__).with_name("assets")


def create_app(database_path: str, refresh_s: float, *, gateway_url: str = "http://127.0.0.1:3001") -> dash.Dash:
    """Build the dashboard for the ledger at ``database_path``, refreshing every ``refresh_s`` seconds.

    ``gateway_url`` only appears in the empty-state hint (how to send a first request).
    """
    # update_title=None (documented: the tab title stays put while callbacks run), but dash annotates it str.
    app = dash.Dash(__name__, title="Ekai Gateway · usage", assets_folder=str(ASSETS), update_title=None)  # type: ignore[arg-type]
    app.layout = lambda: overview.layout(refresh_s)
    overview.register_callbacks(app, database_path, gateway_url)
    return app
