"""shared/events.py: the wire codec both processes depend on."""

from __future__ import annotations

import os
import time
import uuid

import orjson
import pytest

from shared.events import (
    FIELD_NAMES,
    SCHEMA_VERSION,
    BilledAttempt,
    FailedAttempt,
    UsageEvent,
    decode,
    encode,
    encode_row,
    new_event_id,
    to_dict,
)

REQUIRED = {
    "request_id": "r1",
    "endpoint": "/v1/chat/completions",
    "client_format": "openai_chat",
    "model": "gpt-4o",
}


def full_event() -> UsageEvent:
    return UsageEvent(
        **REQUIRED,
        started_at=1.5,
        finished_at=2.5,
        provider="openai",
        provider_format="openai_chat",
        served_model="gpt-4o-2024",
        status=429,
        error_type="rate_limit_error",
        streamed=True,
        input_tokens=1,
        output_tokens=2,
        cache_read_tokens=3,
        cache_write_tokens=4,
        reasoning_tokens=1,
        cost_usd=None,
        latency_ms=12.5,
        ttft_ms=3.0,
        attempts=2,
        failed_attempts=[FailedAttempt(provider="xai", status=None, error_type="timeout", message="t/o")],
    )


def test_round_trip_keeps_every_field() -> None:
    event = full_event()
    assert decode(encode(event)) == event


def test_wire_format_is_a_json_object_with_the_field_names() -> None:
    data = orjson.loads(encode(full_event()))
    assert data == to_dict(full_event()) | {"event_id": data["event_id"]}
    assert data["schema_version"] == SCHEMA_VERSION


def test_row_form_is_the_values_in_field_order_and_round_trips() -> None:
    event = full_event()
    values = orjson.loads(encode_row(event))
    assert values == [orjson.loads(encode(event))[name] for name in FIELD_NAMES]
    assert decode(encode_row(event)) == event


def test_row_form_values_past_the_known_fields_are_ignored_and_missing_ones_defaulted() -> None:
    event = full_event()
    values = orjson.loads(encode_row(event))
    assert decode(orjson.dumps([*values, "from a newer gateway", 7])) == event  # a newer gateway's row
    older = decode(orjson.dumps(values[: FIELD_NAMES.index("api_key_name")]))  # before schema version 2
    assert older.api_key_name is None and older.cache_savings_usd is None
    assert (older.request_id, older.input_tokens, older.failed_attempts) == (
        event.request_id,
        event.input_tokens,
        event.failed_attempts,
    )


def test_unknown_fields_are_ignored() -> None:
    raw = orjson.dumps(REQUIRED | {"from_the_future": 1, "status": 200})
    assert decode(raw).status == 200


def test_missing_optional_fields_get_defaults() -> None:
    event = decode(orjson.dumps(REQUIRED))
    assert (event.status, event.cost_usd, event.ttft_ms, event.failed_attempts) == (0, None, None, [])
    assert event.schema_version == SCHEMA_VERSION
    assert len(event.event_id) == 32


def test_failed_attempts_become_dataclasses_and_tolerate_extra_keys() -> None:
    raw = orjson.dumps(
        REQUIRED | {"failed_attempts": [{"provider": "a", "status": 500, "error_type": "x", "new_key": True}]}
    )
    assert decode(raw).failed_attempts == [FailedAttempt(provider="a", status=500, error_type="x")]


def test_a_billed_attempt_round_trips_with_its_tokens_and_cost() -> None:
    """Session 27: a failed attempt its provider billed carries its tokens and cost, in both wire forms; a usual
    failed attempt's JSON is unchanged (its four fields)."""
    billed = BilledAttempt("cheap", 503, "overloaded_error", "cut", 12, 3, 1.5e-6)
    plain = FailedAttempt("dear", 500, "api_error", "boom")
    event = UsageEvent(**REQUIRED, failed_attempts=[billed, plain])
    for raw in (encode(event), encode_row(event)):
        assert decode(raw).failed_attempts == [billed, plain]
    assert list(orjson.loads(encode(event))["failed_attempts"][1]) == [
        "provider",
        "status",
        "error_type",
        "message",
    ]
    unknown = orjson.dumps(
        REQUIRED
        | {
            "failed_attempts": [
                {"provider": "a", "status": 500, "error_type": "x", "input_tokens": 5, "cost_usd": None}
            ]
        }
    )
    assert decode(unknown).failed_attempts == [BilledAttempt("a", 500, "x", "", 5, 0, None)]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b"null",
        b'"text"',
        b'{"request_id": ',
        orjson.dumps({k: v for k, v in REQUIRED.items() if k != "model"}),
        orjson.dumps(REQUIRED | {"failed_attempts": [1]}),
        orjson.dumps(REQUIRED | {"failed_attempts": "text"}),
        # an event_id that is no string: a list is unhashable (the gateway's own-events lookup raised
        # TypeError), a number has no version digit (session 24)
        orjson.dumps(REQUIRED | {"event_id": list("0196a1b2c3d48e5f" * 2)}),
        orjson.dumps(REQUIRED | {"event_id": 7}),
        orjson.dumps(REQUIRED | {"event_id": None}),
    ],
)
def test_malformed_input_raises_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)


def test_event_ids_are_uuid7_and_sort_by_time() -> None:
    ids = [new_event_id(1_700_000_000_000 + ms) for ms in range(200)]
    for event_id in ids:
        parsed = uuid.UUID(hex=event_id)
        assert (parsed.version, parsed.variant) == (7, uuid.RFC_4122)
        assert len(event_id) == 32 and event_id == parsed.hex
    assert [int(i[:12], 16) for i in ids] == list(range(1_700_000_000_000, 1_700_000_000_200))
    assert ids == sorted(ids)
    assert len({new_event_id(1) for _ in range(1000)}) == 1000  # 74 random bits within one millisecond


def test_a_forked_process_draws_other_event_ids_than_its_parent() -> None:
    """The random bits come from ``random``, which re-seeds in a forked child: a worker forked from a
    process that has drawn ids must not repeat the parent's next ones (same millisecond, same row key)."""
    new_event_id(1)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without running the test session's teardown
        os.write(write_end, new_event_id(1).encode())
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child) == 32 and child != new_event_id(1)


def test_default_event_id_carries_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    event = decode(orjson.dumps(REQUIRED))
    after = time.time_ns() // 1_000_000
    assert before <= int(event.event_id[:12], 16) <= after


def test_a_billed_attempts_cache_and_reasoning_buckets_round_trip() -> None:
    """bill35: a billed failed attempt's cache reads, writes (1-hour part) and reasoning ride in its entry, in both
    wire forms; an older gateway's entry without them reads as 0 in each."""
    billed = BilledAttempt("cheap", 503, "overloaded_error", "cut", 25, 1, 2.1e-3, 300, 1000, 1000, 7)
    event = UsageEvent(**REQUIRED, failed_attempts=[billed])
    for raw in (encode(event), encode_row(event)):
        assert decode(raw).failed_attempts == [billed]
    older = orjson.dumps(
        REQUIRED
        | {"failed_attempts": [{"provider": "a", "status": 500, "error_type": "x", "input_tokens": 5}]}
    )
    (read,) = decode(older).failed_attempts
    assert isinstance(read, BilledAttempt)
    assert (
        read.cache_read_tokens,
        read.cache_write_tokens,
        read.cache_write_1h_tokens,
        read.reasoning_tokens,
    ) == (
        0,
        0,
        0,
        0,
    )
