"""Session 28 (fix28): a Responses passthrough's numbered keep-alives, in every placement (after any event of the
answer, one or more, read whole or cut at any byte), on a fresh stream and on one resumed after an earlier route's
opening: the numbers the client sees are 0, 1, 2, … with no gap and no repeat (OpenAI API reference, streaming
events: each ``sequence_number`` follows the previous one). Before: a keep-alive between ``response.created`` and
``response.in_progress`` left a gap (``in_progress`` was dropped as an opening the client already had, its number
counted all the same)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from services.gateway.dialects import registry
from services.gateway.dialects._opening import Opening
from services.gateway.dialects.view import View
from services.gateway.relay import make_relay
from shared.sse import SSEDecoder
from tests.unit.test_responses_passthrough_keepalive27 import _stream


def _numbers(body: bytes) -> list[int]:
    return [json.loads(f.data)["sequence_number"] for f in SSEDecoder().feed(body) if not f.comment]


def _relayed(events: list[bytes], placement: dict[int, int], cut: int) -> bytes:
    """The client's bytes: ``events`` fed ``cut`` bytes at a time (0: one event a read), with ``placement[i]``
    keep-alives asked for after event ``i``'s read."""
    relay = make_relay(registry.pairing("openai_responses", "openai_responses"), View(model="m"))
    out = b""
    for i, ev in enumerate(events):
        reads = [ev] if cut == 0 else [ev[j : j + cut] for j in range(0, len(ev), cut)]
        for r in reads:
            out += relay.feed(r)
        for _ in range(placement.get(i, 0)):
            out += relay.keepalive()
    out += relay.finish()
    assert relay.complete and relay.error is None
    return out


@settings(max_examples=150, deadline=None)
@given(
    tokens=st.integers(0, 5),
    placement=st.dictionaries(st.integers(0, 9), st.integers(1, 3), max_size=4),
    cut=st.sampled_from([0, 0, 1, 7, 31]),
)
def test_keepalives_anywhere_leave_no_gap_and_no_repeat(
    tokens: int, placement: dict[int, int], cut: int
) -> None:
    head, tail = _stream(tokens)
    events = head + tail
    numbers = _numbers(_relayed(events, placement, cut))
    assert numbers == list(range(len(numbers))), (placement, numbers)


def test_a_keepalive_between_created_and_in_progress() -> None:
    head, tail = _stream(2)
    numbers = _numbers(_relayed(head + tail, {0: 1}, 0))
    assert numbers == list(range(len(numbers)))  # before: 0, 1, then 3, …: 2 skipped


@settings(max_examples=150, deadline=None)
@given(
    tokens=st.integers(0, 5),
    placement=st.dictionaries(st.integers(0, 9), st.integers(1, 3), max_size=4),
    cut=st.sampled_from([0, 0, 1, 7, 31]),
    before=st.integers(2, 5),
)
def test_a_resumed_stream_goes_on_from_its_opening_with_keepalives_anywhere(
    tokens: int, placement: dict[int, int], cut: int, before: int
) -> None:
    """A stream an earlier route opened (``before`` events: its ``created``, ``in_progress`` and keep-alives)
    continued by this upstream's (``Relay.resume``): this upstream's numbers follow on from ``before``, its
    token frames too."""
    head, tail = _stream(tokens)
    relay = make_relay(registry.pairing("openai_responses", "openai_responses"), View(model="m"))
    relay.resume(Opening(before, "resp_0"))
    out = b""
    for i, ev in enumerate(head + tail):
        reads = [ev] if cut == 0 else [ev[j : j + cut] for j in range(0, len(ev), cut)]
        for r in reads:
            out += relay.feed(r)
        for _ in range(placement.get(i, 0)):
            out += relay.keepalive()
    out += relay.finish()
    numbers = _numbers(out)
    assert numbers == list(range(before, before + len(numbers))), (placement, numbers)
