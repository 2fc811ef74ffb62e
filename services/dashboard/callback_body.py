"""A callback request (``POST /_dash-update-component``) checked before Dash reads it.

Dash's renderer sends a JSON object: ``output`` (the callback's id in ``app.callback_map``), ``outputs``,
``inputs`` and ``state`` (one ``{"id", "property", "value"}`` per declared dependency, in order) and
``changedPropIds`` (dash ``_callback.py``, ``dash.py`` ``_initialize_context``, ``_prepare_callback``). Dash
indexes into that body without checking it, so a body that is not JSON, not an object, or of another shape
raised inside Dash: a 500 with an HTML page and a traceback in the log. :func:`problem` says what is wrong with
one (pure); :func:`guard` answers such a request 400 with that sentence (415 for a body that is not
``application/json``), before Dash sees it. A date picker's ``start_date``/``end_date`` must read as an ISO date
(what ``dcc.DatePickerRange`` sends; ``data.time_range`` reads its first ten characters).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import dash
import flask
import orjson

UPDATE_ROUTE = "_dash-update-component"
_DATES = ("start_date", "end_date")
_SHOWN = 80  # characters of a client's value quoted in a message


def problem(body: Any, callbacks: Mapping[str, Mapping[str, Any]]) -> str | None:
    """What makes ``body`` (a decoded JSON value) no callback request of these ``callbacks`` (Dash's
    ``callback_map``), as a sentence; None when Dash can take it."""
    if type(body) is not dict:
        return "the body must be a JSON object (a Dash callback request)"
    output = body.get("output")
    if type(output) is not str:
        return "'output' must be a string naming one of the dashboard's callbacks"
    callback = callbacks.get(output)
    if callback is None:
        return f"'output' names no callback of this dashboard: {output[:_SHOWN]!r}"
    for key in ("inputs", "state"):
        wrong = _dependencies(key, body.get(key, None if key == "inputs" else []), callback.get(key) or [])
        if wrong is not None:
            return wrong
    outputs = body.get("outputs")  # absent from older renderers' requests (Dash reads the output's id then)
    if outputs is not None and not (_named(outputs) or type(outputs) is list and all(map(_named, outputs))):
        return "'outputs' must be an object with 'id' and 'property', or a list of them"
    changed = body.get("changedPropIds", [])
    if type(changed) is not list or not all(type(c) is str for c in changed):
        return "'changedPropIds' must be a list of strings"
    return None


def _dependencies(key: str, given: Any, declared: list[Mapping[str, Any]]) -> str | None:
    if type(given) is not list or len(given) != len(declared):
        return (
            f"'{key}' must be a list of the callback's {len(declared)} {key} ({{'id', 'property', 'value'}})"
        )
    for i, (item, want) in enumerate(zip(given, declared, strict=True)):
        if not _named(item) or item["id"] != want["id"] or item["property"] != want["property"]:
            return (
                f"'{key}[{i}]' must be {{'id': {want['id']!r}, 'property': {want['property']!r}, 'value': …}}"
            )
        if want["property"] in _DATES and not _date_or_none(item.get("value")):
            return f"'{key}[{i}].value' must be an ISO date (YYYY-MM-DD) or null: {str(item.get('value'))[:_SHOWN]!r}"
    return None


def _named(item: Any) -> bool:
    return type(item) is dict and isinstance(item.get("id"), str | dict) and type(item.get("property")) is str


def _date_or_none(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is not str:
        return False
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def guard(app: dash.Dash) -> None:
    """Answer a malformed callback request to ``app`` with a 400 naming what is wrong (plain text), before Dash
    reads it; one whose body is not JSON by its ``Content-Type`` with a 415."""
    path = f"{app.config.routes_pathname_prefix}{UPDATE_ROUTE}"

    def check() -> flask.Response | None:
        request = flask.request
        if request.path != path or request.method != "POST":
            return None
        if not request.is_json:
            return _refused(415, "a Dash callback request must be application/json")
        try:
            body = orjson.loads(request.get_data(cache=True))  # kept: Dash reads it again
        except orjson.JSONDecodeError:
            return _refused(400, "the body is not valid JSON (a Dash callback request is a JSON object)")
        wrong = problem(body, app.callback_map)
        return None if wrong is None else _refused(400, wrong)

    app.server.before_request(check)


def _refused(status: int, message: str) -> flask.Response:
    return flask.Response(f"bad callback request: {message}\n", status, mimetype="text/plain")
