"""Dashboard callbacks and ``GET /usage`` at scale, against the 500 ms budget.

    .venv/bin/python bench/bench_queries.py [--rows 1000000] [--days 30] [--db PATH] [--repeat 7]
                                            [--engine {sqlite,postgresql,both}]
                                            [--no-browser | --only {callbacks,usage,browser} ...]

Seeds ``--rows`` synthetic requests over ``--days`` days into a temporary ledger (or reuses ``--db``
when it exists; a reused ledger's data ends when it was seeded) and opens it as the recorder does (schema
migrations: an older ledger is upgraded; rollups and latency lists rebuilt where they disagree with the rows).
With PostgreSQL (``--engine postgresql`` or ``both``, the default) it also starts a private cluster
(``tests/pgserver.py``, the server's durable defaults), moves the same rows there with the recorder's own
move command (``services.recorder.migrate_to_postgres``) and runs ``ANALYZE``. Then, on each engine, times:

* each dashboard callback body (exactly what Dash calls) for every time preset and some filters;
* each ``/usage`` variant over HTTP against a tiny aiohttp app that mounts ``setup_usage_routes``;
* with Chromium available, full page loads and preset switches of the real dashboard process, each
  until the page is complete: no callback pending, KPIs, status line and table filled, and all six
  charts drawn with their traces (after a click: with figures other than those shown before it).

Prints p50/max per call, their ratio to the budget and PASS/FAIL per call; writes
bench/results/queries-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from services.dashboard.components.widgets import CHARTS, chart_id
from services.dashboard.pages import overview
from services.gateway.usage_api import setup_usage_routes
from services.recorder.seed import seed
from services.recorder.store import Store
from shared.ledger.engine import dispose, is_postgres
from shared.ledger.params import parse_query
from shared.ledger.queries import cube

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
BUDGET_MS = 500.0
PRESETS = ("1h", "24h", "7d", "30d")
PARTS = ("callbacks", "usage", "browser")


@dataclass
class Timing:
    """Samples (ms) of one measured call."""

    kind: str
    name: str
    samples: list[float] = field(default_factory=list)
    rows: int | None = None  # ledger rows in the call's time range
    note: str = ""

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def max(self) -> float:
        return max(self.samples)


def free_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows_in(path: str, span: str) -> int:
    return int(cube(path, parse_query({"from": span}))["requests"].sum())


def measure(kind: str, name: str, call: Callable[[], Any], repeat: int, rows: int | None = None) -> Timing:
    timing = Timing(kind, name, rows=rows)
    for _ in range(repeat):
        t0 = time.perf_counter()
        call()
        timing.samples.append((time.perf_counter() - t0) * 1000)
    progress(timing)
    return timing


def progress(t: Timing) -> None:
    """One line per measured call as soon as it is measured (the table comes at the end)."""
    print(f"  {t.name}: p50 {t.p50:.1f} ms, max {t.max:.1f} ms", flush=True)


def bench_callbacks(path: str, repeat: int) -> list[Timing]:
    """The dashboard's callback bodies, called directly."""
    out = []
    for preset in PRESETS:
        rows = rows_in(path, preset)
        out.append(
            measure(
                "callback",
                f"update_overview {preset}",
                lambda p=preset: overview.overview_outputs(path, "http://gw", p, None, None, None, None),
                repeat,
                rows,
            )
        )
        out.append(
            measure(
                "callback",
                f"update_table {preset}",
                lambda p=preset: overview.table_outputs(path, p, None, None, None, None),
                repeat,
                rows,
            )
        )
        out.append(
            measure(
                "callback",
                f"update_options {preset}",
                lambda p=preset: overview.options_outputs(path, p, None, None, None),
                repeat,
                rows,
            )
        )
    rows = rows_in(path, "30d")
    out.append(
        measure(
            "callback",
            "update_overview 30d provider=anthropic,xai",
            lambda: overview.overview_outputs(
                path, "http://gw", "30d", None, None, ["anthropic", "xai"], None
            ),
            repeat,
            rows,
        )
    )
    out.append(
        measure(
            "callback",
            "update_overview 30d model=gpt-4o",
            lambda: overview.overview_outputs(path, "http://gw", "30d", None, None, None, ["gpt-4o"]),
            repeat,
            rows,
        )
    )
    # The newest-requests table filtered (schema version 8: no per-provider or per-model index on SQLite,
    # the per-key index kept).
    out.append(
        measure(
            "callback",
            "update_table 30d provider=anthropic,xai",
            lambda: overview.table_outputs(path, "30d", None, None, ["anthropic", "xai"], None),
            repeat,
            rows,
        )
    )
    out.append(
        measure(
            "callback",
            "update_table 30d model=x-ai/grok-4",
            lambda: overview.table_outputs(path, "30d", None, None, None, ["x-ai/grok-4"]),
            repeat,
            rows,
        )
    )
    out.append(
        measure(
            "callback",
            "update_table 30d key=ci",  # along requests_key_started (the seeded rows have no key)
            lambda: overview.table_outputs(path, "30d", None, None, None, None, keys=["ci"]),
            repeat,
            rows,
        )
    )
    out.append(measure("callback", "dates_style (toggle)", lambda: overview.dates_style("custom"), repeat))
    return out


USAGE_VARIANTS = [
    f"from={s}" + (f"&group_by={g}" if g else "")
    for s in PRESETS
    for g in ("", "provider", "model", "day", "hour")
] + [
    "from=30d&provider=openai&status=error&group_by=model",
    "from=30d&model=claude-sonnet-4-5&group_by=hour",
    "from=30d&status=429&group_by=provider",
    "from=1h&format=csv",
]


async def bench_usage(path: str, repeat: int) -> list[Timing]:
    """``GET /usage`` over HTTP; CSV of 30 days measured to the first byte and to the end."""
    app = web.Application()
    setup_usage_routes(app, path)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}/usage?"
    out = []
    try:
        async with aiohttp.ClientSession() as session:
            for variant in USAGE_VARIANTS:
                timing = Timing(
                    "usage", f"GET /usage?{variant}", rows=rows_in(path, variant.split("&")[0][5:])
                )
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    async with session.get(base + variant) as response:
                        assert response.status == 200, await response.text()
                        await response.read()
                    timing.samples.append((time.perf_counter() - t0) * 1000)
                progress(timing)
                out.append(timing)
            first = Timing("usage", "GET /usage?from=30d&format=csv (first byte)", rows=rows_in(path, "30d"))
            whole = Timing("usage-export", "GET /usage?from=30d&format=csv (whole file)", rows=first.rows)
            for _ in range(max(2, repeat // 3)):
                t0 = time.perf_counter()
                size = 0
                async with session.get(base + "from=30d&format=csv") as response:
                    async for chunk in response.content.iter_any():
                        if not size:
                            first.samples.append((time.perf_counter() - t0) * 1000)
                        size += len(chunk)
                whole.samples.append((time.perf_counter() - t0) * 1000)
                whole.note = (
                    f"{size / 1e6:.0f} MB, {(first.rows or 0) / (whole.samples[-1] / 1000):,.0f} rows/s"
                )
            out += [first, whole]
    finally:
        await runner.cleanup()
    return out


def bench_browser(path: str, repeat: int) -> list[Timing]:
    """Full page loads and preset switches of ``python -m services.dashboard`` in headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By

    port = free_port()
    env = {
        **os.environ,
        **({"DATABASE_URL": path} if is_postgres(path) else {"DATABASE_PATH": path}),
        "DASHBOARD_HOST": "127.0.0.1",
        "DASHBOARD_PORT": str(port),
        "DASHBOARD_REFRESH": "0",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "services.dashboard"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--window-size=1400,1000",
    ):
        options.add_argument(flag)
    driver = None
    # Done: no callback pending, KPIs and status filled, table rows shown, and each of the six charts has
    # drawn traces of its current figure (after a click: a figure other than the one shown before it).
    charts = json.dumps([chart_id(name) for name in CHARTS])
    done = f"""
        const charts = {charts}.map(id => document.querySelector('#' + id + ' .js-plotly-plot'));
        const before = window.__benchBefore || [], kpi = document.getElementById('ov-kpi-requests');
        if (!kpi || kpi.textContent === '—' || document.querySelectorAll('[data-dash-is-loading="true"]').length
            || !document.querySelector('#ov-table td')
            || charts.some((gd, i) => !gd || !gd._fullLayout || !gd.data || !gd.data.length
                                      || gd.data === before[i] || !gd.querySelector('.main-svg .trace'))) return '';
        return document.getElementById('ov-status').textContent;"""
    snapshot = (
        f"window.__benchBefore = {charts}.map(id => document.querySelector('#' + id + ' .js-plotly-plot').data);"
        " return document.getElementById('ov-status').textContent"
    )

    def wait(previous: str = "") -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            status = driver.execute_script(done)
            if status and status != previous:
                return
            time.sleep(0.005)
        raise TimeoutError("the dashboard did not finish rendering")

    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 30
        while subprocess.call(["curl", "-sf", "-o", "/dev/null", url]) != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        driver = webdriver.Chrome(options=options)
        driver.get(url)
        wait()  # warm-up: browser caches the Dash and Plotly bundles
        load = Timing(
            "browser", "page load, default 24h (navigation to last chart drawn)", rows=rows_in(path, "24h")
        )
        for _ in range(repeat):
            t0 = time.perf_counter()
            driver.get(url)
            wait()
            load.samples.append((time.perf_counter() - t0) * 1000)
        out = [load]
        for preset in ("30d", "7d", "1h"):
            switch = Timing(
                "browser",
                f"switch preset to {preset} (click to last chart drawn)",
                rows=rows_in(path, preset),
            )
            for _ in range(repeat):  # the page shows 24 h here: switch to the preset, measure, switch back
                for target in (preset, "24h"):
                    previous = driver.execute_script(snapshot)
                    t0 = time.perf_counter()
                    driver.find_element(By.CSS_SELECTOR, f"#ov-range input[value='{target}']").click()
                    wait(previous)
                    if target == preset:
                        switch.samples.append((time.perf_counter() - t0) * 1000)
            out.append(switch)
        return out
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(timeout=10)


def report(timings: list[Timing], meta: dict[str, Any]) -> None:
    """Print the table and write the JSON results file."""
    print(f"\n{'call':<80} {'rows in range':>13} {'p50 ms':>8} {'max ms':>8} {'p50/500':>8} {'max/500':>8}")
    for t in timings:
        rows = f"{t.rows:,}" if t.rows is not None else ""
        budget = t.kind != "usage-export"
        ratios = (
            f"{t.p50 / BUDGET_MS:>8.2f} {t.max / BUDGET_MS:>8.2f}" if budget else f"{'n/a':>8} {'n/a':>8}"
        )
        verdict = ("PASS" if t.max <= BUDGET_MS else "FAIL") if budget else ""
        print(f"{t.name:<80} {rows:>13} {t.p50:>8.1f} {t.max:>8.1f} {ratios} {verdict:>4}  {t.note}")
    over = [t.name for t in timings if t.kind != "usage-export" and t.max > BUDGET_MS]
    print(
        f"\n{len(timings)} calls, {len(over)} over the {BUDGET_MS:.0f} ms budget"
        + (f": {over}" if over else "")
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"queries-{time.strftime('%Y%m%d-%H%M%S')}.json"
    payload = {
        **meta,
        "budget_ms": BUDGET_MS,
        "results": [{**asdict(t), "p50_ms": t.p50, "max_ms": t.max} for t in timings],
    }
    out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {out}")


def measure_engine(engine: str, ledger: str, parts: set[str], repeat: int) -> list[Timing]:
    """Every measured call of ``parts`` against ``ledger``, named with the engine."""
    timings = bench_callbacks(ledger, repeat) if "callbacks" in parts else []
    if "usage" in parts:
        timings += asyncio.run(bench_usage(ledger, repeat))
    if "browser" in parts and shutil.which("chromedriver"):
        timings += bench_browser(ledger, repeat)
    elif "browser" in parts:
        print("chromedriver not found: browser timings skipped (make browser)")
    dispose(ledger)
    for t in timings:
        t.name = f"[{engine}] {t.name}"
    return timings


def postgres_copy(server: Any, path: str, meta: dict[str, Any]) -> str:
    """A database in ``server`` holding the rows of the SQLite ledger at ``path`` (moved, then analysed)."""
    from services.recorder import migrate_to_postgres

    server.psql("CREATE DATABASE bench")
    url = server.url("bench")
    t0 = time.perf_counter()
    moved = asyncio.run(migrate_to_postgres.move(path, url))
    asyncio.run(upgrade_postgres(url))
    server.psql("VACUUM ANALYZE", "bench")
    meta["postgres_move_s"] = round(time.perf_counter() - t0, 1)
    meta["postgres_rows"] = int(server.psql("SELECT count(*) FROM requests", "bench"))
    print(f"moved {moved.inserted:,} rows into PostgreSQL in {meta['postgres_move_s']} s", flush=True)
    return url


async def upgrade_postgres(url: str) -> None:
    """Open the moved database as a recorder would after the move: the latency lists' parts of every batch
    compacted (pg_store's repair at open)."""
    from services.recorder.pg_store import PgStore

    store = await PgStore.open(url)
    await store.close()


async def upgrade(path: str) -> None:
    """Open the ledger as the recorder does: its schema migrations (a reused ledger of an older version is
    upgraded), rollups and latency lists rebuilt where they disagree with the rows."""
    store = await Store.open(path)
    await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--db", help="ledger to reuse (seeded there first if missing)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--no-browser", action="store_true", help="same as --only callbacks usage")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="measure only these parts (e.g. `--db /tmp/x.db --only browser` to iterate on the page)",
    )
    args = parser.parse_args()
    parts = set(args.only) - ({"browser"} if args.no_browser else set())
    tmp = None if args.db else tempfile.mkdtemp(prefix="ekai-bench-")
    path = args.db or os.path.join(tmp, "usage.db")
    meta: dict[str, Any] = {
        "db": path,
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "parts": sorted(parts),
    }
    try:
        if not os.path.exists(path):
            t0 = time.perf_counter()
            asyncio.run(seed(path, args.rows, args.days))
            meta["seed_s"] = round(time.perf_counter() - t0, 1)
            print(f"seeded {args.rows:,} rows over {args.days:g} days in {meta['seed_s']} s")
        asyncio.run(upgrade(path))
        with closing(sqlite3.connect(path)) as conn:
            meta["rows"] = conn.execute("SELECT count(*) FROM requests").fetchone()[0]
        timings = []
        if args.engine in ("sqlite", "both"):
            timings += measure_engine("sqlite", path, parts, args.repeat)
        if args.engine in ("postgresql", "both"):
            sys.path.insert(0, str(REPO))  # tests/pgserver.py: the tests' private cluster
            from tests.pgserver import PgServer

            server = PgServer.start(durable=True)
            try:
                meta["postgresql"] = server.psql("SHOW server_version")
                url = postgres_copy(server, path, meta)
                timings += measure_engine("postgresql", url, parts, args.repeat)
            finally:
                server.stop()
        report(timings, meta)
        return 0 if all(t.max <= BUDGET_MS for t in timings if t.kind != "usage-export") else 1
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
