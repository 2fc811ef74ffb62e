"""Session 28: ``openai_responses.ends_lines`` (``WireSpec.ends_lines``), the Responses terminal-frame test read on
a split read's last frame, gives ``ends_stream``'s answer and keeps the same parse for the decoder, over generated
reads of usual named frames (terminal kinds, near misses: a duplicate ``type``, a terminal name over another
kind, no type, not JSON, a ``response`` that is no object, a non-terminal last frame, one frame alone); and
``Passthrough.feed_last`` takes it on the split read (no ``ends_stream`` call) with the same bytes and facts."""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import openai_responses as resp
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough, _usual_named
from tests.unit.test_passthrough_cuts18 import STREAMS, _provider
from tests.unit.test_passthrough_later21 import RESPONSES_ENDS, _check
from tests.unit.test_passthrough_scan import _facts

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ANSWER = next(b for w, b in STREAMS if w == "openai_responses")
# The benchmark's answer's frames, and last frames that may end a stream or nearly do
FRAMES = [f + b"\n\n" for f in ANSWER.split(b"\n\n") if f]
ENDS = [
    *RESPONSES_ENDS,
    RESPONSES_ENDS[0].replace(b"event: response.completed", b"event: response.incomplete"),
    RESPONSES_ENDS[0].replace(b"event: response.completed", b"event: response.output_text.done"),
    RESPONSES_ENDS[0].replace(b"event: response.completed", b"event: response.completedX"),
    RESPONSES_ENDS[0].replace(b"}}}\n\n", b"}}\n\n"),  # cut: not JSON
    RESPONSES_ENDS[0].replace(b'"type":"response.completed"', b'"type":["response.completed"]'),
]


def _kept(decoder: Any) -> tuple[bytes, Any] | None:
    parsed = decoder.parsed
    return None if parsed is None else (bytes(parsed[0]), parsed[1])


@FUZZ
@given(
    st.lists(st.sampled_from(FRAMES + ENDS), max_size=6),
    st.sampled_from(FRAMES + ENDS),
)
def test_ends_lines_answers_as_ends_stream(body: list[bytes], last: bytes) -> None:
    read = b"".join(body) + last
    lines = _usual_named(read)
    assert lines is not None  # (every frame above is of the usual named shape)
    searched, split = resp.ResponsesStreamDecoder(), resp.ResponsesStreamDecoder()
    assert resp.ends_lines(split, lines) == resp.ends_stream(searched, read)
    assert _kept(split) == _kept(searched)


def test_each_last_frame_alone() -> None:
    for frame in FRAMES + ENDS:
        lines = _usual_named(frame)
        assert lines is not None
        searched, split = resp.ResponsesStreamDecoder(), resp.ResponsesStreamDecoder()
        assert resp.ends_lines(split, lines) == resp.ends_stream(searched, frame)
        assert _kept(split) == _kept(searched)


def _calls_of(fn: Any, *args: Any) -> set[str]:
    """The names of the Python functions ``fn(*args)`` called."""
    seen: set[str] = set()

    def prof(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            seen.add(frame.f_code.co_name)

    sys.setprofile(prof)
    try:
        fn(*args)
    finally:
        sys.setprofile(None)
    return seen


def test_feed_last_reads_the_split_reads_last_frame() -> None:
    """The benchmark's one-read answer: split by the guard's test, its end told by ``ends_lines`` (no
    ``ends_stream`` search; main called it), the client's bytes the read itself, facts as the reference's."""
    provider = _provider("openai_responses")
    relay = Passthrough(pairing("openai_responses", "openai_responses"), View(model="m"), provider.usage)
    called = _calls_of(relay.feed_last, ANSWER)
    assert "ends_lines" in called and "ends_stream" not in called
    assert relay.unsettled
    relay.settle()
    ref = EventPassthrough(pairing("openai_responses", "openai_responses"), View(model="m"), provider.usage)
    assert ref.feed(ANSWER) == ANSWER
    assert relay.finish() == ref.finish() == b""
    assert _facts(relay) == _facts(ref)
    assert relay.read_usage() == ref.read_usage()


@FUZZ
@given(st.lists(st.sampled_from(FRAMES), min_size=1, max_size=8), st.sampled_from(ENDS), st.booleans())
def test_streams_ending_anyhow_match_the_reference(body: list[bytes], last: bytes, usage: bool) -> None:
    """``feed_last`` of reads ending with any of the last frames above: the client's bytes and facts are the
    reference relay's (``test_passthrough_later21._check``), the answer ended early only when nothing follows."""
    _check("openai_responses", [b"".join(body) + last], usage)
