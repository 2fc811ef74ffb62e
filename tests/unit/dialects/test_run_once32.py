"""The translator's run lane is not tried again right after a run (``relay.Translator._bytes``, session 32): each
decoder's ``text_run`` is maximal, so after a run it finds none at the run's end. Held here for both wires (the
Anthropic decoder's greedy repeat, the chat decoder's loop) over the run-lane tests' generated streams, and the
relay's calls counted on the bench's one-read stream; the bytes and facts against the general path are the
run-lane tests' (``test_text_run.py``, ``test_chat_text_run.py``)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from services.gateway.relay import Translator
from tests.text_lanes import END, START, run, run_relays
from tests.unit.dialects.test_chat_text_run import END as CHAT_END
from tests.unit.dialects.test_chat_text_run import _learnt, chat_frames, chunk, start
from tests.unit.dialects.test_text_run import frame, text_frames


def _maximal(run_at: Any, body: bytes) -> int:
    """Tries ``run_at`` at every position of ``body``: where it finds a run, none at its end. The runs found."""
    runs = 0
    for pos in range(len(body)):
        found = run_at(body, pos)
        if found is not None:
            runs += 1
            assert found[0] and found[1] > pos
            assert run_at(body, found[1]) is None, (pos, found)
    return runs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(text_frames(), max_size=10))
def test_the_anthropic_text_run_is_maximal(frames: list[bytes]) -> None:
    decoder = MessagesStreamDecoder()
    body = START + b"".join(frames) + END
    _maximal(decoder.text_run, body)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(chat_frames(), max_size=10), st.sampled_from((None, b"h8Xa1", b"")))
def test_the_chat_text_run_is_maximal(frames: list[bytes], pad: bytes | None) -> None:
    decoder = _learnt(pad)  # (a shape learnt with a plain padding or none: PADS' others teach none)
    body = b"".join(frames) + CHAT_END
    _maximal(decoder.text_run, body)


def test_the_maximal_checks_see_runs() -> None:
    """(the two properties above are not empty: runs are found, and a run cut short is seen)"""
    body = START + frame("a") + frame("b") + END
    assert _maximal(MessagesStreamDecoder().text_run, body) == 2  # (at each of the two frames)
    chat = chunk("a", pad=None) + chunk("b", pad=None) + CHAT_END
    assert _maximal(_learnt(None).text_run, chat) == 2


def _counted(relay: Translator) -> list[tuple[int, int, int | None]]:
    """Wraps the relay's run lane: each call's buffer, position and the run's end (None: no run)."""
    assert relay._run is not None
    text_run, text_frames_of = relay._run
    calls: list[tuple[int, int, int | None]] = []

    def counting(buf: bytes, pos: int) -> tuple[list[bytes], int] | None:
        found = text_run(buf, pos)
        calls.append((id(buf), pos, None if found is None else found[1]))
        return found

    relay._run = (counting, text_frames_of)
    return calls


def _no_try_after_a_run(calls: list[tuple[int, int, int | None]]) -> None:
    for (buf, _, end), (buf_next, pos_next, _) in zip(calls, calls[1:], strict=False):
        assert not (end is not None and buf == buf_next and pos_next == end), calls


def test_a_read_of_text_then_its_end_tries_the_run_lane_once() -> None:
    """The one-read stream (text deltas, then the block's stop, ``message_delta``, ``message_stop``): the run
    lane finds the run and is not asked again at its end; the bytes are the general path's."""
    body = START + b"".join(frame(t) for t in ("Hello ", "from ", "the ", "bench")) + END
    for client in ("openai_chat", "openai_responses"):
        fast, general = run_relays(client, "anthropic", True)
        calls = _counted(fast)
        assert run(fast, [body], True) == run(general, [body], True)
        assert [c for c in calls if c[2] is not None], calls  # (a run was read)
        _no_try_after_a_run(calls)


def test_a_chat_read_of_text_then_its_end_tries_the_run_lane_once() -> None:
    body = start(None) + b"".join(chunk(t) for t in ("Hello ", "from ", "the ", "bench")) + CHAT_END
    for client in ("anthropic", "openai_responses"):
        fast, general = run_relays(client, "openai_chat", True)
        if hasattr(fast.encoder, "response_id"):
            fast.encoder.response_id = general.encoder.response_id = "resp_1"
        calls = _counted(fast)
        assert run(fast, [body], True) == run(general, [body], True)
        assert [c for c in calls if c[2] is not None], calls
        _no_try_after_a_run(calls)
