"""The dashboard's Dash app factory. Reads the ledger only (read-only SQLite connections).

One page for now (:mod:`services.dashboard.pages.overview`); callbacks are registered on the app
instance rather than through ``dash.register_page``/``dash.callback`` globals, so tests can build
several apps against different databases in one process.

How the page opens fast (the first paint is what people wait for; ``bench/bench_queries.py``):

* the layout is a function that arrives filled in (KPIs, charts, table and drop-down choices of the
  default range), so the first paint needs no callback round trip; the callbacks don't run on load
  (``prevent_initial_call``), only when a control changes or the refresh interval fires;
* serving the page's HTML starts computing those values (:class:`Prefetch`): the browser asks for the
  layout only once it has run the page's scripts, by when they are (nearly) ready;
* plotly.js is a script of the page, run before the layout arrives, rather than fetched by the first
  ``dcc.Graph`` after it; it is the vendored *basic* bundle (``vendor/README.md``), a quarter of the
  full one; the lazily loaded chunks of the graph, drop-down, date-picker and table components are
  deferred scripts of the page too; all of them are fingerprinted, so the browser keeps them for good;
* the browser's own ``String.prototype.trim`` and ``parseInt`` stay in place (see ``_NATIVES_SAVE``).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Generic, TypeVar

import dash
import flask
import plotly
from dash.fingerprint import build_fingerprint
from plotly.offline import get_plotlyjs_version

from services.dashboard import callback_body
from services.dashboard.pages import overview

ASSETS = Path(__file__).with_name("assets")
VENDOR = Path(__file__).with_name("vendor")
# Lazily loaded chunks of the components on the page: (module, file), as listed in the modules' _js_dist.
CHUNKS = (
    ("dcc", "async-graph.js"),
    ("dcc", "async-dropdown.js"),
    ("dcc", "async-datepicker.js"),
    ("dash_table", "async-table.js"),
    ("dash_table", "async-highlight.js"),
)
# Dash's first script, @babel/polyfill 7 (core-js 2), swaps String.prototype.trim and parseInt/parseFloat
# for slow JavaScript versions in current browsers (its whitespace test predates Unicode 6.3), which
# plotly.js then runs for every colour it parses: ~15 ms a page load. The page keeps the browser's own.
_NATIVES_SAVE = (
    "<script>window.__dashboardNatives = [[String.prototype, ['trim', 'trimStart', 'trimEnd', "
    "'trimLeft', 'trimRight']], [window, ['parseInt', 'parseFloat']], [Number, ['parseInt', "
    "'parseFloat']]].map(([o, names]) => [o, names.map(n => [n, o[n]])]);</script>\n"
)
_NATIVES_RESTORE = (
    "\n<script>for (const [o, fs] of window.__dashboardNatives) for (const [n, f] of fs) "
    "if (f && o[n] !== f) Object.defineProperty(o, n, {value: f, writable: true, configurable: true, "
    "enumerable: false}); delete window.__dashboardNatives;</script>"
)
T = TypeVar("T")


class Prefetch(Generic[T]):
    """A value computed ahead of its request: :meth:`start` computes one in a thread, :meth:`take` returns it.

    ``take`` returns the oldest value started less than ``max_age_s`` ago (waiting for it if needed),
    or computes one when there is none. At most ``keep`` values are kept waiting: ``start`` does nothing
    while that many are. Each value gets a thread of its own, which ends with it. ``clock`` gives
    monotonic seconds (injected by tests).
    """

    def __init__(
        self,
        compute: Callable[[], T],
        max_age_s: float = 5.0,
        keep: int = 2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._clock = clock
        self._max_age_s = max_age_s
        self._keep = keep
        self._lock = threading.Lock()
        self._jobs: deque[tuple[float, Future[T]]] = deque()

    def start(self) -> None:
        """Start computing a value for a ``take`` to come."""
        with self._lock:
            self._drop_stale()
            if len(self._jobs) >= self._keep:
                return
            job: Future[T] = Future()
            self._jobs.append((self._clock(), job))
        threading.Thread(target=self._run, args=(job,), name="dashboard-prefetch", daemon=True).start()

    def take(self) -> T:
        """A value started recently, else a fresh one."""
        with self._lock:
            self._drop_stale()
            job = self._jobs.popleft()[1] if self._jobs else None
        return job.result() if job is not None else self._compute()

    def _drop_stale(self) -> None:
        while self._jobs and self._clock() - self._jobs[0][0] > self._max_age_s:
            self._jobs.popleft()

    def _run(self, job: Future[T]) -> None:
        job.set_running_or_notify_cancel()
        try:
            job.set_result(self._compute())
        except Exception as exc:  # raised by take(), where the layout is served
            job.set_exception(exc)
        except BaseException:  # this thread is being stopped: don't leave a take() waiting for good
            job.set_exception(RuntimeError("the prefetch thread was stopped"))
            raise


class _Dashboard(dash.Dash):
    """Dash, where serving the page (``GET /``) starts computing the values its layout opens with."""

    first_view: Prefetch[overview.View] | None = None

    def index(self, *args: Any, **kwargs: Any) -> Any:
        if self.first_view is not None:
            self.first_view.start()
        return super().index(*args, **kwargs)  # type: ignore[no-untyped-call]


def create_app(ledger: str, refresh_s: float, *, gateway_url: str = "http://127.0.0.1:3001") -> dash.Dash:
    """Build the dashboard for ``ledger`` (a SQLite path or a PostgreSQL URL: :mod:`shared.ledger.engine`),
    refreshing every ``refresh_s`` seconds.

    ``gateway_url`` only appears in the empty-state hint (how to send a first request).
    """
    # update_title=None (documented: the tab title stays put while callbacks run), but dash annotates it str.
    # add_log_handler=False: Dash would give its logger a stdout handler of its own, and its lines ("Dash is
    # running on …") would then print twice, there and through the root logger the process configured.
    app = _Dashboard(
        __name__,
        title="Ekai Gateway · usage",
        assets_folder=str(ASSETS),
        update_title=None,  # type: ignore[arg-type]
        add_log_handler=False,
    )
    app.config.external_scripts.extend([_plotly_script(app), *_chunk_scripts(app)])
    app.index_string = app.index_string.replace(
        "{%scripts%}", _NATIVES_SAVE + "{%scripts%}" + _NATIVES_RESTORE
    )
    first_view: Prefetch[overview.View] = Prefetch(lambda: overview.first_view(ledger, gateway_url))
    app.first_view = first_view
    # Dash checks callbacks against this one instead of calling the layout function when it starts.
    app.validation_layout = overview.layout(refresh_s)  # type: ignore[assignment]  # dash annotates it None
    app.layout = lambda: overview.layout(refresh_s, first_view.take())
    overview.register_callbacks(app, ledger, gateway_url)
    callback_body.guard(app)  # a malformed callback request: a 400 saying why, not a 500 from inside Dash
    return app


def _fingerprinted(app: dash.Dash, namespace: str, relative: str, path: str, version: str) -> str | None:
    """The long-cached URL Dash serves file ``path`` (``relative`` in package ``namespace``) under, if it exists."""
    if not os.path.isfile(path):
        return None
    name = build_fingerprint(relative, version, int(os.stat(path).st_mtime))  # type: ignore[no-untyped-call]
    return f"{app.config.requests_pathname_prefix}_dash-component-suites/{namespace}/{name}"


def _plotly_script(app: dash.Dash) -> dict[str, str]:
    """The plotly.js script: the vendored basic bundle of the installed plotly's version, else the full one."""
    version = get_plotlyjs_version()
    basic = VENDOR / f"plotly-basic-{version}.min.js"
    if basic.is_file():
        route = f"_dashboard-vendor/{basic.name}"
        app.server.add_url_rule(
            f"{app.config.routes_pathname_prefix}{route}",
            "dashboard_plotly_basic",
            lambda: flask.send_file(basic, mimetype="text/javascript", max_age=365 * 86400),
        )
        return {"src": f"{app.config.requests_pathname_prefix}{route}"}
    relative = "package_data/plotly.min.js"
    full = _fingerprinted(
        app, "plotly", relative, os.path.join(os.path.dirname(plotly.__file__), relative), plotly.__version__
    )
    return {"src": full or f"{app.config.requests_pathname_prefix}_dash-component-suites/plotly/{relative}"}


def _chunk_scripts(app: dash.Dash) -> list[dict[str, str]]:
    """Deferred scripts for the components' lazily loaded chunks (any missing from this Dash: skipped)."""
    scripts = []
    for module_name, chunk in CHUNKS:
        module = getattr(dash, module_name)
        path = os.path.join(os.path.dirname(module.__file__), chunk)
        url = _fingerprinted(app, "dash", f"{module_name}/{chunk}", path, module.__version__)
        if url is not None:
            scripts.append({"src": url, "defer": "defer"})
    return scripts
