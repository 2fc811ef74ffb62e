"""An Anthropic stream's usage converted when read (session 22: ``ir.UsageUpdate.later``, the decoder's
``usage`` property, the relay's ``_ruled``) gives a client exactly the bytes, and the relay exactly the
usage (every field, those left out of ``==`` too), of the eager path it replaced (each ``message_start``
and ``message_delta`` converted and ruled as it came), however the stream is cut, whenever the usage is
read or not read: usage objects with every key Anthropic documents (cache splits, server tools,
iterations, speed, geo, nulls, odd values), several ``message_delta``s, tool calls, thinking, errors
mid-stream, streams cut short."""

from __future__ import annotations

import copy
from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.gateway.dialects import _anthropic_stream
from services.gateway.dialects._anthropic_stream import MessagesStreamDecoder
from services.gateway.dialects._anthropic_wire import (
    merge_stream_usage,
    stream_usage,
    usage_from_anthropic,
)
from services.gateway.dialects.ir import Delta, Usage, UsageUpdate
from services.gateway.dialects.registry import pairing
from services.gateway.dialects.view import View
from services.gateway.providers.anthropic import AnthropicProvider
from services.gateway.providers.openai_compat import XAIProvider
from services.gateway.relay import Relay, make_relay
from tests.text_lanes import same_made_up

CLIENTS = ("openai_chat", "openai_responses", "anthropic")
# Two provider rules: Anthropic's (reasoning inside the output) and xAI's (outside: it changes counts)
RULES = (
    AnthropicProvider("anthropic", "http://127.0.0.1:1", "sk-test-0123456789").usage,
    XAIProvider("xai", "http://127.0.0.1:1", "sk-test-0123456789").usage,
)


class EagerDecoder(MessagesStreamDecoder):
    """The decoder as it was before session 22: every usage frame merged and converted as it comes (its
    own raw usage, ``old_raw``; the base class only gives the other deltas)."""

    def __init__(self) -> None:
        super().__init__()
        self.eager: Usage | None = None
        self.old_raw: dict[str, Any] = {}

    @property
    def usage(self) -> Usage | None:
        return self.eager

    def _message_start(self, message: dict[str, Any]) -> list[Delta]:
        self.old_raw = dict(_anthropic_stream._dict(message.get("usage")))
        self.eager = usage_from_anthropic(self.old_raw)
        return [super()._message_start(message)[0], UsageUpdate(self.eager)]

    def _message_delta(self, delta: dict[str, Any], usage: dict[str, Any]) -> list[Delta]:
        self.old_raw = merge_stream_usage(self.old_raw, usage)
        self.eager = usage_from_anthropic(self.old_raw)
        return [UsageUpdate(self.eager), *super()._message_delta(delta, usage)[1:]]


COUNT = st.one_of(st.integers(0, 10**6), st.none(), st.sampled_from([-3, "7", True, 1.5]))


@st.composite
def usage_objects(draw: Any, depth: int = 0) -> dict[str, Any]:
    u: dict[str, Any] = {}
    for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        if draw(st.integers(0, 3)):
            u[key] = draw(COUNT)
    if draw(st.booleans()):
        u["cache_creation"] = draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {},
                    optional={"ephemeral_5m_input_tokens": COUNT, "ephemeral_1h_input_tokens": COUNT},
                ),
            )
        )
    if draw(st.integers(0, 3)) == 0:
        u["server_tool_use"] = {"web_search_requests": draw(COUNT)}
    if draw(st.integers(0, 3)) == 0:
        u["speed"] = draw(st.sampled_from(["fast", "standard", None, 3]))
    if draw(st.integers(0, 3)) == 0:
        u["inference_geo"] = draw(st.sampled_from(["us", "global", None]))
    if draw(st.integers(0, 4)) == 0:
        u["output_tokens_details"] = {"thinking_tokens": draw(COUNT)}
    if depth == 0 and draw(st.integers(0, 3)) == 0:
        steps = draw(st.lists(usage_objects(depth=1), max_size=3))
        for step in steps:
            step["type"] = draw(st.sampled_from(["message", "compaction"]))
            if draw(st.booleans()):
                step["model"] = draw(st.sampled_from(["claude-haiku-4-5", "claude-sonnet-4-5", ""]))
        u["iterations"] = draw(st.one_of(st.none(), st.just(steps)))
    return u


def _frame(event: str, obj: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


@st.composite
def streams(draw: Any) -> bytes:
    """An Anthropic stream: a message_start with its usage, blocks (text, a tool call, thinking), pings,
    one to three message_deltas with usage (maybe a stop reason), maybe an error, maybe message_stop."""
    message = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5"}
    out = [
        _frame(
            "message_start", {"type": "message_start", "message": {**message, "usage": draw(usage_objects())}}
        )
    ]
    index = 0
    for kind in draw(
        st.lists(st.sampled_from(["text", "tool", "thinking", "ping", "delta", "error"]), max_size=6)
    ):
        if kind == "ping":
            out.append(_frame("ping", {"type": "ping"}))
        elif kind == "delta":
            stop = draw(st.sampled_from([None, "end_turn", "tool_use", "refusal"]))
            delta = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
            out.append(_frame("message_delta", {**delta, "usage": draw(usage_objects())}))
        elif kind == "error":
            err = {"type": "overloaded_error", "message": "Overloaded"}
            out.append(_frame("error", {"type": "error", "error": err}))
        else:
            block: dict[str, Any] = {"type": "text", "text": ""}
            piece: dict[str, Any] = {"type": "text_delta", "text": draw(st.text(min_size=1, max_size=5))}
            if kind == "tool":
                block = {"type": "tool_use", "id": "toolu_1", "name": "get", "input": {}}
                piece = {"type": "input_json_delta", "partial_json": '{"a": 1}'}
            elif kind == "thinking":
                block = {"type": "thinking", "thinking": ""}
                piece = {"type": "thinking_delta", "thinking": "hm"}
            out.append(
                _frame(
                    "content_block_start",
                    {"type": "content_block_start", "index": index, "content_block": block},
                )
            )
            out.append(
                _frame("content_block_delta", {"type": "content_block_delta", "index": index, "delta": piece})
            )
            if kind == "thinking":
                sig = {"type": "signature_delta", "signature": "sig"}
                out.append(
                    _frame(
                        "content_block_delta", {"type": "content_block_delta", "index": index, "delta": sig}
                    )
                )
            out.append(_frame("content_block_stop", {"type": "content_block_stop", "index": index}))
            index += 1
    if draw(st.booleans()):
        out.append(_frame("message_stop", {"type": "message_stop"}))
    return b"".join(out)


def _usage(relay: Relay) -> tuple[str, str]:
    """The relay's usage and the ledger's, every field (``repr``: those left out of ``==`` too)."""
    return repr(relay.usage), repr(relay.read_usage())


def _run(relay: Relay, chunks: list[bytes], reads: list[bool]) -> tuple[bytes, list[Any]]:
    out, seen = [], []
    for chunk, read in zip(chunks, reads + [False] * len(chunks), strict=False):
        out.append(relay.feed(chunk))
        out.append(relay.rest())
        if read:  # the usage read mid-stream (a later read must still see the later frames)
            seen.append(_usage(relay))
    out.append(relay.finish())
    seen.append((_usage(relay), relay.complete, relay.error, relay.events))
    return b"".join(out), seen


def _relays(client: str, include_usage: bool, rule: Any) -> tuple[Relay, Relay]:
    pair = pairing(client, "anthropic")  # type: ignore[arg-type]
    view = View(model="claude-haiku-4-5", include_usage=include_usage)
    lazy, eager = make_relay(pair, view, rule), make_relay(pair, view, rule)
    eager.decoder = EagerDecoder()
    if hasattr(lazy, "encoder"):
        same_made_up(lazy, eager)  # type: ignore[arg-type]
    return lazy, eager


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    streams(),
    st.lists(st.integers(0, 5000), max_size=5),
    st.lists(st.booleans(), max_size=8),
    st.booleans(),
    st.integers(0, 1),
)
def test_usage_read_when_read_is_the_eager_paths(
    body: bytes, cuts: list[int], reads: list[bool], include_usage: bool, rule: int
) -> None:
    points = sorted({0, len(body), *(c % (len(body) + 1) for c in cuts)})
    chunks = [body[a:b] for a, b in pairwise(points)]
    for client in CLIENTS:
        lazy, eager = _relays(client, include_usage, RULES[rule])
        got = _run(lazy, chunks, reads)
        want = _run(eager, chunks, reads)  # (its decoder's updates are made already: ruled as they come)
        assert got == want, client


@pytest.mark.parametrize("cut", [1, 7, 0])
def test_every_byte_cut_and_one_frame_a_read(cut: int) -> None:
    """A stream with two message_deltas and a tool call, split every ``cut`` bytes (0: one frame a read)."""
    start = {
        "input_tokens": 9,
        "cache_creation_input_tokens": 4,
        "output_tokens": 1,
        "cache_creation": {"ephemeral_5m_input_tokens": 1, "ephemeral_1h_input_tokens": 3},
    }
    first = {"output_tokens": 3, "server_tool_use": {"web_search_requests": 1}, "speed": "fast"}
    last = {"output_tokens": 8, "inference_geo": "us"}
    message = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5",
        "usage": start,
    }
    body = b"".join(
        [
            _frame("message_start", {"type": "message_start", "message": message}),
            _frame(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                },
            ),
            _frame(
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": "{}"},
                },
            ),
            _frame("content_block_stop", {"type": "content_block_stop", "index": 0}),
            _frame(
                "message_delta", {"type": "message_delta", "delta": {"stop_reason": None}, "usage": first}
            ),
            _frame(
                "message_delta",
                {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": last},
            ),
            _frame("message_stop", {"type": "message_stop"}),
        ]
    )
    if cut:
        chunks = [body[i : i + cut] for i in range(0, len(body), cut)]
    else:
        chunks = [f + b"\n\n" for f in body.split(b"\n\n") if f]
    for client in CLIENTS:
        for rule in RULES:
            lazy, eager = _relays(client, True, rule)
            got = _run(lazy, chunks, [True] * len(chunks))
            want = _run(eager, chunks, [True] * len(chunks))
            assert got == want
            assert lazy.read_usage().web_search_requests == 1 and lazy.read_usage().speed == "fast"


def test_a_usage_nobody_reads_is_not_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The lazy path is taken: a chat client without ``include_usage`` fed a whole stream converts no usage
    until the ledger reads it, and then only the last (eagerly: one a usage frame, two here)."""
    made: list[dict[str, Any]] = []

    def counted(u: dict[str, Any]) -> Usage:
        made.append(u)
        return usage_from_anthropic(u)

    def counted_stream(start: dict[str, Any], delta: dict[str, Any]) -> Usage:
        # (a ``message_delta``'s usage, read without the merged object since session 34: one conversion)
        made.append(delta)
        return stream_usage(start, delta)

    monkeypatch.setattr(_anthropic_stream, "usage_from_anthropic", counted)
    monkeypatch.setattr(_anthropic_stream, "stream_usage", counted_stream)
    message = {"id": "m", "type": "message", "role": "assistant", "model": "x", "usage": {"input_tokens": 5}}
    body = b"".join(
        [
            _frame("message_start", {"type": "message_start", "message": message}),
            _frame(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            _frame(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
            ),
            _frame(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn"},
                    "usage": {"output_tokens": 2},
                },
            ),
            _frame("message_stop", {"type": "message_stop"}),
        ]
    )
    relay = make_relay(pairing("openai_chat", "anthropic"), View(model="x", include_usage=False), RULES[0])
    relay.feed(body)
    relay.rest()
    relay.finish()
    assert made == []
    assert relay.read_usage() == Usage(input_tokens=5, output_tokens=2)
    assert relay.read_usage() is not None and len(made) == 1


def test_a_later_update_is_equal_by_its_usage_and_made_once() -> None:
    calls: list[int] = []

    def make() -> Usage:
        calls.append(1)
        return Usage(input_tokens=3)

    later = UsageUpdate.later(make)
    assert calls == []
    assert later == UsageUpdate(Usage(input_tokens=3)) and later.usage is later.usage
    assert calls == [1]
    assert repr(later) == repr(UsageUpdate(Usage(input_tokens=3)))
    assert later != UsageUpdate(Usage(input_tokens=4))


def test_a_later_update_has_no_other_attribute() -> None:
    later = UsageUpdate.later(lambda: Usage(input_tokens=1))
    assert not hasattr(later, "asked_output") and later.make is not None
    assert later.usage == Usage(input_tokens=1) and later.make is None
    given = UsageUpdate(Usage(input_tokens=2))
    assert given.make is None and not hasattr(given, "other")


def test_a_later_update_copies() -> None:
    """``copy`` makes an instance without its slots first (``__getattr__`` must not recurse then)."""
    later = UsageUpdate.later(lambda: Usage(input_tokens=1))
    assert copy.deepcopy(later) == later and copy.copy(later).usage == Usage(input_tokens=1)
    assert copy.deepcopy(UsageUpdate(Usage(output_tokens=2))).usage == Usage(output_tokens=2)
