"""The pure half of a background response's one ledger row: which answers show its usage
(``background_usage.finished_usage``, ``_responses_wire.billed_usage``), a streamed retrieve's terminal event
at every chunk split (``StreamTap``), and the keyed event id (``shared.events.keyed_event_id``)."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from services.gateway.background_usage import StreamTap, finished_usage
from shared.events import decode, is_keyed, keyed_event_id, new_event_id

USAGE = {"input_tokens": 30, "input_tokens_details": {"cached_tokens": 10}, "output_tokens": 7}


def response(**over: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "background": True,
        "usage": USAGE,
    } | over


@pytest.mark.parametrize("status", ["completed", "incomplete", "failed", "cancelled"])
def test_a_finished_background_response_is_billed_once_under_its_id(status: str) -> None:
    usage = finished_usage("openai_responses", response(status=status))
    assert usage is not None and usage.billed_once_as == "resp_1"
    assert (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (20, 10, 7)


@pytest.mark.parametrize(
    "answer",
    [
        response(status="queued", usage=None),
        response(status="in_progress"),
        response(status="cancelled", usage=None),  # cancelled while queued: nothing ran
        response(background=False),  # a synchronous response: its POST has its event
        response(background="true"),
        response(id=None),
        response(id=""),
        [response()],
        "text",
        None,
    ],
)
def test_anything_else_is_not(answer: Any) -> None:
    assert finished_usage("openai_responses", answer) is None


def frames(*events: dict[str, Any]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


def test_the_tap_keeps_the_terminal_response_at_every_split() -> None:
    stream = (
        frames(
            {"type": "response.in_progress", "response": response(status="in_progress", usage=None)},
            {"type": "response.output_text.delta", "delta": "hi"},
            {"type": "response.completed", "response": response()},
        )
        + b": keep-alive\n\ndata: {not json\n\n"
    )
    for at in range(len(stream) + 1):
        tap = StreamTap()
        tap.feed(stream[:at])
        tap.feed(stream[at:])
        assert tap.response == response()


def test_a_stream_without_a_terminal_event_leaves_nothing() -> None:
    tap = StreamTap()
    tap.feed(frames({"type": "response.in_progress", "response": response(status="in_progress")}))
    assert tap.response is None


def test_keyed_ids_are_stable_distinct_uuid8() -> None:
    a = keyed_event_id("openai", "resp_1")
    assert a == keyed_event_id("openai", "resp_1") and len(a) == 32 and a == a.lower()
    assert uuid.UUID(a).version == 8 and uuid.UUID(a).variant == uuid.RFC_4122
    others = {
        keyed_event_id("openai", "resp_2"),
        keyed_event_id("openrouter", "resp_1"),
        keyed_event_id("opena", "iresp_1"),
    }
    assert a not in others and len(others) == 3
    assert is_keyed(a) and not is_keyed(new_event_id())


def test_is_keyed_is_total_on_any_wire_event_id() -> None:
    """A wire event's ``event_id`` is whatever JSON its sender wrote (``events.decode`` refuses one that is not a
    string, session 24): ``is_keyed`` answers ``False`` for anything but 32 lowercase hex digits with version ``8``, and never
    raises (the gateway's tail loop calls it on decoded events from other processes)."""
    keyed = keyed_event_id("openai", "resp_1")
    not_keyed: list[object] = [
        5,
        None,
        1.5,
        True,
        list(keyed),  # 32 items, the 13th "8"
        {str(i): 0 for i in range(32)},
        keyed.encode(),
        keyed.upper(),
        keyed[:12] + "8" + "g" * 19,
        keyed[:-1],
        "",
    ]
    for value in not_keyed:
        assert is_keyed(value) is False, value
        wire = {"request_id": "r", "endpoint": "/v1/responses", "client_format": "c", "model": "m"}
        if isinstance(value, str):  # JSON has no bytes; ``decode`` refuses any other non-string id
            event = decode(orjson.dumps({**wire, "event_id": value}))
            assert is_keyed(event.event_id) is False, value
        elif not isinstance(value, bytes):
            with pytest.raises(ValueError):
                decode(orjson.dumps({**wire, "event_id": value}))
    assert is_keyed(keyed) is True


def test_the_tap_reads_a_last_event_whose_line_breaks_never_came() -> None:
    """A streamed retrieve closed right after ``response.completed``'s JSON, or after its data line without the
    blank line (a server that writes each event's blank line before the next, a proxy that trims the body's end):
    the event is whole, read at the body's end (``StreamTap.finish``, the relays' ``SSEDecoder.ends_whole``).
    Review33: the tap read only events whose blank line came, and the background response got no row."""
    whole = frames(
        {"type": "response.in_progress", "response": response(status="in_progress", usage=None)},
        {"type": "response.completed", "response": response()},
    )
    for end in (whole[:-2], whole[:-1]):
        tap = StreamTap()
        tap.feed(end)
        assert tap.response is None  # (not before the body's end: more lines of the event may come)
        tap.finish()
        assert tap.response == response()


def test_a_last_event_cut_inside_its_json_leaves_nothing() -> None:
    stream = frames({"type": "response.completed", "response": response()})[:-2]
    for at in range(len(b"event: response.completed\ndata: "), len(stream)):  # every cut inside the data line
        tap = StreamTap()
        tap.feed(stream[:at])
        tap.finish()
        assert tap.response is None, stream[:at]
