"""``GET /usage``: the ledger's totals and per-group figures as JSON, or its raw rows as CSV.

Parameters: ``from``, ``to`` (ISO 8601, unix seconds, or spans like ``24h``, ``7d``; default the last
24 hours), ``provider``, ``model``, ``key`` (gateway key names), ``session`` and ``client``
(comma-separated lists), ``status`` (a code, ``ok`` or ``error``), ``group_by`` (provider, model, day,
hour, key, session, client), ``format`` (``json`` or ``csv``).
Unknown parameters are refused, so a typo does not silently widen the answer.

The ledger is the one the recorder writes (``DATABASE_URL``, else ``DATABASE_PATH``), read through
:mod:`shared.ledger`. Database work runs on this module's own small thread pool, never on the event loop,
and never on the loop's default executor (which aiohttp's DNS resolver needs). A ledger that cannot be
read (PostgreSQL down, a damaged SQLite file) is a 503 naming the reason, never the password.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from shared.events import FIELD_NAMES
from shared.ledger.engine import dispose
from shared.ledger.export import RowReader, read_rows
from shared.ledger.params import ParamError, iso, parse_group_by, parse_query
from shared.ledger.summary import summarize

PARAMS = frozenset(
    {"from", "to", "provider", "model", "status", "key", "session", "client", "group_by", "format"}
)
CSV_BATCH = 5000
LEDGER_KEY = web.AppKey("usage_ledger", str)
EXECUTOR_KEY = web.AppKey("usage_executor", ThreadPoolExecutor)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup_usage_routes(
    app: web.Application,
    ledger: str,
    wrap: Callable[[Handler], Handler] | None = None,
) -> None:
    """Register ``GET /usage`` on ``app``, reading ``ledger`` (a SQLite path or a PostgreSQL URL;
    :mod:`shared.ledger.engine`) read-only. ``wrap``: applied to the handler (the gateway's request
    context, ``context.contextual``)."""
    app[LEDGER_KEY] = ledger
    app.router.add_get("/usage", handle_usage if wrap is None else wrap(handle_usage))
    app.cleanup_ctx.append(_executor)


async def _executor(app: web.Application) -> AsyncIterator[None]:
    # Queries are short (≤ ~100 ms at 1M rows); four threads bound the load a burst of /usage can cause.
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="usage") as executor:
        app[EXECUTOR_KEY] = executor
        yield
    dispose(app[LEDGER_KEY])  # the pooled PostgreSQL connections, once no query runs any more


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def error_response(status: int, message: str, error_type: str, param: str | None = None) -> web.Response:
    """An OpenAI-style error body: ``{"error": {"message", "type", "param", "code": null}}``."""
    body = {"error": {"message": message, "type": error_type, "param": param, "code": None}}
    return web.json_response(body, status=status, dumps=_dumps)


async def handle_usage(request: web.Request) -> web.StreamResponse:
    """The ``GET /usage`` handler."""
    params = request.rel_url.query
    try:
        unknown = sorted(set(params) - PARAMS)
        if unknown:
            raise ParamError(
                unknown[0], f"unknown parameter {unknown[0]!r}; known: {', '.join(sorted(PARAMS))}"
            )
        q = parse_query(params)
        group_by = parse_group_by(params.get("group_by"))
        output = params.get("format", "json").lower()
        if output not in ("json", "csv"):
            raise ParamError("format", f"format must be json or csv, not {output!r}")
    except ParamError as exc:
        return error_response(400, exc.message, "invalid_request_error", exc.param)
    executor = request.app[EXECUTOR_KEY]
    path = request.app[LEDGER_KEY]
    try:
        if output == "csv":
            reader = await asyncio.wrap_future(executor.submit(read_rows, path, q, FIELD_NAMES))
            return await _stream_csv(request, executor, reader, q.start, q.end)
        summary = await asyncio.wrap_future(executor.submit(summarize, path, q, group_by))
    except SQLAlchemyError as exc:
        return error_response(503, f"the usage ledger cannot be read: {_reason(exc)}", "api_error")
    body = {"from": iso(q.start), "to": iso(q.end), "totals": summary.totals, "groups": summary.groups}
    return web.json_response(body, dumps=_dumps)


def _reason(exc: SQLAlchemyError) -> str:
    """The database's own message, without SQLAlchemy's SQL text and parameters (and so no URL)."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _csv_chunk(reader: RowReader, header: bool) -> bytes:
    """The next batch of rows as CSV (with the header first); b"" at the end. Runs on the pool."""
    rows = reader.fetch(CSV_BATCH)
    if not rows and not header:
        return b""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(reader.columns)
    writer.writerows(rows)
    return buffer.getvalue().encode()


async def _stream_csv(
    request: web.Request, executor: ThreadPoolExecutor, reader: RowReader, start: float, end: float
) -> web.StreamResponse:
    filename = f"usage-{iso(start)}-{iso(end)}.csv".replace(":", "")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
        }
    )
    pending: Future[bytes] | None = None
    try:
        await response.prepare(request)
        header = True
        while True:
            pending = executor.submit(_csv_chunk, reader, header)
            chunk = await asyncio.wrap_future(pending)
            if not chunk:
                break
            await response.write(chunk)
            header = False
        await response.write_eof()
    finally:
        # If the client went away mid-batch, the fetch may still be running on the pool:
        # close the connection only once it has finished (done callbacks run right away if it has).
        if pending is None:
            reader.close()
        else:
            pending.add_done_callback(lambda _: reader.close())
    return response
