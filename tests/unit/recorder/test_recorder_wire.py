"""wire_row: the recorder's fast decoding gives exactly what decode() + event_row() give, or the same error."""

from __future__ import annotations

import typing
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.recorder import wire
from services.recorder.store import COLUMNS, event_row
from shared.events import FIELD_NAMES, FailedAttempt, UsageEvent, decode, encode, encode_row

_HINTS = typing.get_type_hints(UsageEvent)
_INT64 = st.integers(-(2**63), 2**63 - 1)
_FLOAT = st.floats(allow_nan=False, allow_infinity=False)
# What a gateway's event holds: costs and milliseconds far below the range where a sum of a few overflows
# (such sums take the slow path, which ``test_any_object_converts_like_decode_and_event_row`` covers).
_EVENT_FLOAT = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
_JSON_SCALAR = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | _FLOAT | st.text(max_size=5)
_ATTEMPT = st.fixed_dictionaries(
    {
        "provider": st.text(max_size=5) | st.integers(0, 9),
        "status": st.none() | st.integers(100, 599) | _JSON_SCALAR,
        "error_type": st.text(max_size=5),
    },
    optional={"message": st.text(max_size=5) | st.none(), "extra": _JSON_SCALAR},
)


def _valid(hint: Any) -> st.SearchStrategy[Any]:
    if hint is str:
        return st.text(max_size=8)
    if hint is int:
        return _INT64
    if hint is float:
        return _FLOAT
    if hint is bool:
        return st.booleans()
    if typing.get_origin(hint) is list:
        return st.just([]) | st.lists(_ATTEMPT, max_size=2)
    inner = next(a for a in typing.get_args(hint) if a is not type(None))
    return st.none() | _valid(inner)


def _value(name: str) -> st.SearchStrategy[Any]:
    """Mostly what the column takes, sometimes any JSON value (the wrong type, too large, a list)."""
    return st.one_of(
        _valid(_HINTS[name]), _valid(_HINTS[name]), _JSON_SCALAR, st.lists(_JSON_SCALAR, max_size=1)
    )


# Always present: the event_id and started_at defaults are random and the time now.
_REQUIRED = ("request_id", "endpoint", "client_format", "model", "event_id", "started_at")
_OBJECTS = st.fixed_dictionaries(
    {name: _value(name) for name in _REQUIRED},
    optional={
        **{name: _value(name) for name in COLUMNS if name not in _REQUIRED},
        "from_a_newer_gateway": _JSON_SCALAR,
    },
)
_EVENTS = st.builds(
    UsageEvent,
    request_id=st.text(max_size=8),
    endpoint=st.just("/v1/messages"),
    client_format=st.sampled_from(["anthropic", "openai_chat"]),
    model=st.text(max_size=8),
    provider=st.none() | st.text(max_size=4),
    translated=st.booleans(),
    status=st.integers(0, 599),
    input_tokens=st.integers(0, 2**62),
    cost_usd=st.none() | _EVENT_FLOAT,
    latency_ms=_EVENT_FLOAT,
    session_id=st.none() | st.text(max_size=4),
    failed_attempts=st.lists(
        st.builds(
            FailedAttempt,
            provider=st.text(max_size=4),
            status=st.none() | st.integers(100, 599),
            error_type=st.text(max_size=4),
            message=st.text(max_size=4),
        ),
        max_size=2,
    ),
)


def outcome(convert: Any, raw: bytes) -> tuple[str, Any]:
    try:
        row = convert(raw)
    except ValueError as exc:
        return "error", str(exc)
    return "row", [(type(v), v) for v in row]


def reference(raw: bytes) -> tuple[Any, ...]:
    return event_row(decode(raw))


@settings(max_examples=400, deadline=None)
@given(_OBJECTS)
def test_any_object_converts_like_decode_and_event_row(data: dict[str, Any]) -> None:
    raw = orjson.dumps(data)
    assert outcome(wire.wire_row, raw) == outcome(reference, raw)


@settings(max_examples=200, deadline=None)
@given(_EVENTS)
def test_gateway_events_take_the_fast_path_and_convert_identically(event: UsageEvent) -> None:
    raw = encode(event)
    assert wire._fast(orjson.loads(raw)) is not None  # all types as stored, attempts as serialised
    assert outcome(wire.wire_row, raw) == outcome(reference, raw)


@settings(max_examples=200, deadline=None)
@given(_EVENTS, st.integers(0, len(COLUMNS) + 2))
def test_rows_convert_like_the_objects_and_like_decode(event: UsageEvent, width: int) -> None:
    """encode_row's arrays (what gateways send) take the fast path and give the object's row; cut
    short (an older gateway) or with extra values (a newer one) they convert as decode reads them."""
    raw = encode_row(event)
    assert wire._fast(orjson.loads(raw)) is not None
    assert outcome(wire.wire_row, raw) == outcome(wire.wire_row, encode(event)) == outcome(reference, raw)
    values = orjson.loads(raw)
    other = orjson.dumps(values[:width] if width <= len(COLUMNS) else [*values, *range(width - len(COLUMNS))])
    got, want = outcome(wire.wire_row, other), outcome(reference, other)
    if got[0] == want[0] == "row":  # a row cut before them gets a fresh event id and start time from each
        fresh = [i for i in (COLUMNS.index("event_id"), COLUMNS.index("started_at")) if i >= width]
        got, want = (("row", [v for i, v in enumerate(o[1]) if i not in fresh]) for o in (got, want))
    assert got == want


def test_a_gateways_failed_attempts_take_the_fast_path() -> None:
    attempts = [FailedAttempt("openai", 429, "rl", "HTTP 429"), FailedAttempt("x", None, "timeout")]
    raw = encode(UsageEvent("r", "/v1/messages", "anthropic", "m", failed_attempts=attempts))
    row = wire._fast(orjson.loads(raw))
    assert row is not None
    assert row == reference(raw)


@pytest.mark.parametrize(
    "attempt",
    [
        {"provider": "openai", "status": 429, "error_type": "rl"},  # no message
        {"status": 429, "provider": "openai", "error_type": "rl", "message": ""},  # another order
        {"provider": "openai", "status": 429, "error_type": "rl", "message": "", "extra": 1},
        {"provider": 7, "status": 429, "error_type": "rl", "message": ""},  # not text
    ],
)
def test_the_slow_path_normalises_other_failed_attempts(attempt: dict[str, Any]) -> None:
    event = UsageEvent("r", "/v1/messages", "anthropic", "m")
    raw = orjson.dumps({**orjson.loads(encode(event)), "failed_attempts": [attempt]})
    assert wire._fast(orjson.loads(raw)) is None
    row = wire.wire_row(raw)
    assert row == reference(raw)
    assert orjson.loads(row[COLUMNS.index("failed_attempts")]) == [
        {"provider": str(attempt["provider"]), "status": 429, "error_type": "rl", "message": ""}
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input_tokens", 2**63, "input_tokens: expected a 64-bit integer"),
        ("status", "200", "status: expected a 64-bit integer"),
        ("model", None, "model: expected text"),
        ("translated", 2, "translated: expected a boolean"),
        ("latency_ms", "fast", "latency_ms: expected a finite number"),
    ],
)
def test_values_sqlite_cannot_store_are_named(field: str, value: object, message: str) -> None:
    data = orjson.loads(encode(UsageEvent("r", "/v1/messages", "anthropic", "m")))
    data[field] = value
    with pytest.raises(ValueError, match=message):
        wire.wire_row(orjson.dumps(data))


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b'{"request_id": "r"}'])
def test_what_is_not_an_event_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        wire.wire_row(raw)


def test_missing_defaults_are_filled_like_decode() -> None:
    raw = orjson.dumps({"request_id": "r", "endpoint": "/e", "client_format": "anthropic", "model": "m"})
    row, ref = wire.wire_row(raw), reference(raw)
    generated = {COLUMNS.index("event_id"), COLUMNS.index("started_at")}  # a fresh uuid and the time now
    assert [v for i, v in enumerate(row) if i not in generated] == [
        v for i, v in enumerate(ref) if i not in generated
    ]
    assert len(row[COLUMNS.index("event_id")]) == 32


# The ev2 wire binds values by position: a gateway and a recorder of different releases agree on a field's
# place only if fields are never reordered or removed, only appended (shared/events.py). Pinned here; a new
# field goes at the end of this list too.
WIRE_ORDER = (
    "request_id", "endpoint", "client_format", "model", "event_id", "schema_version", "started_at",
    "finished_at", "provider", "provider_format", "translated", "served_model", "status", "error_type",
    "streamed", "client_disconnected", "input_tokens", "output_tokens", "cache_read_tokens",
    "cache_write_tokens", "reasoning_tokens", "cost_usd", "latency_ms", "ttft_ms", "attempts",
    "failed_attempts", "api_key_name", "session_id", "agent_id", "client", "request_class", "budget_alert",
    "cache_write_1h_tokens", "web_search_requests", "cache_savings_usd",
)  # fmt: skip


def test_the_wire_order_of_fields_only_grows_at_the_end() -> None:
    assert FIELD_NAMES[: len(WIRE_ORDER)] == WIRE_ORDER
    row = orjson.loads(
        encode_row(UsageEvent(request_id="r", endpoint="/v1/messages", client_format="x", model="m"))
    )
    assert len(row) == len(FIELD_NAMES) and row[0] == "r" and row[3] == "m"


@pytest.mark.parametrize(
    ("literal", "verdict"),
    [
        (b"NaN", "error"),
        (b"Infinity", "error"),
        (b"-Infinity", "error"),
        (b"1e400", "error"),
        (b"2.5", "row"),
    ],
)
def test_a_float_that_is_not_finite_is_refused_like_decode(literal: bytes, verdict: str) -> None:
    """The fast path checks no float: orjson refuses these literals, so neither path sees them as numbers
    (2.5: the same message with a finite number is stored)."""
    row = orjson.loads(encode_row(UsageEvent("r", "/v1/messages", "anthropic", "m", latency_ms=1.5)))
    at = COLUMNS.index("latency_ms")
    raw = orjson.dumps(row[:at])[:-1] + b"," + literal + b"," + orjson.dumps(row[at + 1 :])[1:]
    assert outcome(wire.wire_row, raw)[0] == verdict == outcome(reference, raw)[0]


def test_large_finite_floats_whose_sum_overflows_are_stored_as_sent() -> None:
    event = UsageEvent("r", "/v1/messages", "anthropic", "m", latency_ms=1.7e308, cost_usd=1.7e308)
    raw = encode_row(event)
    row = wire._fast(orjson.loads(raw))
    assert row is not None and row == reference(raw)
    assert row[COLUMNS.index("latency_ms")] == row[COLUMNS.index("cost_usd")] == 1.7e308


# Every kind of value orjson yields (and an integer beyond int64, a failed attempt as a gateway sends it).
_EVERY_KIND = ("text", 7, 2**63, -1, 7.5, 0.0, True, False, None, [], [{"provider": "p"}], {"a": 1})


@pytest.mark.parametrize("column", COLUMNS)
def test_every_kind_of_value_in_every_column_converts_like_decode(column: str) -> None:
    """The fast path's type check (``wire._typed``, one test a column) against the reference, for each kind
    of JSON value in each column of a gateway's array: the same row, value types included, or the same
    error; and the fast path takes exactly the values its column stores as they are."""
    i = COLUMNS.index(column)
    event = UsageEvent(request_id="r", endpoint="/v1/messages", client_format="anthropic", model="m")
    for value in _EVERY_KIND:
        values = orjson.loads(encode_row(event))
        values[i] = value
        raw = orjson.dumps(values)
        assert outcome(wire.wire_row, raw) == outcome(reference, raw), (column, value)
        stored_as_is = type(value) in wire._ACCEPTED[i] and (type(value) is not int or value < 2**63)
        if column == "failed_attempts":
            stored_as_is = value == []
        assert (wire._fast(orjson.loads(raw)) is not None) == stored_as_is, (column, value)
