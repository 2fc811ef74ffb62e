"""shared/events.py: the wire codec both processes depend on."""

from __future__ import annotations

import orjson
import pytest

from shared.events import SCHEMA_VERSION, FailedAttempt, UsageEvent, decode, encode, to_dict

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
    ],
)
def test_malformed_input_raises_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)
