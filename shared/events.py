"""The one event schema: a request-completed event, published by the gateway, stored by the recorder.

Field names are the ledger's column names (see ``services/recorder/schema.sql``), so anyone can query
the database with the same words the code uses. Token buckets are disjoint: ``input_tokens`` excludes
cache reads and cache writes, ``output_tokens`` includes reasoning tokens (``reasoning_tokens`` is a
breakdown of it, for information), ``cache_write_tokens`` includes 1-hour writes
(``cache_write_1h_tokens`` is the breakdown that prices them).

On the wire an event is one orjson-encoded JSON object carrying ``schema_version`` (:func:`encode`), or,
since issue 13's recorder work, a JSON array of its fields' values in ``FIELD_NAMES`` order
(:func:`encode_row`: the ledger's column order, so the recorder binds it as it is; the gateway sends these
under its own message kind, see ``services/gateway/publisher.py``). Fields are only ever appended to
``UsageEvent`` (the ledger's columns are appended the same way: ``services/recorder/schema.sql``), so an
array is read by position: values past the fields this version knows (a newer gateway) are ignored, and
fields past the array's end (an older one) take their defaults, as unknown and missing keys of an object do.
:func:`decode` reads both forms.
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

SCHEMA_VERSION = 2
_rng = random.Random()  # event ids' own generator: no random.seed() elsewhere (a test's) repeats them
os.register_at_fork(after_in_child=_rng.seed)  # a forked child draws its own bits, fresh from os.urandom
_random_bits = _rng.getrandbits


def new_event_id(now_ms: int | None = None) -> str:
    """A time-ordered event id: a UUID version 7 (RFC 9562, section 5.7) as 32 lowercase hex digits.

    48 bits of unix time in milliseconds (``now_ms``, default the clock), the version ``7``, 74 random bits
    and the RFC variant. Ids made later sort later (to the millisecond), so the ledger's UNIQUE index on
    ``event_id`` takes each insert near its end instead of at a random page (bench/bench_recorder.py).
    The random bits come from a private ``random.Random`` (CPython's Mersenne Twister, seeded from
    ``os.urandom`` at import and again in a forked child): an id must be unique, not secret, and this
    costs no ``getrandom`` system call (``secrets`` made one per event; issue 13).
    """
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    rand = _random_bits(74)
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | (rand >> 62) << 64 | 0b10 << 62 | (rand & (2**62 - 1))
    return f"{value:032x}"


def keyed_event_id(*parts: str) -> str:
    """The event id of a fact the ledger must hold once, whoever reports it and however often: the same
    ``parts`` always give the same id, so the recorder's ``ON CONFLICT (event_id) DO NOTHING`` keeps the
    first report and drops the others (gateway workers, restarts, resends alike).

    A UUID version 8 (RFC 9562, section 5.8: custom bits) as 32 lowercase hex digits, like
    :func:`new_event_id`'s: the first 122 bits of the SHA-256 of the parts, each UTF-8 and followed by a NUL
    (no two different tuples of parts hash the same text), with the version ``8`` and the RFC variant. It
    never equals a :func:`new_event_id` (version 7). Used for a background Responses answer's usage
    (``services/gateway/calls.row_for``; docs/responses.md, "Background responses in the ledger").
    """
    digest = hashlib.sha256(b"".join(p.encode() + b"\0" for p in parts)).digest()
    value = int.from_bytes(digest[:16])
    value = (value & ~(0xF << 76) | 0x8 << 76) & ~(0b11 << 62) | 0b10 << 62
    return f"{value:032x}"


def is_keyed(event_id: object) -> bool:
    """Whether ``event_id`` is a :func:`keyed_event_id` (its UUID version digit, the 13th, is ``8``): an event
    that may arrive in several copies from several processes, all one row.

    Total: any value gives ``True`` or ``False``, never an exception. A wire event's ``event_id`` is whatever
    JSON its sender wrote (:func:`decode` does not check its type), so a number, ``null``, a list or an
    object is not keyed, nor is a string that is not 32 lowercase hex digits (RFC 9562, section 4: a UUID's
    hex form; :func:`keyed_event_id` writes it lowercase)."""
    return (
        isinstance(event_id, str)
        and len(event_id) == 32
        and event_id[12] == "8"
        and _LOWER_HEX.issuperset(event_id)
    )


_LOWER_HEX = frozenset("0123456789abcdef")


@dataclass(slots=True)
class FailedAttempt:
    """One upstream attempt that did not answer the request (the router moved on, or gave up)."""

    provider: str
    status: int | None  # HTTP status from the provider; None for connection errors and timeouts
    error_type: str
    message: str = ""


@dataclass(slots=True)
class BilledAttempt(FailedAttempt):
    """A failed attempt its provider billed (an answer the server cut, with its usage; session 27): what it
    billed, ``input_tokens`` and ``output_tokens``, and its ``cost_usd`` (None when its price is unknown). The
    event's ``cost_usd`` includes that cost (the request's whole cost); its token columns are the answer's. Only
    such attempts carry these fields in ``failed_attempts`` (the usual failure's JSON is unchanged). Its other
    buckets, as the event's columns (disjoint: ``input_tokens`` excludes cache reads and writes), after the cost so
    that positional constructions keep their meaning: cache reads, cache writes and their 1-hour part, reasoning
    (bill35: a failed attempt's cache tokens were only in its cost, not in the ledger; 0 from an older gateway)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(slots=True)
class UsageEvent:
    """What happened to one request. One event per request, success or failure."""

    request_id: str
    endpoint: str
    client_format: str  # "openai_chat" | "anthropic" | "openai_responses"
    model: str  # the model name the client asked for
    event_id: str = field(default_factory=new_event_id)
    schema_version: int = SCHEMA_VERSION
    started_at: float = field(default_factory=time.time)  # unix seconds
    finished_at: float = 0.0
    provider: str | None = None  # the provider that answered (or the last one tried)
    provider_format: str | None = None  # the wire format spoken to the provider
    translated: bool = False  # client and provider formats differed
    served_model: str | None = None  # the model name the provider reported
    status: int = 0  # HTTP status the client received
    error_type: str | None = None
    streamed: bool = False
    client_disconnected: bool = False
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float | None = None  # None when the price is unknown: never a silent 0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    attempts: int = 0
    failed_attempts: list[FailedAttempt] = field(default_factory=list)
    # Attribution (schema version 2): who and what sent the request. Header values are trimmed to
    # plain printable text (services/gateway/attribution.py); None when not sent.
    api_key_name: str | None = None  # the gateway key's name (never the key); None when keys are off
    session_id: str | None = None  # Claude Code's x-claude-code-session-id, Codex's session-id
    agent_id: str | None = None  # Claude Code's x-claude-code-agent-id (subagents)
    client: str | None = None  # name/version from the User-Agent: claude-cli/2.1.332, openai-python/1.109.1
    request_class: str | None = None  # Claude Code's x-claude-code-request-class hint (main, subagent, …)
    budget_alert: str | None = (
        None  # "80%", "95%" or "100%" of the key's budget, on the request that saw it first
    )
    cache_write_1h_tokens: int = 0  # the part of cache_write_tokens written with the 1-hour TTL
    web_search_requests: int = 0  # server-side web searches, billed per search
    # What the request would have cost with no prompt caching minus what it cost: reads save the input
    # price minus the cache-read price per token, writes cost their premium over input (can be negative).
    # None when the price is unknown.
    cache_savings_usd: float | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_write_tokens


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(UsageEvent))
_FIELD_SET = frozenset(FIELD_NAMES)


def to_dict(event: UsageEvent) -> dict[str, Any]:
    return dataclasses.asdict(event)


def encode(event: UsageEvent) -> bytes:
    """Serialise to the wire format (orjson): a JSON object of the fields."""
    return orjson.dumps(event)


Row = tuple[Any, ...]  # an event's values in FIELD_NAMES order (``failed_attempts`` a list of FailedAttempt)


def _at(name: str) -> int:
    """``name``'s position in a :data:`Row`: ``FIELD_NAMES.index(name)``. A name ``UsageEvent`` lacks (a
    renamed or removed field) fails the import with ``ImportError`` naming it, not a ledger row later."""
    try:
        return FIELD_NAMES.index(name)
    except ValueError:
        raise ImportError(
            f"shared.events: UsageEvent has no field {name!r} (a row position names it)"
        ) from None


# Positions in a Row of the fields read by position (services/gateway/metrics.py, publisher.py,
# services/recorder/batch_rollup.py): each is ``FIELD_NAMES.index`` of its field, so none can be wrong, and
# a field added to ``UsageEvent`` needs none of them changed.
REQUEST_ID = _at("request_id")
ENDPOINT = _at("endpoint")
CLIENT_FORMAT = _at("client_format")
MODEL = _at("model")
EVENT_ID = _at("event_id")
SCHEMA_VERSION_AT = _at("schema_version")
STARTED_AT = _at("started_at")
FINISHED_AT = _at("finished_at")
PROVIDER = _at("provider")
PROVIDER_FORMAT = _at("provider_format")
TRANSLATED = _at("translated")
SERVED_MODEL = _at("served_model")
STATUS = _at("status")
ERROR_TYPE = _at("error_type")
STREAMED = _at("streamed")
CLIENT_DISCONNECTED = _at("client_disconnected")
INPUT_TOKENS = _at("input_tokens")
OUTPUT_TOKENS = _at("output_tokens")
CACHE_READ_TOKENS = _at("cache_read_tokens")
CACHE_WRITE_TOKENS = _at("cache_write_tokens")
REASONING_TOKENS = _at("reasoning_tokens")
COST_USD = _at("cost_usd")
LATENCY_MS = _at("latency_ms")
TTFT_MS = _at("ttft_ms")
ATTEMPTS = _at("attempts")
FAILED_ATTEMPTS = _at("failed_attempts")
API_KEY_NAME = _at("api_key_name")
SESSION_ID = _at("session_id")
AGENT_ID = _at("agent_id")
CLIENT = _at("client")
REQUEST_CLASS = _at("request_class")
BUDGET_ALERT = _at("budget_alert")
CACHE_WRITE_1H_TOKENS = _at("cache_write_1h_tokens")
WEB_SEARCH_REQUESTS = _at("web_search_requests")
CACHE_SAVINGS_USD = _at("cache_savings_usd")

TOKEN_FIELDS: tuple[str, ...] = FIELD_NAMES[INPUT_TOKENS : REASONING_TOKENS + 1]
"""The token buckets, in ledger order (input, output, cache read, cache write, reasoning): the columns the
rollups and the readers sum (``services/recorder/rollups.py``, ``shared/ledger/``)."""

row_of: Callable[[UsageEvent], Row] = operator.attrgetter(*FIELD_NAMES)
"""An event's values in ``FIELD_NAMES`` order: its ledger row before the recorder's checks (one C call)."""


def encode_row(event: UsageEvent) -> bytes:
    """Serialise as a JSON array of the field values in ``FIELD_NAMES`` order (failed attempts as
    objects): about 40% of :func:`encode`'s bytes, and the recorder takes it as a ledger row without
    looking up 45 keys (``services/recorder/wire.py``). ``encode_values(row_of(event))``."""
    return orjson.dumps(row_of(event))


encode_values: Callable[[Row], bytes] = orjson.dumps
"""A :data:`Row` (``services/gateway/calls.row_for``'s) as :func:`encode_row`'s bytes: the same JSON array."""


def from_dict(data: dict[str, Any]) -> UsageEvent:
    known = {k: v for k, v in data.items() if k in _FIELD_SET}
    attempts = known.get("failed_attempts") or []
    known["failed_attempts"] = [a if isinstance(a, FailedAttempt) else _attempt(a) for a in attempts]
    return UsageEvent(**known)


def _attempt_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": str(data.get("provider", "")),
        "status": data.get("status"),
        "error_type": str(data.get("error_type", "")),
        "message": str(data.get("message", "")),
    }


def _attempt(data: dict[str, Any]) -> FailedAttempt:
    """A failed attempt as sent: a ``BilledAttempt`` when it carries what it billed, else a ``FailedAttempt``."""
    if "input_tokens" not in data and "output_tokens" not in data and "cost_usd" not in data:
        return FailedAttempt(**_attempt_fields(data))
    cost = data.get("cost_usd")
    return BilledAttempt(
        **_attempt_fields(data),
        input_tokens=_count(data.get("input_tokens")),
        output_tokens=_count(data.get("output_tokens")),
        cost_usd=float(cost) if isinstance(cost, (int, float)) else None,
        cache_read_tokens=_count(data.get("cache_read_tokens")),
        cache_write_tokens=_count(data.get("cache_write_tokens")),
        cache_write_1h_tokens=_count(data.get("cache_write_1h_tokens")),
        reasoning_tokens=_count(data.get("reasoning_tokens")),
    )


def _count(value: Any) -> int:
    """A billed attempt's token count as sent: an int, else 0."""
    return value if type(value) is int else 0


def decode(raw: bytes) -> UsageEvent:
    """Parse one wire message (:func:`encode`'s or :func:`encode_row`'s). Raises ``ValueError`` on anything
    that is not an event (among them an ``event_id`` that is not a string)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if isinstance(data, list):  # encode_row's form: the values by position
        data = dict(zip(FIELD_NAMES, data, strict=False))
    elif not isinstance(data, dict):
        raise ValueError("an event must be a JSON object or array")
    for required in ("request_id", "endpoint", "client_format", "model"):
        if required not in data:
            raise ValueError(f"event lacks {required!r}")
    # the id is a set/dict key and the ledger's text key: anything but a string is no event
    if "event_id" in data and not isinstance(data["event_id"], str):
        raise ValueError("event_id must be a string")
    try:
        return from_dict(data)
    except (TypeError, AttributeError) as exc:  # e.g. failed_attempts: [1] or "text"
        raise ValueError(str(exc)) from exc
