"""What a ledger question is (:class:`Query`) and how to read one from request parameters.

Times: ISO 8601 (``2025-01-31``, ``2025-01-31T12:00:00Z``; no zone means UTC), unix seconds, ``now``,
or a span back from now: ``30m``, ``24h``, ``7d``, ``2w``, ``90s``.
Status: an HTTP code (``429``), ``ok`` (below 400) or ``error`` (400 and above).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

# The SQL text must match services/recorder/rollups.py's indexes exactly for SQLite to use them.
HOUR_EXPR = "CAST(started_at / 3600 AS INTEGER)"
DAY_EXPR = "CAST(started_at / 86400 AS INTEGER)"
# PostgreSQL's: its CAST(double AS integer) rounds, so floor (services/recorder/pg_store.py, shared/ledger/sql.py).
PG_HOUR_EXPR = "floor(started_at / 3600)::bigint"

GROUP_KEYS = ("provider", "model", "day", "hour", "key", "session", "client")
# Attribution groups and filters: parameter / Query field -> ledger column (schema version 2).
ATTRIBUTION_COLUMNS = {"key": "api_key_name", "session": "session_id", "client": "client"}
_SPAN = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class ParamError(ValueError):
    """A request parameter that cannot be understood; ``param`` names it."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class Query:
    """Requests with ``start <= started_at < end`` (unix seconds) matching the filters.

    Empty ``providers``/``models``/``keys``/``sessions``/``clients`` mean all; ``status`` is None,
    ``"ok"``, ``"error"`` or a code. ``keys`` are gateway key names (ledger column ``api_key_name``).
    """

    start: float
    end: float
    providers: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    status: str | None = None
    keys: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()

    @property
    def attributed(self) -> bool:
        """Whether a filter needs the attribution columns (which the hourly rollup does not have)."""
        return bool(self.keys or self.sessions or self.clients)


def parse_time(value: str, now: float) -> float:
    """Unix seconds for ``value`` (see the module docstring). Raises ``ValueError``."""
    text = value.strip()
    if text.lower() == "now":
        return now
    span = _SPAN.match(text.lower())
    if span:
        return now - float(span[1]) * _UNIT_S[span[2]]
    try:
        return float(text)
    except ValueError:
        pass
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_status(value: str | None) -> str | None:
    """Normalise a status filter; raises :class:`ParamError`."""
    if value is None or not value.strip():
        return None
    text = value.strip().lower()
    if text in ("ok", "error") or (text.isdigit() and 100 <= int(text) <= 599):
        return text
    raise ParamError("status", f"status must be an HTTP code, 'ok' or 'error', not {value!r}")


def parse_group_by(value: str | None) -> str | None:
    """One of :data:`GROUP_KEYS`, or None; raises :class:`ParamError`."""
    if value is None or not value.strip():
        return None
    if value.strip() in GROUP_KEYS:
        return value.strip()
    raise ParamError("group_by", f"group_by must be one of {', '.join(GROUP_KEYS)}, not {value!r}")


def _names(value: str | None) -> tuple[str, ...]:
    """A comma-separated list, deduplicated, order kept."""
    if not value:
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


def _time(params: Mapping[str, str], name: str, default: str, now: float) -> float:
    try:
        return parse_time(params.get(name) or default, now)
    except (ValueError, OverflowError):
        raise ParamError(
            name,
            f"{name!r} must be an ISO 8601 time, unix seconds or a span "
            f"like 30m, 24h, 7d; got {params.get(name)!r}",
        ) from None


def parse_query(params: Mapping[str, str], now: float | None = None, default_from: str = "24h") -> Query:
    """Build a :class:`Query` from ``from``, ``to``, ``provider``, ``model``, ``status``, ``key``,
    ``session`` and ``client`` parameters.

    ``provider``, ``model``, ``key``, ``session`` and ``client`` take comma-separated lists. Raises
    :class:`ParamError`.
    """
    now = time.time() if now is None else now
    start = _time(params, "from", default_from, now)
    end = _time(params, "to", "now", now)
    if start >= end:
        raise ParamError("from", "'from' must be earlier than 'to'")
    return Query(
        start,
        end,
        _names(params.get("provider")),
        _names(params.get("model")),
        parse_status(params.get("status")),
        _names(params.get("key")),
        _names(params.get("session")),
        _names(params.get("client")),
    )


def iso(ts: float) -> str:
    """Unix seconds as an ISO 8601 UTC time with a ``Z`` (second precision)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
