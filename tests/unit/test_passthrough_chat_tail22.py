"""Session 22: a chat passthrough stream whose whole body is one read ends the client's answer before its last
frames are decoded (``Passthrough.feed_last`` → ``_feed_data_frames(later=True)`` → the chat filter's
``PassFrames.tail``, ``ChatStreamDecoder.plan_tail``), and gives the client the same bytes, and the ledger the
same facts, as the general path.

For every stream the check is the one ``Proxy._pump`` relies on: the bytes ``feed_last`` returns are those the
event-by-event reference (``EventPassthrough``) gives for the read; when frames were left to ``settle``, the
reference adds nothing after them (its ``finish``, the proxy's error for a stream cut short) and neither does
the relay after ``settle``; after it, the facts (usage, model, first token, commit, completion, error, the
keep-alive boundary), the exact progress count, the usage the ledger event reads and the closing state are the
reference's. The streams: the benchmark's answer, usual tails that must end early, near misses of every
condition ``plan_tail`` tests, and hypothesis' chat streams whose last frames are drawn from usual and odd
ones (finish reasons, ``error`` and ``abort``, usage objects and non-objects, vendor usage, deltas after the
finish, second choices, malformed and spaced JSON, blank data, comments, near-miss ``[DONE]``s), read whole or
in two reads, for a client with and without the usage chunk."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.relay import EventPassthrough, Passthrough
from tests.unit.test_passthrough_cuts18 import _provider
from tests.unit.test_passthrough_later21 import _ended
from tests.unit.test_passthrough_scan import _facts

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BASE: dict[str, Any] = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}
DONE = b"data: [DONE]\n\n"


def _frame(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def _chunk(delta: dict[str, Any] | None, finish: Any = None, **extra: Any) -> bytes:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return _frame({**BASE, "choices": [choice], "usage": None, **extra})


ROLE = _chunk({"role": "assistant", "content": "", "refusal": None})
TEXTS = [_chunk({"content": t}) for t in ("Hello ", "from ", "the ", "fake")]
FINISH = _chunk({}, "stop")
USAGE_CHUNK = _frame({**BASE, "choices": [], "usage": USAGE})
HEAD = ROLE + b"".join(TEXTS)


def _check(reads: list[bytes], include_usage: bool) -> bool:
    """``reads`` through ``feed`` then ``feed_last`` against the reference; True when the answer ended early."""
    provider = _provider("openai_chat")
    view = View(model="m", include_usage=include_usage)
    relay = Passthrough(pairing("openai_chat", "openai_chat"), view, provider.usage)
    ref = EventPassthrough(pairing("openai_chat", "openai_chat"), view, provider.usage)
    for read in reads[:-1]:
        assert relay.feed(read) == ref.feed(read)
    assert relay.feed_last(reads[-1]) == ref.feed(reads[-1])
    early = relay.unsettled
    if early:
        assert relay.saw_content and relay.started  # the commit and the first token came before the write
        assert _ended(ref) == b""  # nothing follows the bytes the client's answer ended with
        relay.settle()
        assert not relay.unsettled
        assert _ended(relay) == b""
    else:
        assert _ended(relay) == _ended(ref)
    assert _facts(relay) == _facts(ref)
    assert relay.read_usage() == ref.read_usage()
    assert relay.events == ref.events
    assert relay.decoder.closed == ref.decoder.closed
    assert relay.delivered == ref.delivered
    return early


def _both(body: bytes) -> list[bool]:
    return [_check([body], usage) for usage in (False, True)]


def test_the_benchmarks_chat_answer_ends_before_its_tail_is_decoded() -> None:
    from bench.stream_pieces import streams

    body = streams()["chat/completions.sse"]
    provider = _provider("openai_chat")
    relay = Passthrough(pairing("openai_chat", "openai_chat"), View(model="m"), provider.usage)
    out = relay.feed_last(body)
    usage_frame = body[body.index(b'data: {"id":', body.index(b'"choices":[]') - 200) :]
    assert out == body[: len(body) - len(usage_frame)] + DONE  # the usage chunk the client did not ask for
    # the first token read; the finish, the usage and [DONE] not yet
    assert (
        relay.unsettled and relay.saw_content and not relay.complete and relay.read_usage().input_tokens == 0
    )
    relay.settle()
    assert relay.complete and relay.decoder.closed and relay.finish() == b""
    assert (relay.read_usage().input_tokens, relay.read_usage().output_tokens) == (12, 5)
    assert _both(body) == [True, True]


USUAL_TAILS = [
    FINISH + USAGE_CHUNK,
    _chunk({}, "length") + USAGE_CHUNK,
    _chunk(None, "stop") + USAGE_CHUNK,  # a null delta
    _chunk({}, "stop", usage=USAGE),  # the usage in the finish chunk: kept
    FINISH,  # no usage chunk
    FINISH + _frame({**BASE, "choices": [], "usage": None}),
    FINISH + _frame({**BASE, "choices": [{"index": 0, "delta": {}}], "usage": USAGE}),  # after the finish
    _chunk({}, None) + FINISH + USAGE_CHUNK,  # an empty delta before the finish
    FINISH + USAGE_CHUNK.replace(b'"choices":[]', b'"choices":[],"error":null'),
    FINISH + USAGE_CHUNK.replace(b'"model":"gpt-x"', b'"model":"gpt-y"'),  # another model: reported after
]


@pytest.mark.parametrize("tail", USUAL_TAILS)
def test_usual_tails_end_early_with_the_references_bytes_and_facts(tail: bytes) -> None:
    assert _both(HEAD + tail + DONE) == [True, True]


NEAR_MISSES = [
    FINISH + USAGE_CHUNK,  # no [DONE]: finish may have to add it
    FINISH + USAGE_CHUNK + _frame([1]),  # another frame last, ending as [DONE] does
    FINISH + _frame([1]),
    FINISH + USAGE_CHUNK + DONE + b": after\n\n",
    FINISH + DONE + USAGE_CHUNK + DONE,
    FINISH + USAGE_CHUNK + b"data: [DONE] \n\n",
    _chunk({}, "error") + USAGE_CHUNK + DONE,
    _chunk({}, "abort") + USAGE_CHUNK + DONE,
    _chunk({}, "") + USAGE_CHUNK + DONE,
    _chunk({}, 5) + USAGE_CHUNK + DONE,
    FINISH + b'data: {"choices":[],"usage":{"prompt_tokens":1}\n\n' + DONE,  # malformed
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]\n\n' + USAGE_CHUNK + DONE,
    FINISH + b'data: {"error":{"message":"boom"}}\n\n' + DONE,
    FINISH + USAGE_CHUNK.replace(b'"choices":[]', b'"choices":[],"error":{"message":"late"}') + DONE,
    FINISH + _frame({**BASE, "choices": [], "x_groq": {"usage": USAGE}}) + DONE,
    FINISH + _frame({**BASE, "choices": [{"index": 0, "delta": {}, "usage": USAGE}]}) + DONE,
    FINISH + _frame({**BASE, "choices": [], "usage": 5}) + DONE,
    FINISH + _frame({**BASE, "choices": None, "usage": USAGE}) + DONE,
    FINISH + _frame({**BASE, "usage": USAGE}) + DONE,
    FINISH + _frame([1, 2]) + DONE,
    _chunk({"content": "late"}, "stop") + USAGE_CHUNK + DONE,  # content in the finish chunk
    FINISH + _chunk({"tool_calls": [{"index": 0, "function": {"arguments": {"a": 1}}}]}) + DONE,
    FINISH + _chunk({"content": "after"}) + USAGE_CHUNK + DONE,
    _frame({**BASE, "choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}]}) + USAGE_CHUNK + DONE,
    _frame({**BASE, "choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}], "usage": USAGE}) + DONE,
    _frame({**BASE, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}] * 2})
    + USAGE_CHUNK
    + DONE,
    FINISH + b"data: " + orjson.dumps({**BASE, "choices": [], "usage": USAGE}) + b" \n\n" + DONE,
    FINISH + b'data:  {"choices":[],"usage":{"prompt_tokens":1}}\n\n' + DONE,
    FINISH + b"data: \n\n" + USAGE_CHUNK + DONE,
    FINISH + b": keep-alive\n\n" + USAGE_CHUNK + DONE,
    FINISH + b"data: {}\ndata: {}\n\n" + DONE,
    FINISH + b"event: x\n" + USAGE_CHUNK + DONE,
    FINISH + USAGE_CHUNK.replace(b'"usage"', b'"\\u0075sage"') + DONE,
    FINISH + USAGE_CHUNK.replace(b'"choices":[]', b'"choices":[],"usage":null') + DONE,  # duplicate keys
    FINISH + USAGE_CHUNK.replace(b"\n\n", b"\r\n\r\n") + DONE,
    FINISH + USAGE_CHUNK.replace(b'"gpt-x"', '"gpt-ü"'.encode()) + DONE,
]


@pytest.mark.parametrize("tail", NEAR_MISSES)
def test_near_miss_tails_match_the_reference(tail: bytes) -> None:
    body = HEAD + tail
    _both(body)
    cut = len(HEAD)
    for usage in (False, True):
        _check([body[:cut], body[cut:]], usage)  # the tail as the last read, the first token before it


def test_a_tail_with_a_tool_call_or_a_failure_before_it_is_decoded_now() -> None:
    call = _chunk({"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}]})
    blank = _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ""}}]})
    for body in (
        ROLE + call + blank + _chunk({}, "tool_calls") + USAGE_CHUNK + DONE,  # repair frames: "{}" added
        ROLE + call + _chunk({}, "tool_calls") + USAGE_CHUNK + DONE,  # the same, the tail a usual one
        HEAD + b"data: {broken\n\n" + USAGE_CHUNK + DONE,
    ):
        assert _both(body) == [False, False]


# Frames a stream's tail may hold after its text (each a whole frame)
TAIL_FRAMES = [
    FINISH,
    _chunk({}, "length"),
    _chunk({}, "tool_calls"),
    _chunk(None, "stop"),
    _chunk({}, None),
    _chunk({}, "error"),
    _chunk({}, "abort"),
    _chunk({}, ""),
    _chunk({}, 7),
    _chunk({}, "stop", usage=USAGE),
    _chunk({"content": "late"}),
    _chunk({"content": "late"}, "stop"),
    _chunk({"refusal": "no"}),
    _chunk({"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": {"a": 1}}}]}),
    USAGE_CHUNK,
    _frame({**BASE, "choices": [], "usage": None}),
    _frame({**BASE, "choices": [], "usage": 5}),
    _frame({**BASE, "choices": [{"index": 0, "delta": {}}], "usage": USAGE}),
    _frame({**BASE, "choices": [{"index": 1, "delta": {}}], "usage": USAGE}),
    _frame({**BASE, "choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}], "usage": USAGE}),
    _frame({**BASE, "choices": [{"index": 0, "delta": {}, "usage": USAGE}]}),
    _frame({**BASE, "choices": [], "x_groq": {"usage": USAGE}}),
    _frame({**BASE, "choices": "no", "usage": USAGE}),
    _frame({**BASE, "usage": USAGE}),
    _frame({**BASE, "choices": [], "usage": USAGE, "error": None}),
    _frame({**BASE, "choices": [], "usage": USAGE, "error": {"message": "late"}}),
    _frame({**BASE, "choices": [], "usage": USAGE, "model": "other"}),
    _frame({"error": {"message": "boom", "type": "server_error"}}),
    _frame("text"),
    _frame(None),
    b'data: {"choices":[],"usage":{"prompt_tokens":1}\n\n',
    b"data: {broken}\n\n",
    b"data: \n\n",
    b"data: [DONE]\n\n",
    b"data: [DONE] \n\n",
    b": keep-alive\n\n",
    b"data: {}\ndata: {}\n\n",
    b"id: 3\n" + FINISH,
    USAGE_CHUNK.replace(b'"usage"', b'"\\u0075sage"'),
    USAGE_CHUNK.replace(b"\n\n", b" \n\n"),
    USAGE_CHUNK.replace(b"data: ", b"data:"),
]


@st.composite
def tails(draw: st.DrawFn) -> tuple[bytes, int]:
    """A stream (opening, some text, then drawn tail frames, most often ending ``[DONE]``) and where its
    tail begins."""
    head = ROLE + b"".join(draw(st.lists(st.sampled_from(TEXTS), min_size=0, max_size=4)))
    frames = draw(st.lists(st.sampled_from(TAIL_FRAMES), max_size=5))
    if draw(st.integers(0, 3)):
        frames.append(DONE)
    return head + b"".join(frames), len(head)


@FUZZ
@given(tails(), st.booleans(), st.integers(0, 2))
def test_drawn_tails_match_the_reference(case: tuple[bytes, int], usage: bool, how: int) -> None:
    body, cut = case
    if how == 0:
        _check([body], usage)
    elif how == 1:
        _check([body[:cut], body[cut:]], usage)
    else:  # the role chunk alone first
        first = len(ROLE)
        _check([body[:first], body[first:]], usage)


@FUZZ
@given(st.lists(st.sampled_from(TEXTS), min_size=1, max_size=4), st.booleans(), st.booleans())
def test_usual_drawn_answers_end_early(texts: list[bytes], usage_chunk: bool, usage: bool) -> None:
    body = ROLE + b"".join(texts) + FINISH + (USAGE_CHUNK if usage_chunk else b"") + DONE
    assert _check([body], usage)


CALL = _chunk({"tool_calls": [{"index": 0, "id": "c", "type": "function", "function": {"name": "f"}}]})
OWN_LATE = [  # a client with the usage chunk: its filter reads no delta, so these end early too
    _chunk({}, "error") + USAGE_CHUNK,
    _chunk({}, "abort") + USAGE_CHUNK,
    FINISH + b'data: {"error":{"message":"boom"}}\n\n',
    FINISH + b'data: {"choices":[],"usage":{"prompt_tokens":1}\n\n'.replace(b"1}", b"1}}}"),
    FINISH + _frame({**BASE, "choices": [], "x_groq": {"usage": USAGE}}),
]
OWN_NOW = [  # ... and these not: a tool call the tail starts (repair frames), arguments to mend, an escape
    CALL + _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ""}}]}) + _chunk({}, "tool_calls"),
    _chunk({"function_call": {"name": "f", "arguments": ""}}) + _chunk({}, "function_call"),
    CALL + _chunk({}, "tool_calls"),  # a call with no arguments at all: "{}" added
    _chunk({"function_call": {"name": "f"}}) + _chunk({}, "function_call"),
    FINISH + _chunk({"tool_calls": [{"index": 0, "function": {"arguments": {"a": 1}}}]}),
    FINISH + USAGE_CHUNK.replace(b'"usage"', b'"\\u0075sage"'),
    FINISH + b"data: {broken\n\n",
]


@pytest.mark.parametrize("tail", OWN_LATE)
def test_a_client_with_its_usage_chunk_gets_odd_tails_early(tail: bytes) -> None:
    assert _check([HEAD + tail + DONE], include_usage=True)
    _check([HEAD + tail + DONE], include_usage=False)


@pytest.mark.parametrize("tail", OWN_NOW)
def test_a_client_with_its_usage_chunk_gets_mended_tails_decoded_now(tail: bytes) -> None:
    assert not _check([HEAD + tail + USAGE_CHUNK + DONE], include_usage=True)
