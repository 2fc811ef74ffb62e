"""``_handle_joined``'s inlined accept (issue 13, session 15) against ``_accept`` event by event.

For an ``ev3`` message mixing every kind of payload (gateways' arrays, JSON objects, an older gateway's
shorter array, a newer one's longer array, values to normalise, values to refuse, failed attempts, not
JSON, an id that is not the envelope's), the burst's rows and payloads, and which events were counted
malformed (with their error), are the ones ``_accept`` gives for each event on its own.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from services.recorder import service
from shared.events import FIELD_NAMES, FailedAttempt, UsageEvent, encode, encode_row, new_event_id


def _event(n: int, **kw: Any) -> UsageEvent:
    return UsageEvent(f"req-{n}", "/v1/messages", "anthropic", "claude-x", provider="anthropic", **kw)


def _array(event: UsageEvent, change: dict[str, Any] | None = None, width: int | None = None) -> bytes:
    values = orjson.loads(encode_row(event))
    for name, value in (change or {}).items():
        values[FIELD_NAMES.index(name)] = value
    if width is not None:
        values = (values + [None] * width)[:width]
    return orjson.dumps(values)


def _message() -> tuple[list[bytes], list[bytes]]:
    ids: list[bytes] = []
    payloads: list[bytes] = []

    def add(event: UsageEvent, payload: bytes, envelope: str | None = None) -> None:
        ids.append((envelope or event.event_id).encode())
        payloads.append(payload)

    for i in range(3):
        e = _event(i, status=200, latency_ms=1.5, input_tokens=10, cost_usd=0.25)
        add(e, encode_row(e))
    e = _event(3, failed_attempts=[FailedAttempt("openai", 503, "overloaded", "busy")], attempts=2)
    add(e, encode_row(e))
    e = _event(4)
    add(e, encode(e))  # a JSON object (gateways before issue 13's recorder work)
    e = _event(5)
    add(e, _array(e, width=len(FIELD_NAMES) - 3))  # an older gateway: fewer fields
    e = _event(6)
    add(e, _array(e, width=len(FIELD_NAMES)) + b"")  # as sent
    e = _event(7)
    add(e, orjson.dumps([*orjson.loads(encode_row(e)), "a newer field"]))  # a newer gateway
    e = _event(8)
    add(e, _array(e, {"latency_ms": 3}))  # an integer in a float column: normalised
    e = _event(9)
    add(e, _array(e, {"input_tokens": 2**63}))  # a value SQLite cannot store: refused
    e = _event(10)
    add(e, _array(e, {"failed_attempts": [{"provider": "x", "status": 1}]}))  # attempts to normalise
    e = _event(11)
    add(e, _array(e, {"failed_attempts": "text"}))  # refused
    e = _event(12)
    add(e, b"not json")
    e = _event(13)
    add(e, encode_row(e), envelope=new_event_id())  # not the envelope's id
    e = _event(14)
    add(e, b'{"request_id": "r"}')  # not an event
    e = _event(15)
    add(e, b"[1, 2]")
    e = _event(16)
    add(e, _array(e, {"failed_attempts": "@"}).replace(b'"@"', DEEP_ATTEMPTS))  # fast_row raises
    return ids, payloads


# A gateway's failed attempts, but for a status nested deeper than orjson encodes (it reads 1,024 levels,
# writes 254): ``wire.fast_row`` raises re-encoding them, which ``_accept`` catches (malformed, acknowledged).
DEEP_ATTEMPTS = b'[{"provider":"openai","status":%s1%s,"error_type":"error","message":""}]' % (
    b"[" * 300,
    b"]" * 300,
)


class _Pipes:
    class acker:  # noqa: N801  (stands in for the Acker: only its ``joined`` is read here)
        joined: set[bytes] = set()


def _run(
    monkeypatch: pytest.MonkeyPatch, message: tuple[list[bytes], list[bytes]], inlined: bool
) -> tuple[Any, Any, list[tuple[bytes | None, str]]]:
    malformed: list[tuple[bytes | None, str]] = []

    def noted(
        pipes: Any, gateway: bytes, exc: Exception, frames: list[bytes], event_id: bytes | None, **kw: Any
    ) -> None:
        malformed.append((event_id, f"{type(exc).__name__}: {exc}"))

    monkeypatch.setattr(service, "_malformed", noted)
    ids, payloads = message
    burst = service._Burst()
    if inlined:
        service._handle_joined([b"gw", b"ev3", b"\n".join(ids), b"\n".join(payloads)], _Pipes(), burst)  # type: ignore[arg-type]
    else:
        burst.received = len(ids)
        for event_id, payload in zip(ids, payloads, strict=True):
            service._accept(_Pipes(), burst, b"gw", b"ev3", event_id, payload)  # type: ignore[arg-type]
    return burst.items, (burst.payloads, burst.received), malformed


def test_the_inlined_accept_gives_what_accept_gives_event_by_event(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _message()
    items, rest, malformed = _run(monkeypatch, message, inlined=True)
    want_items, want_rest, want_malformed = _run(monkeypatch, message, inlined=False)
    assert [(g, i, [(type(v), repr(v)) for v in row]) for g, i, row in items] == [
        (g, i, [(type(v), repr(v)) for v in row]) for g, i, row in want_items
    ]
    assert rest == want_rest
    assert malformed == want_malformed
    assert len(items) == 10 and len(malformed) == 7  # every event is one or the other
